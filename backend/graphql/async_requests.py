"""Async requests and batch jobs over GraphQL: dead letters, webhook secrets, batch progress.

    type Query    { asyncDeadLetters(limit: Int = 100): [WebhookDelivery!]!
                    batchJob(id: ID!): BatchJob
                    batchJobs(limit: Int = 50): [BatchJob!]! }
    type Mutation { replayWebhook(id: ID!): ReplayWebhookResult!
                    revealWebhookSecret: RevealWebhookSecretResult!
                    rotateWebhookSecret: WebhookSigningSecret! }

Any key may call them (`backend.auth.registry`); each shows and acts only on what the key may
invoke: dead letters and batch jobs of models it holds `invoke` (or `invoke:MODEL`, or `admin`)
for. An id the key may not see reads as not found. `revealWebhookSecret` shows the calling key's
webhook signing secret once (creating it if needed; a second call is a ValidationError on field
`secret` that says to rotate); `rotateWebhookSecret` replaces it and shows the new one once.
`replayWebhook` puts a dead letter back on the delivery schedule with a fresh attempt budget.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import webhooks
from backend.auth.scopes import Access, Principal
from backend.db import models as orm
from backend.errors import Conflict, NotFound
from backend.graphql.context import Context
from backend.graphql.types import NotFoundError, ValidationError
from backend.services import batch

Info = strawberry.Info[Context]
MAX_LIMIT = 1000


@strawberry.type
class WebhookDelivery:
    id: strawberry.ID
    request_id: str
    model: str
    url: str
    status: str = strawberry.field(description="PENDING, DELIVERED or DEAD (a dead letter)")
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


@strawberry.type
class WebhookSigningSecret:
    secret: str = strawberry.field(description="Shown this once: store it with the receiver.")


@strawberry.type
class BatchJob:
    id: strawberry.ID
    model: str
    status: str = strawberry.field(description="QUEUED, RUNNING, SUCCEEDED or FAILED")
    total: int
    completed: int
    failed: int
    concurrency: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    error: str | None


ReplayWebhookResult = Annotated[
    WebhookDelivery | NotFoundError | ValidationError,
    strawberry.union("ReplayWebhookResult"),
]
RevealWebhookSecretResult = Annotated[
    WebhookSigningSecret | ValidationError, strawberry.union("RevealWebhookSecretResult")
]


def _delivery(row: orm.WebhookDelivery) -> WebhookDelivery:
    return WebhookDelivery(
        id=strawberry.ID(row.id),
        request_id=row.request_id,
        model=row.model,
        url=row.url,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
    )


def _job(session: Session, row: orm.BatchJob) -> BatchJob:
    d = batch.describe_job(session, row)
    return BatchJob(
        id=strawberry.ID(row.id),
        model=row.model,
        status=row.status,
        total=d["total"],
        completed=d["completed"],
        failed=d["failed"],
        concurrency=row.concurrency,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        error=row.error,
    )


def _principal(info: Info) -> Principal:
    principal = info.context.principal
    assert principal is not None  # the root-field guard refused calls without one
    return principal


def _may(principal: Principal, model: str) -> bool:
    return principal.allows(Access.INVOKE, model)


def _limit(value: int) -> int:
    return max(0, min(value, MAX_LIMIT))


@strawberry.type
class AsyncQuery:
    @strawberry.field(description="Webhooks that exhausted their attempts, newest first.")  # type: ignore[untyped-decorator]
    async def async_dead_letters(self, info: Info, limit: int = 100) -> list[WebhookDelivery]:
        principal = _principal(info)

        def query(session: Session) -> list[WebhookDelivery]:
            rows = webhooks.dead_letters(session, limit=MAX_LIMIT)
            return [_delivery(r) for r in rows if _may(principal, r.model)][: _limit(limit)]

        return await info.context.db(query)

    @strawberry.field
    async def batch_job(
        self, info: Info, job_id: Annotated[strawberry.ID, strawberry.argument(name="id")]
    ) -> BatchJob | None:
        principal = _principal(info)

        def query(session: Session) -> BatchJob | None:
            row = session.get(orm.BatchJob, str(job_id))
            if row is None or not _may(principal, row.model):
                return None
            return _job(session, row)

        return await info.context.db(query)

    @strawberry.field(description="Batch jobs, newest first.")  # type: ignore[untyped-decorator]
    async def batch_jobs(self, info: Info, limit: int = 50) -> list[BatchJob]:
        principal = _principal(info)

        def query(session: Session) -> list[BatchJob]:
            rows = session.scalars(
                select(orm.BatchJob).order_by(orm.BatchJob.created_at.desc()).limit(MAX_LIMIT)
            )
            visible = [r for r in rows if _may(principal, r.model)][: _limit(limit)]
            return [_job(session, r) for r in visible]

        return await info.context.db(query)


@strawberry.type
class AsyncMutation:
    @strawberry.mutation
    async def replay_webhook(
        self, info: Info, delivery_id: Annotated[strawberry.ID, strawberry.argument(name="id")]
    ) -> ReplayWebhookResult:
        principal = _principal(info)

        def replay(session: Session) -> WebhookDelivery | NotFoundError | ValidationError:
            row = session.get(orm.WebhookDelivery, str(delivery_id))
            if row is None or not _may(principal, row.model):
                return NotFoundError(message=f"webhook delivery '{delivery_id}' not found")
            try:
                return _delivery(webhooks.replay_delivery(session, delivery_id=row.id))
            except NotFound as exc:
                return NotFoundError(message=exc.message)
            except Conflict as exc:
                return ValidationError(field="id", message=exc.message)

        return await info.context.db(replay)

    @strawberry.mutation
    async def reveal_webhook_secret(self, info: Info) -> RevealWebhookSecretResult:
        owner = webhooks.owner_of(_principal(info).key_id)
        box = info.context.secret_box

        def reveal(session: Session) -> WebhookSigningSecret | ValidationError:
            try:
                secret = webhooks.reveal_signing_secret(session, box=box, owner=owner)
            except Conflict as exc:
                return ValidationError(field="secret", message=exc.message)
            return WebhookSigningSecret(secret=secret)

        return await info.context.db(reveal)

    @strawberry.mutation
    async def rotate_webhook_secret(self, info: Info) -> WebhookSigningSecret:
        owner = webhooks.owner_of(_principal(info).key_id)
        box = info.context.secret_box
        secret = await info.context.db(
            lambda session: webhooks.rotate_signing_secret(session, box=box, owner=owner)
        )
        return WebhookSigningSecret(secret=secret)
