"""Settings: defaults, PLINTH_* environment variables, derived values."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HOME", "DATABASE_URL", "TEMPORAL_ADDRESS", "REDIS_URL", "HOST", "PORT"):
        monkeypatch.delenv(f"PLINTH_{name}", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))


def test_defaults_live_under_the_home_directory(tmp_path: Path) -> None:
    settings = get_settings()

    assert settings.home == tmp_path / "user" / ".plinth"
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/user/.plinth/plinth.db"
    assert settings.log_dir == tmp_path / "user" / ".plinth" / "logs"
    assert settings.temporal_address is None
    assert (settings.temporal_namespace, settings.task_queue) == ("default", "plinth")
    assert settings.base_url == "http://127.0.0.1:8000"
    assert not settings.home.exists()  # created on demand only


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLINTH_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PLINTH_DATABASE_URL", "postgresql://u@db/plinth")
    monkeypatch.setenv("PLINTH_TEMPORAL_ADDRESS", "temporal:7233")
    monkeypatch.setenv("PLINTH_PORT", "9000")
    monkeypatch.setenv("PLINTH_HOST", "0.0.0.0")

    settings = get_settings()

    assert settings.home == tmp_path / "state"
    assert settings.effective_database_url == "postgresql://u@db/plinth"
    assert settings.temporal_address == "temporal:7233"
    assert settings.base_url == "http://127.0.0.1:9000"  # a wildcard bind is reached locally


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLINTH_HOME", str(tmp_path))
    monkeypatch.setenv("PLINTH_DATABASE_URL", "")
    monkeypatch.setenv("PLINTH_TEMPORAL_ADDRESS", " ")

    settings = get_settings()

    assert settings.effective_database_url == f"sqlite:///{tmp_path}/plinth.db"
    assert settings.temporal_address is None


def test_ensure_dirs_creates_home_and_logs(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h")

    settings.ensure_dirs()

    assert settings.log_dir.is_dir()


def test_an_invalid_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLINTH_PORT", "70000")

    with pytest.raises(ValueError, match="port"):
        get_settings()


def test_ipv6_hosts_are_bracketed() -> None:
    assert Settings(host="::1", port=8001).base_url == "http://[::1]:8001"
