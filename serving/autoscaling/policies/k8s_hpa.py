"""The Kubernetes Horizontal Pod Autoscaler (autoscaling/v2), as published, with its defaults.

Sources: kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal.go`
(`stabilizeRecommendationWithBehaviors`, `convertDesiredReplicasWithBehaviorRate`) and
`replica_calculator.go` (`GetMetricReplicas`), and
https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/ (algorithm details,
default behavior).

Rules (each from the sources above):

1. The controller syncs every `--horizontal-pod-autoscaler-sync-period` (15 s); between syncs
   the replica count does not change.
2. Metric: a Pods metric, the average concurrency (in-flight + queued) per ready pod, with a
   target average value of the deployment's `concurrency_target`. The metric is the mean over
   the last sync period (what a metrics pipeline scraping at 15 s resolution reports).
3. `ratio = metric / target`; if `|ratio - 1| <= tolerance` (0.1) keep the current count, else
   `desired = ceil(ratio * ready pods)`.
4. Scale-down stabilisation: the recommendation is the maximum of the recommendations of the
   last `stabilizationWindowSeconds` (300 s for scale-down, 0 for scale-up).
5. Rate limits (default behavior): scale-up at most `max(100% of the pods, 4 pods)` per 15 s
   (`selectPolicy: Max`); scale-down at most 100% per 15 s.
6. minReplicas is at least 1: scale to zero needs the alpha HPAScaleToZero gate, so with
   `min_replicas: 0` HPA keeps one replica (and cannot start from zero on its own: at zero it
   starts one, as a deploy would).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from serving.autoscaling.context import AutoscaleContext, fround, window_load


@dataclass(frozen=True)
class HpaState:
    last_sync: float | None = None
    recommendations: tuple[tuple[float, int], ...] = ()  # (time, replicas), last window
    scale_events: tuple[tuple[float, int], ...] = ()  # (time, change) within a rate period
    replicas: int | None = None


@dataclass(frozen=True)
class K8sHpaPolicy:
    sync_period_s: float = 15.0
    tolerance: float = 0.1
    scale_down_stabilization_s: float = 300.0
    scale_up_percent: float = 100.0
    scale_up_pods: int = 4
    scale_up_period_s: float = 15.0
    scale_down_percent: float = 100.0
    scale_down_period_s: float = 15.0

    @property
    def name(self) -> str:
        return "k8s_hpa"

    def initial_state(self) -> HpaState:
        return HpaState()

    def decide(self, ctx: AutoscaleContext, state: HpaState) -> tuple[int, HpaState]:
        floor = max(1, ctx.scaling.min_replicas)
        ceiling = max(floor, ctx.scaling.max_replicas)
        current = ctx.current_replicas
        if current == 0:
            return floor, HpaState(ctx.now, (), (), floor)
        if state.last_sync is not None and ctx.now - state.last_sync < self.sync_period_s:
            kept = state.replicas if state.replicas is not None else current
            return max(floor, min(ceiling, kept)), state
        ready = max(1, ctx.ready)
        metric = window_load(ctx, self.sync_period_s) / ready
        ratio = metric / ctx.scaling.concurrency_target
        if abs(fround(ratio) - 1) <= self.tolerance:
            recommendation = current
        else:
            recommendation = math.ceil(fround(ratio * ready))
        recommendation = max(floor, min(ceiling, recommendation))
        horizon = ctx.now - self.scale_down_stabilization_s
        recent = tuple(r for r in state.recommendations if r[0] > horizon)
        recs = (*recent, (ctx.now, recommendation))
        desired = recommendation
        if desired < current:
            desired = min(current, max(r for _, r in recs))
        # Rate limits relative to the replicas at the start of the period (horizontal.go).
        events = tuple(e for e in state.scale_events if e[0] > ctx.now - self.scale_up_period_s)
        added = sum(c for _, c in events if c > 0)
        removed = -sum(c for _, c in events if c < 0)
        if desired > current:
            start = current - added
            limit = max(
                math.ceil(start * (1 + self.scale_up_percent / 100)), start + self.scale_up_pods
            )
            desired = min(desired, limit)
        elif desired < current:
            start = current + removed
            limit = math.ceil(start * (1 - self.scale_down_percent / 100))
            desired = max(desired, limit)
        desired = max(floor, min(ceiling, desired))
        if desired != current:
            events = (*events, (ctx.now, desired - current))
        return desired, HpaState(ctx.now, recs, events, desired)
