"""Ray Serve's default autoscaling policy, as published, with its default constants.

Source: ray-project/ray `python/ray/serve/autoscaling_policy.py`
(`replica_queue_length_autoscaling_policy` and `_calculate_desired_num_replicas`) and the
defaults of `ray.serve.config.AutoscalingConfig`; documented at
https://docs.ray.io/en/latest/serve/advanced-guides/advanced-autoscaling.html and
`doc/source/serve/autoscaling-guide.md`.

Rules (each from the sources above):

1. Metric: `total_num_requests`, the ongoing requests (running on replicas plus queued at the
   handles) averaged over `look_back_period_s` (default 30 s).
2. `error_ratio = (total_num_requests / num_running_replicas) / target_ongoing_requests`;
   smoothed with `upscaling_factor` / `downscaling_factor` (both default to `smoothing_factor`
   = 1.0): `smoothed = 1 + (error_ratio - 1) * factor`; desired =
   `ceil(num_running_replicas * smoothed)`, clamped to [min_replicas, max_replicas].
3. A new target is applied only after the policy has wanted to go the same way on consecutive
   control-loop ticks for `upscale_delay_s` (default 30 s) or `downscale_delay_s` (default
   600 s); the decision counter resets when the direction changes or the wish disappears.
4. From zero running replicas: if any request is waiting, scale to
   `max(ceil(1 * upscaling_factor), current target)` = 1 replica at once (the "cold start" path);
   further replicas only come through rule 3 once that replica runs.

Mapping to Plinth: `target_ongoing_requests` is the deployment's `concurrency_target`, min/max
come from its Scaling, `max_ongoing_requests` is the router's hard `max_concurrency`. The delays
and look-back are Ray's defaults, not the Scaling's, because they are what a Ray Serve user gets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from serving.autoscaling.context import AutoscaleContext, clamp, fround, window_load


@dataclass(frozen=True)
class RayServeState:
    target: int | None = None  # Ray's `curr_target_num_replicas`
    counter_s: float = 0.0  # signed decision counter, in seconds (Ray counts 0.1 s ticks)
    last_at: float | None = None


@dataclass(frozen=True)
class RayServePolicy:
    look_back_period_s: float = 30.0
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0
    smoothing_factor: float = 1.0
    upscaling_factor: float | None = None
    downscaling_factor: float | None = None

    @property
    def name(self) -> str:
        return "ray_serve"

    def initial_state(self) -> RayServeState:
        return RayServeState()

    def desired(self, ctx: AutoscaleContext, total_requests: float, running: int) -> int:
        """Rule 2 (`_calculate_desired_num_replicas`)."""
        per_replica = total_requests / running
        error_ratio = per_replica / ctx.scaling.concurrency_target
        up = self.upscaling_factor or self.smoothing_factor
        down = self.downscaling_factor or self.smoothing_factor
        factor = up if error_ratio >= 1 else down
        smoothed = 1 + (error_ratio - 1) * factor
        return clamp(ctx, math.ceil(fround(running * smoothed)))

    def decide(self, ctx: AutoscaleContext, state: RayServeState) -> tuple[int, RayServeState]:
        target = ctx.current_replicas if state.target is None else state.target
        dt = 0.0 if state.last_at is None else max(0.0, ctx.now - state.last_at)
        total = window_load(ctx, self.look_back_period_s)
        running = ctx.ready
        if running == 0:
            waiting = ctx.queued + ctx.in_flight > 0 or total > 0
            if waiting:
                up = self.upscaling_factor or self.smoothing_factor
                target = max(math.ceil(1 * up), target)
            target = clamp(ctx, target)
            return target, RayServeState(target, 0.0, ctx.now)
        desired = self.desired(ctx, total, running)
        counter = state.counter_s
        if desired > target:
            counter = max(counter, 0.0) + dt
            if counter >= self.upscale_delay_s:
                counter, target = 0.0, desired
        elif desired < target:
            counter = min(counter, 0.0) - dt
            if -counter >= self.downscale_delay_s:
                counter, target = 0.0, desired
        else:
            counter = 0.0
        return clamp(ctx, target), RayServeState(target, counter, ctx.now)
