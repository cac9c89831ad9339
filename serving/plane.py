"""The data plane's entry point for the gateway: predict by model name and environment.

Contract: `DataPlane.predict(model_name, payload, timeout_s=..., environment="production",
key=None)` returns the replica's JSON bytes unchanged or raises a `serving.errors.ServingError`.
When the request waited for a replica to start (none was ready), the bytes are a `ColdStartAnswer`
whose `cold_start_s` says how long; the REST layer returns it in the `X-Plinth-Cold-Start-Ms`
header. `predict_routed` returns the same answer with the version that served it (the REST layer
answers it in `X-Plinth-Deployment-Version`).

It reads only the in-memory routing table that the controller keeps current: (model name,
environment) -> `Route`, the router of the environment's primary deployment and optionally a
canary router with its percent. No database, no Temporal. `routable(name, environment)` says
whether the table has the pair (the REST layer looks the model up in the database only on a
miss, to choose between 404 and 503).

Canary split (`TrafficSplit`): without a key, an accumulator in basis points sends exactly
`percent` of every 100/gcd requests to the canary (10% -> every 10th request), so the share is
exact over any long run, not just on average; with a key (`X-Plinth-Request-Key`), a stable hash
of the key decides, so one key always reaches the same side while the split is unchanged.

Per deployment, the plane keeps `TrafficStats` (recent outcomes and latencies) that the canary
watcher reads to roll back a canary automatically; errors are answers with status >= 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from serving.errors import ModelNotRoutable, RequestTimeout, ServingError
from serving.router import ColdStartAnswer, ReplicaStream, Router, RouterClosed

__all__ = [
    "ColdStartAnswer",
    "DataPlane",
    "ReplicaStream",
    "Route",
    "Routed",
    "TrafficSplit",
    "TrafficStats",
]

PRODUCTION = "production"
BASIS = 10_000  # percent in basis points: 0.01% resolution, integer arithmetic stays exact
STATS_KEEP_S = 3600.0  # outcomes older than this are forgotten (the longest watch window)
STATS_KEEP_N = 20_000  # per deployment; a watch window needs far fewer


class TrafficSplit:
    """Decides, request by request, whether the canary gets it (see the module docstring)."""

    def __init__(self, percent: float) -> None:
        self._share = 0
        self._acc = 0
        self.percent = percent

    @property
    def percent(self) -> float:
        return self._share / (BASIS / 100)

    @percent.setter
    def percent(self, value: float) -> None:
        self._share = max(0, min(BASIS, round(value * BASIS / 100)))

    def to_canary(self, key: str | None = None) -> bool:
        if key is not None:
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            return int.from_bytes(digest, "big") % BASIS < self._share
        self._acc += self._share
        if self._acc >= BASIS:
            self._acc -= BASIS
            return True
        return False


@dataclass
class Route:
    """Where one (model, environment) sends requests."""

    primary: Router
    primary_version: int = 0
    canary: Router | None = None
    canary_version: int = 0
    split: TrafficSplit = field(default_factory=lambda: TrafficSplit(0.0))

    def pick(self, key: str | None) -> tuple[Router, int]:
        canary = self.canary
        if canary is not None and self.split.to_canary(key):
            return canary, self.canary_version
        return self.primary, self.primary_version


@dataclass(frozen=True)
class Routed:
    answer: bytes
    version: int
    deployment_id: str


@dataclass(frozen=True)
class TrafficWindow:
    requests: int
    errors: int
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class TrafficStats:
    """Outcomes of one deployment's recent requests: (finished at, seconds, failed)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=STATS_KEEP_N)
        self.requests = 0
        self.errors = 0

    def record(self, seconds: float, *, failed: bool) -> None:
        now = self._clock()
        self.requests += 1
        self.errors += failed
        samples = self._samples
        samples.append((now, seconds, failed))
        while samples and now - samples[0][0] > STATS_KEEP_S:
            samples.popleft()

    def window(self, seconds: float) -> TrafficWindow:
        since = self._clock() - seconds
        recent = [(s, f) for at, s, f in self._samples if at >= since]
        if not recent:
            return TrafficWindow(0, 0, None)
        latencies = sorted(s for s, _ in recent)
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] * 1000
        return TrafficWindow(len(recent), sum(1 for _, f in recent if f), p95)


