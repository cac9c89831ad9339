"""Input limits: body size (413, also when streamed), GraphQL depth/tokens/aliases, names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.auth.support import AuthApp, auth_app

LIMIT = 4096


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AuthApp]:
    with auth_app(tmp_path, max_body_bytes=LIMIT) as app:
        yield app


def test_a_declared_large_body_is_refused_with_413(env: AuthApp) -> None:
    body = b'{"inputs": "' + b"x" * LIMIT + b'"}'
    response = env.client.post(
        "/v1/models/minilm/predict", content=body, headers=env.headers("admin")
    )

    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    assert env.plane.calls == []


def test_a_streamed_body_without_content_length_is_cut_off(env: AuthApp) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    for path in ("/v1/models/minilm/predict", "/graphql"):
        headers = {**env.headers("admin"), "Content-Type": "application/json"}
        response = env.client.post(path, content=chunks(), headers=headers)
        assert response.status_code == 413, path
        assert response.json()["error"]["type"] == "payload_too_large"
    assert env.plane.calls == []


def test_a_body_under_the_limit_passes(env: AuthApp) -> None:
    response = env.client.post(
        "/v1/models/minilm/predict", json={"inputs": "x" * 100}, headers=env.headers("admin")
    )
    assert response.status_code == 200


def test_graphql_depth_is_limited(tmp_path: Path) -> None:
    with auth_app(tmp_path, graphql_max_depth=2) as app:
        shallow = app.gql("admin", "{ models { name } }").json()
        deep = app.gql("admin", "{ models { deployments { replicas { id } } } }").json()

    assert "errors" not in shallow
    assert "depth" in deep["errors"][0]["message"].lower()


def test_graphql_tokens_and_aliases_are_limited(tmp_path: Path) -> None:
    many_aliases = "{ " + " ".join(f"a{i}: models {{ name }}" for i in range(40)) + " }"
    many_tokens = "{ models { " + " ".join(["name"] * 5000) + " } }"
    with auth_app(tmp_path) as app:
        for document, word in ((many_aliases, "aliases"), (many_tokens, "token")):
            errors = app.gql("admin", document).json()["errors"]
            assert word in errors[0]["message"].lower(), errors


@pytest.mark.parametrize("name", ["Bad_Name", "-x", "a" * 64])
def test_predict_refuses_names_that_are_not_safe(env: AuthApp, name: str) -> None:
    response = env.client.post(
        f"/v1/models/{name}/predict", json={"inputs": "x"}, headers=env.headers("admin")
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "name"
    assert env.plane.calls == []
