"""Autoscaling policy: a pure function from an observed context to a replica count.

Contract: `desired_replicas(ctx)` reads only `ctx` (time comes from `ctx.now`, never a clock), so
the same code runs live in the controller and in a virtual-time simulator. The caller keeps the
history the policy needs (load samples over the autoscaling window, the load targets of earlier
decisions over the scale-down delay) and passes it in.

The policy (correctness first; a later policy will add panic windows and the like):

1. Load target: ceil(time-weighted mean of in-flight + queued over `autoscaling_window_s` /
   `concurrency_target`).
2. Scale up at once: when requests are queued (every replica is full, or none is ready), the
   instantaneous load counts too, so a burst or a request at zero replicas (demand) starts
   replicas on this tick rather than when the window average catches up; at least 1 from zero.
3. Scale down only when every target of the last `scale_down_delay_s` is below the current count,
   and then only to the largest of them, so a brief lull never removes replicas that the load
   of the last minutes needed. No scale-down before the history covers the delay.
4. Scale to zero only when no request has arrived for `scale_down_delay_s`.
5. Clamp to [min_replicas, max_replicas] last: a changed config takes effect at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from plinth.types import Scaling


@dataclass(frozen=True)
class LoadSample:
    """Mean of in-flight + queued requests over the `duration_s` seconds ending at `at`."""

    at: float
    load: float
    duration_s: float


@dataclass(frozen=True)
class TargetSample:
    """The load target (step 1-2, before delay and clamps) computed at time `at`."""

    at: float
    replicas: int


@dataclass(frozen=True)
class AutoscaleContext:
    now: float
    scaling: Scaling
    current_replicas: int  # starting + ready, not those stopping
    in_flight: int = 0
    queued: int = 0  # includes requests waiting at zero replicas (demand)
    load_samples: Sequence[LoadSample] = field(default_factory=tuple)
    recent_targets: Sequence[TargetSample] = field(default_factory=tuple)
    history_since: float | None = None  # when the caller began recording targets; None = now
    last_request_at: float | None = None


def window_load(ctx: AutoscaleContext) -> float:
    """Time-weighted mean load over the autoscaling window (instantaneous load if no samples)."""
    start = ctx.now - ctx.scaling.autoscaling_window_s
    area = 0.0
    span = 0.0
    for s in ctx.load_samples:
        begin = max(s.at - s.duration_s, start)
        seconds = s.at - begin
        if seconds > 0:
            area += s.load * seconds
            span += seconds
    if span <= 0:
        return float(ctx.in_flight + ctx.queued)
    return area / span


def load_target(ctx: AutoscaleContext) -> int:
    """Replicas the load asks for now (steps 1 and 2), before the scale-down delay and clamps."""
    per_replica = ctx.scaling.concurrency_target
    target = math.ceil(_round(window_load(ctx) / per_replica))
    if ctx.queued > 0:
        now_load = ctx.in_flight + ctx.queued
        target = max(target, math.ceil(_round(now_load / per_replica)), 1)
    return target


def desired_replicas(ctx: AutoscaleContext) -> int:
    s = ctx.scaling
    target = load_target(ctx)
    current = ctx.current_replicas
    if target < current:
        since = ctx.now if ctx.history_since is None else ctx.history_since
        if ctx.now - since < s.scale_down_delay_s:
            target = current  # not enough history to know the load stayed low
        else:
            horizon = ctx.now - s.scale_down_delay_s
            for t in ctx.recent_targets:
                if t.at >= horizon:
                    target = max(target, t.replicas)
            target = min(target, current)
    recent_request = (
        ctx.last_request_at is not None and ctx.now - ctx.last_request_at < s.scale_down_delay_s
    )
    if target == 0 and recent_request:
        target = 1
    return max(s.min_replicas, min(s.max_replicas, target))


def _round(x: float) -> float:
    # 2.0000000001 from float noise must not become 3 replicas.
    return round(x, 9)
