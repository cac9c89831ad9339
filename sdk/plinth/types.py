"""Public types of the Plinth contract (v1).

These pydantic models are the single source of truth for scaling configuration and resource
names. The SDK sends them, the server validates with them, and they import nothing of ours.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_NAME_RE = re.compile(NAME_PATTERN)

TASKS = ("feature-extraction", "text-classification", "text-generation")

# Autoscaling policies a deployment may choose (`serving.autoscaling.POLICY_NAMES` must match).
AUTOSCALING_POLICIES = ("plinth", "ray_serve", "knative_kpa", "k8s_hpa")


class FieldError(ValueError):
    """A value that breaks the contract, naming the (contract-level, camelCase) field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate_name(value: str, *, field: str = "name") -> str:
    """Model and environment names are safe in URLs, paths and process names."""
    if not value:
        raise FieldError(field, "must not be empty")
    if not _NAME_RE.match(value):
        raise FieldError(
            field,
            f"{value!r} is not a valid name: use 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    return value


class Scaling(BaseModel):
    """Scaling configuration of a model (per environment once environments exist).

    Field names are the contract's snake_case; GraphQL uses their camelCase.
    """

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = 0
    max_replicas: int = 1
    concurrency_target: float = 2.0
    max_concurrency: int = 4
    scale_down_delay_s: float = 300.0
    autoscaling_window_s: float = 60.0
    max_queue: int = 64
    # Which autoscaling policy drives the replica count: Plinth's own, or a baseline's.
    autoscaling_policy: str = "plinth"

    def check(self) -> None:
        """Raise FieldError (camelCase field name) for the first rule this config breaks."""
        if self.min_replicas < 0:
            raise FieldError("minReplicas", "must be 0 or more")
        if self.max_replicas < 1:
            raise FieldError("maxReplicas", "must be 1 or more")
        if self.min_replicas > self.max_replicas:
            raise FieldError(
                "minReplicas",
                f"minReplicas ({self.min_replicas}) must not exceed "
                f"maxReplicas ({self.max_replicas})",
            )
        if self.max_replicas > 64:
            raise FieldError("maxReplicas", "must be 64 or fewer")
        if self.max_concurrency < 1:
            raise FieldError("maxConcurrency", "must be 1 or more")
        if self.concurrency_target <= 0:
            raise FieldError("concurrencyTarget", "must be greater than 0")
        if self.concurrency_target > self.max_concurrency:
            raise FieldError(
                "concurrencyTarget",
                f"concurrencyTarget ({self.concurrency_target}) must not exceed "
                f"maxConcurrency ({self.max_concurrency})",
            )
        if self.scale_down_delay_s < 0:
            raise FieldError("scaleDownDelaySeconds", "must be 0 or more")
        if self.autoscaling_window_s <= 0:
            raise FieldError("autoscalingWindowSeconds", "must be greater than 0")
        if self.max_queue < 0:
            raise FieldError("maxQueue", "must be 0 or more")
        if self.autoscaling_policy not in AUTOSCALING_POLICIES:
            raise FieldError(
                "autoscalingPolicy",
                f"unknown policy {self.autoscaling_policy!r}; "
                f"choose one of {', '.join(AUTOSCALING_POLICIES)}",
            )

    def merged(self, **changes: Any) -> Scaling:
        """A copy with the given non-None fields replaced."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return Scaling(**data)


class DeploymentStatus(StrEnum):
    PENDING = "PENDING"
    DEPLOYING = "DEPLOYING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"

    @property
    def terminal(self) -> bool:
        return self in (
            DeploymentStatus.ACTIVE,
            DeploymentStatus.FAILED,
            DeploymentStatus.SUPERSEDED,
        )


class ReplicaState(StrEnum):
    STARTING = "STARTING"
    READY = "READY"
    STOPPING = "STOPPING"
    FAILED = "FAILED"


class Replica(BaseModel):
    id: str
    state: ReplicaState
    pid: int | None = None
    port: int | None = None
    started_at: datetime | None = None
    ready_at: datetime | None = None
    error: str | None = None


class DeploymentEvent(BaseModel):
    id: str
    deployment_id: str
    at: datetime
    kind: str
    status: DeploymentStatus
    message: str


class LogLine(BaseModel):
    """One line a replica wrote to its stdout or stderr; `at` is known only when followed."""

    replica_id: str
    at: datetime | None = None
    line: str


class Deployment(BaseModel):
    id: str
    model_name: str
    version: int
    hugging_face_repo: str
    revision: str | None = None
    resolved_revision: str | None = None
    task: str | None = None
    engine: str
    status: DeploymentStatus
    error: str | None = None
    created_at: datetime
    replicas: list[Replica] = Field(default_factory=list)
    environment: str | None = None  # the environment it serves (primary or canary), if any
    target_environment: str = "production"  # the environment it was last rolled out into
    created_by: str | None = None  # the API key prefix that deployed it
    # Dynamic batching of its replicas as deployed (None: the task's default).
    max_batch_size: int | None = None
    max_batch_wait_ms: float | None = None


class Canary(BaseModel):
    deployment: Deployment
    percent: float
    max_error_rate: float | None = None
    max_p95_ms: float | None = None
    window_s: float | None = None


class Environment(BaseModel):
    """A named stage of a model: which deployment serves it, the one before, an optional canary,
    its own scaling, and why it was last rolled back."""

    name: str
    scaling: Scaling
    deployment: Deployment | None = None
    previous_deployment: Deployment | None = None
    canary: Canary | None = None
    last_rollback_reason: str | None = None


class Model(BaseModel):
    name: str
    created_at: datetime
    scaling: Scaling
    deployments: list[Deployment] = Field(default_factory=list)

    @property
    def active_deployment(self) -> Deployment | None:
        # The one serving production (several versions are ACTIVE when other environments or a
        # canary serve too); a platform that does not say which environment: the newest ACTIVE.
        active = [d for d in self.deployments if d.status is DeploymentStatus.ACTIVE]
        for d in active:
            if d.environment == "production":
                return d
        return next((d for d in active if d.environment is None), None)

    @model_validator(mode="after")
    def _sorted(self) -> Model:
        self.deployments.sort(key=lambda d: d.version, reverse=True)
        return self
