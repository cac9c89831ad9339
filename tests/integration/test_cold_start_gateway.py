"""Through the real platform: the request that waited for a cold start from zero replicas is told
how long in `X-Plinth-Cold-Start-Ms`; the next one, served by the warm replica, is not."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]


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
    platform.deploy(
        name="classifier",
        huggingFaceRepo="plinth-test/tiny-classifier",
        task="text-classification",
        scaling={"minReplicas": 0, "maxReplicas": 1, "scaleDownDelaySeconds": 1},
    )
    done = platform.wait_deployment(
        "classifier", lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy"
    )
    assert done["status"] == "ACTIVE", done
    platform.wait_deployment("classifier", lambda d: not d["replicas"], "zero replicas")

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
    assert [r["state"] for r in platform.deployment("classifier")["replicas"]] == ["READY"]
