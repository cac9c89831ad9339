"""Engine configuration and column types of the control-plane database (SQLite)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.db.session import make_engine, session_scope


def test_sqlite_engine_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'p.db'}")
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert conn.scalar(text("PRAGMA busy_timeout")) == 30000
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "dir" / "p.db").exists()


def test_in_memory_sqlite_is_one_database_across_threads() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM t")) == 0
    finally:
        engine.dispose()


def test_naive_datetimes_are_refused(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        deployment = services.create_deployment(session, name="m", hf_repo="org/m")
    with pytest.raises(StatementError, match="naive datetime"), session_scope(sessions) as s:
        row = services.require_deployment(s, deployment_id=deployment.id)
        row.created_at = datetime(2026, 1, 1)  # naive on purpose
        s.flush()
