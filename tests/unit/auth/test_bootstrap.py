"""Start-up security: the first admin key, unsafe binds refused, PLINTH_AUTH=disabled."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from backend.app import AUTH_DISABLED_WARNING
from backend.auth.bootstrap import UnsafeConfiguration, check_bind, ensure_admin_key
from backend.db.migrate import upgrade_database
from backend.db.session import make_engine, make_sessionmaker
from backend.settings import Settings
from tests.unit.auth.support import auth_app


def test_first_start_creates_one_admin_key_in_a_private_credentials_file(tmp_path: Path) -> None:
    upgrade_database(f"sqlite:///{tmp_path / 'plinth.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'plinth.db'}")
    settings = Settings(home=tmp_path, port=8123)
    try:
        key = ensure_admin_key(settings, make_sessionmaker(engine))
        again = ensure_admin_key(settings, make_sessionmaker(engine))
    finally:
        engine.dispose()

    path = tmp_path / "credentials"
    assert key is not None and key.startswith("pl_")
    assert again is None  # a key exists now: nothing is created or printed again
    assert json.loads(path.read_text()) == {"api_key": key, "url": "http://127.0.0.1:8123"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_a_public_bind_with_auth_disabled_refuses_to_start(host: str) -> None:
    with pytest.raises(UnsafeConfiguration, match="PLINTH_AUTH=disabled"):
        check_bind(Settings(host=host, auth="disabled"))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_with_auth_disabled_is_allowed(host: str) -> None:
    check_bind(Settings(host=host, auth="disabled"))
    check_bind(Settings(host="0.0.0.0"))  # auth on: fine


def test_auth_disabled_acts_as_admin_and_says_so_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with auth_app(tmp_path, auth="DISABLED") as env:
        response = env.client.post("/graphql", json={"query": "{ apiKeys { id } }"})
        predict = env.client.post("/v1/models/minilm/predict", json={"inputs": "x"})

    assert response.status_code == 200 and "errors" not in response.json()
    assert predict.status_code == 200
    assert AUTH_DISABLED_WARNING in caplog.text
