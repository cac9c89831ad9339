"""GraphQL fields of the model lifecycle: environments, promote, rollback, canary, events.

Mutations validate and commit the desired change (`backend.services.environments`), then start
the Temporal workflow that carries it out (`PromoteDeployment`, `StartCanary`) through the
context's `deploy_starter`; if starting fails, the deployment is marked FAILED with the reason.
`promoteCanary` and `abortCanary` only move traffic (the replicas already run), so they commit
and wake the controller. Each answers the deployment concerned (for a promotion that clones, the
new version), or a `ValidationError` / `NotFoundError` naming the argument (`field`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import services
from backend.db import models as orm
from backend.errors import Conflict, NotFound, PlinthServerError, ValidationFailed
from backend.graphql import types as t
from backend.graphql.context import Context
from plinth.types import DeploymentStatus
from workflows.names import CanaryInput, PromoteInput

log = logging.getLogger("plinth.graphql")

Info = strawberry.Info[Context]

LifecycleResult = Annotated[
    t.Deployment | t.ValidationError | t.NotFoundError, strawberry.union("LifecycleResult")
]
CreateEnvironmentResult = Annotated[
    t.Environment | t.ValidationError | t.NotFoundError,
    strawberry.union("CreateEnvironmentResult"),
]
EnvironmentArg = Annotated[
    str, strawberry.argument(description="development, staging, production or a created one")
]


@strawberry.input
class AutoRollbackInput:
    """Roll the canary back when, over the last `windowSeconds`, its error rate (answers with
    status >= 500, as a fraction) or its p95 latency crosses a bound."""

    max_error_rate: float | None = None
    max_p95_ms: float | None = None
    window_seconds: float = 60.0


def caller_prefix(context: Context) -> str | None:
    """Who is asking, as recorded on deployments: `pl_<prefix>` of the API key, else None."""
    principal = context.principal
    return f"pl_{principal.prefix}" if principal is not None and principal.prefix else None


def _error(exc: PlinthServerError) -> t.ValidationError | t.NotFoundError:
    if isinstance(exc, NotFound):
        return t.NotFoundError(message=exc.message, field=exc.field or "")
    if isinstance(exc, ValidationFailed | Conflict):
        return t.ValidationError(field=exc.field or "input", message=exc.message)
    return t.ValidationError(field="input", message=exc.message)


def _answer(session: Session, deployment: orm.Deployment) -> t.Deployment:
    serving = services.serving_environment(session, deployment_id=deployment.id)
    return t.deployment_from_row(
        deployment, deployment.model.name, environment=serving.name if serving else None
    )


async def _start(
    info: Info, deployment: t.Deployment, start: Callable[[], Awaitable[None]]
) -> t.Deployment | t.ValidationError:
    """Run the workflow starter; on failure mark the rollout FAILED and answer that."""
    try:
        await start()
    except Exception as exc:
        log.exception("starting the rollout of %s failed", deployment.id)
        reason = f"could not start the rollout: {type(exc).__name__}: {exc}"

        def fail(session: Session) -> t.Deployment:
            row = services.set_deployment_status(
                session,
                deployment_id=str(deployment.id),
                status=DeploymentStatus.FAILED,
                error=reason,
                kind="failed",
            )
            return _answer(session, row)

        return await info.context.db(fail)
    return deployment


def _wake(info: Info) -> None:
    try:
        info.context.wake()
    except Exception:  # committed; the controller's next tick picks it up anyway
        log.exception("waking the controller failed")


@strawberry.type
class LifecycleQuery:
    @strawberry.field
    async def model_events(
        self, info: Info, model: str, after: int = 0, limit: int = 200
    ) -> list[t.DeploymentEvent]:
        def query(session: Session) -> list[t.DeploymentEvent]:
            rows = session.scalars(
                select(orm.DeploymentEvent)
                .join(orm.Deployment, orm.DeploymentEvent.deployment_id == orm.Deployment.id)
                .join(orm.Model, orm.Deployment.model_id == orm.Model.id)
                .where(orm.Model.name == model, orm.DeploymentEvent.id > after)
                .order_by(orm.DeploymentEvent.id)
                .limit(max(1, min(limit, 1000)))
            ).all()
            return [t.event_from_row(row) for row in rows]

        return await info.context.db(query)


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation
    async def create_environment(
        self, info: Info, model: str, name: str, scaling: t.ScalingInput | None = None
    ) -> CreateEnvironmentResult:
        changes = scaling.changes() if scaling is not None else {}

        def create(session: Session) -> t.Environment:
            row = services.create_environment(session, model_name=model, name=name, changes=changes)
            return t.environment_from_row(row, model, {})  # it serves nothing yet

        try:
            return await info.context.db(create)
        except PlinthServerError as exc:
            return _error(exc)

    @strawberry.mutation
    async def promote_deployment(
        self, info: Info, deployment_id: strawberry.ID, environment: EnvironmentArg = "production"
    ) -> LifecycleResult:
        who = caller_prefix(info.context)

        def prepare(session: Session) -> t.Deployment:
            dep = session.get(orm.Deployment, str(deployment_id))
            if dep is not None:
                env = services.get_environment(session, model_id=dep.model_id, name=environment)
                if env is not None and env.canary_deployment_id == dep.id:
                    # Already running as this environment's canary: a traffic shift suffices.
                    row = services.promote_canary(
                        session, model_name=dep.model.name, environment=environment
                    )
                    return _answer(session, row)
            row = services.prepare_rollout(
                session, deployment_id=str(deployment_id), environment=environment, created_by=who
            )
            return _answer(session, row)

        try:
            deployment = await info.context.db(prepare)
        except PlinthServerError as exc:
            return _error(exc)
        _wake(info)
        if deployment.status is DeploymentStatus.ACTIVE:
            return deployment
        inp = PromoteInput(str(deployment.id), environment)
        starter = info.context.deploy_starter
        return await _start(info, deployment, lambda: starter.start_promote(inp))

    @strawberry.mutation
    async def rollback(
        self, info: Info, model: str, environment: EnvironmentArg = "production"
    ) -> LifecycleResult:
        who = caller_prefix(info.context)

        def prepare(session: Session) -> t.Deployment:
            target = services.rollback_target(session, model_name=model, environment=environment)
            row = services.prepare_rollout(
                session, deployment_id=target.id, environment=environment, created_by=who
            )
            return _answer(session, row)

        try:
            deployment = await info.context.db(prepare)
        except PlinthServerError as exc:
            return _error(exc)
        _wake(info)
        inp = PromoteInput(str(deployment.id), environment, rollback=True)
        starter = info.context.deploy_starter
        return await _start(info, deployment, lambda: starter.start_promote(inp))

    @strawberry.mutation
    async def start_canary(
        self,
        info: Info,
        model: str,
        deployment_id: strawberry.ID,
        percent: float,
        environment: EnvironmentArg = "production",
        auto_rollback: AutoRollbackInput | None = None,
    ) -> LifecycleResult:
        who = caller_prefix(info.context)
        bounds = services.CanaryBounds()
        if auto_rollback is not None:
            bounds = services.CanaryBounds(
                max_error_rate=auto_rollback.max_error_rate,
                max_p95_ms=auto_rollback.max_p95_ms,
                window_s=auto_rollback.window_seconds,
            )

        def prepare(session: Session) -> t.Deployment:
            services.check_canary(percent, bounds)
            services.require_model_environment(session, model_name=model, name=environment)
            dep = session.get(orm.Deployment, str(deployment_id))
            if dep is None or dep.model.name != model:
                raise NotFound(
                    f"model {model!r} has no deployment {deployment_id!r}", field="deploymentId"
                )
            row = services.prepare_rollout(
                session,
                deployment_id=dep.id,
                environment=environment,
                created_by=who,
                canary=True,
            )
            return _answer(session, row)

        try:
            deployment = await info.context.db(prepare)
        except PlinthServerError as exc:
            return _error(exc)
        _wake(info)
        inp = CanaryInput(
            str(deployment.id),
            environment,
            percent,
            max_error_rate=bounds.max_error_rate,
            max_p95_ms=bounds.max_p95_ms,
            window_s=bounds.window_s,
        )
        starter = info.context.deploy_starter
        return await _start(info, deployment, lambda: starter.start_canary(inp))

    @strawberry.mutation
    async def promote_canary(
        self, info: Info, model: str, environment: EnvironmentArg = "production"
    ) -> LifecycleResult:
        def run(session: Session) -> t.Deployment:
            row = services.promote_canary(session, model_name=model, environment=environment)
            return _answer(session, row)

        try:
            deployment = await info.context.db(run)
        except PlinthServerError as exc:
            return _error(exc)
        _wake(info)
        return deployment

    @strawberry.mutation
    async def abort_canary(
        self, info: Info, model: str, environment: EnvironmentArg = "production"
    ) -> LifecycleResult:
        def run(session: Session) -> t.Deployment:
            row = services.end_canary(session, model_name=model, environment=environment)
            assert row is not None  # without deployment_id, a missing canary raises
            return _answer(session, row)

        try:
            deployment = await info.context.db(run)
        except PlinthServerError as exc:
            return _error(exc)
        _wake(info)
        return deployment
