"""The reconciler: makes the running replicas match the desired deployments, and says so.

Contract (see DESIGN.md "Control loop"): `Controller(store, runtime).run()` loops until cancelled.
Each tick (every `tick_s`, or at once after `wake()` or when a router signals demand) it:

1. reloads the desired deployments from the store (at least every `reload_s`, at once when woken);
2. points the routing table, (model, environment) -> `serving.plane.Route`, at each
   environment's ACTIVE primary deployment and its ACTIVE canary (with its percent; only ACTIVE
   gets traffic; a Route is updated in place so its canary split keeps its position) and
   applies changed scaling configs to the routers live; deployments no longer desired are
   retired, after the table stopped pointing at them: their router closes (requests queued
   there route again to the new table) and their replicas drain and stop;
3. observes replicas: an exited process, a start that exceeds `start_timeout_s`, or
   `health_failures` failed health probes in a row (a hung replica times out its GET /health)
   make the replica FAILED (with exit code and log tail as `error`) and take it out of its
   router;
4. probes STARTING replicas; a ready one becomes READY and joins its router;
5. computes each deployment's target: DEPLOYING -> max(min_replicas, 1), and no restart after a
   replica failed (the deploy workflow reads the FAILED replica and fails the deploy); ACTIVE ->
   the deployment's autoscaling policy (`policy_for(spec)`, default the spec's
   `scaling.autoscaling_policy`, itself "plinth" unless chosen; see
   `serving.autoscaling`) through its `DeploymentAutoscaler`, replacing failed replicas with a
   backoff (1 s doubling to 30 s, reset once a replica stays READY for a minute). It starts
   missing replicas and stops extra ones (STARTING first, then the least busy; not within a
   tick of a start, so a policy cannot flap on the passes its own starts wake), draining them:
   out of the router, in-flight requests finish (up to `drain_grace_s`), then the runtime stops
   them. A READY replica the router dropped after a connection error rejoins it once it answers
   its health probe again;
6. saves the replica observations of every deployment whose set or states changed, and records
   events (replica_started, replica_ready, replica_failed, replica_stopped, scaled).

Nothing here blocks the predict path: routers run on their own, health probes run in a separate
task, and the controller only flips in-memory tables. `shutdown()` stops every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx

from plinth.types import ReplicaState
from serving.aio import wake_or_timeout
from serving.autoscaling import make_policy
from serving.deployment_state import DeploymentState, ReplicaRecord
from serving.metrics import ServingMetrics
from serving.plane import DataPlane, Route
from serving.router import Router
from serving.runtime import ReplicaRuntime
from serving.spec import ControlStore, DeploymentSpec, Phase, ReplicaSpec

PolicyChooser = Callable[[DeploymentSpec], str]

log = logging.getLogger(__name__)

STARTING_PROBE_S = 0.02  # readiness probe period while a replica starts (a fork takes ~0.2 s+)
BACKOFF_RESET_S = 60.0  # a replica READY this long ends a crash loop's restart backoff


class Controller:
    def __init__(
        self,
        store: ControlStore,
        runtime: ReplicaRuntime,
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 0.5,
        reload_s: float = 1.0,
        start_timeout_s: float = 300.0,
        health_interval_s: float = 5.0,
        health_failures: int = 3,
        drain_grace_s: float = 30.0,
        stop_grace_s: float = 10.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        policy_for: PolicyChooser | None = None,
        metrics: ServingMetrics | None = None,  # Prometheus series; gauges read at scrape time
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._policy_for = policy_for or (lambda spec: spec.scaling.autoscaling_policy)
        self._runtime = runtime
        self._clock = clock
        self.tick_s = tick_s
        self.reload_s = reload_s
        self.start_timeout_s = start_timeout_s
        self.health_interval_s = health_interval_s
        self.health_failures = health_failures
        self.drain_grace_s = drain_grace_s
        self.stop_grace_s = stop_grace_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._transport = transport
        self._routes: dict[tuple[str, str], Route] = {}
        self._plane = DataPlane(self._routes, clock=clock)
        self._deployments: dict[str, DeploymentState] = {}
        self._desired: list[DeploymentSpec] = []
        self._loaded_at: float | None = None
        self._reload = True
        self._wake = asyncio.Event()
        self._suspects: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        if metrics is not None:
            metrics.watch(self._deployments.values)

    # -- public API ----------------------------------------------------------------------------

    @property
    def plane(self) -> DataPlane:
        return self._plane

    @property
    def deployments(self) -> dict[str, DeploymentState]:
        """Read-only view for status pages and tests."""
        return dict(self._deployments)

    def wake(self) -> None:
        """Reload desired state and reconcile now (call after changing it). Thread-safe."""
        self._reload = True
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop:
            loop.call_soon_threadsafe(self._wake.set)  # e.g. from a sync activity's thread
        else:
            self._wake.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._store.reset_observed()
        health = asyncio.create_task(self._health_loop())
        try:
            while not self._closing:
                try:
                    await self.reconcile_once()
                except Exception:  # a bug or a store outage must not kill the control loop
                    log.exception("reconcile failed; retrying on the next tick")
                await wake_or_timeout(self._wake, self._next_tick_s())
                self._wake.clear()
        finally:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health

    def _next_tick_s(self) -> float:
        # While a replica starts, probe it often: cold start is on some request's clock.
        starting = any(
            rec.obs.state is ReplicaState.STARTING
            for dep in self._deployments.values()
            for rec in dep.live()
        )
        return min(self.tick_s, STARTING_PROBE_S) if starting else self.tick_s

    async def shutdown(self) -> None:
        """Stop routing and stop every replica; waits until they are gone."""
        self._closing = True
        self._routes.clear()
        for dep in self._deployments.values():
            dep.router.close()
            for rec in dep.live():
                self._stop(dep, rec, drain=False)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for dep in self._deployments.values():
            await self._flush(dep)
            await dep.router.aclose()
        self._deployments.clear()
        await self._runtime.aclose()

    # -- one reconcile pass --------------------------------------------------------------------

    async def reconcile_once(self) -> None:
        if self._closing:
            return
        now = self._clock()
        if self._reload or self._loaded_at is None or now - self._loaded_at >= self.reload_s:
            self._reload = False
            try:
                self._desired = await self._store.load_desired()
                self._loaded_at = now
            except Exception:
                log.exception("could not load the desired deployments; keeping the last known")
        if self._closing:
            return
        self._apply_desired(now)
        for dep in list(self._deployments.values()):
            self._observe(dep, now)
        await self._probe_starting()
        if self._closing:
            return
        now = self._clock()
        for dep in list(self._deployments.values()):
            self._scale(dep, now)
        for dep in list(self._deployments.values()):
            await self._flush(dep)
            if dep.retired and not dep.replicas:
                del self._deployments[dep.spec.deployment_id]
                self._plane.forget(dep.spec.deployment_id)
                if self._metrics is not None:
                    self._metrics.forget(dep.spec.model_name, dep.spec.deployment_id)
                self._spawn(dep.router.aclose())

    def _apply_desired(self, now: float) -> None:
        wanted = {s.deployment_id: s for s in self._desired}
        for spec in self._desired:
            dep = self._deployments.get(spec.deployment_id)
            if dep is None:
                dep = DeploymentState(spec=spec, router=self._new_router(spec), since=now)
                self._deployments[spec.deployment_id] = dep
            elif dep.retired:  # wanted again while stopping: route anew, keep stopping the rest
                self._spawn(dep.router.aclose())
                dep.router = self._new_router(spec)
                dep.retired = False
            # Per deployment and live: a changed choice takes effect on this tick.
            dep.scaler.set_policy(make_policy(self._policy_for(spec)))
            if dep.spec != spec:
                if dep.spec.scaling != spec.scaling:
                    dep.router.update_scaling(spec.scaling)
                if dep.spec.phase != spec.phase:
                    dep.since = now  # autoscaling history starts when traffic may arrive
                    dep.scaler.restart_history(now)
                    dep.failed_to_load = False
                dep.spec = spec
        self._apply_routes()
        for dep_id, dep in self._deployments.items():
            if dep_id not in wanted and not dep.retired:
                dep.retired = True
                dep.router.close()
                for rec in dep.live():
                    self._stop(dep, rec, drain=True)

    def _apply_routes(self) -> None:
        primaries: dict[tuple[str, str], DeploymentSpec] = {}
        canaries: dict[tuple[str, str], DeploymentSpec] = {}
        for spec in self._desired:
            if spec.phase is Phase.ACTIVE:
                table = primaries if spec.canary_percent is None else canaries
                table[(spec.model_name, spec.environment)] = spec
        for target in list(self._routes):
            if target not in primaries:
                del self._routes[target]
        for target, spec in primaries.items():
            router = self._deployments[spec.deployment_id].router
            route = self._routes.get(target)
            if route is None:
                route = self._routes[target] = Route(router, spec.version)
            route.primary, route.primary_version = router, spec.version
            canary = canaries.get(target)
            if canary is None or canary.canary_percent is None:
                route.canary = None
                route.split.percent = 0.0
            else:
                route.canary = self._deployments[canary.deployment_id].router
                route.canary_version = canary.version
                route.split.percent = canary.canary_percent

    def _new_router(self, spec: DeploymentSpec) -> Router:
        return Router(
            deployment_id=spec.deployment_id,
            model_name=spec.model_name,
            scaling=spec.scaling,
            clock=self._clock,
            on_demand=self._wake.set,
            on_suspect=self._on_suspect,
            transport=self._transport,
            metrics=m.deployment(spec.model_name, spec.deployment_id)
            if (m := self._metrics)
            else None,
        )

    def _on_suspect(self, replica_id: str) -> None:
        self._suspects.add(replica_id)
        self._wake.set()

    # -- observing replicas --------------------------------------------------------------------

    def _observe(self, dep: DeploymentState, now: float) -> None:
        if dep.backoff_s and any(
            r.ready_since is not None and now - r.ready_since >= BACKOFF_RESET_S for r in dep.live()
        ):
            dep.backoff_s = 0.0  # a replica has stayed up: the crash loop, if any, is over
        for rec in dep.live():
            code = self._runtime.poll(rec.handle) if rec.handle is not None else None
            if code is not None:
                self._fail(dep, rec, now, f"replica exited with code {code}", kill=False)
            elif rec.obs.state is ReplicaState.STARTING and now - rec.started >= (
                self.start_timeout_s
            ):
                message = f"replica not ready after {self.start_timeout_s:g} s; killed"
                self._fail(dep, rec, now, message, kill=True)
            elif rec.health_failures >= self.health_failures:
                message = f"replica failed {rec.health_failures} health checks in a row; replaced"
                self._fail(dep, rec, now, message, kill=True)

    def _fail(
        self, dep: DeploymentState, rec: ReplicaRecord, now: float, message: str, *, kill: bool
    ) -> None:
        tail = self._runtime.tail(rec.handle) if rec.handle is not None else ""
        rec.obs.state = ReplicaState.FAILED
        rec.obs.error = f"{message}\n{tail}".strip() if tail else message
        dep.router.remove_replica(rec.spec.replica_id)
        dep.forget(rec, failed=True)
        self._suspects.discard(rec.spec.replica_id)
        dep.event("replica_failed", f"replica {rec.spec.replica_id} failed: {message}")
        if dep.spec.phase is Phase.DEPLOYING:
            dep.failed_to_load = True
        else:
            dep.backoff_s = min(max(dep.backoff_s * 2, self.backoff_initial_s), self.backoff_max_s)
            dep.next_start_at = now + dep.backoff_s
        if kill and rec.handle is not None:
            self._spawn(self._runtime.stop(rec.handle, grace_s=0))

    async def _probe_starting(self) -> None:
        pairs = [
            (dep, rec)
            for dep in self._deployments.values()
            for rec in dep.live()
            if rec.obs.state is ReplicaState.STARTING and rec.handle is not None
        ]
        if not pairs:
            return
        results = await asyncio.gather(
            *(self._runtime.ready(rec.handle) for _, rec in pairs if rec.handle is not None),
            return_exceptions=True,
        )
        now = self._clock()
        for (dep, rec), ok in zip(pairs, results, strict=True):
            if ok is not True or rec.stopping or rec.obs.state is not ReplicaState.STARTING:
                continue
            assert rec.handle is not None
            rec.obs.state = ReplicaState.READY
            rec.obs.ready_at = _utcnow()
            rec.obs.extra = dict(rec.handle.load_seconds)
            dep.router.add_replica(
                rec.spec.replica_id, rec.handle.base_url, max_concurrency=rec.spec.max_concurrency
            )
            rec.ready_since = now
            dep.scaler.record_cold_start(now - rec.started)
            if self._metrics is not None:
                self._metrics.replica_ready(
                    dep.spec.model_name,
                    dep.spec.deployment_id,
                    now - rec.started,
                    rec.handle.load_seconds,
                )
            phases = ", ".join(f"{k} {v:.2f} s" for k, v in rec.handle.load_seconds.items())
            dep.event(
                "replica_ready",
                f"replica {rec.spec.replica_id} ready in {now - rec.started:.1f} s"
                + (f" ({phases})" if phases else ""),
            )
            dep.dirty = True

    # -- scaling -------------------------------------------------------------------------------

    def _scale(self, dep: DeploymentState, now: float) -> None:
        if dep.retired:
            return
        spec = dep.spec
        scaling = spec.scaling
        live = dep.live()
        ready = sum(1 for rec in live if rec.obs.state is ReplicaState.READY)
        scaler = dep.scaler
        scaler.observe(dep.router.sample(), now, keep_s=scaling.autoscaling_window_s)
        if spec.phase is Phase.DEPLOYING:
            target = len(live) if dep.failed_to_load else max(scaling.min_replicas, 1)
        else:
            target = scaler.decide(now, scaling, len(live), ready)
        if target != dep.target:
            if dep.target is not None or target != len(live):
                dep.event("scaled", f"scaled from {len(live)} to {target} replicas")
            dep.target = target
        if target > len(live) and now >= dep.next_start_at:
            dep.scaled_up_at = now
            for _ in range(target - len(live)):
                self._start(dep, now)
        elif target < len(live) and now - dep.scaled_up_at >= self.tick_s:
            # Not within a tick of a start: a policy whose answer depends on the replica count
            # could otherwise start and stop replicas on every pass that the last one woke.
            # Not-ready replicas first (newest first), then the least busy ready ones.
            def cost(rec: ReplicaRecord) -> tuple[int, float, int]:
                ready = rec.obs.state is ReplicaState.READY
                busy = dep.router.in_flight_of(rec.spec.replica_id)
                return (1 if ready else 0, -rec.started if not ready else 0.0, busy)

            for rec in sorted(live, key=cost)[: len(live) - target]:
                self._stop(dep, rec, drain=True)

    def _start(self, dep: DeploymentState, now: float) -> None:
        spec = dep.spec
        rspec = ReplicaSpec(
            replica_id=f"r-{uuid.uuid4().hex[:12]}",
            deployment_id=spec.deployment_id,
            model_name=spec.model_name,
            model_path=spec.model_path,
            task=spec.task,
            engine=spec.engine,
            max_concurrency=spec.scaling.max_concurrency,
            env=spec.env,
            max_batch_size=spec.max_batch_size,
            max_batch_wait_ms=spec.max_batch_wait_ms,
        )
        rec = ReplicaRecord.starting(rspec, now, _utcnow())
        dep.replicas[rspec.replica_id] = rec
        dep.dirty = True
        try:
            rec.handle = self._runtime.start(rspec)
        except Exception as exc:
            log.exception("could not start replica %s", rspec.replica_id)
            self._fail(dep, rec, now, f"could not start: {exc}", kill=False)
            return
        rec.obs.pid = rec.handle.pid
        rec.obs.port = rec.handle.port
        dep.event(
            "replica_started",
            f"replica {rspec.replica_id} started (pid {rec.handle.pid}, port {rec.handle.port})",
        )

    def _stop(self, dep: DeploymentState, rec: ReplicaRecord, *, drain: bool) -> None:
        if rec.stopping:
            return
        rec.stopping = True
        rec.obs.state = ReplicaState.STOPPING
        dep.router.remove_replica(rec.spec.replica_id)
        dep.dirty = True
        # The router is captured now: a re-wanted deployment gets a new one while this drains.
        self._spawn(self._stop_replica(dep, rec, dep.router if drain else None))

    async def _stop_replica(
        self, dep: DeploymentState, rec: ReplicaRecord, drain_from: Router | None
    ) -> None:
        rid = rec.spec.replica_id
        try:
            if drain_from is not None:
                await drain_from.wait_idle(rid, self.drain_grace_s)
            if rec.handle is not None:
                await self._runtime.stop(rec.handle, grace_s=self.stop_grace_s)
        finally:
            dep.forget(rec, failed=False)
            self._suspects.discard(rid)
            dep.event("replica_stopped", f"replica {rid} stopped")
            self._wake.set()

    # -- health --------------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        last = -math.inf
        while True:
            loop = asyncio.get_running_loop()
            if self._suspects or loop.time() - last >= self.health_interval_s:
                last = loop.time()
                try:
                    await self.check_health()
                except Exception:
                    log.exception("health probes failed")
            await asyncio.sleep(min(self.tick_s, self.health_interval_s))

    async def check_health(self) -> None:
        """Probe GET /health of every READY replica once; count consecutive failures."""
        pairs = [
            (dep, rec)
            for dep in self._deployments.values()
            for rec in dep.live()
            if rec.obs.state is ReplicaState.READY and rec.handle is not None
        ]
        self._suspects.clear()
        results = await asyncio.gather(
            *(self._runtime.healthy(rec.handle) for _, rec in pairs if rec.handle is not None),
            return_exceptions=True,
        )
        failed = False
        for (dep, rec), ok in zip(pairs, results, strict=True):
            if ok is True:
                rec.health_failures = 0
                if not rec.stopping and rec.obs.state is ReplicaState.READY and rec.handle:
                    # The router drops a replica on a connection error; healthy, it comes back.
                    dep.router.add_replica(
                        rec.spec.replica_id,
                        rec.handle.base_url,
                        max_concurrency=rec.spec.max_concurrency,
                    )
            else:
                rec.health_failures += 1
                failed = failed or rec.health_failures >= self.health_failures
        if failed:
            self._wake.set()

    # -- persistence ---------------------------------------------------------------------------

    async def _flush(self, dep: DeploymentState) -> None:
        dep_id = dep.spec.deployment_id
        try:
            for kind, message in dep.take_events():
                await self._store.record_event(dep_id, kind, message)
            if dep.dirty:
                dep.dirty = False
                await self._store.save_replicas(dep_id, dep.observations())
        except Exception:
            dep.dirty = True
            log.exception("could not record replicas of deployment %s", dep_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _utcnow() -> datetime:
    return datetime.now(UTC)
