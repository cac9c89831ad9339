"""Plinth's policy features and the three baselines' published rules, tick by tick."""

from __future__ import annotations

import pytest

from serving.autoscaling import POLICY_NAMES, make_policy
from serving.autoscaling.policies import (
    K8sHpaPolicy,
    KnativeKpaPolicy,
    RayServePolicy,
)
from tests.unit.serving.test_autoscaler import Sim, scaling

# -- Plinth -----------------------------------------------------------------------------------


def test_plinth_sizes_from_arrival_rate_and_service_time() -> None:
    # 10 req/s x 0.5 s = 5 requests in service; target 2 per replica -> 3 replicas, although
    # the observed load (inflated by queueing) reads 12.
    sim = Sim(scaling(), replicas=1, service_time_s=0.5)
    assert sim.run(10, load=12.0, arrivals=10) == 3


def test_plinth_burst_does_not_ratchet_while_replicas_start() -> None:
    sim = Sim(scaling(max_replicas=50), replicas=1, ready=1, service_time_s=0.2, cold_start_s=10)
    sim.run(10, load=0.2, arrivals=1)
    # 100 req/s from now on; the new replicas stay STARTING and the queue grows by 20 a tick.
    targets = [
        sim.tick(load=60, in_flight=4, queued=min(256, 20 * i), arrivals=100) for i in range(20)
    ]
    assert targets[0] > 1  # the burst path reacts on its first tick
    assert 10 <= targets[-1] < 50  # 100 req/s x 0.2 s = 20 in service: at least 10 replicas
    # No running maximum: once the estimate has caught up it stays put while the queue waits.
    assert max(targets[-5:]) - min(targets[-5:]) <= 1
    sim.ready = sim.replicas
    steady = [sim.tick(load=20, in_flight=20, queued=0, arrivals=100) for _ in range(35)]
    # Served and steady: Little's law with cold-start headroom, 100 x 0.2 x (1 + 10/20) / 2.
    assert steady[-1] == 15 == max(targets)


def test_plinth_headroom_grows_with_the_cold_start_time() -> None:
    fast = Sim(scaling(max_replicas=50), replicas=1, service_time_s=1.0, cold_start_s=0.0)
    slow = Sim(scaling(max_replicas=50), replicas=1, service_time_s=1.0, cold_start_s=10.0)
    assert fast.run(10, load=10, arrivals=10) == 5
    assert slow.run(10, load=10, arrivals=10) == 8  # 10 x (1 + 10 / (10 + 10)) / 2 = 7.5


def test_plinth_does_not_overshoot_from_zero_before_a_service_time_is_measured() -> None:
    # 1 req/s arriving at zero replicas: the queue grows during the 10 s cold start, but it
    # measures the cold start, not the work. One replica, not one per two queued requests.
    sim = Sim(scaling(max_replicas=32), replicas=0, ready=0, cold_start_s=10.0)
    counts = [sim.tick(queued=i + 1, arrivals=1) for i in range(10)]
    assert counts == [1] * 10
    # A real burst from zero still asks for more than one replica at once (rate x prior).
    burst = Sim(scaling(max_replicas=32), replicas=0, ready=0, cold_start_s=10.0)
    assert burst.tick(queued=100, arrivals=100) > 10


def test_plinth_grows_from_the_first_step_once_the_service_time_is_measured() -> None:
    sim = Sim(scaling(max_replicas=32), replicas=0, ready=0, cold_start_s=10.0)
    for i in range(10):
        sim.tick(queued=10 * (i + 1), arrivals=10)
    first = sim.replicas
    sim.ready, sim.service_time_s = sim.replicas, 2.0  # served, measured: 10 x 2 s = 20 busy
    assert sim.run(5, load=20, arrivals=10) > first


def test_plinth_keeps_a_surplus_replica_most_of_a_cold_start_never_past_the_delay() -> None:
    # Delay 30 s, window 10 s; 40 req/s x 0.5 s x (1 + 10 / 20) / 2 = 15 replicas.
    sim = Sim(scaling(max_replicas=50), replicas=15, service_time_s=0.5, cold_start_s=10.0)
    assert sim.run(30, load=20.0, arrivals=40) == 15
    sim.run(11, load=0.5, arrivals=1)  # the window has forgotten the load: need 1
    # Each replica went 3/4 of a cold start (7.5 s) after the need last reached it, not earlier.
    assert sim.replicas > 1
    assert sim.run(8, load=0.5, arrivals=1) == 1
    # A cold start longer than the delay: the delay wins (the longest a replica is kept).
    slow = Sim(scaling(max_replicas=50), replicas=1, service_time_s=0.5, cold_start_s=100.0)
    slow.run(30, load=20.0, arrivals=40)
    peak = slow.replicas
    counts = [slow.run(1, load=0.5, arrivals=1) for _ in range(45)]
    assert counts[0] == peak
    assert counts[10 + 30] == 1  # window (10 s) + delay (30 s): every surplus replica gone


