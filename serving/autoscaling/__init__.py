"""Autoscaling: pure policies over an observed context, and the per-deployment tracker.

    context.py   AutoscaleContext, LoadSample and window helpers (what a policy may read)
    policy.py    the Policy protocol: decide(ctx, state) -> (replicas, state)
    policies/    plinth (default), ray_serve, knative_kpa, k8s_hpa
    tracker.py   DeploymentAutoscaler: router samples -> context -> clamped decision

The live controller and the simulator both go through `DeploymentAutoscaler`.
"""

from serving.autoscaling.context import AutoscaleContext, LoadSample, window_load
from serving.autoscaling.policies import DEFAULT_POLICY, POLICY_NAMES, make_policy
from serving.autoscaling.policy import Policy
from serving.autoscaling.tracker import DeploymentAutoscaler

__all__ = [
    "DEFAULT_POLICY",
    "POLICY_NAMES",
    "AutoscaleContext",
    "DeploymentAutoscaler",
    "LoadSample",
    "Policy",
    "make_policy",
    "window_load",
]
