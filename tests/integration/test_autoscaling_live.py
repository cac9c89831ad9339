"""Autoscaling and routing with real replica processes through the controller.

The controller runs with the real LocalProcessRuntime (replicas are `serving.replica` processes
serving a tiny GPT-2 built offline, whose service time grows with `max_new_tokens`) and a fake
store. What a user would notice: a burst from zero is served in full, overload beyond maxQueue
is a 429 with Retry-After and nothing crashes, an idle deployment goes back to minReplicas after
the delay, and a replica SIGKILLed under load loses no idempotent request.
"""

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
from serving.errors import QueueFull
from serving.spec import DeploymentSpec, Phase
from tests.support import tiny_models
from tests.support.live_controller import START_TIMEOUT_S, running_controller, wait_for
from tests.unit.serving.fakes import FakeStore, spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READY = ReplicaState.READY


@pytest.fixture(scope="module")
def gpt2_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hf_home = tmp_path_factory.mktemp("hf")
    path: Path = tiny_models.build_tiny_gpt2(hf_home, "plinth-test/tiny-gpt2")
    return path


def generator(path: Path, **scaling: float) -> DeploymentSpec:
    base = spec("d1", model_name="gen", phase=Phase.ACTIVE, **scaling)
    return replace(base, model_path=str(path), task="text-generation")


def body(tokens: int = 8, i: int = 0) -> bytes:
    params = {"max_new_tokens": tokens, "do_sample": False}
    return json.dumps({"inputs": f"request {i}", "parameters": params}).encode()


@pytest.fixture()
async def running(tmp_path: Path) -> AsyncIterator[tuple[Controller, FakeStore]]:
    async with running_controller(tmp_path / "logs", health_interval_s=1.0) as pair:
        yield pair


def ready_pids(store: FakeStore) -> list[int]:
    return [o.pid for o in store.replicas.get("d1", []) if o.state is READY and o.pid is not None]


async def test_a_burst_from_zero_scales_up_and_every_request_is_served(
    running: tuple[Controller, FakeStore], gpt2_path: Path
) -> None:
    controller, store = running
    store.desired = [
        generator(
            gpt2_path,
            min_replicas=0,
            max_replicas=2,
            max_concurrency=1,
            concurrency_target=1,
            max_queue=64,
        )
    ]
    controller.wake()
    await wait_for(lambda: controller.plane.routable("gen"), 5)
    assert store.replicas.get("d1", []) == []  # min 0: nothing runs before the first request
    answers = await asyncio.gather(
        *(controller.plane.predict("gen", body(8, i), timeout_s=START_TIMEOUT_S) for i in range(20))
    )
    assert len(answers) == 20
    assert all("generated_text" in json.loads(a)[0] for a in answers)
    started = [m for _, kind, m in store.events if kind == "replica_started"]
    assert len(started) == 2  # the queue at zero asked for more than one replica


async def test_load_beyond_max_queue_gets_429_with_retry_after_and_no_crash(
    running: tuple[Controller, FakeStore], gpt2_path: Path
) -> None:
    controller, store = running
    store.desired = [
        generator(
            gpt2_path,
            min_replicas=1,
            max_replicas=1,
            max_concurrency=1,
            concurrency_target=1,
            max_queue=2,
        )
    ]
    controller.wake()
    await wait_for(lambda: len(ready_pids(store)) == 1)
    [pid] = ready_pids(store)
    results = await asyncio.gather(
        *(controller.plane.predict("gen", body(32, i), timeout_s=60) for i in range(12)),
        return_exceptions=True,
    )
    rejected = [r for r in results if isinstance(r, QueueFull)]
    served = [r for r in results if isinstance(r, bytes)]
    assert len(served) >= 3 and len(rejected) >= 1 and len(served) + len(rejected) == 12
    assert all(int(r.headers["Retry-After"]) >= 1 for r in rejected)
    assert rejected[0].status == 429
    # Nothing fell over: the same replica answers the next request.
    assert json.loads(await controller.plane.predict("gen", body(4), timeout_s=60))
    assert ready_pids(store) == [pid]


async def test_idle_deployment_scales_down_to_min_replicas_after_the_delay(
    running: tuple[Controller, FakeStore], gpt2_path: Path
) -> None:
    controller, store = running
    store.desired = [generator(gpt2_path, min_replicas=2, max_replicas=2, scale_down_delay_s=2)]
    controller.wake()
    await wait_for(lambda: len(ready_pids(store)) == 2)
    assert json.loads(await controller.plane.predict("gen", body(4), timeout_s=60))
    # Lower the minimum live; nothing is in flight, so after the 2 s delay one replica goes.
    store.desired = [generator(gpt2_path, min_replicas=1, max_replicas=2, scale_down_delay_s=2)]
    controller.wake()
    await wait_for(lambda: len(ready_pids(store)) == 1, 60)
    assert any(m == "scaled from 2 to 1 replicas" for _, _, m in store.events)
    assert json.loads(await controller.plane.predict("gen", body(4), timeout_s=60))


async def test_sigkill_under_load_loses_no_idempotent_request(
    running: tuple[Controller, FakeStore], gpt2_path: Path
) -> None:
    controller, store = running
    store.desired = [
        generator(
            gpt2_path,
            min_replicas=2,
            max_replicas=2,
            max_concurrency=2,
            concurrency_target=1,
            max_queue=64,
        )
    ]
    controller.wake()
    await wait_for(lambda: len(ready_pids(store)) == 2)
    victim = ready_pids(store)[0]
    stop = asyncio.Event()
    answered: list[bytes] = []

    async def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            answered.append(
                await controller.plane.predict("gen", body(24, n * 1000 + i), timeout_s=90)
            )
            i += 1

    clients = [asyncio.create_task(client(n)) for n in range(6)]
    await wait_for(lambda: len(answered) >= 10, 60)
    os.kill(victim, signal.SIGKILL)
    before = len(answered)
    await wait_for(lambda: len(answered) >= before + 30, 90)
    stop.set()
    await asyncio.gather(*clients)  # any lost request would raise here
    assert all("generated_text" in json.loads(a)[0] for a in answered)
    failed = [o for o in store.replicas["d1"] if o.state is ReplicaState.FAILED]
    assert [o.pid for o in failed] == [victim]
    await wait_for(lambda: len(ready_pids(store)) == 2)  # and it was replaced
