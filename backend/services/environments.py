"""Service functions for environments: which deployment serves each, promotion, rollback, canary.

Signature convention as in `backend.services.models`: `fn(session, *, ...)`, flush, never commit.

Rules kept here (docs/decisions.md, issue 5):
- Every model has `development`, `staging` and `production`; more can be created. Each has its
  own scaling.
- A deployment serves at most one environment at a time, as its primary or as its canary. So a
  serving unit is a deployment, the controller keeps one router per deployment, and the routing
  table maps (model, environment) to a primary router and an optional canary router. Promoting a
  deployment that serves another environment clones it into a new version (`promoted_from_id`,
  same resolved snapshot) that is rolled out next to it.
- ACTIVE means "serves an environment"; a deployment that no environment points at any more is
  SUPERSEDED (or FAILED when its canary was rolled back) and the controller stops its replicas.
- A rollout (deploy, promote, rollback, canary start) puts the deployment in DEPLOYING with
  `target_environment` set: the controller starts it at that environment's scaling (at least one
  replica) without traffic; `shift_traffic` or `set_canary` then routes to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.db import models as orm
from backend.errors import Conflict, NotFound, ValidationFailed
from plinth.types import DeploymentStatus, FieldError, validate_name

DEFAULT_ENVIRONMENTS = ("development", "staging", "production")
PROMOTABLE = (DeploymentStatus.ACTIVE, DeploymentStatus.SUPERSEDED)


@dataclass(frozen=True)
class CanaryBounds:
    """Automatic rollback of a canary: any bound crossed over the last `window_s` seconds."""

    max_error_rate: float | None = None  # failed requests / requests, 0..1
    max_p95_ms: float | None = None
    window_s: float = 60.0

    @property
    def enabled(self) -> bool:
        return self.max_error_rate is not None or self.max_p95_ms is not None


def check_environment_name(name: str, *, field: str = "environment") -> str:
    try:
        validate_name(name, field=field)
    except FieldError as exc:
        raise ValidationFailed(exc.field, exc.message) from exc
    return name


def list_environments(session: Session, *, model_id: str) -> Sequence[orm.Environment]:
    return session.scalars(
        select(orm.Environment)
        .where(orm.Environment.model_id == model_id)
        .order_by(orm.Environment.created_at, orm.Environment.name)
    ).all()


def get_environment(session: Session, *, model_id: str, name: str) -> orm.Environment | None:
    return session.scalar(
        select(orm.Environment).where(
            orm.Environment.model_id == model_id, orm.Environment.name == name
        )
    )


def require_environment(session: Session, *, model: orm.Model, name: str) -> orm.Environment:
    env = get_environment(session, model_id=model.id, name=name)
    if env is None:
        known = ", ".join(e.name for e in list_environments(session, model_id=model.id))
        raise NotFound(
            f"model {model.name!r} has no environment {name!r} (it has: {known})",
            field="environment",
        )
    return env


def require_model_environment(
    session: Session, *, model_name: str, name: str
) -> tuple[orm.Model, orm.Environment]:
    model = session.scalar(select(orm.Model).where(orm.Model.name == model_name))
    if model is None:
        raise NotFound(f"model {model_name!r} not found", field="model")
    return model, require_environment(session, model=model, name=name)


def create_environment(
    session: Session, *, model_name: str, name: str, changes: Mapping[str, Any] | None = None
) -> orm.Environment:
    """A new environment of the model, serving nothing yet, with production's scaling changed
    by `changes` (snake_case Scaling fields)."""
    from backend.services.models import build_scaling

    check_environment_name(name, field="name")
    model = session.scalar(select(orm.Model).where(orm.Model.name == model_name))
    if model is None:
        raise NotFound(f"model {model_name!r} not found", field="model")
    if get_environment(session, model_id=model.id, name=name) is not None:
        raise Conflict(f"model {model_name!r} already has an environment {name!r}", field="name")
    base = get_environment(session, model_id=model.id, name="production")
    env = orm.Environment(model_id=model.id, name=name)
    env.scaling = build_scaling(base.scaling if base else model.scaling, changes or {})
    session.add(env)
    session.flush()
    return env


def serving_environment(session: Session, *, deployment_id: str) -> orm.Environment | None:
    """The environment the deployment serves (as primary or canary), if any."""
    return session.scalar(
        select(orm.Environment).where(
            or_(
                orm.Environment.deployment_id == deployment_id,
                orm.Environment.canary_deployment_id == deployment_id,
            )
        )
    )


def environments_by_deployment(
    session: Session, *, deployment_ids: Sequence[str]
) -> dict[str, str]:
    """deployment id -> name of the environment it serves, for those that serve one."""
    if not deployment_ids:
        return {}
    rows = session.scalars(
        select(orm.Environment).where(
            or_(
                orm.Environment.deployment_id.in_(deployment_ids),
                orm.Environment.canary_deployment_id.in_(deployment_ids),
            )
        )
    ).all()
    found: dict[str, str] = {}
    for env in rows:
        for dep_id in (env.deployment_id, env.canary_deployment_id):
            if dep_id is not None:
                found[dep_id] = env.name
    return found


# -- rollouts ------------------------------------------------------------------------------------


def prepare_rollout(
    session: Session,
    *,
    deployment_id: str,
    environment: str,
    created_by: str | None = None,
    canary: bool = False,
) -> orm.Deployment:
    """Check that the deployment may be rolled out into `environment` (as its primary, or as
    its canary) and put it in DEPLOYING there, with a `promoting` event. The deployment that
    comes back is the one to roll out: a clone (new version, `promoted_from_id`) when the given
    one serves another environment."""
    dep = session.get(orm.Deployment, deployment_id)
    if dep is None:
        raise NotFound(f"deployment {deployment_id!r} not found", field="deploymentId")
    model = dep.model
    env = require_environment(session, model=model, name=environment)
    if dep.status not in PROMOTABLE or dep.model_path is None or dep.task is None:
        raise ValidationFailed(
            "deploymentId",
            f"version {dep.version} is {dep.status.value}: only a deployment that was ACTIVE "
            "once (ACTIVE or SUPERSEDED) can be promoted",
        )
    if env.deployment_id == dep.id:
        raise ValidationFailed(
            "deploymentId", f"version {dep.version} already serves {environment}"
        )
    if canary and env.deployment_id is None:
        raise ValidationFailed(
            "environment", f"{environment} serves nothing yet: promote a deployment first"
        )
    if _rolling_out(session, model_id=model.id, environment=environment):
        raise Conflict(
            f"a rollout into {model.name}/{environment} is in progress; wait for it to finish",
            field="environment",
        )
    serving = serving_environment(session, deployment_id=dep.id)
    if serving is not None:
        dep = _clone(session, dep, created_by=created_by)
    what = "canary" if canary else "promotion"
    dep.target_environment = environment
    dep.status = DeploymentStatus.DEPLOYING
    dep.error = None
    _event(
        session,
        dep,
        "promoting",
        f"{what} of version {dep.version} into {environment} started"
        + (f" by {created_by}" if created_by else "")
        + "; starting replicas",
    )
    session.flush()
    return dep


def _rolling_out(session: Session, *, model_id: str, environment: str) -> bool:
    return (
        session.scalar(
            select(orm.Deployment.id).where(
                orm.Deployment.model_id == model_id,
                orm.Deployment.target_environment == environment,
                orm.Deployment.status.in_([DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING]),
            )
        )
        is not None
    )


def _clone(session: Session, dep: orm.Deployment, *, created_by: str | None) -> orm.Deployment:
    session.execute(select(orm.Model.id).where(orm.Model.id == dep.model_id).with_for_update())
    latest = session.scalar(
        select(orm.Deployment.version)
        .where(orm.Deployment.model_id == dep.model_id)
        .order_by(orm.Deployment.version.desc())
        .limit(1)
    )
    clone = orm.Deployment(
        model_id=dep.model_id,
        version=(latest or 0) + 1,
        hf_repo=dep.hf_repo,
        revision=dep.revision,
        resolved_revision=dep.resolved_revision,
        model_path=dep.model_path,
        task=dep.task,
        engine=dep.engine,
        secret_names=list(dep.secret_names or ()),
        status=DeploymentStatus.PENDING,
        target_environment=dep.target_environment,
        created_by=created_by,
        config=dict(dep.config or {}),
        promoted_from_id=dep.id,
        max_batch_size=dep.max_batch_size,
        max_batch_wait_ms=dep.max_batch_wait_ms,
    )
    session.add(clone)
    session.flush()
    _event(
        session,
        clone,
        "created",
        f"version {clone.version} cloned from version {dep.version} (which serves another "
        "environment) to be promoted",
    )
    return clone


def shift_traffic(session: Session, *, deployment_id: str) -> orm.Deployment:
    """Route the deployment's target environment to it: it becomes ACTIVE and the primary, the
    primary it replaces becomes `previous` and SUPERSEDED (its replicas drain and stop)."""
    dep = session.get(orm.Deployment, deployment_id)
    if dep is None:
        raise NotFound(f"deployment {deployment_id!r} not found", field="deploymentId")
    session.execute(select(orm.Model.id).where(orm.Model.id == dep.model_id).with_for_update())
    env = require_environment(session, model=dep.model, name=dep.target_environment)
    old_id = env.deployment_id
    if old_id == dep.id:
        return dep
    if env.canary_deployment_id == dep.id:
        env.canary_deployment_id = None
        env.canary_percent = 0.0
    env.previous_deployment_id = old_id
    env.deployment_id = dep.id
    dep.status = DeploymentStatus.ACTIVE
    dep.error = None
    _event(session, dep, "status", f"ACTIVE: serving {env.name}")
    old = session.get(orm.Deployment, old_id) if old_id else None
    shifted = f"{env.name} traffic shifted to version {dep.version}"
    if old is not None:
        shifted += f" from version {old.version}"
    _event(session, dep, "traffic_shifted", shifted)
    if old is not None:
        _retire(session, old, f"superseded by version {dep.version} in {env.name}")
    session.flush()
    return dep


def _retire(
    session: Session,
    dep: orm.Deployment,
    message: str,
    *,
    status: DeploymentStatus = DeploymentStatus.SUPERSEDED,
    kind: str = "status",
) -> None:
    session.flush()
    if serving_environment(session, deployment_id=dep.id) is not None:
        return  # still serves (cannot happen while a deployment serves one environment)
    dep.status = status
    _event(session, dep, kind, message)


def rollback_target(session: Session, *, model_name: str, environment: str) -> orm.Deployment:
    """The deployment a rollback of `environment` promotes: its previous one."""
    _model, env = require_model_environment(session, model_name=model_name, name=environment)
    if env.previous_deployment_id is None:
        raise ValidationFailed(
            "environment", f"{environment} has no previous deployment to roll back to"
        )
    previous = session.get(orm.Deployment, env.previous_deployment_id)
    if previous is None or previous.model_path is None:
        raise ValidationFailed(
            "environment", f"the previous deployment of {environment} no longer exists"
        )
    return previous


def record_rollback(session: Session, *, deployment_id: str, environment: str) -> None:
    """After a rollback's traffic shift: say so on the environment and as an event."""
    dep = session.get(orm.Deployment, deployment_id)
    if dep is None:
        return
    env = require_environment(session, model=dep.model, name=environment)
    env.last_rollback_reason = f"rolled back to version {dep.version} on request"
    _event(session, dep, "rolled_back", f"{environment} rolled back to version {dep.version}")
    session.flush()


