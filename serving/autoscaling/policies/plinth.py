"""Plinth's default autoscaling policy: Little's-law sizing, a burst path, cold-start headroom.

Contract: `PlinthPolicy().decide(ctx, state)` is pure (see `serving.autoscaling.policy`).
min/max always win. The two time settings of the Scaling mean exactly this:

- `autoscaling_window_s`: the window the arrival rate (or, before any service time is measured,
  the load) is averaged over for the sustained need (rule 1).
- `scale_down_delay_s`: the longest time a replica is kept after the load last needed it, the
  need being the Little's-law target over the window (a burst's extra replicas, rule 2, are
  kept for one cold start instead). When the need falls from N to n < N, the S = N - n
  surplus replicas are released one at a time at evenly spaced moments: the k-th from the
  top once the need has stayed below N for `delay x k / S`, the last exactly `delay` after
  the need was N (rule 4). A replica is never removed while the current need asks for it,
  none that the need of the last `delay` seconds asked for is removed before `delay / S`,
  and the count steps down gradually instead of holding the peak for the whole delay and
  dropping at once. The last replica goes to zero `delay` after anything needed it, subject
  to rule 5.

The rules, and why each beats the anchors:

0. Nothing measured yet, nothing ready: the queue that forms while no replica can serve says
   how long the cold start is, not how much work there is, so it is not sized from. The first
   step is `arrival rate x PRIOR_SERVICE_S / concurrency_target` (at least one replica when a
   request waits), the rate over the window or, if higher, over the last `burst_window_s`; it
   grows with the observed rate and is replaced by rule 1 once the first requests complete.
   Targets sized from the prior are not held by rule 4: they are a guess, not a measured need.
1. Size from the work, not from the queue. Required concurrency is `arrival rate x service
   time` (Little's law) with the service time the router measured (slot-seconds per completed
   request). Ray Serve, Knative and HPA size from observed concurrency, which during overload
   includes queueing delay and so over-provisions right after a burst, then lags it down.
   With replicas ready but no request completed yet, the time-weighted load stands in.
2. Burst fast path: the same sizing over the last `burst_window_s` (2 s) when its arrivals are
   more than Poisson noise around the window's rate explains (> mean + 3 sigma + 2), plus the
   backlog drained within one cold start (`queued x service / cold start`). It is an absolute
   target computed from current measurements, never a running maximum like Knative's
   `maxPanicPods`: requests queued during a cold start do not ask for ever more replicas
   because replicas that are starting already count, and the backlog term shrinks as the
   queue drains. A burst says nothing about the next minutes, so rule 4 holds its target for
   one measured cold start only (ski rental: releasing a replica that is needed again sooner
   costs a cold start; keeping it idle for longer costs more than that), never past the delay.
3. Headroom proportional to the measured cold-start time C: the sized concurrency is multiplied
   by `1 + C / (C + window)`. Capacity that takes long to arrive must be bought earlier; with
   instant starts there is no headroom at all.
4. Scale down gradually as defined above for `scale_down_delay_s`: the sustained targets of
   the last delay (rule 1 with rule 3's headroom: the window's Little's-law need, and the
   floor `min_replicas`) are kept in the state, and each releases its surplus over the current
   need linearly in time. Burst targets (rule 2) do the same over one cold start. After a
   restart the replicas found count as needed when the history began, so they step down
   over the delay like any others.
5. Scale to zero when nothing was needed for `scale_down_delay_s`, unless the deployment's own
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

PRIOR_SERVICE_S = 1.0  # rule 0: seconds a request is assumed to hold a slot before measured


_History = tuple[tuple[float, int, bool], ...]


@dataclass(frozen=True)
class PlinthState:
    # Targets still held (rule 4): (seen at, replicas, from the burst path); one that a newer
    # target outlasts with as many replicas is dropped, it could never keep more.
    targets: _History = ()
    seeded: bool = False  # the replicas found at the first decision have been recorded


@dataclass(frozen=True)
class PlinthPolicy:
    burst_window_s: float = 2.0
    burst_sigmas: float = 3.0
    prior_service_s: float = PRIOR_SERVICE_S
    min_gaps_for_history: int = 5  # fewer past idle gaps: rule 5 just waits the delay
    min_long_gaps: int = 2  # gaps past the delay needed before pre-warming for the next one
    imminent_fraction: float = 0.5

    @property
    def name(self) -> str:
        return "plinth"

    def initial_state(self) -> PlinthState:
        return PlinthState()

    def raw_target(self, ctx: AutoscaleContext) -> int:
        """Replicas the load asks for now (rules 0-3), before the delay and the clamps."""
        return self.needs(ctx)[0]

    def needs(self, ctx: AutoscaleContext) -> tuple[int, int]:
        """(replicas wanted now, sustained need held over the delay), rules 0-3."""
        s = ctx.scaling
        per_replica = s.concurrency_target
        window = s.autoscaling_window_s
        service = ctx.service_time_s
        cold = ctx.cold_start_s or 0.0
        headroom = 1 + cold / (cold + window)
        if service is None or service <= 0:
            if ctx.ready == 0:
                # Rule 0: what waits at zero is the cold start's doing; size from the arrivals.
                rate = max(
                    arrival_rate(ctx, window),
                    arrival_rate(ctx, min(self.burst_window_s, window)),
                )
                now = math.ceil(fround(rate * self.prior_service_s / per_replica))
                return (max(now, 1) if ctx.queued + ctx.in_flight > 0 else now), 0
            stable = window_load(ctx, window) * headroom / per_replica
            burst = (ctx.in_flight + ctx.queued) / per_replica if ctx.queued > 0 else 0.0
            sustained = math.ceil(fround(stable))
            now = max(sustained, math.ceil(fround(burst)))
        else:
            rate = arrival_rate(ctx, window)
            burst_rate, backlog = self._burst(ctx, rate, service, cold)
            sustained = math.ceil(fround(rate * service * headroom / per_replica))
            now = max(sustained, math.ceil(fround(burst_rate / per_replica + backlog)))
        if ctx.queued > 0:
            now = max(now, 1)
        return now, sustained

    def _burst(
        self, ctx: AutoscaleContext, rate: float, service: float, cold: float
    ) -> tuple[float, float]:
        """Rule 2: (concurrency the burst's rate needs, replicas its backlog needs).

        The burst's arrival rate is sized at the target like any load; the backlog left for new
        replicas may use every slot (`max_concurrency`): it is drained once, not sustained.
        """
        # The rate over the burst window itself, not over a cold start: a step to 100x would
        # otherwise be seen a tenth at a time over the whole cold start.
        horizon = min(self.burst_window_s, ctx.scaling.autoscaling_window_s)
        recent = arrival_rate(ctx, horizon)
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
        backlog = max(0.0, left) * service / max(cold, service)
        return recent * service, backlog / ctx.scaling.max_concurrency

    def decide(self, ctx: AutoscaleContext, state: PlinthState) -> tuple[int, PlinthState]:
        s = ctx.scaling
        now_target, sustained = self.needs(ctx)
        current = ctx.current_replicas
        history = state.targets
        if not state.seeded and current > 0:
            # After a restart nothing says what the replicas found were for: treat them as
            # needed when the history began, so they step down over the delay (rule 4).
            start = ctx.now if ctx.history_since is None else ctx.history_since
            history = ((start, current, False),)
        # The floor counts as needed too: lowering min_replicas steps down like a falling load.
        kept = max(sustained, s.min_replicas)
        new = ((ctx.now, kept, False), (ctx.now, now_target, True))
        # Holds are computed from the current Scaling at every decision, so a changed delay
        # applies at once; an entry a new one outlasts with as many replicas is dropped.
        history = tuple(
            t
            for t in history
            if t[0] + self._hold(ctx, t[2]) >= ctx.now
            and not any(t[1] <= r and (t[2] or not burst) for _, r, burst in new)
        )
        history = (*history, *new)
        target = now_target
        if target < current:
            target = min(current, now_target + self._held(ctx, history, now_target))
        if target == 0 and current > 0 and self._keep_one(ctx):
            target = 1
        if target == 0 and current == 0 and self._prewarm(ctx):
            target = 1
        return clamp(ctx, target), PlinthState(history, seeded=True)

    @staticmethod
    def _hold(ctx: AutoscaleContext, burst: bool) -> float:
        """Seconds a target is held: the delay, or one cold start for a burst's (rule 2).

        A burst's replicas are kept for one measured cold start, the ski-rental break-even:
        releasing one that is needed again sooner costs a cold start, keeping it idle for
        longer costs more than that. Never longer than the delay.
        """
        delay = ctx.scaling.scale_down_delay_s
        return min(delay, ctx.cold_start_s or 0.0) if burst else delay

    def _held(self, ctx: AutoscaleContext, history: _History, need: int) -> int:
        """Rule 4: surplus replicas over `need` still kept for the targets in `history`.

        A target N seen `age` seconds ago and held for `hold` seconds keeps
        `min(S, floor(1 + S x (1 - age / hold)))` of its surplus S = N - need: the top replica
        goes after hold / S, the last exactly `hold` after the target.
        """
        held = 0
        for at, replicas, burst in history:
            surplus = replicas - need
            hold = self._hold(ctx, burst)
            age = ctx.now - at
            if surplus <= 0 or age > hold:
                continue
            kept = surplus if hold <= 0 else math.floor(fround(1 + surplus * (1 - age / hold)))
            held = max(held, min(surplus, kept))
        return held

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
