"""`KeyCache`: the in-memory table of API key hashes that every request authenticates against.

The predict hot path touches no database: `authenticate(token)` hashes the presented key, looks
the hash up in a dict, checks revocation and expiry against the injectable clock, and notes the
last-used time in memory. A background task (`run`) every `refresh_s` seconds reloads the
table (so keys created or revoked by another process take effect within that time) and writes
the noted last-used times in one batch. In this process, `added` / `revoked` take effect at once
and survive a reload that started before their commit.

`authenticate` raises `Unauthenticated` with a message fit for the 401 answer: no key, not a
Plinth key, unknown key, revoked, expired. It never says which part of a key was wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.auth.keys import hash_key, key_prefix
from backend.auth.scopes import Principal
from backend.db import models as orm
from backend.db.session import session_scope
from backend.services.keys import touch_last_used

log = logging.getLogger("plinth.auth")

Clock = Callable[[], datetime]


class Unauthenticated(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class KeyRecord:
    id: str
    prefix: str
    scopes: frozenset[str]
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: orm.ApiKey) -> KeyRecord:
        return cls(
            id=row.id,
            prefix=row.prefix,
            scopes=frozenset(row.scopes),
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class KeyCache:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        refresh_s: float = 2.0,
        clock: Clock = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._refresh_s = refresh_s
        self._clock = clock
        self._by_hash: dict[str, KeyRecord] = {}
        # Changes made in this process, re-applied over a reload that may predate their commit.
        self._local: dict[str, KeyRecord] = {}
        self._used: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    # -- hot path ----------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated(
                "no API key: send `Authorization: Bearer <key>` (create one with "
                "`plinth keys create`; `plinth up` wrote an admin key to $PLINTH_HOME/credentials)"
            )
        if key_prefix(token) is None:
            raise Unauthenticated("the API key is malformed: Plinth keys look like pl_xxxxxxxx_...")
        record = self._by_hash.get(hash_key(token))
        if record is None:
            raise Unauthenticated("the API key is not valid (unknown or deleted key)")
        name = f"pl_{record.prefix}_..."
        if record.revoked_at is not None:
            raise Unauthenticated(f"the API key {name} was revoked")
        now = self._clock()
        if record.expires_at is not None and record.expires_at <= now:
            raise Unauthenticated(f"the API key {name} expired at {record.expires_at.isoformat()}")
        self._used[record.id] = now
        return Principal(key_id=record.id, prefix=record.prefix, scopes=record.scopes)

    # -- changes made in this process ---------------------------------------------------------

    def added(self, row: orm.ApiKey) -> None:
        record = KeyRecord.from_row(row)
        self._local[row.key_hash] = record
        self._by_hash[row.key_hash] = record

    def revoked(self, row: orm.ApiKey) -> None:
        current = self._by_hash.get(row.key_hash) or KeyRecord.from_row(row)
        record = replace(current, revoked_at=row.revoked_at or self._clock())
        self._local[row.key_hash] = record
        self._by_hash[row.key_hash] = record

    # -- background ---------------------------------------------------------------------------

    def load(self) -> None:
        """Reload every key from the database (blocking: call it in a worker thread)."""
        with session_scope(self._sessions) as session:
            rows = session.scalars(select(orm.ApiKey)).all()
            fresh = {row.key_hash: KeyRecord.from_row(row) for row in rows}
        for key_hash, record in list(self._local.items()):
            stored = fresh.get(key_hash)
            if stored is not None and stored.revoked_at == record.revoked_at:
                del self._local[key_hash]  # the database has caught up with this change
            elif stored is None or record.revoked_at is not None:
                fresh[key_hash] = record
        self._by_hash = fresh

    def flush_last_used(self) -> None:
        """Write the noted last-used times in one transaction (blocking)."""
        used, self._used = self._used, {}
        if not used:
            return
        try:
            with session_scope(self._sessions) as session:
                touch_last_used(session, used=used)
        except Exception:
            log.exception("recording API key last-used times failed; retrying next round")
            for key_id, at in used.items():
                self._used.setdefault(key_id, at)

    async def run(self) -> None:
        """Reload and flush every `refresh_s` seconds until cancelled (then flush once more)."""
        try:
            while True:
                await asyncio.sleep(self._refresh_s)
                try:
                    await asyncio.to_thread(self.load)
                except Exception:
                    log.exception("reloading API keys failed; keeping the previous table")
                await asyncio.to_thread(self.flush_last_used)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.to_thread(self.flush_last_used))
