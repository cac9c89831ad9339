"""Service functions for models and their deployments, over a sync Session.

Signature convention: `fn(session, *, ...)`: the session first, everything else by keyword.

Used by the GraphQL API and by workflow activities. They validate with `plinth.types` and raise
`backend.errors` (`ValidationFailed` naming the camelCase contract field, `NotFound`, `Conflict`);
they flush but never commit: the caller's `session_scope` owns the transaction.

Invariant kept here: at most one deployment per model is ACTIVE. Marking one ACTIVE marks the
previously ACTIVE one SUPERSEDED, each with an event.
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
) -> orm.Deployment:
    """Create model `name` with its first deployment (status PENDING, version 1, one event).

    `scaling` is a full `Scaling`, or snake_case changes to the defaults (None values ignored).
    `secret_names` must name existing secrets (field `secrets`); replicas receive them as
    environment variables.
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
    if isinstance(scaling, Scaling):
        scaling = check_scaling(scaling)
    else:
        scaling = build_scaling(Scaling(), scaling or {})
    secrets = check_secrets_exist(session, names=secret_names)
    if session.scalar(select(orm.Model.id).where(orm.Model.name == name)) is not None:
        raise _duplicate(name)

    model = orm.Model(name=name)
    model.scaling = scaling
    deployment = orm.Deployment(
        model=model,
        version=1,
        hf_repo=hf_repo,
        revision=revision,
        task=task,
        engine=engine,
        secret_names=secrets,
        status=DeploymentStatus.PENDING,
    )
    at = f"@{revision}" if revision else ""
    deployment.events.append(
        orm.DeploymentEvent(
            kind="created",
            status=DeploymentStatus.PENDING,
            message=f"deployment of {hf_repo}{at} requested (version 1)",
        )
    )
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
        f"model {name!r} already exists; delete it first or choose another name", field="name"
    )


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


def update_scaling(session: Session, *, name: str, changes: Mapping[str, Any]) -> orm.Model:
    """Apply the non-None snake_case Scaling `changes` to model `name`; the result must be valid."""
    model = require_model(session=session, name=name)
    model.scaling = build_scaling(model.scaling, changes)
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
) -> orm.Deployment:
    """Set the status (and error) of a deployment and append a `status` event.

    The default message says what changed ("DEPLOYING -> FAILED: <error>"). Becoming ACTIVE
    supersedes the model's previously ACTIVE deployment.
    """
    deployment = require_deployment(session=session, deployment_id=deployment_id)
    previous = deployment.status
    if status is DeploymentStatus.ACTIVE:
        # Lock the model row (PostgreSQL; SQLite serializes writers anyway) so two concurrent
        # activations cannot both leave their deployment ACTIVE.
        session.execute(
            select(orm.Model.id).where(orm.Model.id == deployment.model_id).with_for_update()
        )
        others = session.scalars(
            select(orm.Deployment).where(
                orm.Deployment.model_id == deployment.model_id,
                orm.Deployment.id != deployment.id,
                orm.Deployment.status == DeploymentStatus.ACTIVE,
            )
        )
        for other in others:
            other.status = DeploymentStatus.SUPERSEDED
            _add_event(
                session,
                other,
                kind="status",
                message=f"superseded by version {deployment.version}",
            )
    deployment.status = status
    deployment.error = error
    if message is None:
        message = f"{previous.value} -> {status.value}" + (f": {error}" if error else "")
    _add_event(session, deployment, kind="status", message=message)
    session.flush()
    return deployment


def activate_deployment(session: Session, *, deployment_id: str) -> orm.Deployment:
    """Make the deployment ACTIVE (traffic moves to it); the previous ACTIVE one is SUPERSEDED."""
    return set_deployment_status(
        session,
        deployment_id=deployment_id,
        status=DeploymentStatus.ACTIVE,
        message="ACTIVE: serving traffic",
    )


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