def test_plinth_keeps_min_and_max_while_stepping_down() -> None:
    sim = Sim(
        scaling(min_replicas=3, max_replicas=50), replicas=15, service_time_s=0.5, cold_start_s=10
    )
    sim.run(30, load=20.0, arrivals=40)
    counts = [sim.run(1, load=0.0) for _ in range(5)]
    assert min(counts) > 4  # still stepping down
    sim.scaling = scaling(min_replicas=3, max_replicas=4)
    assert sim.tick() == 4  # a lowered maximum applies at once, mid step-down
    assert sim.run(60) == 3  # never below the minimum, however long idle


def test_plinth_packs_replicas_only_when_measured_latency_allows() -> None:
    def replicas(unpacked: float | None, packed: float | None) -> int:
        sim = Sim(scaling(max_replicas=50), replicas=1, service_time_s=0.5)
        sim.unpacked_service_time_s, sim.packed_service_time_s = unpacked, packed
        return sim.run(10, load=25, arrivals=50)  # 50 req/s x 0.5 s = 25 in service

    assert replicas(None, None) == 13  # nothing measured: the soft target, 25 / 2
    assert replicas(0.5, 1.0) == 13  # packed replicas are twice as slow: the soft target
    # As fast when packed: max_concurrency 4 with square-root staffing, (25 + 0.5 x 5) / 4.
    assert replicas(0.5, 0.55) == 7


def test_plinth_sizes_a_new_burst_from_the_peaks_of_past_ones() -> None:
    sim = Sim(scaling(max_replicas=50), replicas=1, service_time_s=0.5, cold_start_s=10.0)
    first = []
    for _ in range(2):
        sim.run(60, load=0.2, arrivals=0)
        sim.run(2, load=0.2, arrivals=1)
        first.append(max(sim.run(1, load=10, arrivals=40) for _ in range(10)))
        sim.run(30, load=0.0)
    assert first[0] >= 10  # 40 req/s x 0.5 s at 2 per replica, plus the backlog
    sim.run(60, load=0.2, arrivals=0)
    sim.run(2, load=0.2, arrivals=1)
    # The third burst's first tick, at 8 req/s only (2 replicas' worth): sized at once for
    # the past bursts' rate, 40 req/s x 0.5 s at 2 per replica.
    assert sim.tick(load=1, arrivals=8) == 10
    # For one cold start only: then the measured load decides, 8 req/s x 0.5 s = 4 in service.
    assert sim.run(9, load=4, arrivals=8) == 10
    assert sim.run(2, load=4, arrivals=8) < 5
    # Outside a burst the memory asks for nothing.
    assert sim.run(40, load=0.0) <= 1


def test_plinth_keeps_the_smallest_burst_floor_through_short_pauses_only() -> None:
    sim = Sim(scaling(max_replicas=50), replicas=1, service_time_s=0.5, cold_start_s=10.0)
    for rate in (40, 24, 24):
        sim.run(60, load=0.2, arrivals=0)
        sim.run(2, load=0.2, arrivals=1)
        sim.run(10, load=rate / 4, arrivals=rate)
        sim.run(30, load=0.0)
    assert len(sim.state.burst_peaks) == 3
    # Pauses between this deployment's bursts: mostly 15 s, some 100 s (lower quartile 15 s).
    sim.idle_gaps_s = (15.0,) * 6 + (100.0,) * 2
    sim.run(10, load=6, arrivals=12)  # a smaller burst of the busy spell
    # The pause is shorter than the short pauses: the smallest burst's need stays warm,
    # well past rule 4's hold (7.5 s).
    held = sim.run(13, load=0.0)
    peaks = sim.state.burst_peaks
    assert len(peaks) == 4 and held == min(peaks) > 1 and held < max(peaks)
    # Longer than the short pauses: released (the last replica is rule 5's).
    assert sim.run(10, load=0.0) <= 1
    # Only long pauses (on/off traffic): the floor lasts three cold starts, not the pause.
    sim.idle_gaps_s = (600.0,) * 4
    sim.run(10, load=6, arrivals=12)
    assert sim.run(25, load=0.0) == min(sim.state.burst_peaks) > 1
    assert sim.run(15, load=0.0) <= 1  # 30 s, then rule 4's hold (7.5 s)


def test_plinth_keeps_the_last_replica_when_its_history_says_a_request_is_near() -> None:
    regular = Sim(scaling(), replicas=1, cold_start_s=10.0, idle_gaps_s=(50.0,) * 10)
    regular.run(5, load=1.0, arrivals=1)
    assert regular.run(45, load=0.0) == 1  # idle 45 s > delay 30 s, but gaps end at 50 s
    assert regular.run(30, load=0.0) == 0  # unusually long: go to zero

    sparse = Sim(scaling(), replicas=1, cold_start_s=10.0, idle_gaps_s=(600.0,) * 10)
    sparse.run(5, load=1.0, arrivals=1)
    # Every past gap this long outlasted the delay: zero once the window (10 s) has emptied
    # and a cold start has passed, without waiting for the delay (30 s).
    counts = [sparse.run(1, load=0.0) for _ in range(45)]
    assert counts.index(0) < 30


