"""GraphQL object, input and union types of the v1 contract, and their builders from ORM rows.

Objects are plain snapshots built inside a database thread (`*_from_row`), so resolvers never
touch a Session on the event loop. Nested lists (a model's deployments, a deployment's replicas
and events) resolve through the request's DataLoaders: one query per level, never one per parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from backend.db import models as orm
from backend.graphql.batching import Batching, BatchingInput
from plinth.types import DeploymentStatus, ReplicaState
from plinth.types import Scaling as ScalingModel

if TYPE_CHECKING:
    from backend.graphql.context import Context

# The SDK's enums are the single source of the values; this registers them with GraphQL.
strawberry.enum(DeploymentStatus)
strawberry.enum(ReplicaState)


@strawberry.type
class Scaling:
    min_replicas: int
    max_replicas: int
    concurrency_target: float
    max_concurrency: int
    scale_down_delay_seconds: float
    autoscaling_window_seconds: float
    max_queue: int
    autoscaling_policy: str

    @classmethod
    def from_model(cls, scaling: ScalingModel) -> Scaling:
        return cls(
            min_replicas=scaling.min_replicas,
            max_replicas=scaling.max_replicas,
            concurrency_target=scaling.concurrency_target,
            max_concurrency=scaling.max_concurrency,
            scale_down_delay_seconds=scaling.scale_down_delay_s,
            autoscaling_window_seconds=scaling.autoscaling_window_s,
            max_queue=scaling.max_queue,
            autoscaling_policy=scaling.autoscaling_policy,
        )


@strawberry.input
class ScalingInput:
    """Every field optional: omitted (or null) keeps the default on deploy, the value on update."""

    min_replicas: int | None = None
    max_replicas: int | None = None
    concurrency_target: float | None = None
    max_concurrency: int | None = None
    scale_down_delay_seconds: float | None = None
    autoscaling_window_seconds: float | None = None
    max_queue: int | None = None
    autoscaling_policy: str | None = strawberry.field(
        default=None,
        description="plinth (default), ray_serve, knative_kpa or k8s_hpa",
    )

    def changes(self) -> dict[str, Any]:
        """The given fields under `plinth.types.Scaling`'s snake_case names."""
        values = {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "concurrency_target": self.concurrency_target,
            "max_concurrency": self.max_concurrency,
            "scale_down_delay_s": self.scale_down_delay_seconds,
            "autoscaling_window_s": self.autoscaling_window_seconds,
            "max_queue": self.max_queue,
            "autoscaling_policy": self.autoscaling_policy,
        }
        return {k: v for k, v in values.items() if v is not None}


@strawberry.input
class DeployModelInput:
    name: str
    hugging_face_repo: str
    revision: str | None = None
    task: str | None = None
    engine: str | None = "transformers"  # null means the default too
    scaling: ScalingInput | None = None
    secrets: list[str] | None = strawberry.field(
        default=None, description="Secret names handed to the replicas as environment variables."
    )
    environment: str | None = strawberry.field(
        default="production",
        description="The environment the new version is rolled out into once ready (null: "
        "production). Deploying an existing name creates its next version.",
    )
    batching: BatchingInput | None = None


@strawberry.type
class Replica:
    id: strawberry.ID
    state: ReplicaState
    pid: int | None
    port: int | None
    started_at: datetime | None
    ready_at: datetime | None
    error: str | None

    @strawberry.field
    def cpu_percent(self, info: strawberry.Info[Context]) -> float | None:
        sampler = info.context.metrics_sampler
        usage = None if sampler is None else sampler.latest_usage.get(str(self.id))
        return None if usage is None else usage.cpu_percent

    @strawberry.field
    def memory_bytes(self, info: strawberry.Info[Context]) -> float | None:
        sampler = info.context.metrics_sampler
        usage = None if sampler is None else sampler.latest_usage.get(str(self.id))
        return None if usage is None else float(usage.memory_bytes)


@strawberry.type
class DeploymentEvent:
    id: strawberry.ID
    deployment_id: strawberry.ID
    at: datetime
    kind: str
    status: DeploymentStatus
    message: str


@strawberry.type
class Deployment:
    id: strawberry.ID
    model_name: str
    version: int
    hugging_face_repo: str
    revision: str | None
    resolved_revision: str | None
    task: str | None
    engine: str
    status: DeploymentStatus
    error: str | None
    created_at: datetime
    secrets: list[str] = strawberry.field(description="Names only; values are never returned.")
    created_by: str | None = strawberry.field(
        default=None, description="The API key prefix that deployed it (null: auth disabled)."
    )
    environment: str | None = strawberry.field(
        default=None, description="The environment it serves (as primary or canary), if any."
    )
    target_environment: str = strawberry.field(
        default="production", description="The environment it was last rolled out into."
    )
    promoted_from: strawberry.ID | None = strawberry.field(
        default=None,
        description="The deployment it was cloned from when promoted out of another environment.",
    )
    config: JSON = strawberry.field(
        default_factory=dict, description="The deploy input as given (source, engine, scaling)."
    )
    batching: Batching = strawberry.field(
        default_factory=lambda: Batching(max_batch_size=None, max_wait_ms=None),
        description="Dynamic batching of its replicas (null fields: the task's default).",
    )

    @strawberry.field
    async def replicas(self, info: strawberry.Info[Context]) -> list[Replica]:
        return await info.context.loaders.replicas.load(str(self.id))

    @strawberry.field
    async def events(self, info: strawberry.Info[Context]) -> list[DeploymentEvent]:
        return await info.context.loaders.events.load(str(self.id))


