"""The async request table's state machine: every transition is one conditional UPDATE.

    QUEUED ──claim──▶ RUNNING ──complete──▶ SUCCEEDED | FAILED | CANCELLED
      │  ▲               │
      │  └──retry / lease expired (attempt < max)
      ├──cancel──▶ CANCELLED
      └──max_time_in_queue_s passed before the first start──▶ EXPIRED

- `submit` inserts a QUEUED row; the caller commits it before answering 202.
- `claim` picks QUEUED rows by priority (0 first), then age, whose retry time has come, for the
  models given with how many each may take; each is taken with `UPDATE ... WHERE status =
  'QUEUED'`, which increments `attempts` and sets a lease. On PostgreSQL candidates are read
  `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers do not wait on each other.
- `complete(id, attempt, ...)` only applies to `status = 'RUNNING' AND attempts = attempt`: an
  attempt whose lease was taken over (a crash, a stall) can never complete the request, so a
  request completes at most once. A completion with `cancel_requested` becomes CANCELLED.
- `recover_expired_leases` puts RUNNING rows whose lease ran out back in the queue (a new
  attempt on the next claim), or FAILS them once `max_attempts` is used up.
- Every terminal transition of a request with a `webhook_url` inserts its webhook delivery in
  the same transaction, so a completion and its notification are durable together.
- `purge(ttl)` deletes finished requests (and their delivered webhooks) older than `ttl`.
Times come from the `now` argument (an injectable clock), never from the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, select, update
from sqlalchemy.orm import Session

from backend import webhooks
from backend.db import models as orm

QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
EXPIRED = "EXPIRED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED})

HIGHEST_PRIORITY = 0
DEFAULT_PRIORITY = 1
LOWEST_PRIORITY = 2

AR = orm.AsyncRequest


def _rows(result: Result[Any]) -> int:
    """Rows an UPDATE/DELETE changed."""
    return int(cast(CursorResult[Any], result).rowcount)


@dataclass(frozen=True)
class Claimed:
    id: str
    model: str
    payload: bytes
    attempt: int


def submit(
    session: Session,
    *,
    model: str,
    payload: Mapping[str, Any],
    key_id: str | None,
    webhook_url: str | None,
    priority: int,
    max_time_in_queue_s: float | None,
    now: datetime,
) -> orm.AsyncRequest:
    row = orm.AsyncRequest(
        model=model,
        key_id=key_id,
        payload=json.dumps(payload, separators=(",", ":")),
        webhook_url=webhook_url,
        priority=priority,
        status=QUEUED,
        attempts=0,
        created_at=now,
        queue_deadline=(
            None if max_time_in_queue_s is None else now + timedelta(seconds=max_time_in_queue_s)
        ),
        cancel_requested=False,
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, request_id: str) -> orm.AsyncRequest | None:
    return session.get(orm.AsyncRequest, request_id)


def queued_models(session: Session, *, now: datetime) -> list[str]:
    """Models with queued work that may start now."""
    rows = session.scalars(
        select(AR.model)
        .where(AR.status == QUEUED, (AR.not_before.is_(None)) | (AR.not_before <= now))
        .distinct()
    )
    return list(rows)


def claim(
    session: Session,
    *,
    capacity: Mapping[str, int],
    owner: str,
    lease_s: float,
    now: datetime,
) -> list[Claimed]:
    """Take up to `capacity[model]` queued requests of each model (see the module docstring)."""
    wanted = {m: n for m, n in capacity.items() if n > 0}
    if not wanted:
        return []
    query = (
        select(AR.id, AR.model)
        .where(
            AR.status == QUEUED,
            AR.model.in_(wanted),
            (AR.not_before.is_(None)) | (AR.not_before <= now),
        )
        .order_by(AR.priority, AR.created_at, AR.id)
        .limit(sum(wanted.values()))
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    taken: list[Claimed] = []
    left = dict(wanted)
    for request_id, model in session.execute(query).all():
        if left.get(model, 0) <= 0:
            continue
        row = session.execute(
            update(AR)
            .where(AR.id == request_id, AR.status == QUEUED)
            .values(
                status=RUNNING,
                attempts=AR.attempts + 1,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_s),
                started_at=now,
                not_before=None,
            )
            .returning(AR.attempts, AR.payload)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            continue  # another dispatcher took it
        left[model] -= 1
        taken.append(Claimed(request_id, model, row.payload.encode("utf-8"), row.attempts))
    return taken


def renew_leases(
    session: Session, *, ids: list[str], owner: str, lease_s: float, now: datetime
) -> int:
    if not ids:
        return 0
    return _rows(
        session.execute(
            update(AR)
            .where(AR.id.in_(ids), AR.status == RUNNING, AR.lease_owner == owner)
            .values(lease_expires_at=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )
    )


def release(session: Session, *, owner: str) -> int:
    """Back to QUEUED: the RUNNING requests of `owner` (a dispatcher shutting down cleanly)."""
    return _rows(
        session.execute(
            update(AR)
            .where(AR.status == RUNNING, AR.lease_owner == owner)
            .values(status=QUEUED, lease_owner=None, lease_expires_at=None, not_before=None)
            .execution_options(synchronize_session=False)
        )
    )


def _webhook_body(row: orm.AsyncRequest) -> str:
    body: dict[str, Any] = {
        "id": row.id,
        "model": row.model,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": row.created_at.isoformat(),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
    }
    if row.status == SUCCEEDED:
        body["result"] = json.loads(row.result) if row.result is not None else None
    else:
        body["error"] = row.error
    return json.dumps(body, separators=(",", ":"))


def _finish(session: Session, request_id: str) -> orm.AsyncRequest | None:
    """After a terminal transition: schedule the webhook (same transaction)."""
    row = session.get(AR, request_id, populate_existing=True)
    if row is not None and row.webhook_url:
        session.add(
            orm.WebhookDelivery(
                request_id=row.id,
                model=row.model,
                key_id=row.key_id,
                url=row.webhook_url,
                body=_webhook_body(row),
                status=webhooks.PENDING,
                attempts=0,
                next_attempt_at=row.completed_at,
            )
        )
    return row


def complete(
    session: Session,
    *,
    request_id: str,
    attempt: int,
    status: str,
    now: datetime,
    result: bytes | None = None,
    error: Mapping[str, Any] | None = None,
) -> bool:
    """Finish attempt `attempt` as SUCCEEDED (with `result`), FAILED or CANCELLED (with `error`).

    False when the attempt no longer owns the request (nothing changes)."""
    assert status in (SUCCEEDED, FAILED, CANCELLED), status
    common = {
        "completed_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    guard = (AR.id == request_id, AR.status == RUNNING, AR.attempts == attempt)
    if status == SUCCEEDED:
        values: dict[str, Any] = {
            "status": SUCCEEDED,
            "result": None if result is None else result.decode("utf-8"),
            "error": None,
        }
    else:
        values = {"status": status, "error": dict(error or {})}
    # A cancel that arrived while running wins over the outcome.
    done = _rows(
        session.execute(
            update(AR)
            .where(*guard, AR.cancel_requested.is_(False))
            .values(**values, **common)
            .execution_options(synchronize_session=False)
        )
    )
    if done == 0:
        cancelled = {"type": "cancelled", "message": "cancelled while running"}
        done = _rows(
            session.execute(
                update(AR)
                .where(*guard, AR.cancel_requested.is_(True))
                .values(status=CANCELLED, error=cancelled, **common)
                .execution_options(synchronize_session=False)
            )
        )
    if done == 1:
        _finish(session, request_id)
    return done == 1


def retry_later(
    session: Session,
    *,
    request_id: str,
    attempt: int,
    delay_s: float,
    error: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Back to QUEUED, startable after `delay_s` (the next claim is a new attempt)."""
    return (
        _rows(
            session.execute(
                update(AR)
                .where(
                    AR.id == request_id,
                    AR.status == RUNNING,
                    AR.attempts == attempt,
                    AR.cancel_requested.is_(False),
                )
                .values(
                    status=QUEUED,
                    not_before=now + timedelta(seconds=delay_s),
                    lease_owner=None,
                    lease_expires_at=None,
                    error=dict(error),
                )
                .execution_options(synchronize_session=False)
            )
        )
        == 1
    )


