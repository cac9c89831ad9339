"""The warm-pool analysis of `benchmarks.autoscaling.warm_pool` counts what it says it counts."""

from __future__ import annotations

from benchmarks.autoscaling.warm_pool import onset_misses, trade_off
from serving.simulator import Trace


def burst(at: float, n: int, service_s: float = 1.0) -> list[tuple[float, float]]:
    """`n` requests arriving together at `at`, each holding a slot for `service_s`."""
    return [(at, service_s)] * n


def trace_of(requests: list[tuple[float, float]]) -> Trace:
    requests = sorted(requests)
    return Trace("t", tuple(a for a, _ in requests), tuple(s for _, s in requests), "test")


def test_one_warm_replica_serves_its_slots_and_misses_what_waits_past_the_slack() -> None:
    # 12 one-second requests at once on one warm 4-slot replica: the first 4 start at once,
    # the next 4 after 1 s, the next 4 after 2 s (within the 2 s slack): no miss. With 16,
    # the last 4 would start after 3 s: 4 misses.
    assert onset_misses(trace_of(burst(100.0, 12)), 0, warm=1) == 0
    assert onset_misses(trace_of(burst(100.0, 16)), 0, warm=1) == 4
    # Two warm replicas take all 16 within the slack.
    assert onset_misses(trace_of(burst(100.0, 16)), 0, warm=2) == 0


def test_nothing_warm_misses_until_new_replicas_are_ready() -> None:
    # Cold start 10 s: requests in the first 8 s wait more than the slack, the later ones not.
    trace = trace_of([(100.0 + t, 0.5) for t in range(10)])
    assert onset_misses(trace, 0, warm=0) == 8


def test_a_longer_hold_costs_more_and_misses_no_more() -> None:
    # A burst, a 20 s pause, a burst a single warm replica cannot take.
    trace = trace_of(burst(0.0, 4) + burst(21.0, 16))
    rows = trade_off(trace, holds=(0.0, 30.0))
    (_, short_cost, short_misses), (_, long_cost, long_misses) = rows
    assert long_cost > short_cost
    # The first burst meets nothing warm (min_replicas 0): its 4 requests wait the cold start.
    assert long_misses == 4
    assert short_misses == 4 + 4  # and the second burst met one warm replica
