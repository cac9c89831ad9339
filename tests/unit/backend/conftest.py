"""Fixtures of the backend unit tests: a migrated SQLite database per test, the app built by
`create_app` with a recording DeployStarter and a scriptable data plane, and a GraphQL helper.
The harness's client sends an admin API key (created before the app starts) on every request."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.app import create_app
from backend.db.migrate import upgrade_database
from backend.db.session import make_engine, make_sessionmaker, session_scope
from backend.settings import Settings
from tests.unit.backend.support import FakePlane, Harness, RecordingStarter


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "plinth.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, _migrated_template: Path) -> str:
    """A fresh, migrated SQLite database for this test only (a copy of a migrated template)."""
    path = tmp_path / "plinth.db"
    shutil.copy(_migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def harness(tmp_path: Path, sessions: sessionmaker[Session]) -> Iterator[Harness]:
    starter = RecordingStarter()
    plane = FakePlane()
    wakes: list[None] = []
    with session_scope(sessions) as session:
        _row, admin_key = services.create_api_key(session, scopes=["admin"], name="test-admin")
    app = create_app(
        settings=Settings(home=tmp_path, predict_timeout_s=7.5),
        sessionmaker=sessions,
        plane=plane,
        deploy_starter=starter,
        wake=lambda: wakes.append(None),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        yield Harness(client, sessions, starter, plane, wakes, admin_key)