def cancel(session: Session, *, request_id: str, now: datetime) -> orm.AsyncRequest | None:
    """Cancel a QUEUED request at once; mark a RUNNING one `cancel_requested`; None if unknown."""
    row = session.get(AR, request_id)
    if row is None:
        return None
    if row.status == QUEUED:
        done = _rows(
            session.execute(
                update(AR)
                .where(AR.id == request_id, AR.status == QUEUED)
                .values(
                    status=CANCELLED,
                    completed_at=now,
                    error={"type": "cancelled", "message": "cancelled before it ran"},
                )
                .execution_options(synchronize_session=False)
            )
        )
        if done == 1:
            return _finish(session, request_id)
    session.execute(
        update(AR)
        .where(AR.id == request_id, AR.status == RUNNING)
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    return session.get(AR, request_id, populate_existing=True)


def expire_queued(session: Session, *, now: datetime) -> list[str]:
    """EXPIRED: requests never started whose `max_time_in_queue_s` has passed."""
    ids = list(
        session.scalars(
            select(AR.id).where(AR.status == QUEUED, AR.attempts == 0, AR.queue_deadline < now)
        )
    )
    expired = []
    for request_id in ids:
        done = _rows(
            session.execute(
                update(AR)
                .where(AR.id == request_id, AR.status == QUEUED, AR.attempts == 0)
                .values(
                    status=EXPIRED,
                    completed_at=now,
                    error={
                        "type": "expired",
                        "message": "waited longer than max_time_in_queue_s before it could start",
                    },
                )
                .execution_options(synchronize_session=False)
            )
        )
        if done == 1:
            _finish(session, request_id)
            expired.append(request_id)
    return expired


def recover_expired_leases(session: Session, *, max_attempts: int, now: datetime) -> list[str]:
    """Requeue (or fail, after `max_attempts`) RUNNING requests whose lease ran out."""
    rows = session.execute(
        select(AR.id, AR.attempts, AR.cancel_requested).where(
            AR.status == RUNNING, AR.lease_expires_at < now
        )
    ).all()
    recovered = []
    for request_id, attempts, cancel_requested in rows:
        guard = (
            AR.id == request_id,
            AR.status == RUNNING,
            AR.attempts == attempts,
            AR.lease_expires_at < now,
        )
        if cancel_requested or attempts >= max_attempts:
            status = CANCELLED if cancel_requested else FAILED
            message = (
                "cancelled while running"
                if cancel_requested
                else f"its worker was lost {attempts} times (lease expired); giving up"
            )
            values: dict[str, Any] = {
                "status": status,
                "completed_at": now,
                "lease_owner": None,
                "lease_expires_at": None,
                "error": {"type": "cancelled" if cancel_requested else "lost", "message": message},
            }
        else:
            values = {
                "status": QUEUED,
                "lease_owner": None,
                "lease_expires_at": None,
                "not_before": None,
            }
        done = _rows(
            session.execute(
                update(AR)
                .where(*guard)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
        if done == 1:
            if values["status"] != QUEUED:
                _finish(session, request_id)
            recovered.append(request_id)
    return recovered


def fail_orphans(session: Session, *, now: datetime) -> list[str]:
    """FAIL queued requests whose model was deleted (they could never run)."""
    ids = list(
        session.scalars(
            select(AR.id).where(AR.status == QUEUED, AR.model.not_in(select(orm.Model.name)))
        )
    )
    failed = []
    for request_id in ids:
        done = _rows(
            session.execute(
                update(AR)
                .where(AR.id == request_id, AR.status == QUEUED)
                .values(
                    status=FAILED,
                    completed_at=now,
                    error={"type": "not_found", "message": "the model was deleted"},
                )
                .execution_options(synchronize_session=False)
            )
        )
        if done == 1:
            _finish(session, request_id)
            failed.append(request_id)
    return failed


def purge(session: Session, *, ttl_s: float, now: datetime) -> int:
    """Delete finished requests older than `ttl_s`, and their webhooks that are no longer due."""
    cutoff = now - timedelta(seconds=ttl_s)
    old = select(AR.id).where(AR.status.in_(TERMINAL), AR.completed_at < cutoff)
    session.execute(
        delete(orm.WebhookDelivery)
        .where(
            orm.WebhookDelivery.request_id.in_(old),
            orm.WebhookDelivery.status != webhooks.PENDING,
        )
        .execution_options(synchronize_session=False)
    )
    return _rows(
        session.execute(
            delete(AR)
            .where(AR.status.in_(TERMINAL), AR.completed_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    )


def describe(row: orm.AsyncRequest) -> dict[str, Any]:
    """The public JSON of a request (`GET /v1/async/{id}`)."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    answer: dict[str, Any] = {
        "id": row.id,
        "model": row.model,
        "status": row.status,
        "priority": row.priority,
        "attempts": row.attempts,
        "webhook_url": row.webhook_url,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "completed_at": iso(row.completed_at),
        "queue_deadline": iso(row.queue_deadline),
        "cancel_requested": row.cancel_requested,
        "result": json.loads(row.result) if row.result is not None else None,
        "error": row.error if row.status != SUCCEEDED else None,
    }
    return answer
