"""Router: concurrency limit, FIFO queue, 429 + Retry-After, cancellation, retries, cold start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from plinth.types import Scaling
from serving.errors import InvalidInput, QueueFull, ReplicaFailed, RequestTimeout
from serving.router import ColdStartAnswer, Router, RouterClosed
from tests.unit.serving.fakes import Clock, FakeReplicas, payload

RouterFactory = Callable[..., Router]


@pytest.fixture()
def replicas() -> FakeReplicas:
    return FakeReplicas()


@pytest.fixture()
async def make_router(replicas: FakeReplicas) -> AsyncIterator[RouterFactory]:
    made: list[Router] = []

    def make(*ids: str, clock: Callable[[], float] | None = None, **scaling: float) -> Router:
        router = Router(
            deployment_id="d1",
            model_name="m",
            scaling=Scaling.model_validate({"max_replicas": 4, **scaling}),
            transport=replicas.transport,
            clock=clock or Clock(),
        )
        for rid in ids:
            router.add_replica(rid, f"http://{rid}.replica")
        made.append(router)
        return router

    yield make
    for router in made:
        await router.aclose()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_never_exceeds_max_concurrency_under_50_concurrent_requests(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    replicas.delay_s = 0.01
    router = make_router("a", "b", "c", max_concurrency=2, concurrency_target=1, max_queue=100)

    answers = await asyncio.gather(*(router.forward(payload(i)) for i in range(50)))

    assert sorted(json.loads(a)["echo"]["id"] for a in answers) == list(range(50))
    assert max(replicas.max_in_flight.values()) == 2
    assert set(replicas.served) == {"a", "b", "c"}  # least outstanding spreads the load
    assert router.in_flight == 0 and router.queued == 0


async def test_body_and_answer_pass_through_unchanged(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router("a")
    body = b'{"inputs": ["x", "y"], "parameters": {"top_k": 1}, "id": 7}'
    answer = json.loads(await router.forward(body))
    assert answer == {"replica": "a", "echo": json.loads(body)}


async def test_queue_is_first_in_first_out(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    replicas.hold = asyncio.Event()
    router = make_router("a", max_concurrency=1, concurrency_target=1, max_queue=10)
    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(router.forward(payload(i))))
        await settle()
    assert router.in_flight == 1 and router.queued == 5

    replicas.hold.set()
    await asyncio.gather(*tasks)

    assert replicas.entered == [0, 1, 2, 3, 4, 5]


async def test_queue_full_says_which_bound_to_raise_once_at_max_replicas(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    replicas.hold = asyncio.Event()
    # One of at most two replicas ready: the autoscaler can still add one, so no advice.
    router = make_router("a", max_replicas=2, max_concurrency=1, concurrency_target=1, max_queue=1)
    held = [asyncio.create_task(router.forward(payload(i))) for i in range(2)]
    await settle()
    with pytest.raises(QueueFull) as scaling:
        await router.forward(payload(99))
    assert "maximum" not in scaling.value.message
    # At the maximum: the error names the knobs that add capacity.
    router.add_replica("b", "http://b.replica")
    held.append(asyncio.create_task(router.forward(payload(2))))  # b took the queued one
    await settle()
    with pytest.raises(QueueFull) as at_max:
        await router.forward(payload(99))
    assert "maximum of 2 replicas" in at_max.value.message
    assert "plinth scale m --max N" in at_max.value.message
    replicas.hold.set()
    await asyncio.gather(*held)


async def test_queue_full_answers_429_with_retry_after_from_drain_rate(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    clock = Clock()
    router = make_router("a", clock=clock, max_concurrency=1, concurrency_target=1, max_queue=2)
    # No history yet: a sensible fallback.
    replicas.hold = asyncio.Event()
    first = [asyncio.create_task(router.forward(payload(i))) for i in range(3)]
    await settle()
    with pytest.raises(QueueFull) as no_history:
        await router.forward(payload(99))
    assert no_history.value.status == 429
    assert no_history.value.headers["Retry-After"] == "1"
    replicas.hold.set()
    await asyncio.gather(*first)

    # History: 4 completions over 8 s -> 0.5 completions/s; 2 queued -> 4 s to drain.
    replicas.hold = asyncio.Event()
    clock.now += 100
    for i in range(4):
        replicas.hold.set()
        await router.forward(payload(i))
        clock.advance(2)
    replicas.hold = asyncio.Event()
    blocked = [asyncio.create_task(router.forward(payload(i))) for i in range(3)]
    await settle()
    assert router.queued == 2
    with pytest.raises(QueueFull) as slow:
        await router.forward(payload(99))
    assert slow.value.headers["Retry-After"] == "4"
    assert slow.value.retry_after_s == 4

    # The estimate follows the queue length: a larger queue waits longer.
    router.max_queue = 3
    blocked.append(asyncio.create_task(router.forward(payload(5))))
    await settle()
    with pytest.raises(QueueFull) as longer:
        await router.forward(payload(99))
    assert longer.value.headers["Retry-After"] == "6"
    replicas.hold.set()
    await asyncio.gather(*blocked)


async def test_cancellation_frees_the_slot_and_the_queue_place(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    replicas.hold = asyncio.Event()
    router = make_router("a", max_concurrency=1, concurrency_target=1, max_queue=1)
    running = asyncio.create_task(router.forward(payload("running")))
    await settle()
    queued = asyncio.create_task(router.forward(payload("queued")))
    await settle()
    assert (router.in_flight, router.queued) == (1, 1)

    queued.cancel()  # client disconnect while waiting: the queue place is freed
    await settle()
    assert router.queued == 0
    later = asyncio.create_task(router.forward(payload("later")))
    await settle()
    assert router.queued == 1  # no QueueFull: the place was really given back

    running.cancel()  # client disconnect mid-request: the slot goes to the next in line
    await settle()
    assert router.in_flight == 1 and router.queued == 0
    replicas.hold.set()
    assert json.loads(await later)["echo"]["id"] == "later"
    assert router.in_flight == 0
    assert replicas.entered == ["running", "later"]


async def test_timeout_while_queued_raises_and_leaves_the_queue(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    replicas.hold = asyncio.Event()
    router = make_router("a", max_concurrency=1, concurrency_target=1, max_queue=5)
    running = asyncio.create_task(router.forward(payload(0)))
    await settle()
    with pytest.raises(RequestTimeout) as err:
        await router.forward(payload(1), timeout_s=0.05)
    assert err.value.status == 504
    assert router.queued == 0
    replicas.hold.set()
    await running


async def test_connection_error_retries_on_another_replica_and_reports_suspect(
    replicas: FakeReplicas,
) -> None:
    suspects: list[str] = []
    router = Router(
        deployment_id="d1",
        model_name="m",
        scaling=Scaling(max_replicas=2),
        transport=replicas.transport,
        on_suspect=suspects.append,
    )
    router.add_replica("dead", "http://dead.replica")
    router.add_replica("live", "http://live.replica")
    replicas.behaviour["dead"] = "connect_error"
    try:
        answers = [json.loads(await router.forward(payload(i))) for i in range(4)]
        assert {a["replica"] for a in answers} == {"live"}
        assert "dead" in suspects
        assert router.in_flight == 0

        router.remove_replica("live")
        # The dead replica left the ready set at its first failure: with no replica ready the
        # request waits for a replacement instead of failing.
        waiting = asyncio.create_task(router.forward(payload(9)))
        await settle()
        assert router.queued == 1 and not waiting.done()
        router.add_replica("fresh", "http://fresh.replica")
        assert json.loads(await waiting)["replica"] == "fresh"
    finally:
        await router.aclose()


async def test_replica_dying_mid_request_retries_idempotent_on_its_replacement(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    suspects: list[str] = []
    router = make_router("a")
    router._on_suspect = suspects.append
    replicas.behaviour["a"] = "die"
    waiting = asyncio.create_task(router.forward(payload("x"), timeout_s=5))
    await settle()
    assert suspects == ["a"] and router.ready_replicas == [] and not waiting.done()
    router.add_replica("b", "http://b.replica")  # the controller's replacement
    answer = json.loads(await waiting)
    assert answer["replica"] == "b" and answer["echo"]["id"] == "x"
    assert router.in_flight == 0 and router.queued == 0


async def test_non_idempotent_request_is_not_retried_after_a_mid_request_death(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router("a", "b")
    replicas.behaviour["a"] = replicas.behaviour["b"] = "die"
    with pytest.raises(ReplicaFailed, match="not idempotent"):
        await router.forward(payload(), idempotent=False)
    assert len(replicas.entered) == 1 and router.in_flight == 0


async def test_connection_refused_is_retried_even_when_not_idempotent(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router("a", "b")
    replicas.behaviour["a"] = "connect_error"
    answers = {
        json.loads(await router.forward(payload(i), idempotent=False))["replica"] for i in range(3)
    }
    assert answers == {"b"}


async def test_waiting_for_a_replacement_is_bounded_by_the_request_timeout(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router("a")
    replicas.behaviour["a"] = "connect_error"
    with pytest.raises(RequestTimeout):
        await router.forward(payload(), timeout_s=0.2)
    assert router.queued == 0 and router.in_flight == 0


async def test_replica_429_retries_once_elsewhere(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router("busy", "free")
    replicas.behaviour["busy"] = "429"
    answers = [json.loads(await router.forward(payload(i))) for i in range(3)]
    assert {a["replica"] for a in answers} == {"free"}

    replicas.behaviour["free"] = "429"
    with pytest.raises(ReplicaFailed, match="overloaded"):
        await router.forward(payload(9))


async def test_replica_422_is_invalid_input_with_the_replica_error(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router("a")
    replicas.behaviour["a"] = "422"
    with pytest.raises(InvalidInput) as err:
        await router.forward(payload())
    assert err.value.status == 422 and err.value.field == "inputs"
    assert err.value.body() == {
        "error": {"type": "invalid_input", "message": "inputs must be text", "field": "inputs"}
    }
    assert router.in_flight == 0


async def test_replica_500_is_replica_failed_with_its_message(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router("a", "b")
    replicas.behaviour["a"] = replicas.behaviour["b"] = "500"
    with pytest.raises(ReplicaFailed, match="CUDA fell over"):
        await router.forward(payload())
    assert sum(replicas.in_flight.values()) == 0 and len(replicas.entered) == 1  # no retry


async def test_request_at_zero_replicas_signals_demand_and_waits_for_a_replica(
    replicas: FakeReplicas,
) -> None:
    demand: list[int] = []
    router = Router(
        deployment_id="d1",
        model_name="m",
        scaling=Scaling(),
        transport=replicas.transport,
        on_demand=lambda: demand.append(1),
    )
    try:
        waiting = asyncio.create_task(router.forward(payload("cold")))
        await settle()
        assert demand and router.queued == 1
        router.add_replica("a", "http://a.replica")
        assert json.loads(await waiting)["replica"] == "a"
    finally:
        await router.aclose()


async def test_only_a_request_that_waited_for_a_start_carries_its_wait(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    clock = Clock()
    router = make_router(clock=clock, max_concurrency=1, concurrency_target=1, max_queue=10)
    replicas.hold = asyncio.Event()
    cold = asyncio.create_task(router.forward(payload("cold")))
    await settle()
    clock.advance(0.35)  # the replica takes 350 ms to start
    router.add_replica("a", "http://a.replica")
    await settle()
    queued = asyncio.create_task(router.forward(payload("queued")))  # a replica is ready: busy
    await settle()
    clock.advance(2)
    replicas.hold.set()

    cold_answer, queued_answer = await asyncio.gather(cold, queued)
    warm_answer = await router.forward(payload("warm"))

    assert isinstance(cold_answer, ColdStartAnswer)
    assert cold_answer.cold_start_s == pytest.approx(0.35)
    assert json.loads(cold_answer)["echo"]["id"] == "cold"
    # Waiting for a busy slot is not a cold start; neither is being served at once.
    assert type(queued_answer) is bytes and type(warm_answer) is bytes


async def test_waiting_for_a_replacement_after_a_failure_counts_as_a_cold_start(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    clock = Clock()
    router = make_router("a", clock=clock)
    replicas.behaviour["a"] = "die"
    waiting = asyncio.create_task(router.forward(payload("x"), timeout_s=5))
    await settle()
    clock.advance(0.2)
    router.add_replica("b", "http://b.replica")

    answer = await waiting

    assert isinstance(answer, ColdStartAnswer) and answer.cold_start_s == pytest.approx(0.2)


async def test_close_hands_waiters_back_for_rerouting(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router()
    waiting = asyncio.create_task(router.forward(payload()))
    await settle()
    router.close()
    with pytest.raises(RouterClosed):
        await waiting
    with pytest.raises(RouterClosed):
        await router.forward(payload())


async def test_lower_max_concurrency_applies_live(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    replicas.hold = asyncio.Event()
    router = make_router("a", max_concurrency=4, concurrency_target=1, max_queue=10)
    router.update_scaling(Scaling(max_replicas=4, max_concurrency=1, concurrency_target=1))
    tasks = [asyncio.create_task(router.forward(payload(i))) for i in range(3)]
    await settle()
    assert (router.in_flight, router.queued) == (1, 2)
    replicas.hold.set()
    await asyncio.gather(*tasks)
    assert replicas.max_in_flight["a"] == 1


async def test_sample_is_the_time_weighted_mean_load(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    clock = Clock()
    router = make_router("a", clock=clock, max_concurrency=1, concurrency_target=1)
    router.sample()
    replicas.hold = asyncio.Event()
    clock.advance(5)  # 5 s idle
    tasks = [asyncio.create_task(router.forward(payload(i))) for i in range(3)]
    await settle()
    clock.advance(5)  # 5 s with 1 in flight + 2 queued
    sample = router.sample()
    assert sample.mean_load == pytest.approx(1.5)
    assert (sample.in_flight, sample.queued, sample.arrivals) == (1, 2, 3)
    assert sample.last_request_at == clock.now - 5
    replicas.hold.set()
    await asyncio.gather(*tasks)


async def test_a_waiter_cancelled_right_after_being_handed_a_slot_gives_it_back(
    make_router: RouterFactory, replicas: FakeReplicas
) -> None:
    router = make_router(max_concurrency=1, concurrency_target=1)
    waiting = asyncio.create_task(router.forward(payload("gone")))
    await settle()
    router.add_replica("a", "http://a.replica")  # hands the slot to the waiter synchronously...
    assert router.in_flight == 1
    waiting.cancel()  # ...which disconnects before it could use it
    await settle()
    assert router.in_flight == 0 and router.queued == 0
    assert json.loads(await router.forward(payload("next")))["echo"]["id"] == "next"
    assert replicas.entered == ["next"]
