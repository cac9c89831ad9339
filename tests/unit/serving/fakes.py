"""Fakes for data-plane unit tests: an in-memory ControlStore, a runtime that starts nothing, and
replicas answering over httpx.MockTransport (one behaviour per replica host)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence

import httpx

from plinth.types import ReplicaState, Scaling
from serving.runtime import ReplicaHandle
from serving.spec import DeploymentSpec, Phase, ReplicaObservation, ReplicaSpec


class Clock:
    """A virtual clock: time moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def spec(
    deployment_id: str = "d1",
    model_name: str = "m",
    phase: Phase = Phase.ACTIVE,
    **scaling: float,
) -> DeploymentSpec:
    return DeploymentSpec(
        deployment_id=deployment_id,
        model_name=model_name,
        model_path="/snapshots/x",
        task="text-classification",
        engine="transformers",
        scaling=Scaling.model_validate(scaling),
        phase=phase,
    )


class FakeStore:
    def __init__(self, desired: Sequence[DeploymentSpec] = ()) -> None:
        self.desired = list(desired)
        self.replicas: dict[str, list[ReplicaObservation]] = {}
        self.events: list[tuple[str, str, str]] = []
        self.loads = 0
        self.resets = 0

    async def load_desired(self) -> list[DeploymentSpec]:
        self.loads += 1
        return list(self.desired)

    async def save_replicas(
        self, deployment_id: str, replicas: Sequence[ReplicaObservation]
    ) -> None:
        self.replicas[deployment_id] = list(replicas)

    async def record_event(self, deployment_id: str, kind: str, message: str) -> None:
        self.events.append((deployment_id, kind, message))

    async def reset_observed(self) -> None:
        self.resets += 1
        self.replicas.clear()

    def states(self, deployment_id: str = "d1") -> list[ReplicaState]:
        return [r.state for r in self.replicas.get(deployment_id, [])]

    def kinds(self, deployment_id: str = "d1") -> list[str]:
        return [kind for dep, kind, _ in self.events if dep == deployment_id]


class FakeRuntime:
    """Starts nothing; tests decide when replicas are ready, crash or turn unhealthy."""

    def __init__(self, *, ready_at_once: bool = True) -> None:
        self.ready_at_once = ready_at_once
        self.started: list[ReplicaSpec] = []
        self.handles: dict[str, ReplicaHandle] = {}
        self.ready_ids: set[str] = set()
        self.exit_codes: dict[str, int] = {}
        self.unhealthy: set[str] = set()
        self.stopped: list[str] = []
        self.logs: dict[str, str] = {}
        self.fail_start: Exception | None = None

    def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        if self.fail_start is not None:
            raise self.fail_start
        n = len(self.started)
        self.started.append(spec)
        handle = ReplicaHandle(
            replica_id=spec.replica_id,
            base_url=f"http://{spec.replica_id}.replica",
            pid=10_000 + n,
            port=20_000 + n,
            load_seconds={"weights": 0.5},
        )
        self.handles[spec.replica_id] = handle
        if self.ready_at_once:
            self.ready_ids.add(spec.replica_id)
        return handle

    async def ready(self, handle: ReplicaHandle) -> bool:
        rid = handle.replica_id
        return rid in self.ready_ids and rid not in self.exit_codes

    async def healthy(self, handle: ReplicaHandle) -> bool:
        return handle.replica_id not in self.unhealthy

    def poll(self, handle: ReplicaHandle) -> int | None:
        return self.exit_codes.get(handle.replica_id)

    async def stop(self, handle: ReplicaHandle, grace_s: float = 10.0) -> None:
        self.stopped.append(handle.replica_id)
        self.exit_codes.setdefault(handle.replica_id, -15)

    def tail(self, handle: ReplicaHandle, n: int = 20) -> str:
        return self.logs.get(handle.replica_id, "")

    async def aclose(self) -> None:
        return None

    def crash(self, replica_id: str, code: int = 1, log: str = "") -> None:
        self.exit_codes[replica_id] = code
        self.logs[replica_id] = log

    def running(self) -> list[str]:
        return [s.replica_id for s in self.started if s.replica_id not in self.exit_codes]


class FakeReplicas:
    """HTTP replicas behind a MockTransport, told apart by URL host (= replica id + ".replica").

    Behaviours: "ok" (echo), "connect_error", "die" (dies mid-request: the connection drops after
    the request was received), "422", "429", "500". With `hold` set, every request
    waits on it; `entered` records request ids (the body's "id") in arrival order.
    """

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.entered: list[object] = []
        self.hold: asyncio.Event | None = None
        self.delay_s = 0.0
        self.transport = httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        replica = host.removesuffix(".replica")
        body = json.loads(request.content)
        behaviour = self.behaviour.get(replica, "ok")
        if behaviour == "connect_error":
            raise httpx.ConnectError("connection refused", request=request)
        self.entered.append(body.get("id"))
        self.in_flight[replica] += 1
        self.max_in_flight[replica] = max(self.max_in_flight[replica], self.in_flight[replica])
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight[replica] -= 1
        if behaviour == "die":
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        if behaviour == "422":
            error = {"type": "invalid_input", "message": "inputs must be text", "field": "inputs"}
            return httpx.Response(422, json={"error": error})
        if behaviour == "429":
            return httpx.Response(429, json={"error": {"type": "overloaded", "message": "busy"}})
        if behaviour == "500":
            error = {"type": "engine_error", "message": "CUDA fell over"}
            return httpx.Response(500, json={"error": error})
        self.served[replica] += 1
        return httpx.Response(200, json={"replica": replica, "echo": body})


def payload(i: object = 0) -> bytes:
    return json.dumps({"id": i, "inputs": "hello"}).encode()
