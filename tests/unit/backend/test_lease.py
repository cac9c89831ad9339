"""The control-plane lease on SQLite: one holder per database file, gone with its process."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.lease import LeaseBusy, acquire_lease
from tests.support.lease_holder import lease_held_elsewhere


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def test_a_second_holder_is_refused_with_the_first_ones_name(tmp_path: Path) -> None:
    url = url_of(tmp_path / "plinth.db")
    first = acquire_lease(url, holder="plinth up pid 1 at http://127.0.0.1:8000")
    try:
        with pytest.raises(LeaseBusy) as busy:
            acquire_lease(url, holder="plinth up pid 2")
        assert busy.value.holder == "plinth up pid 1 at http://127.0.0.1:8000"
        message = str(busy.value)
        assert "plinth up pid 1 at http://127.0.0.1:8000" in message
        assert "--standby" in message and "PLINTH_HOME" in message
        assert first.check()
    finally:
        first.release()
    second = acquire_lease(url, holder="plinth up pid 2")  # released: free again
    second.release()


def test_databases_have_leases_of_their_own(tmp_path: Path) -> None:
    a = acquire_lease(url_of(tmp_path / "a.db"), holder="a")
    b = acquire_lease(url_of(tmp_path / "b.db"), holder="b")
    a.release()
    b.release()
    a.release()  # twice is harmless


def test_an_in_memory_database_is_never_shared(tmp_path: Path) -> None:
    a = acquire_lease("sqlite://", holder="a")
    b = acquire_lease("sqlite://", holder="b")
    assert a.check() and b.check()


def test_a_killed_holder_frees_the_lease(tmp_path: Path) -> None:
    url = url_of(tmp_path / "plinth.db")
    with lease_held_elsewhere(url, "doomed") as holder:
        with pytest.raises(LeaseBusy, match="doomed"):
            acquire_lease(url, holder="next")
        holder.kill()
        holder.wait(timeout=10)
        acquire_lease(url, holder="next").release()  # SIGKILL left no lock behind


def test_an_unreachable_postgres_does_not_end_the_lease() -> None:
    # The lease's connection is gone and the database refuses connections (nothing listens):
    # nobody else can take the lock either, so the holder keeps serving and checks again.
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from backend.lease import _PgLease
    from serving.runtime_local import free_port

    engine = create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
        poolclass=NullPool,
        connect_args={"connect_timeout": 2},
    )
    lease = _PgLease(engine, None)
    assert lease.check()
    lease.release()
