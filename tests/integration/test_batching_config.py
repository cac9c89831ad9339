"""Per-deployment dynamic batching against a real `plinth up`: the GraphQL `batching` input
reaches the replica process, whose `/health` reports the configuration it runs with."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from serving.engines.batching import DEFAULT_MAX_BATCH_SIZE
from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMBEDDER = "plinth-test/tiny-embedder"
ONE_REPLICA = {"minReplicas": 1, "maxReplicas": 1}
BATCHING = (
    'query { model(name: "%s") { activeDeployment { batching { maxBatchSize maxWaitMs } } } }'
)


def _ready(deployment: dict[str, Any]) -> bool:
    if deployment["status"] == "FAILED":
        raise AssertionError(f"deploy failed: {deployment['error']}")
    return deployment["status"] == "ACTIVE" and any(
        r["state"] == "READY" and r["port"] for r in deployment["replicas"]
    )


def _replica_health(platform: PlatformProcess, name: str) -> dict[str, Any]:
    deployment = platform.wait_deployment(name, _ready, f"{name} ready", timeout_s=240)
    port = next(r["port"] for r in deployment["replicas"] if r["state"] == "READY")
    health: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
    return health


def test_deploy_batching_reaches_the_replica(platform: PlatformProcess) -> None:
    common = {"huggingFaceRepo": EMBEDDER, "task": "feature-extraction", "scaling": ONE_REPLICA}
    platform.deploy(name="unbatched", batching={"maxBatchSize": 1}, **common)
    platform.deploy(name="tuned", batching={"maxBatchSize": 3, "maxWaitMs": 7.5}, **common)
    platform.deploy(name="default", **common)

    off = _replica_health(platform, "unbatched")["batching"]
    tuned = _replica_health(platform, "tuned")["batching"]
    default = _replica_health(platform, "default")["batching"]

    # Batching off: size 1 and no batcher, hence no batch counters.
    assert off["max_batch_size"] == 1 and "batches" not in off
    assert (tuned["max_batch_size"], tuned["max_wait_ms"]) == (3, 7.5)
    assert tuned["batches"] == 0
    # Unset: the task's default (on for feature-extraction), not the other deployments' values.
    assert default["max_batch_size"] == DEFAULT_MAX_BATCH_SIZE["feature-extraction"]
    assert "batches" in default
    answer = platform.graphql(BATCHING % "tuned")["model"]["activeDeployment"]["batching"]
    assert answer == {"maxBatchSize": 3, "maxWaitMs": 7.5}
