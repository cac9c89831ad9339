"""Plinth's default autoscaling policy: Little's-law sizing, a burst path, cold-start headroom.

Contract: `PlinthPolicy().decide(ctx, state)` is pure (see `serving.autoscaling.policy`). It
honours the Scaling as documented: `autoscaling_window_s` is the window the arrival rate (or,
before any service time is measured, the load) is averaged over; no replica is removed until the
need has stayed below the current count for `scale_down_delay_s`; min/max always win.

The rules, and why each beats the anchors:

1. Size from the work, not from the queue. Required concurrency is `arrival rate x service
   time` (Little's law) with the service time the router measured (slot-seconds per completed
   request). Ray Serve, Knative and HPA size from observed concurrency, which during overload
   includes queueing delay and so over-provisions right after a burst, then lags it down.
   Until a service time is measured, the time-weighted load stands in (the old behaviour).
2. Burst fast path: the same sizing over the last `burst_window_s` (2 s) when its arrivals are
   more than Poisson noise around the window's rate explains (> mean + 3 sigma + 2), plus the
   backlog drained within one cold start (`queued x service / cold start`). It is an absolute target
   computed from current measurements, never a running maximum like Knative's `maxPanicPods`:
   requests queued during a cold start do not ask for ever more replicas because replicas that
   are starting already count, and the backlog term shrinks as the queue drains.
3. Headroom proportional to the measured cold-start time C: the sized concurrency is multiplied
   by `1 + C / (C + window)`. Capacity that takes long to arrive must be bought earlier; with
   instant starts there is no headroom at all.
4. Scale down to the largest raw target of the last `scale_down_delay_s` (a brief lull never
   removes replicas the last minutes needed), never before the history covers the delay.
5. Scale to zero when nothing arrived for `scale_down_delay_s`, unless the deployment's own
   idle-gap history says the next request is probably close: of the past gaps at least as long
   as the current one, if most ended within two cold starts of this length, the replica stays
   (one cold start would cost more than keeping it). Gaps seen to be long go to zero on time,
   and when such long gaps recur, one replica is started a cold start before they usually end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from serving.autoscaling.context import (
    AutoscaleContext,
    arrival_rate,
    clamp,
    fround,
    window_load,
)


@dataclass(frozen=True)
class PlinthState:
    targets: tuple[tuple[float, int], ...] = ()  # raw targets (rules 1-3) within the delay


@dataclass(frozen=True)
class PlinthPolicy:
    burst_window_s: float = 2.0
    burst_sigmas: float = 3.0
    min_gaps_for_history: int = 5  # fewer past idle gaps: rule 5 just waits the delay
    min_long_gaps: int = 2  # gaps past the delay needed before pre-warming for the next one
    imminent_fraction: float = 0.5

    @property
    def name(self) -> str:
        return "plinth"

    def initial_state(self) -> PlinthState:
        return PlinthState()

    def raw_target(self, ctx: AutoscaleContext) -> int:
        """Replicas the load asks for now (rules 1-3), before the delay and the clamps."""
        s = ctx.scaling
        per_replica = s.concurrency_target
        window = s.autoscaling_window_s
        service = ctx.service_time_s
        cold = ctx.cold_start_s or 0.0
        now_load = ctx.in_flight + ctx.queued
        headroom = 1 + cold / (cold + window)
        if service is None or service <= 0:
            stable = window_load(ctx, window)
            burst = float(now_load) if ctx.queued > 0 else 0.0
            replicas = max(stable * headroom, burst) / per_replica
        else:
            rate = arrival_rate(ctx, window)
            burst = self._burst(ctx, rate, service, cold)
            replicas = max(rate * service * headroom / per_replica, burst)
        target = math.ceil(fround(replicas))
        if ctx.queued > 0:
            target = max(target, 1)
        return target

    def _burst(self, ctx: AutoscaleContext, rate: float, service: float, cold: float) -> float:
        """Rule 2: replicas a burst needs, counting only what new replicas can still serve.

        The burst's arrival rate is sized at the target like any load; the backlog left for new
        replicas may use every slot (`max_concurrency`): it is drained once, not sustained.
        """
        horizon = max(cold, self.burst_window_s)
        recent = arrival_rate(ctx, min(horizon, ctx.scaling.autoscaling_window_s))
        seen, expected = recent * horizon, rate * horizon
        # Only arrivals that Poisson noise around the window's rate cannot explain (about
        # 3 sigma) are a burst: noise held for the scale-down delay would keep idle replicas.
        if seen <= expected + self.burst_sigmas * math.sqrt(expected) + 2:
            recent = rate
        # Work still waiting when a replica started now is ready: the backlog plus what
        # arrives meanwhile, less what the current replicas serve with every slot busy. A burst
        # the ready replicas absorb before then needs no new replica.
        # Starting replicas count: they serve before one started now could.
        throughput = ctx.current_replicas * ctx.scaling.max_concurrency / service
        left = ctx.queued + (recent - throughput) * cold
        s = ctx.scaling
        backlog = max(0.0, left) * service / max(cold, service)
        return recent * service / s.concurrency_target + backlog / s.max_concurrency

    def decide(self, ctx: AutoscaleContext, state: PlinthState) -> tuple[int, PlinthState]:
        s = ctx.scaling
        raw = self.raw_target(ctx)
        horizon = ctx.now - s.scale_down_delay_s
        targets = (*(t for t in state.targets if t[0] >= horizon), (ctx.now, raw))
        current = ctx.current_replicas
        target = raw
        if target < current:
            if ctx.history_s < s.scale_down_delay_s:
                target = current  # not enough history to know the load stayed low
            else:
                target = min(current, max(r for _, r in targets))
        if target == 0 and current > 0 and self._keep_one(ctx):
            target = 1
        if target == 0 and current == 0 and self._prewarm(ctx):
            target = 1
        return clamp(ctx, target), PlinthState(targets)

    def _prewarm(self, ctx: AutoscaleContext) -> bool:
        """Rule 5, other half: at zero, start one replica a cold start before the idle gaps
        long enough to have reached zero usually end (their lower quartile), and not after the
        longest of them: a regular on/off pattern then meets a warm replica."""
        last = ctx.last_request_at
        long = sorted(g for g in ctx.idle_gaps_s if g >= ctx.scaling.scale_down_delay_s)
        if last is None or len(long) < self.min_long_gaps:
            return False
        idle = ctx.now - last
        expected = long[len(long) // 4]
        return expected - 1.5 * (ctx.cold_start_s or 0.0) <= idle <= long[-1]

    def _keep_one(self, ctx: AutoscaleContext) -> bool:
        """Rule 5: whether the last replica stays although the load is zero."""
        last = ctx.last_request_at
        if last is None:
            return False
        idle = ctx.now - last
        if idle < ctx.scaling.scale_down_delay_s or self._prewarm(ctx):
            return True  # (a pre-warmed replica stays until its expected request is late)
        longer = [g for g in ctx.idle_gaps_s if g >= idle]
        if len(ctx.idle_gaps_s) < self.min_gaps_for_history or not longer:
            return False
        horizon = idle + 2 * (ctx.cold_start_s or 0.0)
        soon = sum(1 for g in longer if g <= horizon)
        return soon / len(longer) >= self.imminent_fraction