# -- canary --------------------------------------------------------------------------------------


def check_canary(percent: float, bounds: CanaryBounds) -> None:
    if not 0 < percent < 100:
        raise ValidationFailed("percent", "must be between 0 and 100 (exclusive)")
    if bounds.max_error_rate is not None and not 0 <= bounds.max_error_rate <= 1:
        raise ValidationFailed("autoRollback.maxErrorRate", "must be between 0 and 1")
    if bounds.max_p95_ms is not None and bounds.max_p95_ms <= 0:
        raise ValidationFailed("autoRollback.maxP95Ms", "must be positive")
    if not 1 <= bounds.window_s <= 86_400:
        raise ValidationFailed("autoRollback.windowSeconds", "must be between 1 and 86400")


def set_canary(
    session: Session, *, deployment_id: str, percent: float, bounds: CanaryBounds
) -> orm.Deployment:
    """The (ready) deployment becomes its target environment's canary with `percent` of the
    traffic; a canary it replaces is retired."""
    check_canary(percent, bounds)
    dep = session.get(orm.Deployment, deployment_id)
    if dep is None:
        raise NotFound(f"deployment {deployment_id!r} not found", field="deploymentId")
    env = require_environment(session, model=dep.model, name=dep.target_environment)
    old_id = env.canary_deployment_id
    env.canary_deployment_id = dep.id
    env.canary_percent = percent
    env.canary_max_error_rate = bounds.max_error_rate
    env.canary_max_p95_ms = bounds.max_p95_ms
    env.canary_window_s = bounds.window_s if bounds.enabled else None
    dep.status = DeploymentStatus.ACTIVE
    limits = []
    if bounds.max_error_rate is not None:
        limits.append(f"error rate above {bounds.max_error_rate:g}")
    if bounds.max_p95_ms is not None:
        limits.append(f"p95 above {bounds.max_p95_ms:g} ms")
    auto = (
        f"; rolled back automatically on {' or '.join(limits)} over {bounds.window_s:g} s"
        if limits
        else ""
    )
    _event(
        session,
        dep,
        "canary_started",
        f"canary: version {dep.version} gets {percent:g}% of {env.name} traffic{auto}",
    )
    if old_id is not None and old_id != dep.id:
        old = session.get(orm.Deployment, old_id)
        if old is not None:
            _retire(session, old, f"canary replaced by version {dep.version}")
    session.flush()
    return dep


