"""The virtual-time simulator: the real controller and router under replayed traces."""

from __future__ import annotations

import asyncio
import itertools
import time

from plinth.types import Scaling
from serving.simulator import SimConfig, Trace, run_virtual, simulate
from serving.simulator.oracle import oracle_replica_seconds
from serving.simulator.traces import step_spike

SCALING = Scaling(
    min_replicas=0,
    max_replicas=8,
    concurrency_target=2,
    max_concurrency=4,
    scale_down_delay_s=30,
    autoscaling_window_s=10,
    max_queue=500,
)


def test_virtual_time_jumps_to_the_next_timer() -> None:
    async def sleepy() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600)
        async with asyncio.timeout(10):
            await asyncio.sleep(5)
        return loop.time()

    wall = time.monotonic()
    assert run_virtual(sleepy()) == 3605.0
    assert time.monotonic() - wall < 5  # an hour of virtual time, not of wall time


def burst_from_zero() -> Trace:
    arrivals = tuple(i * 0.05 for i in range(200))  # 20 req/s for 10 s, from zero replicas
    return Trace("burst", arrivals, (0.5,) * 200, "test")


def test_a_burst_from_zero_is_served_in_order_by_the_real_controller() -> None:
    result = simulate(burst_from_zero(), policy="plinth", scaling=SCALING, config=SimConfig())
    assert [o.status for o in result.outcomes] == ["served"] * 200
    assert result.limit_violations == 0  # the router never oversent a replica
    assert 1 < result.cold_starts <= SCALING.max_replicas
    assert max(p.replicas for p in result.timeline) <= SCALING.max_replicas
    # Equal service times and a FIFO queue: requests finish in the order they arrived.
    done = [o.arrival + o.latency_s for o in result.outcomes]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(done))


def test_simulation_is_deterministic() -> None:
    trace = burst_from_zero()
    a = simulate(trace, policy="knative_kpa", scaling=SCALING)
    b = simulate(trace, policy="knative_kpa", scaling=SCALING)
    assert [o.latency_s for o in a.outcomes] == [o.latency_s for o in b.outcomes]
    assert a.replica_seconds == b.replica_seconds


def test_queue_bound_rejects_when_nothing_can_serve_in_time() -> None:
    small = SCALING.merged(max_replicas=1, max_queue=5)
    result = simulate(burst_from_zero(), policy="plinth", scaling=small)
    statuses = {o.status for o in result.outcomes}
    assert statuses == {"served", "rejected"}


def test_oracle_pays_cold_starts_and_bridges_short_gaps() -> None:
    # Two one-second requests 5 s apart on one slot: cheaper to keep the replica (gap 4 s)
    # than to restart it (10 s).
    trace = Trace("two", (0.0, 5.0), (1.0, 1.0), "test")
    cost = oracle_replica_seconds(trace, max_concurrency=1, cold_start_s=10, max_replicas=4)
    assert cost == 10 + 2 + 4  # start once, serve two 1-s bins, keep it over the 4-s gap
    far = Trace("far", (0.0, 100.0), (1.0, 1.0), "test")
    # 99 s apart: stop and start again (10 + 1 + 10 + 1).
    assert oracle_replica_seconds(far, max_concurrency=1, cold_start_s=10, max_replicas=4) == 22


def test_synthetic_traces_are_seeded() -> None:
    assert step_spike(seed=7).arrivals == step_spike(seed=7).arrivals
    assert step_spike(seed=7).arrivals != step_spike(seed=8).arrivals
