"""Knative's Pod Autoscaler (KPA), as published, with its default constants.

Sources: knative/serving `pkg/autoscaler/scaling/autoscaler.go` (`Scale`),
`pkg/autoscaler/config/config.go` and `config/core/configmaps/autoscaler.yaml` (defaults), and
https://knative.dev/docs/serving/autoscaling/kpa-specific/ (stable/panic windows,
scale-to-zero grace period).

Rules (each from the sources above):

1. Metric: observed concurrency (in-flight + queued at the activator) averaged over the stable
   window (`stable-window` 60 s) and over the panic window (`panic-window-percentage` 10% of
   it: 6 s). Decisions every `tick-interval` (2 s); here, every controller tick.
2. Target per pod = `container-concurrency-target` x `container-concurrency-target-percentage`
   (0.7, the "target utilisation"); the concurrency target is the deployment's
   `concurrency_target`.
3. `readyPodsCount = max(1, ready)`; `maxScaleUp = ceil(max-scale-up-rate (1000) x ready)`,
   `maxScaleDown = floor(ready / max-scale-down-rate (2))`; desired stable and panic pod counts
   are `ceil(observed / target)` clamped into [maxScaleDown, maxScaleUp].
4. Panic: entered when `panic_observed / target / readyPodsCount >= panic-threshold-percentage`
   (200%); extended while that holds; left when it has not held for a whole stable window.
   In panic the count never decreases: it is the maximum panic count seen (`maxPanicPods`).
5. Scale to zero (`enable-scale-to-zero`): only once the stable-window average is 0, and then
   after `scale-to-zero-grace-period` (30 s) more.
6. Clamp to min/max scale (the Scaling's min/max_replicas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from serving.autoscaling.context import AutoscaleContext, clamp, fround, window_load


@dataclass(frozen=True)
class KnativeState:
    panic_since: float | None = None  # Knative's `panicTime`: last time over the threshold
    max_panic_pods: int = 0
    zero_since: float | None = None  # when the stable average first read 0


@dataclass(frozen=True)
class KnativeKpaPolicy:
    stable_window_s: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold: float = 2.0  # 200%
    target_utilization: float = 0.7
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_to_zero_grace_s: float = 30.0

    @property
    def name(self) -> str:
        return "knative_kpa"

    def initial_state(self) -> KnativeState:
        return KnativeState()

    def decide(self, ctx: AutoscaleContext, state: KnativeState) -> tuple[int, KnativeState]:
        target = ctx.scaling.concurrency_target * self.target_utilization
        panic_window = self.stable_window_s * self.panic_window_percentage / 100
        stable = window_load(ctx, self.stable_window_s)
        panic = window_load(ctx, panic_window)
        ready = max(1, ctx.ready)
        max_up = math.ceil(self.max_scale_up_rate * ready)
        max_down = math.floor(ready / self.max_scale_down_rate)
        stable_pods = min(max(math.ceil(fround(stable / target)), max_down), max_up)
        panic_pods = min(max(math.ceil(fround(panic / target)), max_down), max_up)
        over = fround(panic / target) / ready >= self.panic_threshold
        panic_since = state.panic_since
        max_panic = state.max_panic_pods
        if over:
            if panic_since is None:
                max_panic = ctx.ready  # entering panic: start from the ready pods
            panic_since = ctx.now
        elif panic_since is not None and ctx.now - panic_since > self.stable_window_s:
            panic_since, max_panic = None, 0
        desired = stable_pods
        if panic_since is not None:
            max_panic = max(max_panic, panic_pods, stable_pods)
            desired = max_panic
        zero_since = state.zero_since
        if stable > 0 or ctx.queued > 0 or ctx.in_flight > 0:
            zero_since = None
        elif zero_since is None:
            zero_since = ctx.now
        if stable <= 0 and desired == 0 and ctx.current_replicas > 0:
            # Rule 5: after the stable window reads 0, keep the pods for the grace period.
            assert zero_since is not None
            if ctx.now - zero_since < self.scale_to_zero_grace_s:
                desired = max(1, ctx.scaling.min_replicas)
        if desired == 0 and (ctx.queued > 0 or ctx.in_flight > 0):
            desired = 1  # the activator holds a request: it pokes the autoscaler up from zero
        return clamp(ctx, desired), KnativeState(panic_since, max_panic, zero_since)