@strawberry.type
class Model:
    model_id: strawberry.Private[str]
    name: str
    created_at: datetime
    scaling: Scaling

    @strawberry.field
    async def deployments(self, info: strawberry.Info[Context]) -> list[Deployment]:
        """Newest version first."""
        return await info.context.loaders.deployments.load(self.model_id)

    @strawberry.field
    async def active_deployment(self, info: strawberry.Info[Context]) -> Deployment | None:
        deployments = await info.context.loaders.deployments.load(self.model_id)
        return next((d for d in deployments if d.environment == "production"), None)

    @strawberry.field
    async def environments(self, info: strawberry.Info[Context]) -> list[Environment]:
        return await info.context.loaders.environments.load((self.model_id, self.name))


@strawberry.type
class AutoRollback:
    max_error_rate: float | None
    max_p95_ms: float | None
    window_seconds: float


@strawberry.type
class Canary:
    deployment: Deployment
    percent: float
    auto_rollback: AutoRollback | None


@strawberry.type
class Environment:
    name: str
    model_name: str
    scaling: Scaling
    deployment: Deployment | None
    previous_deployment: Deployment | None
    canary: Canary | None
    last_rollback_reason: str | None


@strawberry.type
class ValidationError:
    field: str
    message: str


@strawberry.type
class NotFoundError:
    message: str
    # Non-null like ValidationError.field, so that one selection `{ field message }` can ask
    # both union members (GraphQL refuses same-named fields of different nullability).
    field: str = strawberry.field(
        default="", description="The argument that named the missing thing (empty if none)."
    )


@strawberry.type
class DeletedModel:
    name: str


DeployModelResult = Annotated[Deployment | ValidationError, strawberry.union("DeployModelResult")]
UpdateScalingResult = Annotated[
    Model | ValidationError | NotFoundError, strawberry.union("UpdateScalingResult")
]
DeleteModelResult = Annotated[DeletedModel | NotFoundError, strawberry.union("DeleteModelResult")]


def model_from_row(row: orm.Model) -> Model:
    return Model(
        model_id=row.id,
        name=row.name,
        created_at=row.created_at,
        scaling=Scaling.from_model(row.scaling),
    )


def environment_from_row(
    row: orm.Environment, model_name: str, deployments: Mapping[str, orm.Deployment]
) -> Environment:
    """`deployments` holds (at least) the rows the environment points at, by id."""

    def load(deployment_id: str | None, serves: str | None = row.name) -> Deployment | None:
        dep = deployments.get(deployment_id) if deployment_id else None
        return None if dep is None else deployment_from_row(dep, model_name, environment=serves)

    canary_dep = load(row.canary_deployment_id)
    auto = None
    if row.canary_window_s is not None:
        auto = AutoRollback(
            max_error_rate=row.canary_max_error_rate,
            max_p95_ms=row.canary_max_p95_ms,
            window_seconds=row.canary_window_s,
        )
    previous = load(row.previous_deployment_id, None)
    return Environment(
        name=row.name,
        model_name=model_name,
        scaling=Scaling.from_model(row.scaling),
        deployment=load(row.deployment_id),
        previous_deployment=previous,
        canary=None
        if canary_dep is None
        else Canary(deployment=canary_dep, percent=row.canary_percent, auto_rollback=auto),
        last_rollback_reason=row.last_rollback_reason,
    )


def deployment_from_row(
    row: orm.Deployment, model_name: str, *, environment: str | None = None
) -> Deployment:
    return Deployment(
        id=strawberry.ID(row.id),
        model_name=model_name,
        version=row.version,
        hugging_face_repo=row.hf_repo,
        revision=row.revision,
        resolved_revision=row.resolved_revision,
        task=row.task,
        engine=row.engine,
        status=row.status,
        error=row.error,
        created_at=row.created_at,
        secrets=list(row.secret_names or ()),
        created_by=row.created_by,
        environment=environment,
        target_environment=row.target_environment,
        promoted_from=strawberry.ID(row.promoted_from_id) if row.promoted_from_id else None,
        config=cast(JSON, dict(row.config or {})),
        batching=Batching(max_batch_size=row.max_batch_size, max_wait_ms=row.max_batch_wait_ms),
    )


def replica_from_row(row: orm.Replica) -> Replica:
    return Replica(
        id=strawberry.ID(row.id),
        state=row.state,
        pid=row.pid,
        port=row.port,
        started_at=row.started_at,
        ready_at=row.ready_at,
        error=row.error,
    )


def event_from_row(row: orm.DeploymentEvent) -> DeploymentEvent:
    return DeploymentEvent(
        id=strawberry.ID(str(row.id)),
        deployment_id=strawberry.ID(row.deployment_id),
        at=row.at,
        kind=row.kind,
        status=row.status,
        message=row.message,
    )
