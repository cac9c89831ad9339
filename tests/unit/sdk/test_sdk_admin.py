"""`client.keys`, `client.secrets`, `plinth keys ...`, `plinth secrets ...`, and where the SDK
finds its key (argument, PLINTH_API_KEY, the credentials file of the same server)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from plinth import Client, PermissionDeniedError, ValidationError, cli
from plinth._config import resolve_api_key

KEY_DATA = {
    "id": "k1",
    "name": "web",
    "prefix": "pl_ab12cd34",
    "scopes": ["invoke:minilm"],
    "createdAt": "2025-01-01T00:00:00+00:00",
    "expiresAt": "2025-01-31T00:00:00+00:00",
    "lastUsedAt": None,
    "revokedAt": None,
}
SECRET = {
    "__typename": "Secret",
    "name": "HF_TOKEN",
    "createdAt": "2025-01-01T00:00:00+00:00",
    "updatedAt": "2025-01-01T00:00:00+00:00",
}


def _write_credentials(home: Path, url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "credentials").write_text(json.dumps({"api_key": "pl_saved", "url": url}))


@pytest.mark.parametrize(
    ("file_url", "client_url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "pl_saved"),
        ("http://127.0.0.1:8000", "http://localhost:8000/", "pl_saved"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:9000", None),
        ("http://127.0.0.1:8000", "https://plinth.example.com", None),
    ],
)
def test_the_saved_key_is_used_only_for_its_own_server(
    tmp_path: Path, file_url: str, client_url: str, expected: str | None
) -> None:
    _write_credentials(tmp_path, file_url)
    env = {"PLINTH_HOME": str(tmp_path)}

    assert resolve_api_key(None, env, base_url=client_url) == expected
    assert resolve_api_key("explicit", env, base_url=client_url) == "explicit"
    with_env = {**env, "PLINTH_API_KEY": "from-env"}
    assert resolve_api_key(None, with_env, base_url=client_url) == "from-env"


def test_client_sends_the_saved_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_credentials(tmp_path, "http://127.0.0.1:8123")
    monkeypatch.setenv("PLINTH_HOME", str(tmp_path))
    monkeypatch.delenv("PLINTH_API_KEY", raising=False)
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": {"apiKeys": []}})

    with Client("http://127.0.0.1:8123", transport=httpx.MockTransport(handler)) as client:
        client.keys.list()

    assert seen == ["Bearer pl_saved"]


def test_keys_create_sends_scopes_and_expiry_and_returns_the_key_once(platform: Any) -> None:
    platform.graphql["CreateApiKey"] = lambda v: {
        "createApiKey": {
            "__typename": "CreatedApiKey",
            "key": "pl_ab12cd34_secret",
            "apiKey": KEY_DATA,
        }
    }
    with platform.client() as client:
        created = client.keys.create(["invoke:minilm"], name="web", expires_in=timedelta(days=30))

    assert created.key == "pl_ab12cd34_secret"
    assert created.api_key.scopes == ["invoke:minilm"]
    assert platform.variables("CreateApiKey") == {
        "input": {"scopes": ["invoke:minilm"], "name": "web", "expiresInSeconds": 30 * 86400}
    }


def test_a_forbidden_field_raises_permission_denied(platform: Any) -> None:
    platform.graphql["ApiKeys"] = lambda v: httpx.Response(
        200,
        json={
            "data": None,
            "errors": [
                {
                    "message": "API key pl_x_... lacks the scope 'admin' (it has: read)",
                    "extensions": {"code": "FORBIDDEN", "requiredScope": "admin"},
                }
            ],
        },
    )
    with platform.client() as client, pytest.raises(PermissionDeniedError, match="'admin'"):
        client.keys.list()


def test_secrets_set_validation_error_names_the_field(platform: Any) -> None:
    platform.graphql["SetSecret"] = lambda v: {
        "setSecret": {"__typename": "ValidationError", "field": "name", "message": "bad name"}
    }
    with platform.client() as client, pytest.raises(ValidationError) as info:
        client.secrets.set("bad-name", "v")
    assert info.value.field == "name"


def _run(platform: Any, *argv: str) -> int:
    return cli.main(["--url", platform.BASE_URL, *argv], client_factory=platform.client_factory)


def test_cli_keys_create_narrows_invoke_to_the_model(
    platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.graphql["CreateApiKey"] = lambda v: {
        "createApiKey": {
            "__typename": "CreatedApiKey",
            "key": "pl_ab12cd34_secret",
            "apiKey": KEY_DATA,
        }
    }

    code = _run(
        platform,
        "keys",
        "create",
        "--scope",
        "invoke",
        "--model",
        "minilm",
        "--expires-in",
        "30d",
        "--name",
        "web",
    )

    assert code == 0
    assert platform.variables("CreateApiKey")["input"] == {
        "scopes": ["invoke:minilm"],
        "name": "web",
        "expiresInSeconds": 30 * 86400,
    }
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "pl_ab12cd34_secret"


def test_cli_keys_create_refuses_a_bad_duration(platform: Any) -> None:
    assert _run(platform, "keys", "create", "--scope", "read", "--expires-in", "soon") == 2


def test_cli_keys_list_and_revoke(platform: Any, capsys: pytest.CaptureFixture[str]) -> None:
    platform.graphql["ApiKeys"] = lambda v: {"apiKeys": [KEY_DATA]}
    platform.graphql["RevokeApiKey"] = lambda v: {
        "revokeApiKey": {"__typename": "ApiKey", **KEY_DATA, "revokedAt": KEY_DATA["createdAt"]}
    }

    assert _run(platform, "keys", "list") == 0
    assert _run(platform, "keys", "revoke", "k1") == 0

    out = capsys.readouterr().out
    assert "pl_ab12cd34" in out and "invoke:minilm" in out and "active" in out
    assert "Revoked API key pl_ab12cd34_..." in out
    assert platform.variables("RevokeApiKey") == {"id": "k1"}


def test_cli_secrets_set_reads_stdin_and_never_prints_the_value(
    platform: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform.graphql["SetSecret"] = lambda v: {"setSecret": SECRET}
    platform.graphql["Secrets"] = lambda v: {"secrets": [SECRET]}
    platform.graphql["DeleteSecret"] = lambda v: {
        "deleteSecret": {"__typename": "DeletedSecret", "name": "HF_TOKEN"}
    }
    monkeypatch.setattr("sys.stdin", io.StringIO("hf_value_123\n"))

    assert _run(platform, "secrets", "set", "HF_TOKEN", "--value-from-stdin") == 0
    assert _run(platform, "secrets", "list") == 0
    assert _run(platform, "secrets", "delete", "HF_TOKEN") == 0

    assert platform.variables("SetSecret") == {"name": "HF_TOKEN", "value": "hf_value_123"}
    out = capsys.readouterr().out
    assert "hf_value_123" not in out
    assert "Secret HF_TOKEN is set." in out and "Deleted secret HF_TOKEN." in out
