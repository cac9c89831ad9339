"""The reconciler against a fake store, a fake runtime and fake replicas, on a virtual clock."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import pytest

from plinth.types import ReplicaState, Scaling
from serving.controller import Controller
from serving.errors import ModelNotRoutable, RequestTimeout
from serving.spec import DeploymentSpec, Phase
from tests.unit.serving.fakes import Clock, FakeReplicas, FakeRuntime, FakeStore, payload, spec

READY = ReplicaState.READY
STARTING = ReplicaState.STARTING
FAILED = ReplicaState.FAILED


@dataclasses.dataclass
class World:
    store: FakeStore
    runtime: FakeRuntime
    replicas: FakeReplicas
    clock: Clock
    controller: Controller

    async def tick(self, seconds: float = 0.5) -> None:
        self.clock.advance(seconds)
        self.controller.wake()
        await self.controller.reconcile_once()
        await settle()

    def set_desired(self, *specs: object) -> None:
        self.store.desired = list(specs)  # type: ignore[arg-type]

    def live(self) -> list[str]:
        return self.runtime.running()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture()
async def world() -> AsyncIterator[World]:
    store, runtime, replicas, clock = FakeStore(), FakeRuntime(), FakeReplicas(), Clock()
    controller = Controller(store, runtime, clock=clock, transport=replicas.transport)
    yield World(store, runtime, replicas, clock, controller)
    await controller.shutdown()


async def test_deploying_runs_one_replica_without_traffic_then_active_routes(world: World) -> None:
    world.set_desired(spec(phase=Phase.DEPLOYING, min_replicas=0))
    await world.tick()
    assert world.store.states() == [STARTING]
    assert world.store.kinds() == ["scaled", "replica_started"]
    await world.tick()
    [obs] = world.store.replicas["d1"]
    assert obs.state is READY and obs.pid is not None and obs.port is not None
    assert obs.ready_at is not None and obs.extra == {"weights": 0.5}
    assert "replica_ready" in world.store.kinds()
    assert not world.controller.plane.routable("m")
    with pytest.raises(ModelNotRoutable):
        await world.controller.plane.predict("m", payload())

    world.set_desired(spec(phase=Phase.ACTIVE, min_replicas=0))
    await world.tick()
    assert world.controller.plane.routable("m")
    answer = json.loads(await world.controller.plane.predict("m", payload("hi")))
    assert answer["echo"]["id"] == "hi"
    assert len(world.runtime.started) == 1  # the same replica now serves traffic


async def test_active_starts_min_replicas(world: World) -> None:
    world.set_desired(spec(min_replicas=2, max_replicas=3))
    await world.tick()
    await world.tick()
    assert world.store.states() == [READY, READY]
    assert len(world.live()) == 2


async def test_crashed_active_replica_is_failed_and_replaced_after_backoff(world: World) -> None:
    world.set_desired(spec(min_replicas=1))
    await world.tick()
    await world.tick()
    [first] = world.live()
    world.runtime.crash(first, code=-9, log="loading...\nKilled")
    await world.tick(0.1)
    failed = [o for o in world.store.replicas["d1"] if o.state is FAILED]
    assert [o.replica_id for o in failed] == [first]
    assert "exited with code -9" in (failed[0].error or "") and "Killed" in (failed[0].error or "")
    assert "replica_failed" in world.store.kinds()
    assert world.live() == []  # backoff: not restarted on the same tick
    assert world.controller.deployments["d1"].router.ready_replicas == []

    await world.tick(1.0)
    [second] = world.live()
    assert second != first
    await world.tick()
    assert sorted(o.state for o in world.store.replicas["d1"]) == sorted([READY, FAILED])

    # A crash loop backs off longer each time.
    world.runtime.crash(second, code=1)
    await world.tick(0.1)
    await world.tick(1.0)
    assert world.live() == []
    await world.tick(1.0)
    assert len(world.live()) == 1
    # Once a replica has stayed up for a minute, the next crash restarts after 1 s again.
    await world.tick()
    await world.tick(61)
    [third] = world.live()
    world.runtime.crash(third, code=1)
    await world.tick(0.1)
    await world.tick(1.0)
    assert len(world.live()) == 1


async def test_failed_deploying_replica_is_not_restarted(world: World) -> None:
    world.set_desired(spec(phase=Phase.DEPLOYING))
    await world.tick()
    [rid] = world.live()
    world.runtime.crash(rid, code=3, log="plinth-replica: failed to load model: no config.json")
    for _ in range(5):
        await world.tick(60)
    assert len(world.runtime.started) == 1
    [obs] = world.store.replicas["d1"]
    assert obs.state is FAILED
    assert "code 3" in (obs.error or "") and "no config.json" in (obs.error or "")


async def test_replica_that_never_gets_ready_is_killed_after_the_start_timeout(
    world: World,
) -> None:
    world.runtime.ready_at_once = False
    world.set_desired(spec(phase=Phase.DEPLOYING))
    await world.tick()
    [rid] = world.live()
    await world.tick(299)
    assert world.store.states() == [STARTING]
    await world.tick(2)
    [obs] = world.store.replicas["d1"]
    assert obs.state is FAILED and "not ready after 300 s" in (obs.error or "")
    assert rid in world.runtime.stopped


async def test_undesired_deployment_is_drained_then_stopped(world: World) -> None:
    world.set_desired(spec(min_replicas=1))
    await world.tick()
    await world.tick()
    [rid] = world.live()
    world.replicas.hold = asyncio.Event()
    request = asyncio.create_task(world.controller.plane.predict("m", payload("last")))
    await settle()

    world.set_desired()
    await world.tick()
    assert not world.controller.plane.routable("m")
    assert world.store.states() == [ReplicaState.STOPPING]
    assert world.runtime.stopped == []  # draining: the request in flight finishes first

    world.replicas.hold.set()
    assert json.loads(await request)["echo"]["id"] == "last"
    await settle()
    assert world.runtime.stopped == [rid]
    await world.tick()
    assert world.store.replicas["d1"] == []
    assert "replica_stopped" in world.store.kinds()
    assert "d1" not in world.controller.deployments


async def test_new_version_takes_over_the_model_name(world: World) -> None:
    world.set_desired(spec("d1", min_replicas=1), spec("d2", phase=Phase.DEPLOYING))
    await world.tick()
    await world.tick()
    [old] = world.controller.deployments["d1"].router.ready_replicas
    world.set_desired(spec("d2", min_replicas=1))
    await world.tick()
    [new] = world.controller.deployments["d2"].router.ready_replicas
    answer = json.loads(await world.controller.plane.predict("m", payload()))
    assert answer["replica"] == new
    await world.tick()
    assert old in world.runtime.stopped and new not in world.runtime.stopped


async def test_scale_from_zero_on_demand_without_waiting_for_a_tick() -> None:
    store, runtime, replicas = FakeStore([spec(min_replicas=0)]), FakeRuntime(), FakeReplicas()
    controller = Controller(store, runtime, tick_s=30.0, transport=replicas.transport)
    loop_task = asyncio.create_task(controller.run())
    try:
        for _ in range(100):
            if controller.plane.routable("m"):
                break
            await asyncio.sleep(0.01)
        assert runtime.started == []  # min 0: nothing runs before the first request
        answer = await asyncio.wait_for(controller.plane.predict("m", payload("cold")), 5)
        assert json.loads(answer)["echo"]["id"] == "cold"
        assert len(runtime.started) == 1
        assert store.resets == 1
        assert "scaled" in store.kinds()
    finally:
        loop_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop_task
        await controller.shutdown()
    assert runtime.running() == []


async def test_health_failures_replace_the_replica(world: World) -> None:
    world.set_desired(spec(min_replicas=1))
    await world.tick()
    await world.tick()
    [rid] = world.live()
    world.runtime.unhealthy.add(rid)
    for _ in range(2):
        await world.controller.check_health()
        await world.tick()
    assert world.store.states() == [READY]
    await world.controller.check_health()
    await world.tick()
    assert "3 health checks" in (world.store.replicas["d1"][-1].error or "")
    assert rid in world.runtime.stopped
    await world.tick(1.0)
    assert len(world.live()) == 1 and world.live() != [rid]


async def test_scaling_changes_apply_live(world: World) -> None:
    world.set_desired(spec(min_replicas=1, max_replicas=4, max_concurrency=4))
    await world.tick()
    await world.tick()
    router = world.controller.deployments["d1"].router
    assert router.max_concurrency == 4

    world.set_desired(
        spec(min_replicas=3, max_replicas=4, max_concurrency=2, concurrency_target=1, max_queue=7)
    )
    await world.tick()
    assert (router.max_concurrency, router.max_queue) == (2, 7)
    assert len(world.live()) == 3
    assert world.runtime.started[-1].max_concurrency == 2
    assert any(m == "scaled from 1 to 3 replicas" for _, k, m in world.store.events)


async def test_scale_down_keeps_the_busy_replica(world: World) -> None:
    world.set_desired(spec(min_replicas=3, max_replicas=3, concurrency_target=2))
    await world.tick()
    await world.tick()
    router = world.controller.deployments["d1"].router
    world.replicas.hold = asyncio.Event()
    request = asyncio.create_task(world.controller.plane.predict("m", payload()))
    await settle()
    [busy] = [rid for rid in router.ready_replicas if router.in_flight_of(rid) == 1]

    world.set_desired(spec(min_replicas=1, max_replicas=3, scale_down_delay_s=0))
    await world.tick(5)
    assert world.live() == [busy]
    world.replicas.hold.set()
    await request


async def test_a_replica_that_cannot_start_is_recorded_failed(world: World) -> None:
    world.runtime.fail_start = OSError("no such file: python")
    world.set_desired(spec(min_replicas=1))
    await world.tick()
    [obs] = world.store.replicas["d1"]
    assert obs.state is FAILED and "no such file: python" in (obs.error or "")


async def test_shutdown_stops_every_replica(world: World) -> None:
    world.set_desired(spec("d1", min_replicas=2), spec("d2", model_name="n", min_replicas=1))
    await world.tick()
    await world.tick()
    assert len(world.live()) == 3
    await world.controller.shutdown()
    assert world.live() == []
    assert not world.controller.plane.routable("m")
    await world.controller.reconcile_once()  # a late tick starts nothing
    assert world.live() == []


def test_scaling_fixture_is_valid() -> None:
    Scaling(min_replicas=3, max_replicas=4, max_concurrency=2, concurrency_target=1).check()


async def test_cold_start_is_bounded_by_the_request_timeout(world: World) -> None:
    world.runtime.ready_at_once = False
    world.set_desired(spec(min_replicas=0))
    await world.tick()
    with pytest.raises(RequestTimeout) as err:
        await world.controller.plane.predict("m", payload(), timeout_s=0.1)
    assert err.value.status == 504 and "0.1 s" in err.value.message
    assert world.controller.deployments["d1"].router.queued == 0


async def test_wake_from_another_thread_reloads_at_once() -> None:
    store, runtime = FakeStore(), FakeRuntime()
    controller = Controller(store, runtime, tick_s=30.0, reload_s=30.0)
    loop_task = asyncio.create_task(controller.run())
    try:
        await asyncio.sleep(0.05)
        store.desired = [spec(min_replicas=1)]
        await asyncio.to_thread(controller.wake)
        for _ in range(100):
            if controller.plane.routable("m") and len(runtime.started) == 1:
                break
            await asyncio.sleep(0.01)
        assert controller.plane.routable("m") and len(runtime.started) == 1
    finally:
        loop_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop_task
        await controller.shutdown()


async def test_policy_is_chosen_per_deployment_and_changes_live() -> None:
    store, runtime, replicas, clock = FakeStore(), FakeRuntime(), FakeReplicas(), Clock()
    choice = {"d1": "knative_kpa", "d2": "plinth"}
    controller = Controller(
        store,
        runtime,
        clock=clock,
        transport=replicas.transport,
        policy_for=lambda s: choice[s.deployment_id],
    )
    try:
        store.desired = [spec("d1", "a", min_replicas=1), spec("d2", "b", min_replicas=1)]
        await controller.reconcile_once()
        deps = controller.deployments
        assert deps["d1"].scaler.policy.name == "knative_kpa"
        assert deps["d2"].scaler.policy.name == "plinth"
        choice["d1"] = "k8s_hpa"
        controller.wake()
        await controller.reconcile_once()
        assert controller.deployments["d1"].scaler.policy.name == "k8s_hpa"
    finally:
        await controller.shutdown()


async def test_the_deployments_own_autoscaling_policy_is_used_and_changes_live() -> None:
    store, runtime, replicas, clock = FakeStore(), FakeRuntime(), FakeReplicas(), Clock()
    controller = Controller(store, runtime, clock=clock, transport=replicas.transport)

    def chosen(policy: str) -> DeploymentSpec:
        base = spec(min_replicas=1)
        return dataclasses.replace(base, scaling=base.scaling.merged(autoscaling_policy=policy))

    try:
        store.desired = [spec(min_replicas=1)]
        await controller.reconcile_once()
        assert controller.deployments["d1"].scaler.policy.name == "plinth"  # the default
        store.desired = [chosen("knative_kpa")]
        controller.wake()
        await controller.reconcile_once()
        assert controller.deployments["d1"].scaler.policy.name == "knative_kpa"
        started = len(runtime.started)
        store.desired = [chosen("k8s_hpa")]
        controller.wake()
        await controller.reconcile_once()
        dep = controller.deployments["d1"]
        assert dep.scaler.policy.name == "k8s_hpa"
        assert dep.spec.scaling.autoscaling_policy == "k8s_hpa"
        assert len(runtime.started) == started  # a policy change restarts no replica
    finally:
        await controller.shutdown()


async def test_cold_start_and_service_time_are_measured_for_the_policy(world: World) -> None:
    world.set_desired(spec(min_replicas=1))
    await world.tick()
    await world.tick(2.0)  # ready on this tick: 2 s after it was started
    scaler = world.controller.deployments["d1"].scaler
    assert scaler.cold_start_s == pytest.approx(2.0)
    await world.controller.plane.predict("m", payload())
    await world.tick()
    assert scaler.service_time_s is not None
    assert scaler.last_ctx is not None and scaler.last_ctx.load_samples[-1].arrivals == 1


async def test_replica_dropped_after_a_connection_error_rejoins_when_healthy(world: World) -> None:
    world.set_desired(spec(min_replicas=1, max_replicas=1))
    await world.tick()
    await world.tick()
    [rid] = world.live()
    router = world.controller.deployments["d1"].router
    world.replicas.behaviour[rid] = "connect_error"  # a blip: refused once, process alive
    waiting = asyncio.create_task(world.controller.plane.predict("m", payload("x"), timeout_s=5))
    await settle()
    assert router.ready_replicas == [] and not waiting.done()
    world.replicas.behaviour[rid] = "ok"
    await world.controller.check_health()  # healthy: routed again, the waiter is served
    answer = json.loads(await waiting)
    assert answer["replica"] == rid and answer["echo"]["id"] == "x"


async def test_routes_are_per_environment_with_an_exact_canary_share(world: World) -> None:
    production = dataclasses.replace(spec("d1", min_replicas=1), version=1)
    staging = dataclasses.replace(spec("d2", min_replicas=1), version=2, environment="staging")
    canary = dataclasses.replace(spec("d3", min_replicas=1), version=3, canary_percent=25.0)
    world.set_desired(production, staging, canary)
    await world.tick()
    await world.tick()
    plane = world.controller.plane
    assert plane.routable("m", "production") and plane.routable("m", "staging")
    assert not plane.routable("m", "development")

    served = [
        (await plane.predict_routed("m", payload(), environment="production")).version
        for _ in range(40)
    ]
    assert served.count(3) == 10 and served.count(1) == 30
    staged = await plane.predict_routed("m", payload(), environment="staging")
    assert (staged.version, staged.deployment_id) == (2, "d2")
    keyed = {(await plane.predict_routed("m", payload(), key="k1")).version for _ in range(20)}
    assert len(keyed) == 1
    assert plane.stats("d3").requests == 10 + (20 if keyed == {3} else 0)

    world.set_desired(production, staging)  # canary aborted: all traffic to the primary again
    await world.tick()
    served = [(await plane.predict_routed("m", payload())).version for _ in range(10)]
    assert served == [1] * 10
    with pytest.raises(ModelNotRoutable):
        await plane.predict("m", payload(), environment="qa")
