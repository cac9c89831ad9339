"""Prometheus metrics of the data plane: what a predict, a cold start and replica states add."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from plinth.types import Scaling
from serving.controller import Controller
from serving.errors import InvalidInput, ReplicaFailed
from serving.metrics import ServingMetrics
from serving.router import ColdStartAnswer, Router
from tests.unit.serving.fakes import Clock, FakeReplicas, FakeRuntime, FakeStore, payload, spec

DEP = {"model": "m", "deployment": "d1"}


def samples(metrics: ServingMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exposition text parsed back: (sample name, labels) -> value."""
    text = metrics.render().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: ServingMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset({**DEP, **labels}.items())))


@pytest.fixture()
async def routed() -> AsyncIterator[tuple[Router, FakeReplicas, ServingMetrics, Clock]]:
    metrics, replicas, clock = ServingMetrics(), FakeReplicas(), Clock()
    router = Router(
        deployment_id="d1",
        model_name="m",
        scaling=Scaling.model_validate({"max_replicas": 2}),
        transport=replicas.transport,
        clock=clock,
        metrics=metrics.deployment("m", "d1"),
    )
    yield router, replicas, metrics, clock
    await router.aclose()


async def test_predicts_are_counted_by_status_class_with_latency_and_queue_time(
    routed: tuple[Router, FakeReplicas, ServingMetrics, Clock],
) -> None:
    router, replicas, metrics, _clock = routed
    router.add_replica("a", "http://a.replica")
    router.add_replica("b", "http://b.replica")
    assert value(metrics, "plinth_requests_total", code="2xx") == 0  # present before traffic

    await router.forward(payload(1))
    await router.forward(payload(2))
    replicas.behaviour["a"] = "422"
    replicas.behaviour["b"] = "422"
    with pytest.raises(InvalidInput):
        await router.forward(payload(3))
    replicas.behaviour["a"] = replicas.behaviour["b"] = "500"
    with pytest.raises(ReplicaFailed):
        await router.forward(payload(4))

    assert value(metrics, "plinth_requests_total", code="2xx") == 2
    assert value(metrics, "plinth_requests_total", code="4xx") == 1
    assert value(metrics, "plinth_requests_total", code="5xx") == 1
    assert value(metrics, "plinth_request_duration_seconds_count") == 4
    assert value(metrics, "plinth_queue_wait_seconds_count") == 4
    assert value(metrics, "plinth_cold_start_requests_total") == 0


async def test_a_request_that_waited_for_a_start_is_a_cold_start_with_its_wait(
    routed: tuple[Router, FakeReplicas, ServingMetrics, Clock],
) -> None:
    router, _replicas, metrics, clock = routed
    waiting = asyncio.create_task(router.forward(payload("cold")))
    for _ in range(5):
        await asyncio.sleep(0)
    clock.advance(3.0)
    router.add_replica("a", "http://a.replica")
    answer = await waiting

    assert isinstance(answer, ColdStartAnswer)
    assert value(metrics, "plinth_cold_start_requests_total") == 1
    assert value(metrics, "plinth_cold_start_wait_seconds_sum") == pytest.approx(3.0)
    assert value(metrics, "plinth_cold_start_wait_seconds_bucket", le="2.0") == 0
    assert value(metrics, "plinth_cold_start_wait_seconds_bucket", le="5.0") == 1
    assert value(metrics, "plinth_queue_wait_seconds_sum") == pytest.approx(3.0)
    assert value(metrics, "plinth_request_duration_seconds_sum") == pytest.approx(3.0)


async def test_two_registries_do_not_share_series() -> None:
    first, second = ServingMetrics(), ServingMetrics()
    first.deployment("m", "d1").request_done(200, 0.1)
    assert value(first, "plinth_requests_total", code="2xx") == 1
    assert value(second, "plinth_requests_total", code="2xx") is None


async def test_controller_exposes_replicas_by_state_load_and_start_times() -> None:
    store, runtime, replicas, clock = FakeStore(), FakeRuntime(), FakeReplicas(), Clock()
    metrics = ServingMetrics()
    controller = Controller(
        store, runtime, clock=clock, transport=replicas.transport, metrics=metrics
    )
    try:
        store.desired = [spec(min_replicas=1)]
        controller.wake()
        await controller.reconcile_once()  # starts a replica
        assert value(metrics, "plinth_replicas", state="starting") == 1
        assert value(metrics, "plinth_replicas", state="ready") == 0
        clock.advance(2.0)
        await controller.reconcile_once()  # it answers its probe
        assert value(metrics, "plinth_replicas", state="ready") == 1
        assert value(metrics, "plinth_replicas", state="starting") == 0
        assert value(metrics, "plinth_replica_starts_total") == 1
        assert value(metrics, "plinth_replica_start_seconds_sum", phase="total") == 2.0
        assert value(metrics, "plinth_replica_start_seconds_sum", phase="weights") == 0.5

        replicas.hold = asyncio.Event()
        held = asyncio.create_task(controller.plane.predict("m", payload()))
        for _ in range(10):
            await asyncio.sleep(0)
        assert value(metrics, "plinth_requests_in_flight") == 1
        assert value(metrics, "plinth_requests_queued") == 0
        replicas.hold.set()
        await held
        assert value(metrics, "plinth_requests_in_flight") == 0
        assert value(metrics, "plinth_requests_total", code="2xx") == 1

        store.desired = []  # deleted: its replicas drain, then its series go
        controller.wake()
        await controller.reconcile_once()
        for _ in range(20):
            await asyncio.sleep(0)
        await controller.reconcile_once()
        assert value(metrics, "plinth_requests_total", code="2xx") is None
        assert value(metrics, "plinth_replicas", state="ready") is None
    finally:
        await controller.shutdown()
