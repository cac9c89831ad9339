"""The audit log: every mutation records who (key id and prefix), what (action, target), when,
and the outcome; admins read it through GraphQL `auditLog(limit, offset)`.

Outcomes: `ok`, `invalid` (a ValidationError answer), `not_found`, `denied` (the key lacked the
scope), `error` (the mutation raised). Entries never hold secret values or keys: targets are
names and ids only. `record` flushes, the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import models as orm

OUTCOMES = ("ok", "invalid", "not_found", "denied", "error")
MAX_PAGE = 500


def record(
    session: Session,
    *,
    key_id: str | None,
    key_prefix: str | None,
    action: str,
    target: str | None,
    outcome: str,
    detail: str | None = None,
) -> orm.AuditEntry:
    entry = orm.AuditEntry(
        key_id=key_id,
        key_prefix=key_prefix,
        action=action,
        target=None if target is None else target[:200],
        outcome=outcome,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry


def list_entries(session: Session, *, limit: int = 50, offset: int = 0) -> Sequence[orm.AuditEntry]:
    """Newest first; `limit` is capped at MAX_PAGE."""
    limit = max(0, min(limit, MAX_PAGE))
    return session.scalars(
        select(orm.AuditEntry)
        .order_by(orm.AuditEntry.id.desc())
        .limit(limit)
        .offset(max(0, offset))
    ).all()
