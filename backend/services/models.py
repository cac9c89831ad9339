"""Service functions for models and their deployments, over a sync Session.

Signature convention: `fn(session, *, ...)`: the session first, everything else by keyword.

Used by the GraphQL API and by workflow activities. They validate with `plinth.types` and raise
`backend.errors` (`ValidationFailed` naming the camelCase contract field, `NotFound`, `Conflict`);
they flush but never commit: the caller's `session_scope` owns the transaction.

Versions: deploying a name that exists adds an immutable deployment with the next version
number (source, requested and resolved revision, engine, the deploy input as `config`, the
caller's key prefix as `created_by`, `created_at`). A new model gets the default environments
(`backend.services.environments`). Which deployment serves what is environment state: ACTIVE
means "serves an environment (as primary or canary)", and only `environments.shift_traffic`
(through `activate_deployment`) and the canary functions move traffic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend.db import models as orm
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.services.batching import batching_config, check_batching
from backend.services.secrets import check_secrets_exist
from plinth.types import TASKS, DeploymentStatus, FieldError, Scaling, validate_name

ENGINES = ("transformers", "noop")  # serving.engines.ENGINES; "noop" echoes (benchmarks)
# Hugging Face repo ids: "name" or "org/name", letters, digits, '-', '_', '.'; at most 96 chars.
_HF_REPO_RE = re.compile(r"^(?:[A-Za-z0-9][\w.\-]*/)?[A-Za-z0-9][\w.\-]*$")
_SNAKE_TO_FIELD = {
    "min_replicas": "minReplicas",
    "max_replicas": "maxReplicas",
    "concurrency_target": "concurrencyTarget",
    "max_concurrency": "maxConcurrency",
    "scale_down_delay_s": "scaleDownDelaySeconds",
    "autoscaling_window_s": "autoscalingWindowSeconds",
    "max_queue": "maxQueue",
    "autoscaling_policy": "autoscalingPolicy",
}


def check_scaling(scaling: Scaling) -> Scaling:
    """`scaling` if it satisfies `Scaling.check()`, else ValidationFailed naming the field."""
    try:
        scaling.check()
    except FieldError as exc:
        raise ValidationFailed(exc.field, exc.message) from exc
    return scaling


def build_scaling(base: Scaling, changes: Mapping[str, Any]) -> Scaling:
    """`base` with the non-None snake_case `changes` applied, validated."""
    unknown = sorted(set(changes) - set(_SNAKE_TO_FIELD))
    if unknown:
        raise ValidationFailed("scaling", f"unknown scaling fields: {', '.join(unknown)}")
    try:
        merged = base.merged(**changes)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "scaling"
        raise ValidationFailed(_SNAKE_TO_FIELD.get(field, field), error["msg"]) from exc
    return check_scaling(merged)


def create_deployment(
    session: Session,
    *,
    name: str,
    hf_repo: str,
    revision: str | None = None,
    task: str | None = None,
    engine: str = "transformers",
    scaling: Scaling | Mapping[str, Any] | None = None,
    secret_names: Sequence[str] = (),
    environment: str = "production",
    created_by: str | None = None,
    max_batch_size: int | None = None,
    max_batch_wait_ms: float | None = None,
) -> orm.Deployment:
    """A new PENDING deployment of model `name` (one `created` event), to roll out into
    `environment`: version 1 of a new model (which gets the default environments), else the
    next version of the existing one.

    `scaling` is a full `Scaling`, or snake_case changes (None values ignored): to the defaults
    for a new model (every environment starts with it), to `environment`'s scaling for a new
    version. `secret_names` must name existing secrets (field `secrets`); replicas receive them
    as environment variables. An unknown `environment` of an existing model is NotFound (field
    `environment`). `max_batch_size` / `max_batch_wait_ms` set its replicas' dynamic batching
    (None: the task's default; fields `batching.maxBatchSize` / `batching.maxWaitMs`).
    """

    try:
        validate_name(name, field="name")
    except FieldError as exc:
        raise ValidationFailed(exc.field, exc.message) from exc
    hf_repo = hf_repo.strip()
    if not hf_repo:
        raise ValidationFailed("huggingFaceRepo", "must not be empty")
    if len(hf_repo) > 96 or not _HF_REPO_RE.match(hf_repo):
        raise ValidationFailed(
            "huggingFaceRepo",
            f"{hf_repo!r} is not a Hugging Face repository id: use 'org/name' or 'name'",
        )
    revision = (revision or "").strip() or None
    if revision is not None and (len(revision) > 200 or any(c.isspace() for c in revision)):
        raise ValidationFailed(
            "revision", "must be a branch, tag or commit id without spaces (at most 200 chars)"
        )
    if task is not None and task not in TASKS:
        raise ValidationFailed(
            "task", f"unknown task {task!r}; supported tasks: {', '.join(TASKS)}"
        )
    if engine not in ENGINES:
        raise ValidationFailed(
            "engine", f"unknown engine {engine!r}; supported engines: {', '.join(ENGINES)}"
        )
    config: dict[str, Any] = {
        "huggingFaceRepo": hf_repo,
        "revision": revision,
        "task": task,
        "engine": engine,
        "secrets": list(secret_names),
        "environment": environment,
    }
    return create_validated_deployment(
        session,
        name=name,
        hf_repo=hf_repo,
        revision=revision,
        task=task,
        engine=engine,
        scaling=scaling,
        secret_names=secret_names,
        environment=environment,
        created_by=created_by,
        config=config,
        max_batch_size=max_batch_size,
        max_batch_wait_ms=max_batch_wait_ms,
    )


def create_validated_deployment(
    session: Session,
    *,
    name: str,
    hf_repo: str,
    revision: str | None,
    task: str | None,
    engine: str,
    scaling: Scaling | Mapping[str, Any] | None,
    secret_names: Sequence[str],
    environment: str,
    created_by: str | None,
    config: dict[str, Any],
    new_model_scaling: Scaling | None = None,
    max_batch_size: int | None = None,
    max_batch_wait_ms: float | None = None,
) -> orm.Deployment:
    """`create_deployment` after its source checks (custom packages come in here with their
    own): version 1 of a new model with the default environments, whose scaling starts from
    `new_model_scaling` (default `Scaling()`), else the next version of the existing one."""
    from backend.services import environments as envs

    check_batching(max_batch_size, max_batch_wait_ms)
    if max_batch_size is not None or max_batch_wait_ms is not None:
        config["batching"] = batching_config(max_batch_size, max_batch_wait_ms)
    batching = {"max_batch_size": max_batch_size, "max_batch_wait_ms": max_batch_wait_ms}
    existing = get_model(session, name=name)
    if existing is not None:
        return _new_version(
            session,
            model=existing,
            hf_repo=hf_repo,
            revision=revision,
            task=task,
            engine=engine,
            scaling=scaling,
            secret_names=secret_names,
            environment=environment,
            created_by=created_by,
            config=config,
            batching=batching,
        )
    envs.check_environment_name(environment)
    if isinstance(scaling, Scaling):
        scaling = check_scaling(scaling)
    else:
        config["scaling"] = {k: v for k, v in (scaling or {}).items() if v is not None}
        scaling = build_scaling(new_model_scaling or Scaling(), scaling or {})
    secrets = check_secrets_exist(session, names=secret_names)

    model = orm.Model(name=name)
    model.scaling = scaling
    for env_name in dict.fromkeys((*envs.DEFAULT_ENVIRONMENTS, environment)):
        env = orm.Environment(name=env_name, model=model)
        env.scaling = scaling
    deployment = orm.Deployment(
        model=model,
        version=1,
        hf_repo=hf_repo,
        revision=revision,
        task=task,
        engine=engine,
        secret_names=secrets,
        status=DeploymentStatus.PENDING,
        target_environment=environment,
        created_by=created_by,
        config=config,
        **batching,
    )
    deployment.events.append(_created_event(deployment))
    session.add(model)
    try:
        session.flush()
    except IntegrityError as exc:
        # A concurrent request created the same name after our check. No savepoint: the
        # caller's transaction is rolled back as the error propagates (and pysqlite's SAVEPOINT
        # outside BEGIN would commit early).
        if "models.name" in str(exc.orig) or "uq_models_name" in str(exc.orig):
            raise _duplicate(name) from exc
        raise
    return deployment


def _duplicate(name: str) -> Conflict:
    return Conflict(
        f"model {name!r} was created by a concurrent request; deploy again for a new version",
        field="name",
    )


def _created_event(deployment: orm.Deployment) -> orm.DeploymentEvent:
    at = f"@{deployment.revision}" if deployment.revision else ""
    return orm.DeploymentEvent(
        kind="created",
        status=DeploymentStatus.PENDING,
        message=f"deployment of {deployment.hf_repo}{at} requested "
        f"(version {deployment.version}, for {deployment.target_environment})"
        + (f" by {deployment.created_by}" if deployment.created_by else ""),
    )


def _new_version(
    session: Session,
    *,
    model: orm.Model,
    hf_repo: str,
    revision: str | None,
    task: str | None,
    engine: str,
    scaling: Scaling | Mapping[str, Any] | None,
    secret_names: Sequence[str],
    environment: str,
    created_by: str | None,
    config: dict[str, Any],
    batching: Mapping[str, Any],
) -> orm.Deployment:
    from backend.services import environments as envs

    env = envs.require_environment(session, model=model, name=environment)
    if isinstance(scaling, Scaling):
        env.scaling = check_scaling(scaling)
    elif scaling:
        config["scaling"] = {k: v for k, v in scaling.items() if v is not None}
        env.scaling = build_scaling(env.scaling, scaling)
    secrets = check_secrets_exist(session, names=secret_names)
    # Lock the model row (PostgreSQL; SQLite serializes writers) so that two concurrent deploys
    # cannot take the same version number.
    session.execute(select(orm.Model.id).where(orm.Model.id == model.id).with_for_update())
    latest = latest_deployment(session, model_id=model.id)
    deployment = orm.Deployment(
        model_id=model.id,
        version=(latest.version if latest else 0) + 1,
        hf_repo=hf_repo,
        revision=revision,
        task=task,
        engine=engine,
        secret_names=secrets,
        status=DeploymentStatus.PENDING,
        target_environment=env.name,
        created_by=created_by,
        config=config,
        **batching,
    )
    deployment.events.append(_created_event(deployment))
    session.add(deployment)
    if env.name == "production":
        model.scaling = env.scaling  # the model-level scaling means production's
    session.flush()
    return deployment


def get_model(session: Session, *, name: str) -> orm.Model | None:
    return session.scalar(select(orm.Model).where(orm.Model.name == name))


def require_model(session: Session, *, name: str) -> orm.Model:
    model = get_model(session=session, name=name)
    if model is None:
        raise NotFound(f"model {name!r} not found")
    return model


def list_models(session: Session, *, with_deployments: bool = False) -> Sequence[orm.Model]:
    """Every model, by name; `with_deployments` eager-loads deployments and their replicas."""
    stmt = select(orm.Model).order_by(orm.Model.name)
    if with_deployments:
        stmt = stmt.options(
            selectinload(orm.Model.deployments).selectinload(orm.Deployment.replicas)
        )
    return session.scalars(stmt).all()


def get_deployment(session: Session, *, deployment_id: str) -> orm.Deployment | None:
    return session.get(orm.Deployment, deployment_id)


def require_deployment(session: Session, *, deployment_id: str) -> orm.Deployment:
    deployment = session.get(orm.Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"deployment {deployment_id!r} not found")
    return deployment


def latest_deployment(session: Session, *, model_id: str) -> orm.Deployment | None:
    return session.scalar(
        select(orm.Deployment)
        .where(orm.Deployment.model_id == model_id)
        .order_by(orm.Deployment.version.desc())
        .limit(1)
    )


def update_scaling(
    session: Session,
    *,
    name: str,
    changes: Mapping[str, Any],
    environment: str = "production",
) -> orm.Model:
    """Apply the non-None snake_case Scaling `changes` to `environment` of model `name` (the
    model-level scaling is production's); the result must be valid."""
    from backend.services import environments as envs

    model = require_model(session=session, name=name)
    env = envs.require_environment(session, model=model, name=environment)
    env.scaling = build_scaling(env.scaling, changes)
    if env.name == "production":
        model.scaling = env.scaling
    session.flush()
    return model


def delete_model(session: Session, *, name: str) -> None:
    """Delete model `name` and, by cascade, its deployments, replicas and events."""
    model = require_model(session=session, name=name)
    session.delete(model)
    session.flush()


def set_deployment_status(
    session: Session,
    *,
    deployment_id: str,
    status: DeploymentStatus,
    error: str | None = None,
    message: str | None = None,
    kind: str = "status",
) -> orm.Deployment:
    """Set the status (and error) of a deployment and append a `kind` event.

    The default message says what changed ("DEPLOYING -> FAILED: <error>"). Moving traffic is
    `activate_deployment`'s job, not this function's.
    """
    deployment = require_deployment(session=session, deployment_id=deployment_id)
    previous = deployment.status
    deployment.status = status
    deployment.error = error
    if message is None:
        message = f"{previous.value} -> {status.value}" + (f": {error}" if error else "")
    _add_event(session, deployment, kind=kind, message=message)
    session.flush()
    return deployment


def activate_deployment(session: Session, *, deployment_id: str) -> orm.Deployment:
    """Make the deployment ACTIVE and the primary of its target environment: traffic moves to
    it, and the one it replaces becomes the environment's previous deployment (SUPERSEDED)."""
    from backend.services import environments as envs

    return envs.shift_traffic(session, deployment_id=deployment_id)


def set_resolution(
    session: Session,
    *,
    deployment_id: str,
    resolved_revision: str,
    model_path: str,
    task: str,
) -> orm.Deployment:
    """Record what the requested repo/revision resolved to, and the task it will serve."""
    deployment = require_deployment(session=session, deployment_id=deployment_id)
    if task not in TASKS:
        raise ValidationFailed(
            "task", f"unknown task {task!r}; supported tasks: {', '.join(TASKS)}"
        )
    deployment.resolved_revision = resolved_revision
    deployment.model_path = model_path
    deployment.task = task
    _add_event(
        session,
        deployment,
        kind="resolved",
        message=f"{deployment.hf_repo} resolved to revision {resolved_revision} (task {task})",
    )
    session.flush()
    return deployment


def record_event(
    session: Session, *, deployment_id: str, kind: str, message: str
) -> orm.DeploymentEvent:
    """Append an event carrying the deployment's current status."""
    deployment = require_deployment(session=session, deployment_id=deployment_id)
    event = _add_event(session, deployment, kind=kind, message=message)
    session.flush()
    return event


def list_events_since(
    session: Session, *, deployment_id: str, after_id: int = 0, limit: int | None = None
) -> Sequence[orm.DeploymentEvent]:
    """Events of a deployment with id > `after_id`, oldest first."""
    stmt = (
        select(orm.DeploymentEvent)
        .where(
            orm.DeploymentEvent.deployment_id == deployment_id, orm.DeploymentEvent.id > after_id
        )
        .order_by(orm.DeploymentEvent.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def _add_event(
    session: Session, deployment: orm.Deployment, *, kind: str, message: str
) -> orm.DeploymentEvent:
    event = orm.DeploymentEvent(
        deployment_id=deployment.id, kind=kind, status=deployment.status, message=message
    )
    session.add(event)
    return event
