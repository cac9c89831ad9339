"""Per-deployment request router: concurrency slots, a bounded FIFO queue, forwarding, metrics.

Contract: `Router.forward(payload, timeout_s=...)` sends the body bytes unchanged to POST /predict
of one ready replica and returns the replica's JSON bytes unchanged, or raises a
`serving.errors.ServingError`. A request that found no replica ready and waited for one to start
gets a `ColdStartAnswer` (the same bytes, plus the seconds it waited); others get plain bytes.
It never sends a replica more than `max_concurrency` requests at once, queues at most
`max_queue` more, and touches no database and no Temporal: the controller feeds it the ready
replicas (`add_replica` / `remove_replica`) and reads its load (`sample`).

How a request is routed, step by step:

1. Count the arrival (for metrics and scale-to-zero). If no replica is ready, signal demand so the
   controller cold-starts one at once instead of on its next tick.
2. Pick the ready replica with the fewest requests in flight among those below
   `max_concurrency` (ties: the one picked least recently). Least outstanding requests rather
   than round robin because request costs vary widely (a 512-token generation next to a 5-token
   one): a replica that is slow right now holds more requests and so gets fewer new ones. This
   router sees every in-flight request of its deployment, so the exact minimum is cheap (at most
   64 replicas) and sampling tricks such as power-of-two-choices buy nothing.
3. No free slot: wait in the FIFO queue if it holds fewer than `max_queue` requests, else raise
   `QueueFull` whose Retry-After is the time the current queue needs to drain at the recent
   completion rate (so the retry does not meet a full queue again). A request waits at most its
   timeout (`RequestTimeout`), including while the deployment cold-starts from zero.
4. When a slot frees or a replica becomes ready, waiters are served in arrival order. The slot is
   handed to the waiter before it wakes, so a newcomer can never overtake the queue.
5. Send the request. 200 -> the body. 422 -> `InvalidInput` carrying the replica's error object.
   A connection refused (the request never reached the replica) or, for an idempotent request
   (predict is, unless the caller says otherwise), a replica that died mid-request: the replica
   leaves the ready set at once (the controller is told it is suspect; its health check either
   brings it back or replaces it) and the request is retried once on another replica. With no
   other replica ready, the retry waits at the head of the queue for a replacement, bounded by
   the request's timeout, rather than failing with 502. 429 from a replica -> retry once on
   another ready replica, else `ReplicaFailed`. Other statuses -> `ReplicaFailed`.
6. The slot is released whatever happens: completion, error, timeout or cancellation (a client
   disconnect cancels the request's task). A cancelled waiter leaves the queue.

Transport: with no `transport` given (the platform), each replica gets a `ReplicaClient`
(`serving.replica_client`): pooled keep-alive HTTP/1.1 connections with a pre-built request head,
which costs the gateway a fraction of what httpx does per request. With an httpx `transport`
(tests that stand in for replica processes) requests go through one pooled httpx client.

Load metrics for the autoscaler are exact rather than sampled: the router integrates
in-flight + queued over time (with the injectable clock), and `sample()` returns the time-weighted
mean since the previous sample, so a burst between two controller ticks is never missed. It also
counts arrivals and completions, the slot-seconds of finished requests (their service time, for
Little's-law sizing) and the idle gaps between requests (for scale-to-zero decisions).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

from plinth.types import Scaling
from serving.errors import InvalidInput, QueueFull, ReplicaFailed, RequestTimeout, ServingError
from serving.metrics import DeploymentMetrics
from serving.replica_client import ReplicaClient, ReplicaTransportError, ReplicaUnreachable
from serving.sse import event as sse_event

DRAIN_WINDOW_S = 30.0  # completions this recent estimate the drain rate for Retry-After
RETRY_AFTER_MAX_S = 120.0
RETRY_AFTER_NO_HISTORY_S = 1.0  # replicas ready but nothing finished yet
RETRY_AFTER_COLD_START_S = 10.0  # no replica ready and no history: a cold start is under way
IDLE_GAP_MIN_S = 1.0  # shorter pauses between requests say nothing about scaling to zero
IDLE_GAPS_KEPT = 256


class ColdStartAnswer(bytes):
    """A replica's answer to a request that waited for a replica to start: the same bytes (every
    caller of `forward` keeps working), plus `cold_start_s`, the time it waited for a ready
    replica (arrival, or its retry, to the hand-over). A subclass rather than a result object so
    that the hot path (a replica was ready) returns the response body as is, allocating nothing.
    """

    cold_start_s: float

    def __new__(cls, body: bytes, cold_start_s: float) -> ColdStartAnswer:
        answer = super().__new__(cls, body)
        answer.cold_start_s = cold_start_s
        return answer


class RouterClosed(Exception):
    """The router was retired (its deployment is no longer ACTIVE); route to the new one."""


@dataclass
class _Replica:
    replica_id: str
    base_url: str
    limit: int  # the --max-concurrency the replica was started with (it answers 429 above it)
    in_flight: int = 0
    last_pick: int = 0  # sequence number of the last pick; breaks ties between equal loads
    idle: asyncio.Event | None = None  # set when in_flight drops to 0 (for draining)
    client: ReplicaClient | None = None  # without an httpx transport (see the module docstring)


@dataclass
class _Waiter:
    future: asyncio.Future[_Replica]
    avoid: frozenset[str]


@dataclass(frozen=True)
class RouterSample:
    """What the autoscaler needs from one router at one instant."""

    at: float
    mean_load: float  # time-weighted mean of in-flight + queued since the previous sample
    in_flight: int
    queued: int
    ready_replicas: int
    arrivals: int  # since the router was created
    completions: int
    last_request_at: float | None
    busy_s: float = 0.0  # slot-seconds of finished requests since the router was created
    idle_gaps_s: tuple[float, ...] = ()  # recent pauses between requests, oldest first


class Router:
    """Routes one deployment's requests to its ready replicas (see the module docstring)."""

    def __init__(
        self,
        *,
        deployment_id: str,
        model_name: str,
        scaling: Scaling,
        clock: Callable[[], float] = time.monotonic,
        on_demand: Callable[[], None] | None = None,
        on_suspect: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: DeploymentMetrics | None = None,  # Prometheus series (serving.metrics)
    ) -> None:
        self.deployment_id = deployment_id
        self.model_name = model_name
        self.max_concurrency = scaling.max_concurrency
        self.max_queue = scaling.max_queue
        self.max_replicas = scaling.max_replicas
        self._clock = clock
        self._on_demand = on_demand
        self._on_suspect = on_suspect
        self._transport = transport
        self._metrics = metrics
        self._ready: dict[str, _Replica] = {}
        self._draining: dict[str, _Replica] = {}  # removed but still finishing requests
        self._waiters: deque[_Waiter] = deque()
        self._seq = 0
        self._closed = False
        self._in_flight = 0
        # Metrics.
        self.arrivals = 0
        self.completions = 0
        self.last_request_at: float | None = None
        self.busy_s = 0.0
        self._idle_gaps: deque[float] = deque(maxlen=IDLE_GAPS_KEPT)
        self._releases: deque[float] = deque(maxlen=512)
        now = clock()
        self._area = 0.0  # integral of (in-flight + queued) dt since _sample_start
        self._last_change = now
        self._sample_start = now
        # One pooled keep-alive client per router; the pool fits every slot of every replica.
        self._pool_size = scaling.max_replicas * scaling.max_concurrency
        self._client = self._new_client(self._pool_size)
        self._retired_clients: list[httpx.AsyncClient] = []

    def _new_client(self, size: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        # No httpx timeout: the request's own deadline (asyncio.timeout) bounds every call.
        return httpx.AsyncClient(
            limits=limits, timeout=httpx.Timeout(None), transport=self._transport, trust_env=False
        )

    # -- state read by the controller and the data plane ------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return len(self._waiters)

    @property
    def ready_replicas(self) -> list[str]:
        return list(self._ready)

    def in_flight_of(self, replica_id: str) -> int:
        r = self._ready.get(replica_id) or self._draining.get(replica_id)
        return 0 if r is None else r.in_flight

    async def wait_idle(self, replica_id: str, timeout_s: float) -> bool:
        """Wait until a (removed) replica has no request in flight; False on timeout."""
        r = self._ready.get(replica_id) or self._draining.get(replica_id)
        if r is None or r.in_flight == 0:
            return True
        if r.idle is None or r.idle.is_set():
            r.idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout_s):
                await r.idle.wait()
        except TimeoutError:
            return False
        return True

    def sample(self) -> RouterSample:
        """Snapshot plus the time-weighted mean load since the previous call."""
        now = self._clock()
        self._account(now)
        span = now - self._sample_start
        mean = self._area / span if span > 0 else float(self._load())
        self._area = 0.0
        self._sample_start = now
        return RouterSample(
            at=now,
            mean_load=mean,
            in_flight=self._in_flight,
            queued=len(self._waiters),
            ready_replicas=len(self._ready),
            arrivals=self.arrivals,
            completions=self.completions,
            last_request_at=self.last_request_at,
            busy_s=self.busy_s,
            idle_gaps_s=tuple(self._idle_gaps),
        )

    def retry_after_s(self) -> float:
        """Seconds until the current queue has drained at the recent completion rate."""
        now = self._clock()
        while self._releases and self._releases[0] < now - DRAIN_WINDOW_S:
            self._releases.popleft()
        if not self._releases:
            return RETRY_AFTER_NO_HISTORY_S if self._ready else RETRY_AFTER_COLD_START_S
        span = max(now - self._releases[0], 1.0)
        rate = len(self._releases) / span  # completions per second
        return min(max(len(self._waiters), 1) / rate, RETRY_AFTER_MAX_S)

    # -- replica set and limits (controller side) ----------------------------------------------

    def add_replica(
        self, replica_id: str, base_url: str, *, max_concurrency: int | None = None
    ) -> None:
        """Route to a ready replica; `max_concurrency` is the limit it was started with."""
        if self._closed or replica_id in self._ready:
            return
        limit = max_concurrency or self.max_concurrency
        replica = self._draining.pop(replica_id, None) or _Replica(replica_id, base_url, limit)
        if self._transport is None and (replica.client is None or replica.base_url != base_url):
            if replica.client is not None:
                replica.client.close()
            replica.client = _replica_client(base_url)
        replica.base_url = base_url
        replica.limit = limit
        self._ready[replica_id] = replica
        self._dispatch()

    def remove_replica(self, replica_id: str) -> None:
        """Stop routing to a replica; its in-flight requests finish (see `in_flight_of`)."""
        replica = self._ready.pop(replica_id, None)
        if replica is not None and replica.in_flight > 0:
            self._draining[replica_id] = replica
        elif replica is not None:
            _close_client(replica)

    def update_scaling(self, scaling: Scaling) -> None:
        self.max_concurrency = scaling.max_concurrency
        self.max_queue = scaling.max_queue
        self.max_replicas = scaling.max_replicas
        size = scaling.max_replicas * scaling.max_concurrency
        if size > self._pool_size:
            # Requests in flight keep using the old client; it is closed with the router.
            self._retired_clients.append(self._client)
            self._client = self._new_client(size)
            self._pool_size = size
        self._dispatch()

    def close(self) -> None:
        """Refuse new requests; queued ones get RouterClosed so the plane re-routes them."""
        self._closed = True
        self._account(self._clock())
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(RouterClosed())

    async def aclose(self) -> None:
        self.close()
        for client in [*self._retired_clients, self._client]:
            await client.aclose()
        self._retired_clients.clear()
        for replica in [*self._ready.values(), *self._draining.values()]:
            if replica.client is not None:
                replica.client.close()

    # -- the request path ----------------------------------------------------------------------

    async def forward(
        self, payload: bytes, *, timeout_s: float = 60.0, idempotent: bool = True
    ) -> bytes:
        """Send one predict request; see the module docstring for the algorithm and errors."""
        if self._closed:
            raise RouterClosed()
        now = self._clock()
        self.arrivals += 1
        if self.last_request_at is not None and now - self.last_request_at >= IDLE_GAP_MIN_S:
            self._idle_gaps.append(now - self.last_request_at)
        self.last_request_at = now
        status = 0  # stays 0 (not counted) when cancelled or re-routed (RouterClosed)
        try:
            async with asyncio.timeout(timeout_s):
                answer = await self._forward(payload, idempotent)
            status = 200
            return answer
        except TimeoutError:
            status = 504
            raise RequestTimeout(self.model_name, timeout_s) from None
        except ServingError as exc:
            status = exc.status
            raise
        finally:
            if status and self._metrics is not None:
                self._metrics.request_done(status, self._clock() - now)

    async def _forward(self, payload: bytes, idempotent: bool) -> bytes:
        avoid: frozenset[str] = frozenset()
        failure = ""
        cold_wait_s: float | None = None  # time spent waiting for a replica to start
        for attempt in range(2):
            # No replica ready: this attempt waits for a start (a cold start from zero, or the
            # replacement of a failed replica), which the caller is told about.
            asked_at = self._clock()
            cold_since = None if self._has_ready(avoid) else asked_at
            replica = await self._acquire(avoid, retry=attempt > 0, cold=cold_since is not None)
            taken_at = self._clock()
            if self._metrics is not None:
                self._metrics.queue_wait.observe(taken_at - asked_at)
            if cold_since is not None:
                cold_wait_s = (cold_wait_s or 0.0) + (taken_at - cold_since)
            try:
                if replica.client is not None:
                    status, content = await replica.client.post("/predict", payload)
                else:
                    resp = await self._client.post(
                        replica.base_url + "/predict",
                        content=payload,
                        headers={"content-type": "application/json"},
                    )
                    status, content = resp.status_code, resp.content
            except (httpx.TransportError, ReplicaTransportError) as exc:
                failure = f"replica {replica.replica_id} is unreachable ({type(exc).__name__})"
                self._suspect(replica)
                never_sent = isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | ReplicaUnreachable
                )
                if not (idempotent or never_sent):
                    raise ReplicaFailed(
                        f"model '{self.model_name}': replica {replica.replica_id} failed "
                        f"mid-request ({type(exc).__name__}); not retried (not idempotent)"
                    ) from None
            else:
                if status == 200:
                    if cold_wait_s is None:
                        return content
                    if self._metrics is not None:
                        self._metrics.cold_start(cold_wait_s)
                    return ColdStartAnswer(content, cold_wait_s)
                if status == 422:
                    raise _invalid_input(content)
                if status != 429:
                    raise ReplicaFailed(
                        f"replica {replica.replica_id} of model '{self.model_name}' failed "
                        f"(HTTP {status}): {_error_message(status, content)}"
                    )
                failure = f"replica {replica.replica_id} is overloaded (HTTP 429)"
                if not any(rid != replica.replica_id for rid in self._ready):
                    break  # alive but refusing: no other replica to try
            finally:
                self._release(replica, taken_at)
            avoid = avoid | {replica.replica_id}
        raise ReplicaFailed(f"model '{self.model_name}': {failure}")

    async def open_stream(self, payload: bytes, *, timeout_s: float = 60.0) -> ReplicaStream:
        """Start a streamed generation (replica POST /predict_stream) and return once the replica
        has accepted it: errors before the first event raise like `forward` (InvalidInput,
        QueueFull, RequestTimeout, ReplicaFailed). `timeout_s` bounds the wait for that answer;
        the stream itself runs until the generation ends or the caller closes it. The stream
        holds its concurrency slot until `ReplicaStream.aclose()`, which also closes the
        connection, so the replica stops generating (a disconnected client is such a close)."""
        if self._closed:
            raise RouterClosed()
        now = self._clock()
        self.arrivals += 1
        if self.last_request_at is not None and now - self.last_request_at >= IDLE_GAP_MIN_S:
            self._idle_gaps.append(now - self.last_request_at)
        self.last_request_at = now
        try:
            async with asyncio.timeout(timeout_s):
                return await self._open_stream(payload, now)
        except TimeoutError:
            if self._metrics is not None:
                self._metrics.request_done(504, self._clock() - now)
            raise RequestTimeout(self.model_name, timeout_s) from None
        except ServingError as exc:
            if self._metrics is not None:
                self._metrics.request_done(exc.status, self._clock() - now)
            raise

    async def _open_stream(self, payload: bytes, arrived: float) -> ReplicaStream:
        avoid: frozenset[str] = frozenset()
        failure = ""
        for attempt in range(2):
            cold = not self._has_ready(avoid)
            replica = await self._acquire(avoid, retry=attempt > 0, cold=cold)
            taken_at = self._clock()
            request = self._client.build_request(
                "POST",
                replica.base_url + "/predict_stream",
                content=payload,
                headers={"content-type": "application/json", "accept": "text/event-stream"},
            )
            try:
                resp = await self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                self._release(replica, taken_at)
                self._suspect(replica)
                if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    raise ReplicaFailed(
                        f"model '{self.model_name}': replica {replica.replica_id} failed "
                        f"before streaming ({type(exc).__name__})"
                    ) from None
                failure = f"replica {replica.replica_id} is unreachable ({type(exc).__name__})"
                avoid = avoid | {replica.replica_id}
                continue
            except BaseException:
                self._release(replica, taken_at)
                raise
            if resp.status_code == 200:
                return ReplicaStream(self, replica, resp, taken_at=taken_at, arrived=arrived)
            try:
                await resp.aread()
            finally:
                await resp.aclose()
                self._release(replica, taken_at)
            if resp.status_code == 422:
                raise _invalid_input(resp.content)
            if resp.status_code != 429:
                raise ReplicaFailed(
                    f"replica {replica.replica_id} of model '{self.model_name}' failed "
                    f"(HTTP {resp.status_code}): {_error_message(resp.status_code, resp.content)}"
                )
            failure = f"replica {replica.replica_id} is overloaded (HTTP 429)"
            if not any(rid != replica.replica_id for rid in self._ready):
                break
            avoid = avoid | {replica.replica_id}
        raise ReplicaFailed(f"model '{self.model_name}': {failure}")

    def _stream_closed(self, stream: ReplicaStream) -> None:
        self._release(stream.replica, stream.taken_at)
        if self._metrics is not None:
            self._metrics.request_done(200, self._clock() - stream.arrived)

    def _suspect(self, replica: _Replica) -> None:
        """Stop routing to a replica that failed a connection; the controller decides its fate."""
        self.remove_replica(replica.replica_id)
        if self._on_suspect is not None:
            self._on_suspect(replica.replica_id)

    def _has_ready(self, avoid: frozenset[str]) -> bool:
        if not avoid:  # the first attempt of every request: skip the generator
            return bool(self._ready)
        return any(rid not in avoid for rid in self._ready)

    async def _acquire(self, avoid: frozenset[str], *, retry: bool, cold: bool) -> _Replica:
        if self._closed:
            raise RouterClosed()
        if cold:
            self._signal_demand()
        replica = self._pick(avoid)
        if replica is not None:
            # A free slot while requests wait means none of them may use it (see _dispatch).
            self._take(replica)
            return replica
        # A retry was admitted already: it skips the bound and goes first, it arrived earlier.
        if not retry and len(self._waiters) >= self.max_queue:
            raise QueueFull(
                self.model_name,
                max_queue=self.max_queue,
                retry_after_s=self.retry_after_s(),
                ready=len(self._ready),
                max_replicas=self.max_replicas,
            )
        # A waiting retry takes whichever replica comes first: a replacement, or the failed one
        # once its health check has put it back (the router dropped it on the failure).
        waiter = _Waiter(asyncio.get_running_loop().create_future(), frozenset())
        self._account(self._clock())
        if retry:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            return await waiter.future
        except BaseException:
            fut = waiter.future
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release(fut.result())  # handed a slot but cancelled before using it
            elif waiter in self._waiters:
                self._account(self._clock())
                self._waiters.remove(waiter)
            raise

    def _pick(self, avoid: frozenset[str]) -> _Replica | None:
        best: _Replica | None = None
        for r in self._ready.values():
            if r.in_flight >= min(self.max_concurrency, r.limit) or r.replica_id in avoid:
                continue
            if best is None or (r.in_flight, r.last_pick) < (best.in_flight, best.last_pick):
                best = r
        return best

    def _take(self, replica: _Replica) -> None:
        self._account(self._clock())
        self._seq += 1
        replica.last_pick = self._seq
        replica.in_flight += 1
        self._in_flight += 1

    def _release(self, replica: _Replica, taken_at: float | None = None) -> None:
        now = self._clock()
        self._account(now)
        if taken_at is not None:
            self.busy_s += now - taken_at
        replica.in_flight -= 1
        self._in_flight -= 1
        self.completions += 1
        self._releases.append(now)
        if replica.in_flight == 0:
            if self._draining.pop(replica.replica_id, None) is not None:
                _close_client(replica)  # removed, and now drained
            if replica.idle is not None:
                replica.idle.set()
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiters in arrival order (skipping ones that avoid that replica)."""
        if not self._waiters:
            return
        for waiter in list(self._waiters):
            if self._pick(frozenset()) is None:
                return
            if waiter.future.done():
                continue
            replica = self._pick(waiter.avoid)
            if replica is None:
                continue
            self._take(replica)
            self._waiters.remove(waiter)
            waiter.future.set_result(replica)

    def _signal_demand(self) -> None:
        if self._on_demand is not None:
            self._on_demand()

    def _load(self) -> int:
        return self._in_flight + len(self._waiters)

    def _account(self, now: float) -> None:
        """Integrate the current load up to `now`; call before any change of the load."""
        self._area += self._load() * max(0.0, now - self._last_change)
        self._last_change = now


class ReplicaStream:
    """An accepted streamed generation (`Router.open_stream`): iterate `chunks()` for the raw
    server-sent-event bytes; `aclose()` (idempotent) closes the connection and frees the slot."""

    def __init__(
        self,
        router: Router,
        replica: _Replica,
        response: httpx.Response,
        *,
        taken_at: float,
        arrived: float,
    ) -> None:
        self.router = router
        self.replica = replica
        self.response = response
        self.taken_at = taken_at
        self.arrived = arrived
        self.closed = False

    @property
    def replica_id(self) -> str:
        return self.replica.replica_id

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:  # the replica died mid-stream: end with an event
            message = f"replica {self.replica_id} failed mid-stream ({type(exc).__name__})"
            yield sse_event({"error": {"type": "replica_failed", "message": message}})
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.response.aclose()
        finally:
            self.router._stream_closed(self)


def _close_client(replica: _Replica) -> None:
    """Close a removed replica's idle connections (a re-add makes a new client)."""
    if replica.client is not None:
        replica.client.close()
        replica.client = None


def _replica_client(base_url: str) -> ReplicaClient:
    url = httpx.URL(base_url)
    return ReplicaClient(url.host, url.port or 80)


def _error_object(content: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error: dict[str, Any] = data["error"]
        return error
    return None


def _error_message(status: int, content: bytes) -> str:
    error = _error_object(content)
    if error is not None and isinstance(error.get("message"), str):
        return str(error["message"])
    text = content.decode("utf-8", errors="replace").strip()
    return text[:500] if text else _reason(status)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _invalid_input(content: bytes) -> InvalidInput:
    error = _error_object(content)
    if error is None:
        return InvalidInput(_error_message(422, content))
    message = str(error.get("message", "invalid input"))
    field = str(error.get("field", "inputs"))
    return InvalidInput(message, field=field, detail=error)
