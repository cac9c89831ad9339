"""Per-deployment autoscaling memory: turns router samples into policy contexts and decisions.

Contract: `DeploymentAutoscaler(policy, since=now)`; each tick the caller passes one
`RouterSample` to `observe(sample, now)` and asks `decide(now, scaling, current, ready)` for the
replica count (clamped to [min_replicas, max_replicas]); `record_cold_start(seconds)` feeds
measured start-to-ready times. The live controller and the virtual-time simulator both use this
class unchanged, so the policy sees exactly the same context in both. No clock, no I/O.

What it derives from the router's cumulative counters: per-interval arrivals and completions,
the mean service time (slot-seconds of finished requests per finished request, over the last
`SERVICE_WINDOW_S`, keeping the last estimate through quiet periods), the idle gaps, and the
service time split by how full the replicas were (over `PACKING_WINDOW_S`): requests finished
while the ready replicas held more than `concurrency_target` each on average against those
finished below it, so a policy can tell whether packing replicas up to `max_concurrency` slows
requests down (a real model sharing a CPU does; the simulator's replicas do not).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from plinth.types import Scaling
from serving.autoscaling.context import AutoscaleContext, LoadSample, clamp
from serving.autoscaling.policy import Policy

if TYPE_CHECKING:
    from serving.router import RouterSample

HISTORY_MIN_S = 60.0  # the longest window a policy reads (Knative's stable window)
SERVICE_WINDOW_S = 60.0
PACKING_WINDOW_S = 600.0
PACKING_MIN_COMPLETIONS = 30  # fewer finished requests at a fill level: no estimate for it
COLD_STARTS_KEPT = 5


class DeploymentAutoscaler:
    def __init__(self, policy: Policy, *, since: float) -> None:
        self.policy = policy
        self.state: Any = policy.initial_state()
        self.since = since
        self.samples: deque[LoadSample] = deque()
        self.last_sample_at = since
        self.last_ctx: AutoscaleContext | None = None
        self._arrivals = 0
        self._completions = 0
        self._busy = 0.0
        self._service: deque[tuple[float, int, float]] = deque()  # (at, completions, busy_s)
        self._service_time: float | None = None
        # (at, completions, busy_s, mean in-flight + queued per ready replica) per interval
        self._packing: deque[tuple[float, int, float, float]] = deque()
        self._cold_starts: deque[float] = deque(maxlen=COLD_STARTS_KEPT)
        self._sample: RouterSample | None = None

    def set_policy(self, policy: Policy) -> None:
        """Switch policy live; the new one starts from its initial state, history is kept."""
        if policy != self.policy:
            self.policy = policy
            self.state = policy.initial_state()

    def restart_history(self, now: float) -> None:
        """The deployment changed phase: decisions may only use history from now on."""
        self.since = now

    def record_cold_start(self, seconds: float) -> None:
        self._cold_starts.append(seconds)

    @property
    def cold_start_s(self) -> float | None:
        if not self._cold_starts:
            return None
        return sum(self._cold_starts) / len(self._cold_starts)

    @property
    def service_time_s(self) -> float | None:
        return self._service_time

    def observe(self, sample: RouterSample, now: float, *, keep_s: float = HISTORY_MIN_S) -> None:
        arrivals = sample.arrivals - self._arrivals
        completions = sample.completions - self._completions
        busy = sample.busy_s - self._busy
        self._arrivals, self._completions, self._busy = (
            sample.arrivals,
            sample.completions,
            sample.busy_s,
        )
        duration = max(0.0, now - self.last_sample_at)
        self.last_sample_at = now
        self.samples.append(LoadSample(now, sample.mean_load, duration, arrivals, completions))
        keep = max(keep_s, HISTORY_MIN_S)
        while self.samples and self.samples[0].at <= now - keep:
            self.samples.popleft()
        if completions > 0:
            self._service.append((now, completions, busy))
            if sample.ready_replicas > 0:
                fill = sample.mean_load / sample.ready_replicas
                self._packing.append((now, completions, busy, fill))
        while self._packing and self._packing[0][0] <= now - PACKING_WINDOW_S:
            self._packing.popleft()
        while self._service and self._service[0][0] <= now - SERVICE_WINDOW_S:
            self._service.popleft()
        done = sum(c for _, c, _ in self._service)
        if done > 0:
            self._service_time = sum(b for _, _, b in self._service) / done
        self._sample = sample

    def service_time_by_fill(self, concurrency_target: float) -> tuple[float | None, float | None]:
        """(mean service time while replicas held at most the target, while they held more)."""
        low = [(c, b) for _, c, b, fill in self._packing if fill <= concurrency_target]
        high = [(c, b) for _, c, b, fill in self._packing if fill > concurrency_target]
        return _mean_service(low), _mean_service(high)

    def context(self, now: float, scaling: Scaling, current: int, ready: int) -> AutoscaleContext:
        sample = self._sample
        unpacked, packed = self.service_time_by_fill(scaling.concurrency_target)
        return AutoscaleContext(
            now=now,
            scaling=scaling,
            current_replicas=current,
            ready_replicas=ready,
            in_flight=0 if sample is None else sample.in_flight,
            queued=0 if sample is None else sample.queued,
            load_samples=tuple(self.samples),
            history_since=self.since,
            last_request_at=None if sample is None else sample.last_request_at,
            service_time_s=self._service_time,
            unpacked_service_time_s=unpacked,
            packed_service_time_s=packed,
            cold_start_s=self.cold_start_s,
            idle_gaps_s=() if sample is None else sample.idle_gaps_s,
        )

    def decide(self, now: float, scaling: Scaling, current: int, ready: int) -> int:
        ctx = self.context(now, scaling, current, ready)
        self.last_ctx = ctx
        replicas, self.state = self.policy.decide(ctx, self.state)
        return clamp(ctx, replicas)


def _mean_service(intervals: list[tuple[int, float]]) -> float | None:
    done = sum(c for c, _ in intervals)
    if done < PACKING_MIN_COMPLETIONS:
        return None
    return sum(b for _, b in intervals) / done
