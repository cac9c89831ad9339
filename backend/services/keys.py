"""Service functions for API keys: create (the key is returned once), list, revoke, and the
reads and writes behind the in-memory key cache (`backend.auth.cache`).

Signature convention: `fn(session, *, ...)`; they flush, the caller commits. Scopes are
validated with `backend.auth.scopes.parse_scopes`, key names with `plinth.types.validate_name`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.auth.keys import NewKey, generate_key
from backend.auth.scopes import parse_scopes
from backend.db import models as orm
from backend.errors import NotFound, ValidationFailed
from plinth.types import FieldError, validate_name


def create_api_key(
    session: Session,
    *,
    scopes: Iterable[str],
    name: str | None = None,
    expires_at: datetime | None = None,
    created_by: str | None = None,
    now: datetime | None = None,
) -> tuple[orm.ApiKey, str]:
    """A new key row and the key itself (shown once; only its hash is stored)."""
    try:
        parsed = parse_scopes(scopes)
        if name is not None:
            validate_name(name, field="name")
    except FieldError as exc:
        raise ValidationFailed(exc.field, exc.message) from exc
    now = now or datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("expiresInSeconds", "the expiry must be in the future")
    new: NewKey = generate_key()
    while session.scalar(select(orm.ApiKey.id).where(orm.ApiKey.prefix == new.prefix)):
        new = generate_key()  # 36^8 prefixes: a clash is rare, but the column is unique
    row = orm.ApiKey(
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        scopes=list(parsed),
        expires_at=expires_at,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, new.key


def list_api_keys(session: Session) -> Sequence[orm.ApiKey]:
    """Every key, newest first (revoked ones included, marked by `revoked_at`)."""
    return session.scalars(
        select(orm.ApiKey).order_by(orm.ApiKey.created_at.desc(), orm.ApiKey.id)
    ).all()


def count_api_keys(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(orm.ApiKey)) or 0)


def revoke_api_key(session: Session, *, key_id: str, now: datetime | None = None) -> orm.ApiKey:
    """Revoke a key (idempotent: an already revoked key keeps its first revocation time)."""
    row = session.get(orm.ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id!r} not found")
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        session.flush()
    return row


def touch_last_used(session: Session, *, used: Mapping[str, datetime]) -> None:
    """Record last-used times in one batch (called off the hot path by the key cache)."""
    for key_id, at in used.items():
        session.execute(
            update(orm.ApiKey)
            .where(orm.ApiKey.id == key_id)
            .where((orm.ApiKey.last_used_at.is_(None)) | (orm.ApiKey.last_used_at < at))
            .values(last_used_at=at)
        )
