"""The controller with the real LocalProcessRuntime spawning real `serving.replica` processes
that load a tiny BERT classifier built offline: deploy, route, crash and replace, scale, retire,
and a model that cannot load."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from plinth.types import ReplicaState
from serving.controller import Controller
from serving.errors import InvalidInput
from serving.spec import DeploymentSpec, Phase
from tests.support import tiny_models
from tests.support.live_controller import running_controller, wait_for
from tests.unit.serving.fakes import FakeStore, spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READY = ReplicaState.READY
FAILED = ReplicaState.FAILED


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hf_home = tmp_path_factory.mktemp("hf")
    path: Path = tiny_models.build_tiny_bert_classifier(hf_home, "plinth-test/tiny-classifier")
    return path


def classifier(path: Path, phase: Phase, **scaling: float) -> DeploymentSpec:
    base = spec("d1", model_name="tiny", phase=phase, **scaling)
    return replace(base, model_path=str(path), task="text-classification")


@pytest.fixture()
async def running(tmp_path: Path) -> AsyncIterator[tuple[Controller, FakeStore, Path]]:
    log_dir = tmp_path / "logs"
    async with running_controller(log_dir) as (controller, store):
        yield controller, store, log_dir


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_deploy_route_crash_replace_scale_and_retire(
    running: tuple[Controller, FakeStore, Path], classifier_path: Path
) -> None:
    controller, store, log_dir = running
    store.desired = [classifier(classifier_path, Phase.DEPLOYING)]
    controller.wake()
    await wait_for(lambda: store.states() == [READY])
    [first] = store.replicas["d1"]
    assert first.pid is not None and alive(first.pid)
    assert first.extra.get("total", 0) > 0  # cold-start phases from GET /ready
    assert (log_dir / "tiny" / f"{first.replica_id}.log").exists()
    assert any(kind == "replica_ready" and "ready in" in msg for _, kind, msg in store.events)
    assert not controller.plane.routable("tiny")  # DEPLOYING takes no traffic

    store.desired = [classifier(classifier_path, Phase.ACTIVE, min_replicas=1)]
    controller.wake()
    await wait_for(lambda: controller.plane.routable("tiny"), 5)
    body = json.dumps({"inputs": ["hello world", "plinth"], "parameters": {"top_k": 2}})
    answer = json.loads(await controller.plane.predict("tiny", body.encode(), timeout_s=30))
    assert len(answer) == 2 and all(len(per_input) == 2 for per_input in answer)
    assert {"label", "score"} <= set(answer[0][0])
    with pytest.raises(InvalidInput) as bad:
        await controller.plane.predict("tiny", b'{"inputs": []}', timeout_s=30)
    assert bad.value.body()["error"]["type"] == "invalid_input"

    # A replica killed from outside is recorded FAILED and replaced; traffic recovers.
    os.kill(first.pid, signal.SIGKILL)
    await wait_for(lambda: FAILED in store.states() and READY in store.states())
    failed = next(o for o in store.replicas["d1"] if o.state is FAILED)
    assert failed.replica_id == first.replica_id and "code -9" in (failed.error or "")
    answer = json.loads(await controller.plane.predict("tiny", b'{"inputs": "again"}'))
    assert len(answer) == 1

    # A changed minimum takes effect live.
    store.desired = [classifier(classifier_path, Phase.ACTIVE, min_replicas=2, max_replicas=2)]
    controller.wake()
    await wait_for(lambda: store.states().count(READY) == 2)
    pids = [o.pid for o in store.replicas["d1"] if o.state is READY and o.pid is not None]

    # No longer desired: drained, stopped, reaped.
    store.desired = []
    controller.wake()
    await wait_for(lambda: store.replicas.get("d1") is not None and READY not in store.states())
    await wait_for(lambda: not any(alive(pid) for pid in pids), 30)
    assert not controller.plane.routable("tiny")


async def test_a_model_that_cannot_load_fails_its_replica_once(
    running: tuple[Controller, FakeStore, Path], tmp_path: Path
) -> None:
    controller, store, _ = running
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    store.desired = [classifier(empty, Phase.DEPLOYING)]
    controller.wake()
    await wait_for(lambda: store.states() == [FAILED])
    [obs] = store.replicas["d1"]
    assert "exited with code" in (obs.error or "")
    assert "failed to load model" in (obs.error or "")  # the replica's last stderr line
    await asyncio.sleep(1.0)
    assert store.states() == [FAILED]  # DEPLOYING: not restarted
