"""Replay one trace against one policy: the real Controller, Router and policy, in virtual time.

Contract: `simulate(trace, policy=..., scaling=..., config=...)` returns a `SimResult` with one
outcome per request and a one-second timeline. It builds a real `serving.controller.Controller`
(its `DataPlane`, its per-deployment `Router` and `DeploymentAutoscaler` with the named policy)
over `SimRuntime`/`SimReplicas`, runs it on a `VirtualTimeLoop`, and sends every request of the
trace through `DataPlane.predict` at its arrival time (no client retries: a 429 is a reject).
Nothing is mocked above the runtime and the replicas' HTTP answers, so what the benchmark
measures is the code that serves live traffic. Deterministic: same trace and policy, same result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from plinth.types import Scaling
from serving.controller import Controller
from serving.errors import QueueFull, RequestTimeout, ServingError
from serving.simulator.cluster import SimReplicas, SimRuntime
from serving.simulator.loop import run_virtual
from serving.simulator.traces import Trace
from serving.spec import DeploymentSpec, Phase, ReplicaObservation

MODEL = "sim"
SERVED, REJECTED, TIMED_OUT, FAILED = "served", "rejected", "timeout", "failed"


@dataclass(frozen=True)
class SimConfig:
    cold_start_s: float = 10.0
    tick_s: float = 0.5  # the controller's tick, as live
    request_timeout_s: float = 60.0
    warmup_s: float = 15.0  # before the first arrival: min_replicas get ready, as after a deploy


@dataclass(frozen=True)
class Outcome:
    arrival: float
    latency_s: float
    service_s: float
    status: str


@dataclass(frozen=True)
class TimePoint:
    at: float
    arrivals: int  # in the second ending at `at`
    replicas: int  # starting + ready + draining (what costs money)
    ready: int
    queued: int
    in_flight: int


@dataclass
class SimResult:
    trace: str
    policy: str
    outcomes: list[Outcome]
    timeline: list[TimePoint]
    replica_seconds: float
    cold_starts: int
    scaling_actions: int
    limit_violations: int
    duration_s: float


@dataclass
class _Store:
    desired: list[DeploymentSpec]
    events: list[tuple[str, str]] = field(default_factory=list)

    async def load_desired(self) -> list[DeploymentSpec]:
        return list(self.desired)

    async def save_replicas(
        self, deployment_id: str, replicas: Sequence[ReplicaObservation]
    ) -> None:
        return None

    async def record_event(self, deployment_id: str, kind: str, message: str) -> None:
        self.events.append((kind, message))

    async def reset_observed(self) -> None:
        return None


def simulate(
    trace: Trace, *, policy: str, scaling: Scaling, config: SimConfig | None = None
) -> SimResult:
    return run_virtual(_simulate(trace, policy, scaling, config or SimConfig()))


async def _simulate(trace: Trace, policy: str, scaling: Scaling, config: SimConfig) -> SimResult:
    loop = asyncio.get_running_loop()
    spec = DeploymentSpec(
        deployment_id="sim",
        model_name=MODEL,
        model_path="/sim",
        task="text-generation",
        engine="sim",
        scaling=scaling,
        phase=Phase.ACTIVE,
    )
    store = _Store([spec])
    runtime = SimRuntime(config.cold_start_s)
    replicas = SimReplicas(scaling.max_concurrency)
    controller = Controller(
        store,
        runtime,
        clock=loop.time,
        tick_s=config.tick_s,
        reload_s=3600.0,
        health_interval_s=3600.0,  # simulated replicas never hang
        transport=replicas.transport,
        policy_for=lambda _spec: policy,
    )
    control = loop.create_task(controller.run())
    outcomes: list[Outcome] = []
    timeline: list[TimePoint] = []
    t0 = loop.time() + config.warmup_s
    pending: set[asyncio.Task[None]] = set()

    async def one(service_s: float) -> None:
        start = loop.time()
        body = json.dumps({"service_s": service_s}).encode()
        try:
            await controller.plane.predict(MODEL, body, timeout_s=config.request_timeout_s)
            status = SERVED
        except QueueFull:
            status = REJECTED
        except RequestTimeout:
            status = TIMED_OUT
        except ServingError:
            status = FAILED
        outcomes.append(Outcome(start - t0, loop.time() - start, service_s, status))

    def arrive(service_s: float) -> None:
        task = loop.create_task(one(service_s))
        pending.add(task)
        task.add_done_callback(pending.discard)

    for at, service_s in zip(trace.arrivals, trace.service_s, strict=True):
        loop.call_at(t0 + at, arrive, service_s)

    async def sample() -> None:
        seen = 0
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            router = controller.plane.router(MODEL)
            arrivals = 0 if router is None else router.arrivals
            existing, ready = runtime.running(now)
            timeline.append(
                TimePoint(
                    now - t0,
                    arrivals - seen,
                    existing,
                    ready,
                    0 if router is None else router.queued,
                    0 if router is None else router.in_flight,
                )
            )
            seen = arrivals

    sampler = loop.create_task(sample())
    await asyncio.sleep(config.warmup_s + trace.duration_s)
    while pending:
        await asyncio.gather(*list(pending))
    end = loop.time()
    sampler.cancel()
    control.cancel()
    for task in (sampler, control):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    seconds = runtime.replica_seconds(end) - _warmup_cost(runtime, t0)
    actions = sum(1 for kind, _ in store.events if kind == "scaled")
    await controller.shutdown()
    return SimResult(
        trace=trace.name,
        policy=policy,
        outcomes=sorted(outcomes, key=lambda o: o.arrival),
        timeline=[p for p in timeline if p.at >= 0],
        replica_seconds=seconds,
        cold_starts=runtime.cold_starts,
        scaling_actions=actions,
        limit_violations=replicas.limit_violations,
        duration_s=end - t0,
    )


def _warmup_cost(runtime: SimRuntime, t0: float) -> float:
    """Replica-seconds spent before the first arrival (same initial deploy for everyone)."""
    return runtime.replica_seconds(t0)
