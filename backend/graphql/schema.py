"""The /graphql schema (v1): queries, mutations and the deployment-events subscription.

Expected failures are union members (`ValidationError`, `NotFoundError`), never exceptions.
`deployModel` commits the PENDING deployment, then asks the `DeployStarter` to run it; if that
fails the deployment is marked FAILED with the reason, so no row waits forever. Scaling changes and
deletes `wake` the controller. `deploymentEvents(id)` streams the deployment's past events, then
new ones as they are committed (polled), and completes once the deployment is ACTIVE, FAILED or
SUPERSEDED; an unknown id is a GraphQL error "deployment not found".

`build_schema` merges in the admin fields (`backend.graphql.admin`), the replica logs
(`backend.graphql.logs`) and async/batch fields (`backend.graphql.async_requests`), puts a
`RootFieldGuard` (scope check, audit of mutations; `backend.auth.graphql`) on every root field,
and limits documents: selection depth, token count and aliases (QueryDepthLimiter,
MaxTokensLimiter, MaxAliasesLimiter), so one request cannot make the server do unbounded work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError
from sqlalchemy import select
from sqlalchemy.orm import Session
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from backend import services
from backend.auth.graphql import guard_root_fields
from backend.db import models as orm
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.graphql import types as t
from backend.graphql.admin import AdminMutation, AdminQuery
from backend.graphql.async_requests import AsyncMutation, AsyncQuery
from backend.graphql.context import Context
from backend.graphql.lifecycle import LifecycleMutation, LifecycleQuery, caller_prefix
from backend.graphql.logs import LogsQuery, LogsSubscription
from backend.graphql.metrics import MetricsQuery
from backend.graphql.packages import PackagesMutation
from plinth.types import DeploymentStatus

log = logging.getLogger("plinth.graphql")

EVENT_POLL_INTERVAL_S = 0.3

Info = strawberry.Info[Context]


def _load_deployment(session: Session, deployment_id: str) -> t.Deployment | None:
    found = session.execute(
        select(orm.Deployment, orm.Model.name)
        .join(orm.Model, orm.Deployment.model_id == orm.Model.id)
        .where(orm.Deployment.id == deployment_id)
    ).first()
    if found is None:
        return None
    row, model_name = found
    serving = services.serving_environment(session, deployment_id=row.id)
    return t.deployment_from_row(row, model_name, environment=serving.name if serving else None)


def _wake(context: Context) -> None:
    try:
        context.wake()
    except Exception:  # the change is committed; the controller's next tick picks it up anyway
        log.exception("waking the controller failed")


@strawberry.type
class Query:
    @strawberry.field
    async def models(self, info: Info) -> list[t.Model]:
        def query(session: Session) -> list[t.Model]:
            return [t.model_from_row(row) for row in services.list_models(session=session)]

        return await info.context.db(query)

    @strawberry.field
    async def model(self, info: Info, name: str) -> t.Model | None:
        def query(session: Session) -> t.Model | None:
            row = services.get_model(session=session, name=name)
            return None if row is None else t.model_from_row(row)

        return await info.context.db(query)

    @strawberry.field
    async def deployment(
        self, info: Info, deployment_id: Annotated[strawberry.ID, strawberry.argument(name="id")]
    ) -> t.Deployment | None:
        return await info.context.db(lambda session: _load_deployment(session, deployment_id))


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def deploy_model(
        self,
        info: Info,
        deploy: Annotated[t.DeployModelInput, strawberry.argument(name="input")],
    ) -> t.DeployModelResult:
        context = info.context
        changes = deploy.scaling.changes() if deploy.scaling is not None else {}

        def create(session: Session) -> t.Deployment:
            row = services.create_deployment(
                session=session,
                name=deploy.name,
                hf_repo=deploy.hugging_face_repo,
                revision=deploy.revision,
                task=deploy.task,
                engine=deploy.engine if deploy.engine is not None else "transformers",
                scaling=changes,
                secret_names=deploy.secrets or (),
                environment=deploy.environment or "production",
                created_by=caller_prefix(context),
                max_batch_size=deploy.batching.max_batch_size if deploy.batching else None,
                max_batch_wait_ms=deploy.batching.max_wait_ms if deploy.batching else None,
            )
            return t.deployment_from_row(row, deploy.name)

        try:
            deployment = await context.db(create)
        except ValidationFailed as exc:
            return t.ValidationError(field=exc.field, message=exc.message)
        except (Conflict, NotFound) as exc:
            return t.ValidationError(field=exc.field or "name", message=exc.message)

        deployment_id = str(deployment.id)
        try:
            await context.deploy_starter.start_deploy(deployment_id)
        except Exception as exc:
            log.exception("starting the deploy of %s failed", deployment_id)
            reason = f"could not start the deploy: {type(exc).__name__}: {exc}"

            def fail(session: Session) -> t.Deployment | None:
                services.set_deployment_status(
                    session=session,
                    deployment_id=deployment_id,
                    status=DeploymentStatus.FAILED,
                    error=reason,
                )
                return _load_deployment(session, deployment_id)

            failed = await context.db(fail)
            if failed is not None:
                return failed
        return deployment

    @strawberry.mutation
    async def update_scaling(
        self,
        info: Info,
        model: str,
        scaling: t.ScalingInput,
        environment: Annotated[
            str, strawberry.argument(description="Whose scaling; the model's own is production's.")
        ] = "production",
    ) -> t.UpdateScalingResult:
        changes = scaling.changes()

        def update(session: Session) -> t.Model:
            row = services.update_scaling(
                session=session, name=model, changes=changes, environment=environment
            )
            return t.model_from_row(row)

        try:
            updated = await info.context.db(update)
        except ValidationFailed as exc:
            return t.ValidationError(field=exc.field, message=exc.message)
        except NotFound as exc:
            return t.NotFoundError(message=exc.message, field=exc.field or "")
        _wake(info.context)
        return updated

    @strawberry.mutation
    async def delete_model(self, info: Info, name: str) -> t.DeleteModelResult:
        try:
            await info.context.db(lambda session: services.delete_model(session=session, name=name))
        except NotFound as exc:
            return t.NotFoundError(message=exc.message)
        _wake(info.context)
        return t.DeletedModel(name=name)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def deployment_events(
        self, info: Info, deployment_id: Annotated[strawberry.ID, strawberry.argument(name="id")]
    ) -> AsyncGenerator[t.DeploymentEvent, None]:
        def poll(session: Session) -> tuple[DeploymentStatus | None, list[t.DeploymentEvent]]:
            deployment = session.get(orm.Deployment, str(deployment_id))
            if deployment is None:
                return None, []
            # Status first, then events: an event committed with a terminal status is then seen.
            status = deployment.status
            events = services.list_events_since(session=session, deployment_id=deployment.id)
            return status, [t.event_from_row(row) for row in events]

        status, events = await info.context.db(poll)
        if status is None:
            raise GraphQLError("deployment not found")
        # Event ids come from a sequence assigned at insert, so with concurrent writers a lower
        # id can commit after a higher one. Re-reading the deployment's (few) events and skipping
        # those already sent never loses one, where an "after the last id" cursor could.
        sent: set[strawberry.ID] = set()
        while True:
            for event in events:
                if event.id not in sent:
                    sent.add(event.id)
                    yield event
            if status is None or status.terminal:
                return
            await asyncio.sleep(EVENT_POLL_INTERVAL_S)
            status, events = await info.context.db(poll)


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Log only failures of our code; a GraphQLError we raise on purpose is an answer.
        unexpected = [
            e
            for e in errors
            if e.original_error is not None and not isinstance(e.original_error, GraphQLError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


QueryRoot = merge_types(
    "Query", (Query, AdminQuery, LogsQuery, MetricsQuery, AsyncQuery, LifecycleQuery)
)
MutationRoot = merge_types(
    "Mutation", (Mutation, AdminMutation, PackagesMutation, AsyncMutation, LifecycleMutation)
)
SubscriptionRoot = merge_types("Subscription", (Subscription, LogsSubscription))
guard_root_fields(QueryRoot, MutationRoot, SubscriptionRoot)


def build_schema(
    *, max_depth: int = 12, max_tokens: int = 4000, max_aliases: int = 30
) -> strawberry.Schema:
    return _Schema(
        query=QueryRoot,
        mutation=MutationRoot,
        subscription=SubscriptionRoot,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=max_depth),
            lambda: MaxTokensLimiter(max_token_count=max_tokens),
            lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
        ],
    )
