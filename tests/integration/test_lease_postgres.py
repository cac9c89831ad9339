"""The control-plane lease on a real PostgreSQL: an advisory lock on a connection of its own."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from backend.db.session import make_engine
from backend.lease import LeaseBusy, acquire_lease
from tests.support.lease_holder import lease_held_elsewhere

pytestmark = pytest.mark.integration


def test_one_holder_per_database_named_in_the_refusal(postgres_url: str) -> None:
    first = acquire_lease(postgres_url, holder="plinth up pid 1 at http://127.0.0.1:8000")
    try:
        with pytest.raises(LeaseBusy) as busy:
            acquire_lease(postgres_url, holder="plinth up pid 2")
        assert busy.value.holder == "plinth up pid 1 at http://127.0.0.1:8000"
        assert "127.0.0.1:5432/test" in str(busy.value)
        assert "postgres@" not in str(busy.value)  # no user (or password) in what users see
        assert first.check()
    finally:
        first.release()
    acquire_lease(postgres_url, holder="plinth up pid 2").release()


def test_a_killed_holder_frees_the_lease(postgres_url: str) -> None:
    with lease_held_elsewhere(postgres_url, "doomed") as holder:
        with pytest.raises(LeaseBusy, match="doomed"):
            acquire_lease(postgres_url, holder="next")
        holder.kill()
        holder.wait(timeout=10)
        # PostgreSQL ends the dead client's session (and its lock) once it sees the socket close.
        lease = None
        for _ in range(50):
            try:
                lease = acquire_lease(postgres_url, holder="next")
                break
            except LeaseBusy:
                time.sleep(0.1)
        assert lease is not None, "the lease outlived its killed holder"
        lease.release()


def _terminate_lease_sessions(postgres_url: str, application_name: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": application_name},
            )
            conn.commit()
    finally:
        engine.dispose()


def test_a_lost_connection_is_retaken_unless_someone_else_took_the_lease(
    postgres_url: str,
) -> None:
    lease = acquire_lease(postgres_url, holder="holder-a")
    try:
        _terminate_lease_sessions(postgres_url, "holder-a")  # as a database restart would
        assert lease.check()  # reconnected and took the lock again: nobody else had it
        with pytest.raises(LeaseBusy):
            acquire_lease(postgres_url, holder="holder-b")
        _terminate_lease_sessions(postgres_url, "holder-a")
        other = acquire_lease(postgres_url, holder="holder-b")  # took over meanwhile
        try:
            assert not lease.check()  # the old holder must stop acting as the controller
        finally:
            other.release()
    finally:
        lease.release()
