"""Through the real platform: the request that waited for a cold start from zero replicas is told
how long in `X-Plinth-Cold-Start-Ms`; the next one, served by the warm replica, is not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEPLOY = """
mutation Deploy($input: DeployModelInput!) {
  deployModel(input: $input) { __typename ... on ValidationError { field message } }
}"""

MODEL = """
query Model($name: String!) {
  model(name: $name) { deployments { status error replicas { id state } } }
}"""


@pytest.fixture()
def platform(tmp_path: Path, tiny_hf_home: Path) -> Iterator[PlatformProcess]:
    proc = PlatformProcess(tmp_path / "plinth", tiny_hf_home).start()
    try:
        yield proc
    finally:
        proc.stop()


def _deployment(platform: PlatformProcess) -> dict[str, Any]:
    model = platform.graphql(MODEL, name="classifier")["model"]
    assert model is not None
    deployment: dict[str, Any] = model["deployments"][0]
    return deployment


def _wait(platform: PlatformProcess, check: Any, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = _deployment(platform)
        if check(last):
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last}\n{platform.logs()}")


def _predict(platform: PlatformProcess, text: str) -> httpx.Response:
    return httpx.post(
        f"{platform.url}/v1/models/classifier/predict",
        json={"inputs": text},
        headers=platform.headers,
        timeout=90,
    )


def test_cold_start_time_reaches_the_caller_that_waited_and_no_one_else(
    platform: PlatformProcess,
) -> None:
    created = platform.graphql(
        DEPLOY,
        input={
            "name": "classifier",
            "huggingFaceRepo": "plinth-test/tiny-classifier",
            "task": "text-classification",
            "scaling": {"minReplicas": 0, "maxReplicas": 1, "scaleDownDelaySeconds": 1},
        },
    )["deployModel"]
    assert created["__typename"] == "Deployment", created
    _wait(platform, lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy")
    assert _deployment(platform)["status"] == "ACTIVE", _deployment(platform)
    _wait(platform, lambda d: not d["replicas"], "zero replicas")

    sent = time.monotonic()
    cold = _predict(platform, "from zero")
    elapsed_ms = (time.monotonic() - sent) * 1000
    warm = _predict(platform, "now warm")

    assert cold.status_code == 200, cold.text
    assert len(cold.json()) == 1  # one text, its labels: a real answer
    # The wait for the start is part of what the caller saw, never more.
    assert 0 <= int(cold.headers["X-Plinth-Cold-Start-Ms"]) <= elapsed_ms + 1
    assert warm.status_code == 200, warm.text
    assert "X-Plinth-Cold-Start-Ms" not in warm.headers
    assert [r["state"] for r in _deployment(platform)["replicas"]] == ["READY"]
