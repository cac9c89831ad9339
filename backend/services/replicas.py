"""Service functions behind the controller's store: desired state out, observed replicas in.

`desired_specs` maps deployments to controller specs: DEPLOYING with a resolved `model_path`
-> Phase.DEPLOYING in its `target_environment` (sized by that environment's scaling); the primary
or canary of an environment -> Phase.ACTIVE with that environment's name, scaling and (for a
canary) its percent; anything else -> absent, i.e. stopped. Given a `SecretBox`, each spec's `env`
holds the decrypted secrets its deployment names (a secret deleted since the deploy is left out,
logged by name only).
`replace_replicas` overwrites what was observed for one deployment; `clear_replicas` forgets all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, joinedload

from backend.db import models as orm
from backend.secrets import SecretBox
from backend.services.secrets import resolve_secrets
from plinth.types import DeploymentStatus
from serving.spec import DeploymentSpec, Phase, ReplicaObservation

log = logging.getLogger("plinth.services")


def desired_specs(session: Session, *, box: SecretBox | None = None) -> list[DeploymentSpec]:
    environments = session.scalars(select(orm.Environment)).all()
    by_key = {(stage.model_id, stage.name): stage for stage in environments}
    serving: dict[str, tuple[orm.Environment, float | None]] = {}
    for stage in environments:
        if stage.deployment_id is not None:
            serving[stage.deployment_id] = (stage, None)
        if stage.canary_deployment_id is not None:
            serving[stage.canary_deployment_id] = (stage, stage.canary_percent)
    rows = session.scalars(
        select(orm.Deployment)
        .where(
            or_(
                orm.Deployment.status == DeploymentStatus.DEPLOYING,
                orm.Deployment.id.in_(list(serving)),
            )
        )
        .options(joinedload(orm.Deployment.model))
        .order_by(orm.Deployment.created_at, orm.Deployment.id)
    ).all()
    specs: list[DeploymentSpec] = []
    for row in rows:
        # Neither phase can start replicas before the snapshot is resolved to a local path.
        if row.model_path is None or row.task is None:
            continue
        canary_percent: float | None = None
        if row.status is DeploymentStatus.DEPLOYING:
            phase = Phase.DEPLOYING
            target = by_key.get((row.model_id, row.target_environment))
        elif row.id in serving:
            phase = Phase.ACTIVE
            target, canary_percent = serving[row.id]
        else:
            continue
        scaling = target.scaling if target is not None else row.model.scaling
        env: dict[str, str] = {}
        if row.secret_names and box is not None:
            env = resolve_secrets(session, box=box, names=row.secret_names)
            missing = sorted(set(row.secret_names) - set(env))
            if missing:
                log.warning(
                    "deployment %s names deleted secret(s) %s; its replicas start without them",
                    row.id,
                    ", ".join(missing),
                )
        specs.append(
            DeploymentSpec(
                deployment_id=row.id,
                model_name=row.model.name,
                model_path=row.model_path,
                task=row.task,
                engine=row.engine,
                scaling=scaling,
                phase=phase,
                env=env,
                environment=target.name if target is not None else row.target_environment,
                version=row.version,
                canary_percent=canary_percent,
                max_batch_size=row.max_batch_size,
                max_batch_wait_ms=row.max_batch_wait_ms,
            )
        )
    return specs


def replace_replicas(
    session: Session, *, deployment_id: str, replicas: Sequence[ReplicaObservation]
) -> bool:
    """Replace the replica rows of a deployment; False (and nothing written) if it is gone."""
    if session.get(orm.Deployment, deployment_id) is None:
        return False
    session.execute(delete(orm.Replica).where(orm.Replica.deployment_id == deployment_id))
    session.add_all(
        orm.Replica(
            id=obs.replica_id,
            deployment_id=deployment_id,
            state=obs.state,
            pid=obs.pid,
            port=obs.port,
            started_at=_aware(obs.started_at),
            ready_at=_aware(obs.ready_at),
            error=obs.error,
            extra=dict(obs.extra),
        )
        for obs in replicas
    )
    session.flush()
    return True


def clear_replicas(session: Session) -> None:
    session.execute(delete(orm.Replica))


def _aware(value: datetime | None) -> datetime | None:
    # A naive datetime from the controller is local time (datetime.now()); store it as UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.astimezone(UTC)
