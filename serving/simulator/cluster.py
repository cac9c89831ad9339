"""Simulated replicas for the real controller: a runtime and an HTTP transport in virtual time.

Contract: `SimRuntime` implements `serving.runtime.ReplicaRuntime`: a started replica is ready
`cold_start_s` after `start()` (on the loop's clock), is always healthy, and stops at once when
asked (the controller has already drained it). `SimReplicas.transport` answers POST /predict
after the service time the request body names (`{"service_s": 0.3}`), with each replica's
own hard limit (a request beyond `max_concurrency` gets 429, as a real replica would, and is
counted in `limit_violations`, which must stay 0 because the router never oversends). Both keep
the accounting the benchmark needs: replica-seconds from start to stop (starting and draining
included) and the number of cold starts.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

import httpx

from serving.runtime import ReplicaHandle
from serving.spec import ReplicaSpec


@dataclass
class _Life:
    started: float
    ready_at: float
    stopped: float | None = None


@dataclass
class SimRuntime:
    cold_start_s: float
    lives: dict[str, _Life] = field(default_factory=dict)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        now = self._now()
        self.lives[spec.replica_id] = _Life(now, now + self.cold_start_s)
        return ReplicaHandle(
            replica_id=spec.replica_id,
            base_url=f"http://{spec.replica_id}.sim",
            load_seconds={"total": self.cold_start_s},
        )

    async def ready(self, handle: ReplicaHandle) -> bool:
        return self._now() >= self.lives[handle.replica_id].ready_at

    async def healthy(self, handle: ReplicaHandle) -> bool:
        return True

    def poll(self, handle: ReplicaHandle) -> int | None:
        return None

    async def stop(self, handle: ReplicaHandle, grace_s: float = 10.0) -> None:
        life = self.lives[handle.replica_id]
        if life.stopped is None:
            life.stopped = self._now()

    def tail(self, handle: ReplicaHandle, n: int = 20) -> str:
        return ""

    async def aclose(self) -> None:
        return None

    # -- accounting ------------------------------------------------------------------------

    @property
    def cold_starts(self) -> int:
        return len(self.lives)

    def running(self, at: float) -> tuple[int, int]:
        """(replicas existing, of which ready) at time `at`."""
        alive = [x for x in self.lives.values() if x.stopped is None or x.stopped > at]
        return len(alive), sum(1 for x in alive if x.ready_at <= at)

    def replica_seconds(self, until: float) -> float:
        return sum(
            max(0.0, (until if x.stopped is None else min(x.stopped, until)) - x.started)
            for x in self.lives.values()
        )


class SimReplicas:
    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self.in_flight: Counter[str] = Counter()
        self.limit_violations = 0
        self.transport = httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        replica = request.url.host
        if self.in_flight[replica] >= self.max_concurrency:
            self.limit_violations += 1
            return httpx.Response(429, json={"error": {"type": "overloaded", "message": "full"}})
        service_s = float(json.loads(request.content)["service_s"])
        self.in_flight[replica] += 1
        try:
            await asyncio.sleep(service_s)
        finally:
            self.in_flight[replica] -= 1
        return httpx.Response(200, content=b'{"ok":true}')