class DataPlane:
    def __init__(
        self,
        routes: MutableMapping[tuple[str, str], Route],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A live view: the controller mutates this mapping in place.
        self._routes = routes
        self._clock = clock
        self._stats: dict[str, TrafficStats] = {}

    def routable(self, model_name: str, environment: str = PRODUCTION) -> bool:
        return (model_name, environment) in self._routes

    def router(self, model_name: str, environment: str = PRODUCTION) -> Router | None:
        """The environment's primary router."""
        route = self._routes.get((model_name, environment))
        return None if route is None else route.primary

    def route(self, model_name: str, environment: str = PRODUCTION) -> Route | None:
        return self._routes.get((model_name, environment))

    def stats(self, deployment_id: str) -> TrafficStats:
        found = self._stats.get(deployment_id)
        if found is None:
            found = self._stats[deployment_id] = TrafficStats(self._clock)
        return found

    def forget(self, deployment_id: str) -> None:
        self._stats.pop(deployment_id, None)

    async def predict(
        self,
        model_name: str,
        payload: bytes,
        *,
        timeout_s: float = 60.0,
        environment: str = PRODUCTION,
        key: str | None = None,
    ) -> bytes:
        routed = await self.predict_routed(
            model_name, payload, timeout_s=timeout_s, environment=environment, key=key
        )
        return routed.answer

    def _pick(
        self, target: tuple[str, str], key: str | None, deadline: float, timeout_s: float
    ) -> tuple[Router, int, float]:
        """The router (and its version) for the next try at `target`, and the time left."""
        route = self._routes.get(target)
        if route is None:
            raise ModelNotRoutable(target[0])
        router, version = route.pick(key)
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise RequestTimeout(target[0], timeout_s)
        return router, version, remaining

    def _check_rerouted(self, target: tuple[str, str], closed: Router) -> None:
        """After `closed` refused a waiting request: go on only if the table moved on."""
        current = self._routes.get(target)
        if current is None or closed is current.primary or closed is current.canary:
            raise ModelNotRoutable(target[0]) from None

    async def predict_routed(
        self,
        model_name: str,
        payload: bytes,
        *,
        timeout_s: float = 60.0,
        environment: str = PRODUCTION,
        key: str | None = None,
    ) -> Routed:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        target = (model_name, environment)
        while True:
            router, version, remaining = self._pick(target, key, deadline, timeout_s)
            started = loop.time()
            try:
                answer = await router.forward(payload, timeout_s=remaining)
            except RequestTimeout:
                self.stats(router.deployment_id).record(loop.time() - started, failed=True)
                raise RequestTimeout(model_name, timeout_s) from None
            except RouterClosed:
                # Its deployment was retired while the request waited (a new version took over):
                # route again to whatever the table points at now.
                self._check_rerouted(target, router)
                continue
            except ServingError as exc:
                self.stats(router.deployment_id).record(
                    loop.time() - started, failed=exc.status >= 500
                )
                raise
            self.stats(router.deployment_id).record(loop.time() - started, failed=False)
            return Routed(answer, version, router.deployment_id)

    async def open_stream(
        self,
        model_name: str,
        payload: bytes,
        *,
        timeout_s: float = 60.0,
        environment: str = PRODUCTION,
        key: str | None = None,
    ) -> ReplicaStream:
        """A streamed generation on the environment's deployment (`Router.open_stream`, the
        canary split applies); the caller must `aclose()` it. Re-routes like `predict` when the
        deployment is retired while the request waits for a slot."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        target = (model_name, environment)
        while True:
            router, _version, remaining = self._pick(target, key, deadline, timeout_s)
            try:
                return await router.open_stream(payload, timeout_s=remaining)
            except RequestTimeout:
                raise RequestTimeout(model_name, timeout_s) from None
            except RouterClosed:
                self._check_rerouted(target, router)
                continue
