"""The whole gateway path with the no-op engine, on the real platform: a deployment with engine
"noop" needs nothing in the Hugging Face cache, its replica is a real process, and predictions go
through auth, the fast path, the router's keep-alive connections and metrics."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CREATE_KEY = """
mutation Key($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { __typename ... on CreatedApiKey { key } }
}"""


def test_a_noop_model_echoes_through_the_full_gateway_path(platform: PlatformProcess) -> None:
    platform.deploy(
        name="echo",
        huggingFaceRepo="plinth/noop",
        engine="noop",
        scaling={"minReplicas": 1, "maxReplicas": 1, "maxConcurrency": 4},
    )
    done = platform.wait_deployment(
        "echo", lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy"
    )
    assert done["status"] == "ACTIVE", done
    assert done["task"] == "feature-extraction"  # no task given: the first one
    pid = done["replicas"][0]["pid"]
    key = platform.graphql(CREATE_KEY, input={"name": "echo-only", "scopes": ["invoke:echo"]})
    invoke = {"Authorization": f"Bearer {key['createApiKey']['key']}"}
    url = f"{platform.url}/v1/models/echo/predict"

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            requests = [client.post(url, json={"inputs": [n]}, headers=invoke) for n in range(40)]
            return await asyncio.gather(*requests)

    answers = asyncio.run(burst())
    no_key = httpx.post(url, json={"inputs": "x"}, timeout=30)
    bad_body = httpx.post(url, content=b"{", headers=invoke, timeout=30)
    other = httpx.post(
        f"{platform.url}/v1/models/other/predict", json={"inputs": 1}, headers=invoke, timeout=30
    )
    metrics = httpx.get(f"{platform.url}/metrics", headers=platform.headers, timeout=30).text

    assert [(a.status_code, a.json()) for a in answers] == [(200, [n]) for n in range(40)]
    assert answers[0].headers["content-type"] == "application/json"
    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "unauthorized"
    assert bad_body.status_code == 422 and bad_body.json()["error"]["field"] == "body"
    assert other.status_code == 403 and other.json()["error"]["required_scope"] == "invoke:other"
    ok = [
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "plinth_requests_total"
        and sample.labels.get("model") == "echo"
        and sample.labels.get("code") == "2xx"
    ]
    assert ok == [40.0]  # the 422 never reached the router; 401/403 never passed auth
    # Still the one replica process: nothing failed or was replaced along the way.
    assert [r["pid"] for r in platform.deployment("echo")["replicas"]] == [pid]