def test_plinth_prewarms_before_a_recurring_idle_gap_ends() -> None:
    # One earlier gap of 600 s (on/off traffic): at zero, a replica is started 1.5 cold starts
    # before the gap's usual end, and dropped again once the longest gap has passed.
    sim = Sim(scaling(), replicas=1, cold_start_s=10.0, idle_gaps_s=(1.0, 1.5, 600.0))
    sim.run(5, load=1.0, arrivals=1)  # last request at t=5
    counts = [sim.run(1, load=0.0) for _ in range(620)]  # counts[i]: idle i + 1 s
    assert counts[100] == 0  # gone long before the gap usually ends
    assert counts[583] == 0 and counts[586] == 1  # started 15 s before 600 s of idle
    assert counts[599] == 1
    assert counts[602] == 0  # the request is late: not kept past the longest gap
    never = Sim(scaling(), replicas=1, cold_start_s=10.0, idle_gaps_s=(1.0, 1.5))
    never.run(5, load=1.0, arrivals=1)
    assert [never.run(1, load=0.0) for _ in range(620)][40:].count(1) == 0  # no long gap


# -- baselines --------------------------------------------------------------------------------


def test_ray_serve_starts_one_replica_from_zero_then_waits_the_upscale_delay() -> None:
    sim = Sim(scaling(max_replicas=20), replicas=0, policy=RayServePolicy(), tick_s=0.5)
    assert sim.tick(load=20, queued=20) == 1  # 1-replica cold start, whatever the load
    sim.ready = None
    assert sim.run(20, load=20.0) == 1  # 10 x target, but upscale_delay_s is 30 s
    assert sim.run(11, load=20.0) == 10
    assert sim.run(500, load=2.0) == 10  # downscale_delay_s is 600 s
    assert sim.run(110, load=2.0) == 1


def test_knative_panics_at_twice_the_target_and_never_scales_down_in_panic() -> None:
    sim = Sim(scaling(max_replicas=100), replicas=2, policy=KnativeKpaPolicy(), tick_s=2.0)
    sim.run(60, load=2.0)  # 1 per pod; target 2 x 0.7 = 1.4 -> 2 pods
    assert sim.replicas == 2
    up = sim.tick(load=40.0)  # the 6 s panic window averages 14.7 over 2 pods: panic
    assert up == 11
    assert sim.run(10, load=2.0) == up  # in panic: no scale-down
    sim.run(60, load=2.0)  # panic over (60 s under the threshold); stable window decays
    down = sim.run(60, load=2.0)
    assert down == 2


def test_knative_scales_down_at_most_by_half_per_decision() -> None:
    sim = Sim(scaling(max_replicas=100), replicas=40, policy=KnativeKpaPolicy(), tick_s=2.0)
    assert sim.tick(load=0.5) == 20
    assert sim.tick(load=0.5) == 10


def test_knative_scales_to_zero_after_the_stable_window_and_grace_period() -> None:
    sim = Sim(scaling(), replicas=1, policy=KnativeKpaPolicy(), tick_s=2.0)
    sim.run(10, load=1.0)
    assert sim.run(60, load=0.0) == 1  # the 60 s stable window still holds load
    assert sim.run(26, load=0.0) == 1  # grace period 30 s after the window read 0
    assert sim.run(6, load=0.0) == 0


def test_hpa_tolerance_rate_limit_and_stabilisation() -> None:
    sim = Sim(scaling(max_replicas=64), replicas=2, policy=K8sHpaPolicy(), tick_s=15.0)
    assert sim.tick(load=4.3) == 2  # 1.075 x target: inside the 0.1 tolerance
    assert sim.tick(load=40.0) == 6  # wants 20; max(100 %, 4 pods) per 15 s from 2
    assert sim.tick(load=40.0) == 12
    assert sim.tick(load=40.0) == 20
    assert sim.run(285, load=2.0) == 20  # 300 s scale-down stabilisation
    assert sim.tick(load=2.0) == 1


def test_hpa_never_goes_below_one_replica() -> None:
    sim = Sim(scaling(min_replicas=0), replicas=1, policy=K8sHpaPolicy())
    assert sim.run(900, load=0.0) == 1


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_honours_min_and_max(name: str) -> None:
    sim = Sim(scaling(min_replicas=2, max_replicas=3), replicas=2, policy=make_policy(name))
    assert sim.run(60, load=100.0, arrivals=100) <= 3
    assert sim.replicas == 3
    assert sim.run(1200, load=0.0) == 2


def test_unknown_policy_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="plinth"):
        make_policy("nope")
