"""Autoscaling policies by name: Plinth's default and the three baselines it is measured against.

`make_policy(name)` returns a fresh policy with its published default constants; `POLICY_NAMES`
lists the names the controller and the benchmark accept.
"""

from __future__ import annotations

from collections.abc import Callable

from serving.autoscaling.policies.k8s_hpa import K8sHpaPolicy
from serving.autoscaling.policies.knative_kpa import KnativeKpaPolicy
from serving.autoscaling.policies.plinth import PlinthPolicy
from serving.autoscaling.policies.ray_serve import RayServePolicy
from serving.autoscaling.policy import Policy

DEFAULT_POLICY = "plinth"

_FACTORIES: dict[str, Callable[[], Policy]] = {
    "plinth": PlinthPolicy,
    "ray_serve": RayServePolicy,
    "knative_kpa": KnativeKpaPolicy,
    "k8s_hpa": K8sHpaPolicy,
}
POLICY_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def make_policy(name: str = DEFAULT_POLICY) -> Policy:
    try:
        return _FACTORIES[name]()
    except KeyError:
        known = ", ".join(POLICY_NAMES)
        raise ValueError(f"unknown autoscaling policy {name!r} (known: {known})") from None


__all__ = [
    "DEFAULT_POLICY",
    "POLICY_NAMES",
    "K8sHpaPolicy",
    "KnativeKpaPolicy",
    "PlinthPolicy",
    "Policy",
    "RayServePolicy",
    "make_policy",
]
