"""What the controller remembers about one deployment and its replicas between ticks.

Plain bookkeeping, no I/O: the replica records (spec, runtime handle, observation), recent
failures kept for the store, the autoscaler (its history and policy state), restart backoff,
and the events waiting to be recorded. `serving.controller` owns every decision made with it.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from plinth.types import ReplicaState
from serving.autoscaling import DeploymentAutoscaler, make_policy
from serving.router import Router
from serving.runtime import ReplicaHandle
from serving.spec import DeploymentSpec, ReplicaObservation, ReplicaSpec

KEEP_FAILED = 3  # failed replicas still reported to the store, newest last


@dataclass
class ReplicaRecord:
    spec: ReplicaSpec
    obs: ReplicaObservation
    started: float  # controller clock
    ready_since: float | None = None  # controller clock
    handle: ReplicaHandle | None = None
    stopping: bool = False
    health_failures: int = 0

    @classmethod
    def starting(cls, spec: ReplicaSpec, now: float, wall: datetime) -> ReplicaRecord:
        obs = ReplicaObservation(
            replica_id=spec.replica_id,
            deployment_id=spec.deployment_id,
            state=ReplicaState.STARTING,
            started_at=wall,
        )
        return cls(spec=spec, obs=obs, started=now)


@dataclass
class DeploymentState:
    spec: DeploymentSpec
    router: Router
    since: float  # when the current phase began (autoscaling history starts here)
    replicas: dict[str, ReplicaRecord] = field(default_factory=dict)
    failed: deque[ReplicaObservation] = field(default_factory=lambda: deque(maxlen=KEEP_FAILED))
    retired: bool = False  # no longer desired: its replicas are stopping
    failed_to_load: bool = False  # a replica failed while DEPLOYING: start no more
    backoff_s: float = 0.0
    next_start_at: float = float("-inf")
    scaled_up_at: float = float("-inf")  # the last start the autoscaler asked for
    target: int | None = None
    autoscaler: DeploymentAutoscaler | None = None  # made in __post_init__ (needs `since`)
    dirty: bool = True  # observations changed since the last save
    events: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.autoscaler is None:
            self.autoscaler = DeploymentAutoscaler(make_policy(), since=self.since)

    @property
    def scaler(self) -> DeploymentAutoscaler:
        assert self.autoscaler is not None
        return self.autoscaler

    def live(self) -> list[ReplicaRecord]:
        """Replicas starting or ready (not stopping, not failed)."""
        return [r for r in self.replicas.values() if not r.stopping]

    def forget(self, rec: ReplicaRecord, *, failed: bool) -> None:
        """Drop a replica record; a failed one stays visible in `failed`."""
        self.replicas.pop(rec.spec.replica_id, None)
        if failed:
            self.failed.append(rec.obs)
        self.dirty = True

    def observations(self) -> list[ReplicaObservation]:
        current = [r.obs for r in self.replicas.values()]
        return [dataclasses.replace(o, extra=dict(o.extra)) for o in [*current, *self.failed]]

    def event(self, kind: str, message: str) -> None:
        self.events.append((kind, message))

    def take_events(self) -> list[tuple[str, str]]:
        events, self.events = self.events, []
        return events