def promote_canary(session: Session, *, model_name: str, environment: str) -> orm.Deployment:
    """The canary becomes the primary (its replicas already run): a traffic shift."""
    _model, env = require_model_environment(session, model_name=model_name, name=environment)
    if env.canary_deployment_id is None:
        raise ValidationFailed("environment", f"{environment} has no canary")
    canary = session.get(orm.Deployment, env.canary_deployment_id)
    assert canary is not None  # the foreign key clears the column when it is deleted
    canary.target_environment = environment
    return shift_traffic(session, deployment_id=canary.id)


def end_canary(
    session: Session,
    *,
    model_name: str,
    environment: str,
    reason: str | None = None,
    deployment_id: str | None = None,
) -> orm.Deployment | None:
    """Take the canary out of `environment`: aborted on request (`reason` None: SUPERSEDED,
    `canary_aborted` event), or rolled back automatically (FAILED with the reason, recorded on
    the environment, `canary_rolled_back` event). With `deployment_id`, only if that deployment
    is still the canary (else None: it was promoted or replaced meanwhile)."""
    _model, env = require_model_environment(session, model_name=model_name, name=environment)
    if env.canary_deployment_id is None or (
        deployment_id is not None and env.canary_deployment_id != deployment_id
    ):
        if deployment_id is not None:
            return None
        raise ValidationFailed("environment", f"{environment} has no canary")
    canary = session.get(orm.Deployment, env.canary_deployment_id)
    assert canary is not None
    env.canary_deployment_id = None
    env.canary_percent = 0.0
    if reason is None:
        _retire(session, canary, f"canary of {environment} aborted", kind="canary_aborted")
    else:
        env.last_rollback_reason = f"canary version {canary.version} rolled back: {reason}"
        canary.error = reason
        _retire(
            session,
            canary,
            f"canary of {environment} rolled back automatically: {reason}",
            status=DeploymentStatus.FAILED,
            kind="canary_rolled_back",
        )
    session.flush()
    return canary


def _event(session: Session, dep: orm.Deployment, kind: str, message: str) -> None:
    session.add(
        orm.DeploymentEvent(deployment_id=dep.id, kind=kind, status=dep.status, message=message)
    )
