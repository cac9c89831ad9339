"""Client and AsyncClient against a scripted platform (httpx.MockTransport)."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx
import pytest

from plinth import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    DeploymentEvent,
    DeploymentFailedError,
    DeploymentStatus,
    DeploymentTimeoutError,
    NotFoundError,
    RateLimitError,
    Scaling,
    ServiceUnavailableError,
    ValidationError,
)


def test_deploy_waits_through_events_until_active(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    seen: list[DeploymentEvent] = []
    with platform.client() as client:
        deployment = client.models.deploy(
            "sentence-transformers/all-MiniLM-L6-v2",
            name="minilm",
            min_replicas=1,
            scale_down_delay_s=30,
            on_event=seen.append,
            poll_interval=0.001,
        )
    assert deployment.status is DeploymentStatus.ACTIVE
    assert [r.state.value for r in deployment.replicas] == ["READY"]
    # every event exactly once, in order, although each poll repeats the earlier ones
    assert [(e.id, e.status.value) for e in seen] == [
        ("ev-1", "PENDING"),
        ("ev-2", "DEPLOYING"),
        ("ev-3", "ACTIVE"),
    ]
    assert platform.poll_count() == 3
    sent = platform.variables("DeployModel")["input"]
    assert sent == {
        "name": "minilm",
        "huggingFaceRepo": "sentence-transformers/all-MiniLM-L6-v2",
        "engine": "transformers",
        "scaling": {"minReplicas": 1, "scaleDownDelaySeconds": 30},
    }


def test_deploy_scaling_object_is_sent_whole_and_fields_win(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    with platform.client() as client:
        client.models.deploy(
            "org/repo", name="m", scaling=Scaling(max_replicas=3), max_replicas=5, wait=False
        )
    scaling = platform.variables("DeployModel")["input"]["scaling"]
    assert scaling["maxReplicas"] == 5
    assert scaling["autoscalingWindowSeconds"] == 60.0
    assert set(scaling) == {
        "minReplicas",
        "maxReplicas",
        "concurrencyTarget",
        "maxConcurrency",
        "scaleDownDelaySeconds",
        "autoscalingWindowSeconds",
        "maxQueue",
        "autoscalingPolicy",
    }


def test_deploy_without_wait_returns_pending_and_does_not_poll(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    with platform.client() as client:
        deployment = client.models.deploy("org/repo", name="minilm", wait=False)
    assert deployment.status is DeploymentStatus.PENDING
    assert platform.poll_count() == 0


def test_deploy_failed_raises_with_reason(platform: Any) -> None:
    reason = "architecture BertModel cannot do text-generation"
    platform.script_deploy("FAILED", error=reason)
    seen: list[DeploymentEvent] = []
    with platform.client() as client, pytest.raises(DeploymentFailedError) as info:
        client.models.deploy("org/repo", name="minilm", on_event=seen.append, poll_interval=0)
    assert info.value.deployment.status is DeploymentStatus.FAILED
    assert info.value.deployment.error == reason
    assert info.value.reason == reason
    assert reason in str(info.value) and "minilm" in str(info.value)
    assert seen[-1].status is DeploymentStatus.FAILED  # the failure event came first


def test_superseded_before_active_is_a_failure(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    platform.polls = [platform.deployment("SUPERSEDED", events=[])]
    with platform.client() as client, pytest.raises(DeploymentFailedError, match="superseded"):
        client.models.wait_for_deployment("dep-1", poll_interval=0)


def test_wait_gives_up_after_timeout(platform: Any) -> None:
    platform.polls = [platform.deployment("DEPLOYING", events=[])]
    with platform.client() as client, pytest.raises(DeploymentTimeoutError) as info:
        client.models.wait_for_deployment("dep-1", timeout=0.05, poll_interval=0.01)
    assert "still DEPLOYING" in str(info.value)


def test_wait_survives_a_platform_restart(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    handle = platform.handle
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:  # the first poll
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        response: httpx.Response = handle(request)
        return response

    platform.transport.handler = flaky
    with platform.client() as client:
        assert client.models.deploy("o/r", name="minilm", poll_interval=0).status.value == "ACTIVE"


def test_validation_error_union_raises_with_field(platform: Any) -> None:
    platform.graphql["DeployModel"] = lambda v: {
        "deployModel": {
            "__typename": "ValidationError",
            "field": "minReplicas",
            "message": "minReplicas (3) must not exceed maxReplicas (1)",
        }
    }
    with platform.client() as client, pytest.raises(ValidationError) as info:
        client.models.deploy("org/repo", name="minilm", min_replicas=3)
    assert info.value.field == "minReplicas"
    assert info.value.status == 422
    assert str(info.value) == "invalid minReplicas: minReplicas (3) must not exceed maxReplicas (1)"
    assert platform.poll_count() == 0


def test_get_list_update_delete(platform: Any) -> None:
    old = platform.deployment("SUPERSEDED", id="d1", version=1)
    new = platform.deployment("ACTIVE", id="d2", version=2, replicas=[platform.replica(1)])
    platform.graphql["GetModel"] = lambda v: {
        "model": platform.model(v["name"], deployments=[old, new])
        if v["name"] == "minilm"
        else None
    }
    platform.graphql["ListModels"] = lambda v: {
        "models": [platform.model("a"), platform.model("b")]
    }
    platform.graphql["UpdateScaling"] = lambda v: {
        "updateScaling": platform.model(v["model"], **v["scaling"])
    }
    platform.graphql["DeleteModel"] = lambda v: {
        "deleteModel": {"__typename": "NotFoundError", "message": f"model '{v['name']}' not found"}
    }
    with platform.client() as client:
        model = client.models.get("minilm")
        assert [d.version for d in model.deployments] == [2, 1]
        assert model.active_deployment is not None and model.active_deployment.id == "d2"
        assert model.scaling.scale_down_delay_s == 300.0
        with pytest.raises(NotFoundError, match="model 'nope' not found"):
            client.models.get("nope")
        assert [m.name for m in client.models.list()] == ["a", "b"]
        scaled = client.models.update_scaling("minilm", max_replicas=3, scale_down_delay_s=5)
        assert (scaled.scaling.max_replicas, scaled.scaling.scale_down_delay_s) == (3, 5.0)
        assert platform.variables("UpdateScaling")["scaling"] == {
            "maxReplicas": 3,
            "scaleDownDelaySeconds": 5,
        }
        with pytest.raises(NotFoundError) as info:
            client.models.delete("ghost")
        assert info.value.status == 404


def test_graphql_errors_array_is_an_api_error(platform: Any) -> None:
    platform.graphql["ListModels"] = lambda v: httpx.Response(
        200, json={"data": None, "errors": [{"message": "boom", "path": ["models"]}]}
    )
    with platform.client() as client, pytest.raises(APIError) as info:
        client.models.list()
    assert info.value.type == "graphql_error"
    assert "models: boom" in str(info.value)


def test_malformed_graphql_answer_is_an_invalid_response(platform: Any) -> None:
    platform.graphql["ListModels"] = lambda v: {"models": [{"name": "x"}]}
    with platform.client() as client, pytest.raises(APIError) as info:
        client.models.list()
    assert info.value.type == "invalid_response"


def test_predict_sends_inputs_and_parameters_and_returns_json(platform: Any) -> None:
    bodies: list[Any] = []

    def predict(name: str, body: Any) -> httpx.Response:
        bodies.append((name, body))
        return httpx.Response(200, json=[{"generated_text": "Once upon a time there"}])

    platform.predict = predict
    with platform.client() as client:
        result = client.models.predict("gpt", "Once upon a time", {"max_new_tokens": 3})
    assert result == [{"generated_text": "Once upon a time there"}]
    assert bodies == [("gpt", {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 3}})]


@pytest.mark.parametrize(
    ("response", "error", "checks"),
    [
        (
            (404, "not_found", "model 'x' not found", {}),
            NotFoundError,
            {"status": 404, "type": "not_found"},
        ),
        (
            (422, "invalid_request", "missing 'inputs'", {"field": "inputs"}),
            ValidationError,
            {"status": 422, "field": "inputs"},
        ),
        (
            (429, "queue_full", "queue is full", {"headers": {"Retry-After": "3"}}),
            RateLimitError,
            {"status": 429, "retry_after": 3.0},
        ),
        (
            (503, "unavailable", "model 'x' is DEPLOYING; wait for ACTIVE", {}),
            ServiceUnavailableError,
            {"status": 503, "type": "unavailable"},
        ),
        ((401, "unauthenticated", "missing API key", {}), AuthenticationError, {"status": 401}),
        ((502, "replica_error", "replica died", {}), APIError, {"status": 502}),
    ],
)
def test_predict_error_mapping(
    platform: Any, response: Any, error: type[APIError], checks: dict[str, Any]
) -> None:
    status, type_, message, extra = response
    platform.predict = lambda name, body: platform.error_response(status, type_, message, **extra)
    with platform.client() as client, pytest.raises(error) as info:
        client.models.predict("x", "hello")
    assert type(info.value) is error
    assert info.value.message == message
    for attribute, value in checks.items():
        assert getattr(info.value, attribute) == value


def test_error_without_json_body_still_says_what_happened(platform: Any) -> None:
    platform.predict = lambda name, body: httpx.Response(500, text="Internal Server Error")
    with platform.client() as client, pytest.raises(APIError) as info:
        client.models.predict("x", "hello")
    assert info.value.status == 500
    assert "POST /v1/models/x/predict answered HTTP 500" in str(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_connection_refused_says_how_to_start_the_platform() -> None:
    from plinth import Client

    url = f"http://127.0.0.1:{_closed_port()}"
    with Client(url, timeout=5) as client, pytest.raises(APIConnectionError) as info:
        client.models.predict("x", "hello")
    message = str(info.value)
    assert f"is `make up` / `plinth up` running at {url}?" in message
    assert info.value.url == url


def test_read_timeout_is_an_api_timeout(platform: Any) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    platform.transport.handler = slow
    with platform.client(timeout=2) as client, pytest.raises(APITimeoutError, match="within 2 s"):
        client.models.predict("x", "hello")


@pytest.mark.asyncio
async def test_async_client_deploys_and_maps_errors(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    seen: list[str] = []

    async def on_event(event: DeploymentEvent) -> None:
        seen.append(event.status.value)

    platform.predict = lambda name, body: platform.error_response(
        429, "queue_full", "queue is full", headers={"Retry-After": "1.5"}
    )
    async with platform.async_client() as client:
        deployment = await client.models.deploy(
            "org/repo", name="minilm", on_event=on_event, poll_interval=0
        )
        assert deployment.status is DeploymentStatus.ACTIVE
        with pytest.raises(RateLimitError) as info:
            await client.models.predict("minilm", ["hi"])
    assert seen == ["PENDING", "DEPLOYING", "ACTIVE"]
    assert info.value.retry_after == 1.5


@pytest.mark.asyncio
async def test_async_deploy_failed(platform: Any) -> None:
    platform.script_deploy("FAILED", error="snapshot has no config.json")
    async with platform.async_client() as client:
        with pytest.raises(DeploymentFailedError, match=re.escape("snapshot has no config.json")):
            await client.models.deploy("org/repo", name="minilm", poll_interval=0)


def test_deploy_sends_batching_and_reads_it_back(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    scripted = platform.graphql["DeployModel"]
    answer = {"maxBatchSize": 8, "maxWaitMs": 2.5}
    platform.graphql["DeployModel"] = lambda v: {
        "deployModel": {**scripted(v)["deployModel"], "batching": answer}
    }
    with platform.client() as client:
        deployment = client.models.deploy(
            "org/repo", name="m", max_batch_size=8, max_batch_wait_ms=2.5, wait=False
        )
        client.models.deploy("org/repo", name="m", max_batch_size=1, wait=False)
        client.models.deploy("org/repo", name="m", wait=False)
    sent = [v["input"] for name, v in platform.operations if name == "DeployModel"]
    assert (deployment.max_batch_size, deployment.max_batch_wait_ms) == (8, 2.5)
    assert [s.get("batching") for s in sent] == [answer, {"maxBatchSize": 1}, None]


@pytest.mark.asyncio
async def test_async_deploy_sends_batching(platform: Any) -> None:
    platform.script_deploy("ACTIVE")
    async with platform.async_client() as client:
        deployment = await client.models.deploy(
            "org/repo", name="m", max_batch_size=4, max_batch_wait_ms=0, wait=False
        )
    assert platform.variables("DeployModel")["input"]["batching"] == {
        "maxBatchSize": 4,
        "maxWaitMs": 0,
    }
    assert deployment.max_batch_size is None  # the scripted answer has no batching: the default
