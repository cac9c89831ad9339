"""The interface between the controller and whatever runs replicas (local processes, pods).

A runtime starts a replica from a `ReplicaSpec` and hands back a `ReplicaHandle` that says where
the replica answers HTTP. The controller never touches processes itself: it only calls the
methods below, so unit tests replace the runtime with a fake and integration tests use
`serving.runtime_local.LocalProcessRuntime` for real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from serving.spec import ReplicaSpec


@dataclass
class ReplicaHandle:
    """A started replica: where it answers, and what the runtime learnt about it."""

    replica_id: str
    base_url: str  # e.g. http://127.0.0.1:53121 (no trailing slash)
    pid: int | None = None
    port: int | None = None
    # Cold-start phases reported by the replica's GET /ready once it is ready (seconds): spawn,
    # imports, weights, warmup, bind, total (see serving.replica).
    load_seconds: dict[str, float] = field(default_factory=dict)
    # How the runtime started it: "spawn" (a new interpreter) or "fork" (from a fork server).
    start_method: str = "spawn"


class ReplicaRuntime(Protocol):
    def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        """Start a replica now (non-blocking: it loads its model in the background).

        Called from the event-loop thread only. Raises OSError (or a subclass) if it cannot start.
        """
        ...

    async def ready(self, handle: ReplicaHandle) -> bool:
        """True once the replica answers GET /ready (its model is loaded); short timeout."""
        ...

    async def healthy(self, handle: ReplicaHandle) -> bool:
        """True if the replica answers GET /health; short timeout."""
        ...

    def poll(self, handle: ReplicaHandle) -> int | None:
        """The exit code if the replica has exited, else None."""
        ...

    async def stop(self, handle: ReplicaHandle, grace_s: float = 10.0) -> None:
        """Ask the replica to stop, kill it after `grace_s`, and reap it. Idempotent."""
        ...

    def tail(self, handle: ReplicaHandle, n: int = 20) -> str:
        """The last `n` lines of the replica's log, for error messages."""
        ...

    async def aclose(self) -> None:
        """Release the runtime's own resources (HTTP clients); replicas are stopped separately."""
        ...
