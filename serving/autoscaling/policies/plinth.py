"""Plinth's default autoscaling policy: Little's-law sizing, packing when latency allows, a burst
path, cold-start headroom, and scale-down and pre-warm from the deployment's own history.

Contract: `PlinthPolicy().decide(ctx, state)` is pure (see `serving.autoscaling.policy`): it reads
the context (its clock is `ctx.now`) and the state it returned last time. min/max always win.
The two time settings of the Scaling mean exactly this:

- `autoscaling_window_s`: the window the arrival rate (or, without counted arrivals, the load)
  is averaged over for the sustained need (rule 1).
- `scale_down_delay_s`: the longest time a replica is kept after the load last needed it. No
  replica outlives it idle, except the last one when the idle-gap history says a request is
  about to arrive (rule 5). Within it Plinth keeps a surplus replica for three quarters of a
  measured cold start (rule 4), the burst floor through short pauses (rule 6), and the last
  one until its idle-gap history says holding on is wasted.

The rules, and why each beats the anchors:

0. Nothing measured yet, nothing ready: the queue that forms while no replica can serve says
   how long the cold start is, not how much work there is, so it is not sized from. The first
   step is `arrival rate x PRIOR_SERVICE_S / concurrency_target` (at least one replica when a
   request waits), the rate over the window or, if higher, over the last `burst_window_s`; it
   grows with the observed rate and is replaced by rule 1 once the first requests complete.
1. Size from the work, not from the queue. Required concurrency is `arrival rate x service
   time` (Little's law) with the service time the router measured (slot-seconds per completed
   request). Ray Serve, Knative and HPA size from observed concurrency, which during overload
   includes queueing delay and so over-provisions right after a burst, then lags it down.
   With replicas ready but no request completed yet, the time-weighted load stands in.
   Per replica the concurrency is `concurrency_target`, the soft target, unless the router's
   measurements show that replicas holding more than the target serve requests no slower
   (mean service time within `packing_tolerance` of the one measured below the target): then
   latency allows packing, and the replicas are sized for `max_concurrency` slots each with
   square-root staffing (`L + beta x sqrt(L)` slots for a concurrency L, the classic M/M/k
   rule that keeps the wait a small fraction of the service time), never more replicas than
   the soft target asks for. The SLO is what counts, not the soft target. beta is 0.5: a
   request may wait a little within the SLO, and bursts are rule 2's.
2. Burst fast path: the same sizing over the last `burst_window_s` (2 s) when its arrivals are
   more than Poisson noise around the window's rate explains (> mean + 3 sigma + 2), plus the
   backlog drained within one cold start (`queued x service / cold start`). While requests
   wait (the burst has outgrown the replicas, so it is probably still growing) the burst's
   rate is sized at the soft target, which leaves room for that growth; otherwise packed as
   in rule 1. It is an absolute target computed from current measurements, never a running
   maximum like Knative's `maxPanicPods`: requests queued during a cold start do not ask for
   ever more replicas because replicas that are starting already count, and the backlog term
   shrinks as the queue drains. Bursts recur in real traffic, so the state remembers the
   packed peak need of the last `BURSTS_KEPT` bursts (a burst ends one cold start after it
   was last detected); once `min_bursts` are known, replicas for the largest of them are
   started when a new burst begins, because a reactive policy sees a burst's growth one cold
   start late. That capacity is speculative and lasts one cold start: it is not need (rule 4
   does not hold it), so when its replicas are ready the measured load decides whether they
   stay. Holding the largest burst's size for the whole burst pays for it every time; starting
   it once per burst pays one cold start per replica.
3. Headroom proportional to the measured cold-start time C: the sized concurrency is multiplied
   by `1 + C / (C + window)`. Capacity that takes long to arrive must be bought earlier; with
   instant starts there is no headroom at all.
4. Scale down as the need falls, keeping each surplus replica for three quarters of a
   measured cold start C after the need last reached it, never past `scale_down_delay_s`; the
   delay itself while no cold start has been measured yet. Ski rental's break-even (keep for
   C) assumes nothing else covers a replica released too early; here the pauses between
   bursts are rule 6's floor and the growth of the next burst is rule 2's. Measured on the
   Azure code trace: keeping surplus for a whole C costs 4 % more replica-seconds for the same
   SLO; for half a C, 4 % less but a third more missed requests (and on the conversation
   trace too). Holding every replica for the whole delay
   (Ray Serve's and HPA's stabilisation) pays for peaks long gone; recurring bursts are met by
   rule 2's memory instead. `min_replicas` counts as need. After a restart nothing says what
   the replicas found were for, so they are kept for the delay after the history began.
5. The last replica: scale to zero when nothing needed it for `scale_down_delay_s`, unless the
   idle-gap history (the router's pauses between requests) says the next request is probably
   close: of the past gaps at least as long as the current one, if most ended within two cold
   starts of this length, the replica stays. Conversely, once idle for a cold start, if every
   past gap at least this long outlasted the delay by more than a cold start, it goes to zero
   at once: holding it to the delay would be paid for nothing. Predictive pre-warm: at zero,
   one replica is started 1.5 cold starts before the gaps long enough to reach zero usually
   end (their lower quartile), and kept until the longest of them has passed, so periodic
   on/off traffic meets a warm replica from its second period on.
6. Burst floor: the first cold start of every burst is served by whatever is warm when it
   begins, and no reactive rule can change that. So between the bursts of a busy spell the
   replicas stay at what the smallest of the recent bursts needed (packed), while the pause
   since the last request is shorter than this deployment's short pauses between bursts (the
   lower quartile of its idle gaps longer than a cold start) and than three cold starts; a
   longer pause releases them. (Without the cap, traffic whose only pauses are long, on/off,
   would hold the floor through all of them.)
   On the Azure code trace, with one warm replica 18 of its 57 burst onsets miss requests in
   their first cold start (575 in all); with two, one onset misses 6.
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
BURSTS_KEPT = 8


@dataclass(frozen=True)
class PlinthState:
    needed_at: tuple[float, ...] = ()  # rule 4: when the need last reached k replicas (k-1)
    seeded: bool = False  # the replicas found at the first decision have been recorded
    burst_peak: int = 0  # rule 2: the current burst's largest packed need, 0 outside a burst
    burst_seen_at: float = 0.0
    burst_peaks: tuple[int, ...] = ()  # the peaks of the last bursts, oldest first
    found: int = 0  # replicas found at the first decision (after a restart), kept the delay
    found_at: float = 0.0
    burst_began_at: float = 0.0  # rule 2: when the current burst was first detected


@dataclass(frozen=True)
class PlinthPolicy:
    burst_window_s: float = 2.0
    burst_sigmas: float = 3.0
    prior_service_s: float = PRIOR_SERVICE_S
    min_gaps_for_history: int = 5  # fewer past idle gaps: rule 5 just waits the delay
    min_long_gaps: int = 1  # gaps past the delay needed before pre-warming for the next one
    imminent_fraction: float = 0.5
    packing_tolerance: float = 0.25  # rule 1: a packed replica may be this much slower
    staffing_beta: float = 0.5  # rule 1: square-root staffing when packing
    min_bursts: int = 2  # rule 2: past bursts needed before sizing a new one from them
    surplus_hold: float = 0.75  # rule 4: cold starts a no-longer-needed replica is kept
    floor_gap_quantile: float = 0.25  # rule 6: pauses this short keep the burst floor
    floor_max_hold: float = 3.0  # rule 6: ... up to this many cold starts

    @property
    def name(self) -> str:
        return "plinth"

    def initial_state(self) -> PlinthState:
        return PlinthState()

    def raw_target(self, ctx: AutoscaleContext) -> int:
        """Replicas the load asks for now (rules 0-3), before the delay and the clamps."""
        return self.needs(ctx)[0]

    def needs(self, ctx: AutoscaleContext) -> tuple[int, int]:
        """(replicas wanted now, packed replicas a detected burst's rate needs or 0), rules 0-3."""
        s = ctx.scaling
        per_replica = s.concurrency_target
        window = s.autoscaling_window_s
        service = ctx.service_time_s
        cold = ctx.cold_start_s or 0.0
        headroom = 1 + cold / (cold + window)
        peak = 0
        if service is None or service <= 0:
            if ctx.ready == 0:
                # Rule 0: what waits at zero is the cold start's doing; size from the arrivals.
                rate = max(
                    arrival_rate(ctx, window),
                    arrival_rate(ctx, min(self.burst_window_s, window)),
                )
                now = math.ceil(fround(rate * self.prior_service_s / per_replica))
                return (max(now, 1) if ctx.queued + ctx.in_flight > 0 else now), peak
            # Replicas ready, nothing completed yet: the queue is what piled up during the
            # cold start, so it is drained over one cold start, and the arrivals (with the
            # prior service time) size the rest, as in rule 0. Load without counted arrivals
            # (no router history) is sized as it is.
            rate = max(
                arrival_rate(ctx, window), arrival_rate(ctx, min(self.burst_window_s, window))
            )
            if rate > 0:
                stable = rate * self.prior_service_s * headroom / per_replica
            else:
                stable = window_load(ctx, window) * headroom / per_replica
            if ctx.queued == 0:
                burst = 0.0
            elif cold > 0:
                drain = ctx.queued * self.prior_service_s / max(cold, self.prior_service_s)
                burst = drain / s.max_concurrency
            else:
                burst = (ctx.in_flight + ctx.queued) / per_replica
            sustained = math.ceil(fround(stable))
            now = max(sustained, math.ceil(fround(burst)))
        else:
            rate = arrival_rate(ctx, window)
            burst, backlog = self._burst(ctx, rate, service, cold)
            detected = burst > rate * service
            sustained = math.ceil(fround(self.replicas_for(ctx, rate * service * headroom)))
            # A burst that has outgrown the replicas (requests wait) is probably still growing:
            # sized at the soft target, which leaves room for it; otherwise packed.
            outgrown = ctx.queued > 0
            burst_units = burst / per_replica if outgrown else self.replicas_for(ctx, burst)
            now = max(sustained, math.ceil(fround(burst_units + backlog)))
            if detected:
                peak = math.ceil(fround(self.replicas_for(ctx, burst)))
        if ctx.queued > 0:
            now = max(now, 1)
        return now, peak

    def packing(self, ctx: AutoscaleContext) -> bool:
        """Rule 1: whether latency allows replicas to hold up to `max_concurrency` requests."""
        low, high = ctx.unpacked_service_time_s, ctx.packed_service_time_s
        if low is None or high is None or low <= 0:
            return False
        return high <= low * (1 + self.packing_tolerance)

    def replicas_for(self, ctx: AutoscaleContext, concurrency: float) -> float:
        """Rule 1: replicas (fractional) that serve `concurrency` requests in service at once."""
        s = ctx.scaling
        at_target = concurrency / s.concurrency_target
        if concurrency <= 0 or not self.packing(ctx):
            return at_target
        slots = concurrency + self.staffing_beta * math.sqrt(concurrency)
        return min(at_target, slots / s.max_concurrency)

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
        now_target, burst_need = self.needs(ctx)
        cold = ctx.cold_start_s or 0.0
        peak, seen_at, peaks = state.burst_peak, state.burst_seen_at, state.burst_peaks
        began = state.burst_began_at
        if burst_need > 0:
            if peak == 0:
                began = ctx.now
            peak, seen_at = max(peak, burst_need), ctx.now
        elif peak > 0 and ctx.now - seen_at > cold:
            peaks, peak = (*peaks, peak)[-BURSTS_KEPT:], 0
        # Rule 2's memory: for the first cold start of a burst, the largest of the past bursts.
        # It is not need (rule 4 does not hold it): once the replicas it started are ready, the
        # measured load says whether they stay.
        speculative = 0
        if peak > 0 and len(peaks) >= self.min_bursts and ctx.now - began <= cold:
            speculative = max(peaks)
        # Rule 6: between the bursts of a busy spell, the floor the smallest of them needed.
        now_target = max(now_target, self._burst_floor(ctx, peaks))
        need = max(now_target, s.min_replicas)
        current = ctx.current_replicas
        needed_at = list(state.needed_at)
        found, found_at = state.found, state.found_at
        if not state.seeded and current > 0:
            # After a restart nothing says what the replicas found were for: they are kept
            # for the delay after the history began, the longest any replica is kept.
            found = current
            found_at = ctx.now if ctx.history_since is None else ctx.history_since
        levels = min(need, s.max_replicas)
        needed_at[:levels] = [ctx.now] * levels
        # Surplus replicas are kept `surplus_hold` cold starts after the need last reached
        # them, never past the delay (rule 4); the last replica is rule 5's.
        # Before any cold start is measured the break-even is unknown: keep for the delay.
        hold = (
            s.scale_down_delay_s
            if ctx.cold_start_s is None
            else min(s.scale_down_delay_s, self.surplus_hold * cold)
        )
        target = need
        for k in range(max(need, 1) + 1, min(current, len(needed_at)) + 1):
            if ctx.now - needed_at[k - 1] <= hold:
                target = k
        target = max(target, min(speculative, s.max_replicas))
        if found and ctx.now - found_at <= s.scale_down_delay_s:
            target = max(target, min(current, found))
        else:
            found = 0
        if target == 0 and current > 0 and self._keep_one(ctx):
            target = 1
        if target == 0 and current == 0 and self._prewarm(ctx):
            target = 1
        return clamp(ctx, target), PlinthState(
            tuple(needed_at), True, peak, seen_at, peaks, found, found_at, began
        )

    def _burst_floor(self, ctx: AutoscaleContext, peaks: tuple[int, ...]) -> int:
        """Rule 6: replicas kept through a short pause between bursts.

        A burst's first cold start is served by whatever is warm when it begins: a reactive
        policy cannot help it. So while the pause since the last request is shorter than this
        deployment's short pauses between bursts (the lower quartile of its idle gaps longer
        than a cold start) and than `floor_max_hold` cold starts, the replicas stay at what the
        smallest of its recent bursts needed (packed). A longer pause releases them (rule 4),
        the last one is rule 5's.
        """
        last = ctx.last_request_at
        if not peaks or last is None or ctx.cold_start_s is None:
            return 0
        cold = ctx.cold_start_s
        gaps = sorted(g for g in ctx.idle_gaps_s if g >= cold)
        if not gaps:
            return 0
        short = gaps[min(len(gaps) - 1, int(self.floor_gap_quantile * len(gaps)))]
        return min(peaks) if ctx.now - last <= min(short, self.floor_max_hold * cold) else 0

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
        if self._prewarm(ctx):
            return True  # a pre-warmed replica stays until its expected request is late
        idle = ctx.now - last
        delay = ctx.scaling.scale_down_delay_s
        cold = ctx.cold_start_s or 0.0
        longer = [g for g in ctx.idle_gaps_s if g >= idle]
        if len(ctx.idle_gaps_s) >= self.min_gaps_for_history and longer:
            soon = sum(1 for g in longer if g <= idle + 2 * cold)
            if soon / len(longer) >= self.imminent_fraction:
                return True  # the next request is probably close, even past the delay
        if idle >= delay:
            return False
        # Gaps this long have always outlasted the delay: holding on is paid for nothing.
        seen_long = len(longer) >= self.min_long_gaps
        return not (idle >= cold and seen_long and all(g > delay + cold for g in longer))
