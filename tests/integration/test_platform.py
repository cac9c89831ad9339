"""The first vertical slice through raw HTTP: GraphQL deploys of tiny models from a local cache,
REST predicts, live scaling, failure reasons, and crash safety of `plinth up`."""

from __future__ import annotations

import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.platform import DEPLOY, PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UPDATE = """
mutation Scale($model: String!, $scaling: ScalingInput!) {
  updateScaling(model: $model, scaling: $scaling) {
    __typename
    ... on Model { scaling { minReplicas maxReplicas scaleDownDelaySeconds } }
    ... on ValidationError { field message }
    ... on NotFoundError { message }
  }
}"""


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


def wait_status(platform: PlatformProcess, name: str, timeout_s: float = 120) -> dict[str, Any]:
    return platform.wait_deployment(
        name,
        lambda d: d["status"] in ("ACTIVE", "FAILED"),
        f"deployment of {name} to finish",
        timeout_s,
    )


def live_replica_pids(platform: PlatformProcess) -> list[int]:
    assert platform.proc is not None
    pids = []
    for child in psutil.Process(platform.proc.pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "serving.replica" in child.cmdline():
                pids.append(child.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # exiting right now: not a live replica
    return pids


def test_graphql_deploy_predict_and_scale(platform: PlatformProcess) -> None:
    created = platform.deploy(
        name="classifier",
        huggingFaceRepo="plinth-test/tiny-classifier",
        task="text-classification",
        # A short window too: idle goes to zero `window + delay` after the last request.
        scaling={
            "minReplicas": 1,
            "maxReplicas": 2,
            "scaleDownDelaySeconds": 1,
            "autoscalingWindowSeconds": 5,
        },
    )
    assert created["status"] in ("PENDING", "DEPLOYING")
    done = wait_status(platform, "classifier")
    assert done["status"] == "ACTIVE", done
    assert [r["state"] for r in done["replicas"]] == ["READY"]

    resp = httpx.post(
        f"{platform.url}/v1/models/classifier/predict",
        json={"inputs": ["plinth serves models", "hello"]},
        headers=platform.headers,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert len(body) == 2
    assert abs(sum(item["score"] for item in body[0]) - 1.0) < 1e-4

    # Raise the floor: a second replica starts and becomes ready.
    scaled = platform.graphql(UPDATE, model="classifier", scaling={"minReplicas": 2})
    assert scaled["updateScaling"]["scaling"]["minReplicas"] == 2
    wait_for(
        lambda: (
            sum(r["state"] == "READY" for r in platform.deployment("classifier")["replicas"]) == 2
        ),
        90,
        "two ready replicas",
    )
    # Scale to zero after the delay, then a request waits for the cold start.
    platform.graphql(UPDATE, model="classifier", scaling={"minReplicas": 0})
    wait_for(lambda: not live_replica_pids(platform), 60, "scale to zero")
    resp = httpx.post(
        f"{platform.url}/v1/models/classifier/predict",
        json={"inputs": "cold start"},
        headers=platform.headers,
        timeout=90,
    )
    assert resp.status_code == 200, resp.text

    bad = platform.graphql(UPDATE, model="classifier", scaling={"minReplicas": 3})
    assert bad["updateScaling"]["__typename"] == "ValidationError"
    assert bad["updateScaling"]["field"] == "minReplicas"


def test_bad_inputs_get_clear_errors(platform: PlatformProcess) -> None:
    cases = [
        ({"minReplicas": 3, "maxReplicas": 1}, "minReplicas"),
        ({"maxQueue": -1}, "maxQueue"),
    ]
    for scaling, field in cases:
        result = platform.graphql(
            DEPLOY,
            input={
                "name": "x",
                "huggingFaceRepo": "plinth-test/tiny-classifier",
                "scaling": scaling,
            },
        )["deployModel"]
        assert result == {
            "__typename": "ValidationError",
            "field": field,
            "message": result["message"],
        }
    empty = platform.graphql(DEPLOY, input={"name": "x", "huggingFaceRepo": ""})["deployModel"]
    assert empty["field"] == "huggingFaceRepo"

    unknown = httpx.post(
        f"{platform.url}/v1/models/nope/predict", json={"inputs": "a"}, headers=platform.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found"
    malformed = httpx.post(
        f"{platform.url}/v1/models/nope/predict",
        content=b"{not json",
        headers={"content-type": "application/json", **platform.headers},
    )
    assert malformed.status_code == 422
    assert "error" in malformed.json()


def test_missing_repo_fails_with_reason_and_leaves_no_replica(platform: PlatformProcess) -> None:
    platform.deploy(name="ghost", huggingFaceRepo="nobody/not-in-cache")
    done = wait_status(platform, "ghost", timeout_s=60)
    assert done["status"] == "FAILED"
    assert "not found in the local cache" in done["error"]
    assert "offline" in done["error"]
    assert live_replica_pids(platform) == []
    # The name exists: deploying it again is its next version (which fails the same way).
    again = platform.deploy(name="ghost", huggingFaceRepo="nobody/still-not-in-cache")
    done = wait_status(platform, "ghost", timeout_s=60)
    assert (done["id"], done["status"]) == (again["id"], "FAILED")
    assert live_replica_pids(platform) == []


def test_sigkill_leaves_no_orphans_restart_restores_and_one_control_plane_per_database(
    tmp_path: Path, tiny_hf_home: Path
) -> None:
    first = PlatformProcess(tmp_path / "plinth", tiny_hf_home).start()
    try:
        first.deploy(
            name="gen",
            huggingFaceRepo="plinth-test/tiny-gpt2",
            scaling={"minReplicas": 1, "maxReplicas": 1},
        )
        assert wait_status(first, "gen")["status"] == "ACTIVE"
        pids = live_replica_pids(first)
        assert len(pids) == 1
    finally:
        first.stop(signal.SIGKILL)

    def gone() -> bool:
        return not any(
            psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            for pid in pids
        )

    wait_for(gone, 15, "replica processes to die with plinth up")

    second = PlatformProcess(tmp_path / "plinth", tiny_hf_home)
    second.start()
    try:
        assert_restored(second, "gen")
        replicas = second.deployment("gen")["replicas"]

        # One control plane per database: a third `plinth up` on the same state stops at once,
        # names the running one and changes nothing.
        third = PlatformProcess(second.home, tiny_hf_home, log_name="third.log").launch()
        assert third.proc is not None and third.proc.wait(timeout=60) == 1
        assert "another Plinth control plane runs on this database" in third.logs()
        assert second.url in third.logs()  # who holds it
        assert second.deployment("gen")["replicas"] == replicas
        assert len(live_replica_pids(second)) == 1

        # A standby waits, then takes over when the holder stops, and restores the deployment.
        standby = PlatformProcess(
            second.home, tiny_hf_home, args=["--standby"], log_name="standby.log"
        ).launch()
        try:
            wait_for(lambda: "Standby:" in standby.logs(), 60, "the standby to wait for the lease")
            assert standby.proc is not None and standby.proc.poll() is None
            assert second.stop() == 0
            standby.wait_healthy(90)
            assert_restored(standby, "gen")
        finally:
            assert standby.stop() == 0
    finally:
        second.stop()


def assert_restored(platform: PlatformProcess, name: str) -> None:
    """The ACTIVE generator deployment `name` is back at its one replica and answers."""
    wait_for(
        lambda: [r["state"] for r in platform.deployment(name)["replicas"]] == ["READY"],
        90,
        "the ACTIVE deployment to come back",
    )
    resp = httpx.post(
        f"{platform.url}/v1/models/{name}/predict",
        json={"inputs": "hello", "parameters": {"max_new_tokens": 3}},
        headers=platform.headers,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    assert "generated_text" in resp.json()[0]


def test_bootstrap_key_auth_and_secrets_stay_out_of_logs(platform: PlatformProcess) -> None:
    key = platform.api_key
    assert key is not None and key.startswith("pl_")
    credentials = platform.home / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert platform.log_path.read_text().count(key) == 1  # printed once, at creation

    anonymous = httpx.post(f"{platform.url}/v1/models/nope/predict", json={"inputs": "a"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "unauthorized"

    value = "hf_platform_secret_value_8675309"
    set_secret = platform.graphql(
        'mutation($v: String!) { setSecret(name: "HF_TOKEN", value: $v) { __typename } }', v=value
    )
    assert set_secret["setSecret"]["__typename"] == "Secret"
    listed = platform.graphql("{ secrets { name } }")
    assert listed == {"secrets": [{"name": "HF_TOKEN"}]}
    audit = platform.graphql("{ auditLog(limit: 1) { action target outcome } }")
    assert audit["auditLog"] == [{"action": "setSecret", "target": "HF_TOKEN", "outcome": "ok"}]

    # The replicas of a deployment that names the secret receive it as an environment variable.
    platform.deploy(
        name="gated",
        huggingFaceRepo="plinth-test/tiny-classifier",
        secrets=["HF_TOKEN"],
        scaling={"minReplicas": 1, "maxReplicas": 1},
    )
    assert wait_status(platform, "gated")["status"] == "ACTIVE"
    (pid,) = live_replica_pids(platform)
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert f"HF_TOKEN={value}".encode() in environ
    shown = platform.graphql('{ model(name: "gated") { deployments { secrets } } }')
    assert shown["model"]["deployments"][0]["secrets"] == ["HF_TOKEN"]

    logs = [platform.log_path, *platform.home.glob("logs/**/*")]
    for path in logs:
        if path.is_file():
            assert value not in path.read_text(errors="replace"), path
