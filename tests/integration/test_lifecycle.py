"""Versions, environments, promote, rollback and canary against a real `plinth up`: real
replicas of tiny models, real Temporal workflows, steady load from concurrent clients."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.platform import PlatformProcess
from tests.support.tiny_models import build_tiny_failing_classifier

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLASSIFIER = "plinth-test/tiny-classifier"
EMBEDDER = "plinth-test/tiny-embedder"
FAILING = "plinth-test/tiny-failing-classifier"
ONE_REPLICA = {"minReplicas": 1, "maxReplicas": 1, "maxQueue": 1000}
VERSION = "X-Plinth-Deployment-Version"

ENVIRONMENTS = """
query Envs($name: String!) {
  model(name: $name) {
    deployments { id version status environment targetEnvironment promotedFrom createdBy }
    environments {
      name
      deployment { id version status }
      previousDeployment { id version }
      canary { percent deployment { id version status } autoRollback { maxErrorRate } }
      lastRollbackReason
    }
  }
}"""
RESULT = """
    __typename
    ... on Deployment { id version status }
    ... on ValidationError { field message }
    ... on NotFoundError { field message }
"""
PROMOTE = f"""
mutation P($id: ID!, $env: String!) {{ promoteDeployment(deploymentId: $id, environment: $env) {{
{RESULT} }} }}"""
ROLLBACK = f"""
mutation R($model: String!, $env: String!) {{ rollback(model: $model, environment: $env) {{
{RESULT} }} }}"""
CANARY = f"""
mutation C($model: String!, $id: ID!, $percent: Float!, $auto: AutoRollbackInput) {{
  startCanary(model: $model, deploymentId: $id, percent: $percent, autoRollback: $auto) {{
{RESULT} }} }}"""
EVENTS = """
query E($model: String!) { modelEvents(model: $model) { deploymentId kind message } }"""


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, tiny_hf_home: Path
) -> Iterator[PlatformProcess]:
    build_tiny_failing_classifier(tiny_hf_home, FAILING)
    proc = PlatformProcess(tmp_path_factory.mktemp("lifecycle"), tiny_hf_home).start()
    try:
        yield proc
    finally:
        proc.stop()


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 180) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def state(platform: PlatformProcess, name: str) -> dict[str, Any]:
    model: dict[str, Any] = platform.graphql(ENVIRONMENTS, name=name)["model"]
    model["env"] = {e["name"]: e for e in model["environments"]}
    return model


def serving(platform: PlatformProcess, name: str, env: str) -> dict[str, Any] | None:
    dep: dict[str, Any] | None = state(platform, name)["env"][env]["deployment"]
    return dep


def deploy_active(platform: PlatformProcess, name: str, repo: str, env: str) -> dict[str, Any]:
    created = platform.deploy(name=name, huggingFaceRepo=repo, environment=env, scaling=ONE_REPLICA)
    wait_for(
        lambda: (serving(platform, name, env) or {}).get("id") == created["id"],
        f"{name} deployment {created['id']} to serve {env}",
    )
    found: dict[str, Any] = next(
        d for d in state(platform, name)["deployments"] if d["id"] == created["id"]
    )
    return found


def predict(
    client: httpx.Client, platform: PlatformProcess, name: str, env: str | None = None, **kw: Any
) -> httpx.Response:
    path = f"/v1/models/{name}/predict"
    if env is not None:
        path = f"/v1/models/{name}/environments/{env}/predict"
    return client.post(f"{platform.url}{path}", json={"inputs": ["hello world"]}, **kw)


class Load:
    """Steady load from a few concurrent clients; records (status, version, shape) in order."""

    def __init__(self, platform: PlatformProcess, name: str, clients: int = 3) -> None:
        self.results: list[tuple[int, str | None, str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(platform, name)) for _ in range(clients)
        ]

    def _run(self, platform: PlatformProcess, name: str) -> None:
        with httpx.Client(headers=platform.headers, timeout=60) as client:
            while not self._stop.is_set():
                resp = predict(client, platform, name)
                shape = "embeddings" if "embeddings" in resp.text else "labels"
                with self._lock:
                    self.results.append((resp.status_code, resp.headers.get(VERSION), shape))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def settled_on(self, version: str, last: int = 20) -> bool:
        """The last `last` answers all came from `version`."""
        with self._lock:
            tail = self.results[-last:]
        return len(tail) == last and all(r[1] == version for r in tail)


def test_promote_and_rollback_under_steady_load_fail_no_request(
    platform: PlatformProcess,
) -> None:
    v1 = deploy_active(platform, "life", CLASSIFIER, "production")
    v2 = deploy_active(platform, "life", EMBEDDER, "staging")
    assert (v1["version"], v2["version"]) == (1, 2)
    with httpx.Client(headers=platform.headers, timeout=60) as client:
        staging = predict(client, platform, "life", "staging")
        production = predict(client, platform, "life")
    assert (staging.status_code, staging.headers[VERSION]) == (200, "2")
    assert "embeddings" in staging.json()
    assert (production.status_code, production.headers[VERSION]) == (200, "1")

    with Load(platform, "life") as load:
        wait_for(lambda: load.count() >= 20, "load to start")
        promoted = platform.graphql(PROMOTE, id=v2["id"], env="production")["promoteDeployment"]
        # v2 serves staging, so production gets a clone of it: version 3, same snapshot.
        assert (promoted["__typename"], promoted["version"]) == ("Deployment", 3), promoted
        wait_for(
            lambda: (serving(platform, "life", "production") or {}).get("version") == 3,
            "version 3 to serve production",
        )
        wait_for(lambda: load.settled_on("3"), "responses to come from version 3")
        after_promote = load.count()

        rolled = platform.graphql(ROLLBACK, model="life", env="production")["rollback"]
        assert (rolled["__typename"], rolled["version"]) == ("Deployment", 1), rolled
        wait_for(
            lambda: (serving(platform, "life", "production") or {}).get("version") == 1,
            "version 1 to serve production again",
        )
        wait_for(lambda: load.settled_on("1"), "responses to come from version 1 again")

    results = load.results
    failures = [r for r in results if r[0] != 200]
    assert failures == [], failures[:5]
    promote_phase = results[:after_promote]
    rollback_phase = results[after_promote:]
    # Responses switch from v1 (labels) to v3 (embeddings), then back to v1.
    assert promote_phase[0][1:] == ("1", "labels")
    assert promote_phase[-1][1:] == ("3", "embeddings")
    assert {r[1:] for r in promote_phase} == {("1", "labels"), ("3", "embeddings")}
    assert rollback_phase[-1][1:] == ("1", "labels")
    assert {r[1:] for r in rollback_phase} <= {("1", "labels"), ("3", "embeddings")}

    model = state(platform, "life")
    production = model["env"]["production"]
    assert production["previousDeployment"]["version"] == 3
    assert production["lastRollbackReason"] == "rolled back to version 1 on request"
    by_version = {d["version"]: d for d in model["deployments"]}
    assert by_version[3]["promotedFrom"] == v2["id"]
    assert by_version[3]["status"] == "SUPERSEDED"
    assert by_version[2]["environment"] == "staging"
    assert by_version[1]["createdBy"] is not None and by_version[1]["createdBy"].startswith("pl_")
    kinds = [e["kind"] for e in platform.graphql(EVENTS, model="life")["modelEvents"]]
    for kind in ("created", "promoting", "traffic_shifted", "rolled_back"):
        assert kind in kinds


def test_a_canary_gets_its_exact_share_and_keys_stick(platform: PlatformProcess) -> None:
    deploy_active(platform, "split", CLASSIFIER, "production")
    v2 = deploy_active(platform, "split", EMBEDDER, "staging")
    started = platform.graphql(CANARY, model="split", id=v2["id"], percent=10.0)["startCanary"]
    assert started["__typename"] == "Deployment", started
    wait_for(
        lambda: (state(platform, "split")["env"]["production"]["canary"] or {}).get("deployment"),
        "the canary to take traffic",
    )
    canary_version = str(started["version"])

    def send(n: int, key: str | None = None) -> list[str]:
        versions: list[str] = []
        lock = threading.Lock()
        headers = {**platform.headers, **({"X-Plinth-Request-Key": key} if key else {})}

        def worker(count: int) -> None:
            with httpx.Client(headers=headers, timeout=60) as client:
                for _ in range(count):
                    resp = predict(client, platform, "split")
                    assert resp.status_code == 200, resp.text
                    with lock:
                        versions.append(resp.headers[VERSION])

        threads = [threading.Thread(target=worker, args=(n // 4,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        return versions

    versions = send(2000)
    assert len(versions) == 2000
    share = versions.count(canary_version) / len(versions)
    assert 0.08 <= share <= 0.12, share
    assert set(versions) == {"1", canary_version}
    for key in ("user-1", "user-2", "user-3"):
        assert len(set(send(40, key))) == 1


def test_a_failing_canary_is_rolled_back_automatically_with_the_reason(
    platform: PlatformProcess,
) -> None:
    deploy_active(platform, "guard", CLASSIFIER, "production")
    bad = deploy_active(platform, "guard", FAILING, "staging")
    with httpx.Client(headers=platform.headers, timeout=60) as client:
        assert predict(client, platform, "guard", "staging").status_code == 502
    auto = {"maxErrorRate": 0.2, "windowSeconds": 30}
    started = platform.graphql(CANARY, model="guard", id=bad["id"], percent=50.0, auto=auto)
    canary = started["startCanary"]
    assert canary["__typename"] == "Deployment", canary

    def rolled_back() -> dict[str, Any] | None:
        with httpx.Client(headers=platform.headers, timeout=60) as client:
            for _ in range(4):
                predict(client, platform, "guard")
        env: dict[str, Any] = state(platform, "guard")["env"]["production"]
        return env if env["lastRollbackReason"] else None

    production = wait_for(rolled_back, "the canary to be rolled back")
    assert production["canary"] is None
    assert "error rate" in production["lastRollbackReason"]
    assert production["deployment"]["version"] == 1
    with httpx.Client(headers=platform.headers, timeout=60) as client:
        answers = [predict(client, platform, "guard") for _ in range(10)]
    assert [(r.status_code, r.headers[VERSION]) for r in answers] == [(200, "1")] * 10
    events = platform.graphql(EVENTS, model="guard")["modelEvents"]
    reasons = [e["message"] for e in events if e["kind"] == "canary_rolled_back"]
    assert len(reasons) == 1 and "error rate" in reasons[0], events
    deployments = {d["version"]: d for d in state(platform, "guard")["deployments"]}
    assert deployments[int(canary["version"])]["status"] == "FAILED"


def test_unknown_environment_is_404_with_the_field(platform: PlatformProcess) -> None:
    deploy_active(platform, "lost", CLASSIFIER, "production")
    with httpx.Client(headers=platform.headers, timeout=60) as client:
        resp = predict(client, platform, "lost", "nowhere")
    assert resp.status_code == 404
    assert resp.json()["error"]["field"] == "env"


def test_the_sdk_and_cli_promote_list_and_roll_back(platform: PlatformProcess) -> None:
    import plinth

    with plinth.Client(platform.url, api_key=platform.api_key) as client:
        v1 = client.models.deploy(CLASSIFIER, name="tools", min_replicas=1, max_replicas=1)
        v2 = client.models.deploy(EMBEDDER, name="tools", environment="staging", timeout=300)
        assert (v1.version, v2.version) == (1, 2)
        assert client.models.predict("tools", ["hello"], environment="staging")["embeddings"]

        promoted = client.models.promote("tools", version=2, environment="production")

        assert (promoted.version, promoted.status.value) == (3, "ACTIVE")
        envs = {e.name: e for e in client.models.environments("tools")}
        assert envs["production"].deployment is not None
        assert envs["production"].deployment.version == 3
        assert envs["production"].previous_deployment is not None
        assert envs["production"].previous_deployment.version == 1
        assert "embeddings" in client.models.predict("tools", ["hello"])

    rolled = cli(platform, "rollback", "tools", "--env", "production")
    assert rolled.returncode == 0, rolled.stderr
    assert "Version 1 of 'tools' serves production." in rolled.stdout
    versions = cli(platform, "versions", "tools")
    assert versions.returncode == 0, versions.stderr
    lines = versions.stdout.splitlines()
    assert lines[0].split()[:3] == ["VERSION", "STATUS", "SERVES"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["3", "SUPERSEDED", "-"],
        ["2", "ACTIVE", "staging"],
        ["1", "ACTIVE", "production"],
    ]
    listed = cli(platform, "environments", "tools")
    assert listed.returncode == 0, listed.stderr
    production = next(line for line in listed.stdout.splitlines() if line.startswith("production"))
    assert production.split()[1:3] == ["v1", "v3"]
    unknown = cli(platform, "promote", "tools", "--version", "9", "--env", "production")
    assert unknown.returncode != 0
    assert "no version 9" in unknown.stderr


def cli(platform: PlatformProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "plinth"), *args],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
