"""An app with one API key per kind of caller, for the auth tests (matrix, keys, secrets)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.app import create_app
from backend.db.migrate import upgrade_database
from backend.db.session import make_engine, make_sessionmaker, session_scope
from backend.settings import Settings
from tests.unit.backend.support import FakePlane, RecordingStarter

BAD_KEY = "pl_zzzzzzzz_" + "x" * 43
# Callers of the matrix: None = no Authorization header.
CALLERS = (
    "none",
    "bad",
    "expired",
    "revoked",
    "read",
    "invoke_other",
    "invoke_this",
    "deploy",
    "admin",
)
SCOPES = {
    "read": ["read"],
    "invoke_other": ["invoke:other"],
    "invoke_this": ["invoke:minilm"],
    "deploy": ["deploy"],
    "admin": ["admin"],
}


@dataclass
class AuthApp:
    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    plane: FakePlane
    keys: dict[str, str | None]
    home: Path

    def headers(self, caller: str) -> dict[str, str]:
        key = self.keys[caller]
        return {} if key is None else {"Authorization": f"Bearer {key}"}

    def gql(self, caller: str, query: str, **variables: Any) -> Any:
        return self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers(caller)
        )


def make_keys(sessions: sessionmaker[Session]) -> dict[str, str | None]:
    keys: dict[str, str | None] = {"none": None, "bad": BAD_KEY}
    with session_scope(sessions) as session:
        for caller, scopes in SCOPES.items():
            keys[caller] = services.create_api_key(
                session, scopes=scopes, name=caller.replace("_", "-")
            )[1]
        past = datetime.now(UTC) - timedelta(days=2)
        keys["expired"] = services.create_api_key(
            session, scopes=["admin"], expires_at=past + timedelta(days=1), now=past
        )[1]
        row, keys["revoked"] = services.create_api_key(session, scopes=["admin"])
        services.revoke_api_key(session, key_id=row.id)
    return keys


@contextmanager
def auth_app(home: Path, **settings: Any) -> Iterator[AuthApp]:
    db = home / "plinth.db"
    upgrade_database(f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    sessions = make_sessionmaker(engine)
    keys = make_keys(sessions)
    plane = FakePlane()
    app = create_app(
        settings=Settings(home=home, **settings),
        sessionmaker=sessions,
        plane=plane,
        deploy_starter=RecordingStarter(),
        wake=lambda: None,
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield AuthApp(app, client, sessions, plane, keys, home)
    finally:
        engine.dispose()
