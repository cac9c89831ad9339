"""Autoscaling policies on a virtual clock, fed tick by tick as the controller feeds them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from plinth.types import Scaling
from serving.autoscaling import AutoscaleContext, LoadSample
from serving.autoscaling.policies import PlinthPolicy
from serving.autoscaling.policy import Policy


@dataclass
class Sim:
    """Feeds a policy like the controller does: one load sample and one decision per tick.

    Replicas start instantly unless `cold_start_s` is set (then `ready` lags `replicas`).
    """

    scaling: Scaling
    replicas: int = 0
    now: float = 0.0
    tick_s: float = 1.0
    samples: list[LoadSample] = field(default_factory=list)
    last_request_at: float | None = None
    since: float = 0.0
    policy: Policy = field(default_factory=PlinthPolicy)
    state: Any = None
    service_time_s: float | None = None
    cold_start_s: float | None = None
    idle_gaps_s: tuple[float, ...] = ()
    ready: int | None = None
    unpacked_service_time_s: float | None = None
    packed_service_time_s: float | None = None

    def tick(
        self,
        load: float = 0.0,
        *,
        in_flight: int = 0,
        queued: int = 0,
        arrivals: int = 0,
    ) -> int:
        self.now += self.tick_s
        if load > 0 or queued > 0 or arrivals > 0:
            self.last_request_at = self.now
        self.samples.append(LoadSample(self.now, load, self.tick_s, arrivals, arrivals))
        ctx = AutoscaleContext(
            now=self.now,
            scaling=self.scaling,
            current_replicas=self.replicas,
            ready_replicas=self.ready,
            in_flight=in_flight,
            queued=queued,
            load_samples=tuple(self.samples),
            history_since=self.since,
            last_request_at=self.last_request_at,
            service_time_s=self.service_time_s,
            unpacked_service_time_s=self.unpacked_service_time_s,
            packed_service_time_s=self.packed_service_time_s,
            cold_start_s=self.cold_start_s,
            idle_gaps_s=self.idle_gaps_s,
        )
        if self.state is None:
            self.state = self.policy.initial_state()
        self.replicas, self.state = self.policy.decide(ctx, self.state)
        return self.replicas

    def run(self, seconds: float, load: float = 0.0, arrivals: int = 0) -> int:
        for _ in range(round(seconds / self.tick_s)):
            self.tick(load, arrivals=arrivals)
        return self.replicas


def scaling(**kw: float) -> Scaling:
    base: dict[str, float] = {
        "min_replicas": 0,
        "max_replicas": 10,
        "concurrency_target": 2,
        "max_concurrency": 4,
        "scale_down_delay_s": 30,
        "autoscaling_window_s": 10,
    }
    return Scaling.model_validate({**base, **kw})


def test_scales_up_with_the_window_average_load() -> None:
    sim = Sim(scaling(), replicas=1, last_request_at=0.0)
    sim.run(10, load=7.0)  # 7 in flight on average, target 2 per replica
    assert sim.replicas == 4


def test_queued_requests_scale_up_at_once_before_the_average_catches_up() -> None:
    sim = Sim(scaling(), replicas=1)
    sim.run(9, load=1.0)
    assert sim.replicas == 1
    # A burst: 4 in flight on the single replica and 6 queued, on one tick only.
    assert sim.tick(load=1.0, in_flight=4, queued=6) == 5


def test_demand_at_zero_starts_at_least_one_replica() -> None:
    sim = Sim(scaling())
    assert sim.tick(in_flight=0, queued=1) == 1


def test_steps_down_gradually_and_reaches_the_need_after_the_delay() -> None:
    sim = Sim(scaling(min_replicas=1), replicas=1, cold_start_s=10.0)
    sim.run(20, load=8.0)
    assert sim.replicas == 6  # 8 / 2 x (1 + 10 / 20) cold-start headroom
    counts = [sim.run(1, load=2.0) for _ in range(45)]  # the window average needs 2 replicas
    assert counts[4] == 6  # a brief lull removes nothing: a replica is kept one cold start
    assert all(b <= a for a, b in itertools.pairwise(counts))  # never back up
    assert len(set(counts)) > 2  # gradually, as the window forgets the load
    assert counts[-1] == 2  # at the need long before the delay (30 s) has passed
    assert counts.index(2) <= 10 + 10  # the window (10 s) plus one cold start (10 s)


def test_a_short_burst_inside_the_delay_restarts_the_step_down() -> None:
    sim = Sim(scaling(min_replicas=1), replicas=4, cold_start_s=10.0)
    sim.run(20, load=8.0)
    assert sim.replicas == 6
    sim.run(25, load=2.0)
    assert sim.replicas == 2  # window (10 s) + one cold start (10 s) after the need for 6
    sim.run(3, load=16.0)  # a burst that needs 5 replicas again
    assert sim.replicas == 5
    counts = [sim.run(1, load=2.0) for _ in range(30)]
    assert counts[9] == 5  # its replicas are kept for one cold start after the need for 5
    assert counts[-1] == 2


def test_scales_to_zero_only_after_the_delay_without_requests() -> None:
    sim = Sim(scaling(), replicas=1)
    sim.run(5, load=1.0)  # the last request at t=5
    sim.run(29, load=0.0)
    assert sim.replicas == 1  # t=34
    assert sim.tick() == 0  # t=35: idle for the delay (30 s)


def test_never_below_min_replicas_even_when_idle() -> None:
    sim = Sim(scaling(min_replicas=2), replicas=2)
    assert sim.run(600, load=0.0) == 2


def test_clamps_to_max_replicas() -> None:
    sim = Sim(scaling(max_replicas=3), replicas=1)
    assert sim.tick(load=100.0, in_flight=4, queued=50) == 3


def test_after_a_restart_the_replicas_found_are_kept_for_the_delay() -> None:
    sim = Sim(scaling(), replicas=3, now=100.0, since=100.0)  # e.g. the controller restarted
    assert sim.run(5, load=0.0) == 3  # no history: nothing is removed at once
    assert sim.run(25, load=0.0) == 3  # nothing says what they were for: the whole delay
    assert sim.tick() == 0  # the whole delay without need: gone


def test_changed_config_applies_at_once() -> None:
    sim = Sim(scaling(min_replicas=1), replicas=1)
    sim.run(5, load=2.0)
    sim.scaling = scaling(min_replicas=3)
    assert sim.tick(load=2.0) == 3  # raised minimum: up immediately
    sim.scaling = scaling(min_replicas=2, max_replicas=2)
    assert sim.tick(load=2.0) == 2  # lowered maximum: down immediately, no delay
    sim.scaling = scaling(concurrency_target=1, max_replicas=10)
    sim.run(10, load=6.0)
    assert sim.replicas == 6  # a smaller target per replica asks for more replicas


def test_no_float_noise_in_the_target() -> None:
    ctx = AutoscaleContext(
        now=10.0,
        scaling=scaling(concurrency_target=0.1, max_concurrency=1),
        current_replicas=3,
        load_samples=(LoadSample(10.0, 0.3, 10.0),),
    )
    assert PlinthPolicy().raw_target(ctx) == 3  # 0.3 / 0.1 is 2.9999999999999996 in floats


def test_tracker_splits_the_service_time_by_how_full_the_replicas_were() -> None:
    from serving.autoscaling import DeploymentAutoscaler
    from serving.router import RouterSample

    tracker = DeploymentAutoscaler(PlinthPolicy(), since=0.0)
    arrivals = completions = 0
    busy = 0.0
    for t in range(1, 121):
        full = t > 60  # first a minute at 1 request per replica, then 3 (target: 2)
        arrivals += 2
        completions += 2
        busy += 2 * (0.9 if full else 0.5)
        sample = RouterSample(
            at=float(t),
            mean_load=6.0 if full else 2.0,
            in_flight=0,
            queued=0,
            ready_replicas=2,
            arrivals=arrivals,
            completions=completions,
            last_request_at=float(t),
            busy_s=busy,
        )
        tracker.observe(sample, float(t))
        if t == 60:
            # Nothing measured above the target yet: no estimate for packed replicas.
            assert tracker.service_time_by_fill(2.0) == (0.5, None)
    unpacked, packed = tracker.service_time_by_fill(2.0)
    assert unpacked == 0.5 and packed is not None and abs(packed - 0.9) < 1e-9
    ctx = tracker.context(120.0, scaling(), current=2, ready=2)
    assert (ctx.unpacked_service_time_s, ctx.packed_service_time_s) == (unpacked, packed)
    assert not PlinthPolicy().packing(ctx)  # 80 % slower when packed: keep the soft target
