"""Where the SDK finds the platform: argument, PLINTH_URL, PLINTH_HOST/PLINTH_PORT, default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from plinth import Client
from plinth._config import resolve_api_key, resolve_base_url


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        (None, {}, "http://127.0.0.1:8000"),
        (None, {"PLINTH_PORT": "9001"}, "http://127.0.0.1:9001"),
        (None, {"PLINTH_HOST": "10.0.0.5", "PLINTH_PORT": "81"}, "http://10.0.0.5:81"),
        (None, {"PLINTH_HOST": "0.0.0.0"}, "http://127.0.0.1:8000"),
        (None, {"PLINTH_HOST": "::1"}, "http://[::1]:8000"),
        (
            None,
            {"PLINTH_URL": "https://plinth.example/", "PLINTH_PORT": "1"},
            "https://plinth.example",
        ),
        (None, {"PLINTH_URL": "", "PLINTH_HOST": "h"}, "http://h:8000"),
        ("localhost:7000", {"PLINTH_URL": "http://ignored"}, "http://localhost:7000"),
        ("http://explicit:1/", {"PLINTH_URL": "http://ignored"}, "http://explicit:1"),
    ],
)
def test_base_url_resolution(explicit: str | None, env: dict[str, str], expected: str) -> None:
    assert resolve_base_url(explicit, env) == expected


def test_api_key_from_argument_or_env() -> None:
    assert resolve_api_key("k1", {"PLINTH_API_KEY": "k2"}) == "k1"
    assert resolve_api_key(None, {"PLINTH_API_KEY": "k2"}) == "k2"
    assert resolve_api_key(None, {"PLINTH_API_KEY": ""}) is None


def test_client_reads_environment_and_sends_bearer_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLINTH_URL", "http://from-env:1234")
    monkeypatch.setenv("PLINTH_API_KEY", "secret")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    with Client(transport=httpx.MockTransport(handler)) as client:
        assert client.models.predict("m", "x") == {"ok": True}
    assert str(seen[0].url) == "http://from-env:1234/v1/models/m/predict"
    assert seen[0].headers["Authorization"] == "Bearer secret"


def test_no_authorization_header_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLINTH_API_KEY", raising=False)
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, json=[])

    with Client("http://x", transport=httpx.MockTransport(handler)) as client:
        client.models.predict("m", "x")
    assert seen == [None]
