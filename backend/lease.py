"""The control-plane lease: one `plinth up` per database runs the controller.

Two controllers on one database would each start the deployments' replicas and overwrite each
other's observations (a second `plinth up` on the same `PLINTH_HOME` did exactly that). So
`plinth up` takes this lease before it touches the database, and holds it until its replicas
are stopped.

Contract:
- `acquire_lease(url, holder=...)` returns a `Lease` at once or raises `LeaseBusy`, whose
  message names the holder (`.holder`) and what to do. `plinth up --standby` calls it again
  every second until it succeeds (`backend.platform`), so a standby takes over when the
  holder stops or dies.
- SQLite file databases: an exclusive `flock` on `<database file>.lease`, which holds the
  holder's description. PostgreSQL: `pg_try_advisory_lock(LEASE_KEY)` on a connection of its
  own whose `application_name` is the holder's description (advisory locks belong to one
  database, so two databases on one server have two leases). An in-memory SQLite database is
  never shared: its lease is always granted.
- Either is released by `Lease.release()` and by the end of the process, SIGKILL included
  (the kernel drops the `flock`; PostgreSQL drops the lock with the connection).
- `Lease.check()` answers False once the lease is known to be someone else's. A file lock
  cannot be lost; a PostgreSQL lock is lost with its connection (a database restart, a network
  cut): `check()` then reconnects and takes it again if nobody else has, and answers False if
  another process holds it now (the platform stops, so that two controllers never act at
  once). While the database cannot be reached it answers True and tries again next time: a
  database blip does not take the serving replicas down.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from backend.db.session import normalize_url

log = logging.getLogger("plinth.lease")

LEASE_KEY = 0x506C696E  # "Plin": the advisory lock key of the controller lease
_PG_NAME_MAX = 63  # PostgreSQL truncates application_name beyond this


class LeaseBusy(RuntimeError):
    """Another control plane holds the lease of this database."""

    def __init__(self, database: str, holder: str | None) -> None:
        self.holder = holder
        who = holder or "another process"
        super().__init__(
            f"another Plinth control plane runs on this database ({database}): {who}. "
            "Stop it first, give this one its own PLINTH_HOME or PLINTH_DATABASE_URL, or start "
            "it with --standby to take over when that one stops."
        )


class LeaseLost(RuntimeError):
    """Another control plane took this one's lease while its connection was broken."""


class Lease(Protocol):
    def check(self) -> bool: ...

    def release(self) -> None: ...


def holder_description(base_url: str) -> str:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"plinth up pid {os.getpid()} on {socket.gethostname()} at {base_url} since {since}"


def acquire_lease(url: str, *, holder: str) -> Lease:
    parsed = normalize_url(url)
    shown = database_label(url)
    got: _FileLease | _PgLease | str | None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return _NoLease()
        got = _FileLease.try_acquire(Path(str(parsed.database)).expanduser(), holder)
    else:
        engine = create_engine(
            parsed, poolclass=NullPool, connect_args={"application_name": holder[:_PG_NAME_MAX]}
        )
        try:
            got = _PgLease.try_acquire(engine)
        except BaseException:
            engine.dispose()
            raise
        if not isinstance(got, _PgLease):
            engine.dispose()
    if isinstance(got, str | None):
        raise LeaseBusy(shown, got)
    return got


class _NoLease:
    def check(self) -> bool:
        return True

    def release(self) -> None:
        return None


class _FileLease:
    def __init__(self, file: IO[str]) -> None:
        self._file: IO[str] | None = file

    @classmethod
    def try_acquire(cls, database: Path, holder: str) -> _FileLease | str | None:
        path = database.with_name(database.name + ".lease")
        path.parent.mkdir(parents=True, exist_ok=True)
        file = path.open("a+", encoding="utf-8")  # not inherited by child processes (PEP 446)
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            found = file.read().strip() or None
            file.close()
            return found
        except BaseException:
            file.close()
            raise
        file.seek(0)
        file.truncate()
        file.write(holder + "\n")
        file.flush()
        return cls(file)

    def check(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.truncate(0)
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None


class _PgLease:
    def __init__(self, engine: Engine, conn: Connection | None) -> None:
        self._engine = engine
        self._conn: Connection | None = conn

    @classmethod
    def try_acquire(cls, engine: Engine) -> _PgLease | str | None:
        conn = _take(engine)
        if conn is not None:
            return cls(engine, conn)
        with engine.connect() as probe:
            row = probe.execute(
                text(
                    "SELECT a.application_name FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0"
                    " AND l.objid = :key AND l.objsubid = 1"
                    " AND l.database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                ),
                {"key": LEASE_KEY},
            ).first()
        return (str(row[0]) or None) if row is not None else None

    def check(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1")).scalar_one()
                return True
            except DBAPIError:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
        # The connection, and with it the lock, is gone: take it again unless someone has.
        try:
            self._conn = _take(self._engine)
        except DBAPIError as err:
            # The database is unreachable: nobody can take the lock while we cannot either
            # (PostgreSQL keeps a session it has not seen die, and its lock, until its keepalive
            # gives up), and replicas keep serving meanwhile. Try again at the next check.
            log.warning("control-plane lease: database unreachable (%s); retrying", err)
            return True
        return self._conn is not None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEASE_KEY})
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        self._engine.dispose()


def _take(engine: Engine) -> Connection | None:
    """A connection holding the advisory lock, or None when another session holds it."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEASE_KEY})
        if got.scalar_one():
            return conn
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None


def database_label(url: str) -> str:
    """The database as shown to users: no password, no user."""
    return make_url(url).render_as_string(hide_password=True).split("@")[-1]
