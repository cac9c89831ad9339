"""The policy interface: `decide(ctx, state) -> (replicas, state)`, a pure function.

Contract: a policy is an immutable object holding its constants; `decide` reads only the
`AutoscaleContext` and the state it returned on the previous call (`initial_state()` the first
time) and returns the replica count it wants plus its next state. It never reads a clock and
never mutates its arguments, so a decision can be replayed, tested tick by tick and run in
virtual time. This mirrors Ray Serve's custom-policy interface, where the policy returns
`(num_replicas, policy_state)` (ray-project/ray python/ray/serve/autoscaling_policy.py).

The caller clamps the answer to [min_replicas, max_replicas] once more, so a policy that forgets
the bounds cannot break them.
"""

from __future__ import annotations

from typing import Any, Protocol

from serving.autoscaling.context import AutoscaleContext


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    def initial_state(self) -> Any: ...

    def decide(self, ctx: AutoscaleContext, state: Any) -> tuple[int, Any]: ...
