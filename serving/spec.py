"""Spec types the controller reconciles, and the store interface it reads them from.

`serving/` never imports the ORM: `backend/` implements `ControlStore` over its database and
hands it to the controller. Everything here is plain data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from plinth.types import ReplicaState, Scaling


class Phase(enum.Enum):
    """What the control plane wants of a deployment.

    DEPLOYING: keep max(min_replicas, 1) replicas running, route no traffic yet.
    ACTIVE: route the traffic of the spec's environment here (all of it for the primary,
    `canary_percent` of it for a canary); autoscale between min and max replicas.
    Deployments absent from the desired list are stopped.
    """

    DEPLOYING = "DEPLOYING"
    ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class DeploymentSpec:
    deployment_id: str
    model_name: str
    model_path: str  # local snapshot directory (already resolved)
    task: str
    engine: str
    scaling: Scaling  # the scaling of the environment it serves or is being rolled out into
    phase: Phase
    environment: str = "production"  # the model environment it serves (or will serve)
    version: int = 0  # the deployment's version number, answered in X-Plinth-Deployment-Version
    canary_percent: float | None = None  # ACTIVE as its environment's canary: its traffic share
    # Dynamic batching per replica (None: the task's default, see serving.engines.batching).
    max_batch_size: int | None = None
    max_batch_wait_ms: float | None = None
    # Environment for the replicas (decrypted secrets the deployment names): kept out of repr so
    # a logged spec never shows a value, and out of the hash (a dict is unhashable).
    env: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)


@dataclass(frozen=True)
class ReplicaSpec:
    """Everything a runtime needs to start one replica process."""

    replica_id: str
    deployment_id: str
    model_name: str
    model_path: str
    task: str
    engine: str
    max_concurrency: int
    env: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    max_batch_size: int | None = None  # None: the task's default (serving.engines.batching)
    max_batch_wait_ms: float | None = None


@dataclass
class ReplicaObservation:
    replica_id: str
    deployment_id: str
    state: ReplicaState
    pid: int | None = None
    port: int | None = None
    started_at: datetime | None = None
    ready_at: datetime | None = None
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)  # e.g. cold-start phase seconds


class ControlStore(Protocol):
    """Where the controller reads desired state and writes what it observed."""

    async def load_desired(self) -> list[DeploymentSpec]:
        """Deployments that should have replicas (phase DEPLOYING or ACTIVE, resolved)."""
        ...

    async def save_replicas(
        self, deployment_id: str, replicas: Sequence[ReplicaObservation]
    ) -> None:
        """Replace the recorded replica set of one deployment. Unknown deployments are ignored."""
        ...

    async def record_event(self, deployment_id: str, kind: str, message: str) -> None:
        """Append a deployment event (replica_started, replica_ready, replica_failed, scaled)."""
        ...

    async def reset_observed(self) -> None:
        """Forget every recorded replica: called once when a controller starts."""
        ...
