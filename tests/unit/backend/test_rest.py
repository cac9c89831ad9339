"""REST predict and health: pass-through answers and the JSON error contract for every failure."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from backend import services
from backend.db.session import session_scope
from plinth.types import DeploymentStatus
from serving.errors import InvalidInput, ModelNotRoutable, QueueFull, ReplicaFailed, RequestTimeout
from serving.plane import ColdStartAnswer
from tests.unit.backend.support import Harness


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["type"], str) and isinstance(error["message"], str)
    return error


def _create(h: Harness, name: str = "minilm") -> str:
    with session_scope(h.sessions) as session:
        row = services.create_deployment(session, name=name, hf_repo="org/minilm")
        return row.id


def test_healthz(harness: Harness) -> None:
    response = harness.client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_predict_passes_the_body_through_and_the_answer_back(harness: Harness) -> None:
    body = b'{"inputs": ["hello"], "parameters": {"top_k": 2}}'

    response = harness.client.post("/v1/models/minilm/predict", content=body)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == harness.plane.answer
    assert harness.plane.calls == [("minilm", body, 7.5)]
    assert "x-plinth-cold-start-ms" not in response.headers  # a replica was ready


def test_a_request_that_waited_for_a_cold_start_is_told_how_long(harness: Harness) -> None:
    answer = b'{"embeddings": [[0.25]]}'
    harness.plane.answer = ColdStartAnswer(answer, 0.4126)

    response = harness.client.post("/v1/models/minilm/predict", json={"inputs": "x"})

    assert response.status_code == 200
    assert response.content == answer
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-plinth-cold-start-ms"] == "413"


def test_the_cold_start_header_is_in_the_openapi_document(harness: Harness) -> None:
    spec = harness.client.get("/openapi.json").json()
    ok = spec["paths"]["/v1/models/{name}/predict"]["post"]["responses"]["200"]
    assert ok["headers"]["X-Plinth-Cold-Start-Ms"]["schema"] == {"type": "integer"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"\xff\xfe", "body"),
        (b"", "body"),
        (b"[1, 2]", "inputs"),
        (b'{"input": "typo"}', "inputs"),
        (b'{"inputs": "x", "parameters": [1]}', "parameters"),
    ],
)
def test_predict_rejects_a_malformed_body_naming_the_field(
    harness: Harness, body: bytes, field: str
) -> None:
    response = harness.client.post("/v1/models/minilm/predict", content=body)

    assert response.status_code == 422
    error = _error(response)
    assert error["type"] == "invalid_request"
    assert error["field"] == field
    assert harness.plane.calls == []


def test_predict_on_an_unknown_model_is_404(harness: Harness) -> None:
    harness.plane.error = ModelNotRoutable("ghost")

    response = harness.client.post("/v1/models/ghost/predict", json={"inputs": "x"})

    assert response.status_code == 404
    error = _error(response)
    assert error["type"] == "not_found"
    assert error["message"] == "model 'ghost' not found; see `plinth models`"


@pytest.mark.parametrize(
    ("status", "error", "needle"),
    [
        (DeploymentStatus.PENDING, None, "version 1 is PENDING; retry when it is ACTIVE"),
        (DeploymentStatus.DEPLOYING, None, "version 1 is DEPLOYING; retry when it is ACTIVE"),
        (DeploymentStatus.FAILED, "repo gone", "FAILED: repo gone; fix the cause and deploy"),
        (DeploymentStatus.ACTIVE, None, "ACTIVE (version 1) but has no route yet"),
    ],
)
def test_predict_on_a_model_without_a_route_is_503_saying_why(
    harness: Harness, status: DeploymentStatus, error: str | None, needle: str
) -> None:
    deployment_id = _create(harness)
    if status is not DeploymentStatus.PENDING:
        with session_scope(harness.sessions) as session:
            services.set_deployment_status(
                session, deployment_id=deployment_id, status=status, error=error
            )
    harness.plane.error = ModelNotRoutable("minilm")

    response = harness.client.post("/v1/models/minilm/predict", json={"inputs": "x"})

    assert response.status_code == 503
    body = _error(response)
    assert body["type"] == "unavailable"
    assert body["deployment_status"] == status.value
    assert needle in body["message"]


def test_queue_full_is_429_with_retry_after(harness: Harness) -> None:
    harness.plane.error = QueueFull("minilm", max_queue=8, retry_after_s=2.2)

    response = harness.client.post("/v1/models/minilm/predict", json={"inputs": "x"})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert _error(response)["type"] == "queue_full"


@pytest.mark.parametrize(
    ("exc", "status", "error_type"),
    [
        (RequestTimeout("minilm", 7.5), 504, "timeout"),
        (InvalidInput("inputs must be text", field="inputs"), 422, "invalid_input"),
        (ReplicaFailed("replica r-1 crashed"), 502, "replica_error"),
    ],
)
def test_data_plane_errors_keep_their_status_and_type(
    harness: Harness, exc: Exception, status: int, error_type: str
) -> None:
    harness.plane.error = exc

    response = harness.client.post("/v1/models/minilm/predict", json={"inputs": 3})

    assert response.status_code == status
    assert _error(response)["type"] == error_type


def test_framework_errors_use_the_json_error_shape(harness: Harness) -> None:
    unknown = harness.client.get("/v1/nothing-here")
    assert unknown.status_code == 404
    assert _error(unknown)["type"] == "not_found"

    wrong_method = harness.client.get("/v1/models/minilm/predict")
    assert wrong_method.status_code == 405
    assert _error(wrong_method)["type"] == "method_not_allowed"


def test_an_unexpected_exception_is_a_json_500(harness: Harness) -> None:
    harness.plane.error = RuntimeError("boom")

    response = harness.client.post("/v1/models/minilm/predict", json={"inputs": "x"})

    assert response.status_code == 500
    error = _error(response)
    assert error["type"] == "internal"
    assert "boom" not in error["message"]


def test_request_validation_errors_name_the_field(harness: Harness) -> None:
    app = harness.client.app
    assert isinstance(app, FastAPI)

    @app.get("/v1/echo")
    async def echo(count: int) -> dict[str, int]:
        return {"count": count}

    response = harness.client.get("/v1/echo", params={"count": "many"})

    assert response.status_code == 422
    error = _error(response)
    assert error["type"] == "invalid_request"
    assert error["field"] == "count"
