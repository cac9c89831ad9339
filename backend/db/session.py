"""Engine and session factories for SQLite (the embedded default) and PostgreSQL.

`make_engine(url)` accepts `sqlite:///path`, `sqlite://` (in memory, one shared connection) and
`postgresql://` / `postgres://` / `postgresql+psycopg://` URLs (always driven by psycopg 3).
SQLite connections get WAL journaling, foreign keys ON (for ON DELETE CASCADE), a busy timeout so
concurrent writers wait instead of failing, and may be used from any thread (the API runs database
work in worker threads). `make_sessionmaker(engine)` keeps objects usable after commit;
`session_scope(factory)` commits on success and rolls back on error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_S = 30.0


def normalize_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pinned to the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url`, configured for this project's use of SQLite or PostgreSQL."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)

    connect_args: dict[str, Any] = {
        "check_same_thread": False,
        "timeout": SQLITE_BUSY_TIMEOUT_S,
        **kwargs.pop("connect_args", {}),
    }
    in_memory = parsed.database in (None, "", ":memory:")
    if in_memory:
        # One connection shared by all threads, or every connection would see its own database.
        kwargs.setdefault("poolclass", StaticPool)
    else:
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are handed across threads)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction: committed when the block ends, rolled back if it raises."""
    with factory() as session, session.begin():
        yield session
