"""Plinth's policy features and the three baselines' published rules, tick by tick."""

from __future__ import annotations

import itertools

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


def test_plinth_steps_down_one_replica_at_a_time_within_the_delay() -> None:
    # Delay 30 s, window 10 s; 40 req/s x 0.5 s x (1 + 10 / 20) / 2 = 15 replicas.
    sim = Sim(scaling(max_replicas=50), replicas=15, service_time_s=0.5, cold_start_s=10.0)
    assert sim.run(30, load=20.0, arrivals=40) == 15
    counts = [sim.run(1, load=0.5, arrivals=1) for _ in range(45)]
    assert counts[4] > 10  # a drop is not believed at once
    assert all(0 <= a - b <= 1 for a, b in itertools.pairwise(counts))
    assert counts[-1] == 1  # window (10 s) + delay (30 s) after the last need for 15: the need
    assert sum(counts) < 15 * 45 * 0.7  # far less than holding the peak for the whole delay


def test_plinth_keeps_min_and_max_while_stepping_down() -> None:
    sim = Sim(
        scaling(min_replicas=3, max_replicas=50), replicas=15, service_time_s=0.5, cold_start_s=10
    )
    sim.run(30, load=20.0, arrivals=40)
    counts = [sim.run(1, load=0.0) for _ in range(20)]
    assert min(counts) >= 3
    sim.scaling = scaling(min_replicas=3, max_replicas=4)
    assert sim.tick() == 4  # a lowered maximum applies at once, mid step-down
    assert sim.run(60) == 3  # never below the minimum, however long idle


def test_plinth_keeps_the_last_replica_when_its_history_says_a_request_is_near() -> None:
    regular = Sim(scaling(), replicas=1, cold_start_s=10.0, idle_gaps_s=(50.0,) * 10)
    regular.run(5, load=1.0, arrivals=1)
    assert regular.run(45, load=0.0) == 1  # idle 45 s > delay 30 s, but gaps end at 50 s
    assert regular.run(30, load=0.0) == 0  # unusually long: go to zero

    sparse = Sim(scaling(), replicas=1, cold_start_s=10.0, idle_gaps_s=(600.0,) * 10)
    sparse.run(5, load=1.0, arrivals=1)
    assert sparse.run(45, load=0.0) == 0  # long gaps: zero right after the delay


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
