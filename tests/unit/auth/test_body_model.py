"""INVOKE_BODY: the OpenAI-compatible routes authorize on the model named in the JSON body."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.unit.auth.support import AuthApp, auth_app


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthApp]:
    with auth_app(tmp_path_factory.mktemp("body-model")) as app:
        yield app


def test_an_invoke_name_key_may_embed_with_its_model_and_the_body_reaches_the_route(
    env: AuthApp,
) -> None:
    env.plane.calls.clear()
    env.plane.answer = b'{"embeddings": [[0.5, 0.25]], "token_counts": [3]}'
    response = env.client.post(
        "/v1/embeddings",
        json={"model": "other", "input": "hello", "encoding_format": "float"},
        headers=env.headers("invoke_other"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"][0]["embedding"] == [0.5, 0.25]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    [(model, payload, _timeout)] = env.plane.calls
    assert model == "other"
    assert json.loads(payload)["inputs"] == ["hello"]


def test_another_model_in_the_body_is_forbidden(env: AuthApp) -> None:
    response = env.client.post(
        "/v1/embeddings",
        json={"model": "minilm", "input": "hello"},
        headers=env.headers("invoke_other"),
    )
    assert response.status_code == 403
    assert response.json()["error"]["required_scope"] == "invoke:minilm"


@pytest.mark.parametrize("body", [b'{"input": "x"}', b"not json", b'{"model": 5}', b"[]"])
def test_a_body_naming_no_model_needs_a_key_for_every_model(env: AuthApp, body: bytes) -> None:
    response = env.client.post("/v1/embeddings", content=body, headers=env.headers("invoke_this"))
    assert response.status_code == 403
    assert response.json()["error"]["required_scope"] == "invoke"
    admitted = env.client.post("/v1/embeddings", content=body, headers=env.headers("admin"))
    assert admitted.status_code == 400  # past auth, the route names what is wrong
    assert admitted.json()["error"]["type"] == "invalid_request_error"


def test_models_answers_any_valid_key_and_no_anonymous_caller(env: AuthApp) -> None:
    # Which models each key sees is checked against a real platform
    # (tests/integration/test_openai_api.py): this database has none.
    for caller in ("invoke_this", "invoke_other", "read", "admin"):
        response = env.client.get("/v1/models", headers=env.headers(caller))
        assert response.status_code == 200
        assert response.json() == {"object": "list", "data": []}
    assert env.client.get("/v1/models", headers=env.headers("none")).status_code == 401


def test_base64_embeddings_are_little_endian_float32(env: AuthApp) -> None:
    import base64
    import struct

    env.plane.answer = b'{"embeddings": [[0.5, -2.0]], "token_counts": [1]}'
    response = env.client.post(
        "/v1/embeddings",
        json={"model": "minilm", "input": ["x"], "encoding_format": "base64"},
        headers=env.headers("admin"),
    )
    encoded = response.json()["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(encoded)) == (0.5, -2.0)
