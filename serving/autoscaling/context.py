"""What an autoscaling policy may look at: one immutable observed context per decision.

Contract: a policy reads only an `AutoscaleContext` (time is `ctx.now`, never a clock) and the
state it returned last time, so the same code runs live in the controller and in the
virtual-time simulator (`serving.simulator`). The caller (`serving.autoscaling.tracker`) keeps the
history and builds the context; nothing here does I/O.

Load is in-flight + queued requests (the concurrency a deployment is asked for); a `LoadSample`
is its time-weighted mean over an interval, together with the arrivals and completions counted
in that interval, so a policy can derive arrival rate and throughput over any window it likes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from plinth.types import Scaling


@dataclass(frozen=True)
class LoadSample:
    """Mean of in-flight + queued over the `duration_s` seconds ending at `at`, with counts."""

    at: float
    load: float
    duration_s: float
    arrivals: int = 0
    completions: int = 0


@dataclass(frozen=True)
class AutoscaleContext:
    now: float
    scaling: Scaling
    current_replicas: int  # starting + ready, not those stopping
    ready_replicas: int | None = None  # None: all current replicas are ready
    in_flight: int = 0
    queued: int = 0  # includes requests waiting at zero replicas (demand)
    load_samples: Sequence[LoadSample] = field(default_factory=tuple)  # oldest first
    history_since: float | None = None  # when the caller began recording; None = now
    last_request_at: float | None = None
    service_time_s: float | None = None  # measured mean seconds a request holds a slot
    # The same, over a longer window, split by how full the ready replicas were: at most
    # `concurrency_target` requests each on average, or more (None: too few requests seen).
    unpacked_service_time_s: float | None = None
    packed_service_time_s: float | None = None
    cold_start_s: float | None = None  # measured seconds from start to ready
    idle_gaps_s: Sequence[float] = field(default_factory=tuple)  # past gaps between requests

    @property
    def ready(self) -> int:
        return self.current_replicas if self.ready_replicas is None else self.ready_replicas

    @property
    def starting(self) -> int:
        return self.current_replicas - self.ready

    @property
    def history_s(self) -> float:
        """Seconds of history the caller holds (0 right after a restart)."""
        return 0.0 if self.history_since is None else max(0.0, self.now - self.history_since)


def window_load(ctx: AutoscaleContext, window_s: float) -> float:
    """Time-weighted mean load over the last `window_s` (instantaneous load if no samples)."""
    area, span = _window(ctx, window_s, lambda s: s.load)
    if span <= 0:
        return float(ctx.in_flight + ctx.queued)
    return area / span


def arrival_rate(ctx: AutoscaleContext, window_s: float) -> float:
    """Arrivals per second over the last `window_s` (0 without samples)."""
    return _rate(ctx, window_s, lambda s: s.arrivals)


def completion_rate(ctx: AutoscaleContext, window_s: float) -> float:
    return _rate(ctx, window_s, lambda s: s.completions)


def _rate(ctx: AutoscaleContext, window_s: float, count: _Getter) -> float:
    start = ctx.now - window_s
    total = 0.0
    span = 0.0
    for s in ctx.load_samples:
        begin = max(s.at - s.duration_s, start)
        seconds = s.at - begin
        if seconds > 0 and s.duration_s > 0:
            total += count(s) * seconds / s.duration_s
            span += seconds
    return total / span if span > 0 else 0.0


def _window(ctx: AutoscaleContext, window_s: float, value: _Getter) -> tuple[float, float]:
    start = ctx.now - window_s
    area = 0.0
    span = 0.0
    for s in ctx.load_samples:
        begin = max(s.at - s.duration_s, start)
        seconds = s.at - begin
        if seconds > 0:
            area += value(s) * seconds
            span += seconds
    return area, span


def clamp(ctx: AutoscaleContext, replicas: int) -> int:
    """min_replicas <= replicas <= max_replicas, always last: a changed config applies at once."""
    s = ctx.scaling
    return max(s.min_replicas, min(s.max_replicas, replicas))


_Getter = Callable[[LoadSample], float]


def fround(x: float) -> float:
    """2.0000000001 from float noise must not become 3 replicas."""
    return round(x, 9)
