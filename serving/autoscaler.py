"""Compatibility name: autoscaling lives in `serving.autoscaling` (policies, context, tracker)."""

from serving.autoscaling import (
    DEFAULT_POLICY,
    POLICY_NAMES,
    AutoscaleContext,
    DeploymentAutoscaler,
    LoadSample,
    Policy,
    make_policy,
    window_load,
)

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
