"""The console's observability fields: `metrics`, `coldStarts`, `suggestTask` (all `read`).

- `metrics(model, environment = "production", from, to, step = 10)`: the time series of
  `backend.metrics_store`, one point per `step` seconds (a multiple of 10) over [from, to)
  (default: the last hour). Environments: "production" is the model's ACTIVE deployment
  (`_deployment_for`, the one seam to change when models get more environments); the model's
  requests answered 404/503 before any deployment are merged in. A model with no ACTIVE
  deployment answers an empty `points` list and a null `deploymentId`.
- `coldStarts(model, limit = 50)`: the model's latest replica starts (within the retention),
  newest first, each with its load phases.
- `suggestTask(huggingFaceRepo, revision)`: the task read from the repository's config in the
  local Hugging Face cache (nothing is downloaded; bounded by `SUGGEST_TIMEOUT_S`), or a null
  task with the reason.
Unknown models are a GraphQL error "model not found"; bad arguments a GraphQL error whose
extensions name the `field`.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import strawberry
from graphql import GraphQLError
from sqlalchemy.orm import Session

from backend import services
from backend.graphql.context import Context
from backend.metrics_store import MetricsStore, Point, aggregate
from plinth.types import DeploymentStatus
from serving import hub

Info = strawberry.Info[Context]

ENVIRONMENTS = ("production",)
DEFAULT_WINDOW_S = 3600
MAX_COLD_STARTS = 500
SUGGEST_TIMEOUT_S = 3.0
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


@strawberry.type
class ReplicaUsage:
    replica_id: str
    cpu_percent: float = strawberry.field(description="Percent of one CPU core.")
    memory_bytes: float = strawberry.field(description="Resident memory.")


@strawberry.type(description="The series over [time, time + step).")
class MetricsPoint:
    time: datetime
    samples: int = strawberry.field(description="10-second samples in this point (0: no data).")
    requests: int
    requests_per_second: float
    requests_2xx: int
    requests_4xx: int = strawberry.field(description="Includes 429 and 404.")
    requests_429: int
    requests_5xx: int = strawberry.field(description="Includes 503 answered before routing.")
    not_routed: int = strawberry.field(description="404/503 answered before any deployment.")
    latency_p50: float | None = strawberry.field(description="Seconds; null without requests.")
    latency_p90: float | None
    latency_p95: float | None
    latency_p99: float | None
    queue_time_mean: float | None = strawberry.field(description="Seconds waited for a slot.")
    in_flight: float | None
    queued: float | None
    replicas_starting: float | None
    replicas_ready: float | None
    replicas_draining: float | None
    cold_starts: int
    cold_start_mean_seconds: float | None
    cold_start_max_seconds: float | None
    cpu_percent: float | None = strawberry.field(description="All replicas, percent of a core.")
    memory_bytes: float | None = strawberry.field(description="All replicas, resident memory.")
    replicas: list[ReplicaUsage]


@strawberry.type
class MetricsSeries:
    model: str
    environment: str
    deployment_id: strawberry.ID | None
    from_: datetime = strawberry.field(name="from")
    to: datetime
    step: int
    points: list[MetricsPoint]


@strawberry.type
class ColdStartPhase:
    name: str
    seconds: float


@strawberry.type
class ColdStartRecord:
    deployment_id: strawberry.ID
    replica_id: str
    ready_at: datetime
    seconds: float = strawberry.field(description="Replica start to ready.")
    phases: list[ColdStartPhase]


@strawberry.type
class TaskSuggestion:
    task: str | None
    reason: str


def _bad(field: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"field": field})


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _point(p: Point) -> MetricsPoint:
    return MetricsPoint(
        time=_at(p.time),
        samples=p.samples,
        requests=p.requests,
        requests_per_second=p.requests_per_second,
        requests_2xx=p.requests_2xx,
        requests_4xx=p.requests_4xx,
        requests_429=p.requests_429,
        requests_5xx=p.requests_5xx,
        not_routed=p.not_routed,
        latency_p50=p.latency_p50,
        latency_p90=p.latency_p90,
        latency_p95=p.latency_p95,
        latency_p99=p.latency_p99,
        queue_time_mean=p.queue_time_mean,
        in_flight=p.in_flight,
        queued=p.queued,
        replicas_starting=p.replicas_starting,
        replicas_ready=p.replicas_ready,
        replicas_draining=p.replicas_draining,
        cold_starts=p.cold_starts,
        cold_start_mean_seconds=p.cold_start_mean,
        cold_start_max_seconds=p.cold_start_max,
        cpu_percent=p.cpu_percent,
        memory_bytes=p.memory_bytes,
        replicas=[
            ReplicaUsage(replica_id=rid, cpu_percent=v[0], memory_bytes=v[1])
            for rid, v in sorted(p.replica_usage.items())
        ],
    )


def _deployment_for(session: Session, model: str, environment: str) -> tuple[bool, str | None]:
    """(model exists, id of the deployment serving `environment`). The environments seam."""
    row = services.get_model(session=session, name=model)
    if row is None:
        return False, None
    active = next((d for d in row.deployments if d.status is DeploymentStatus.ACTIVE), None)
    return True, None if active is None else active.id


def _suggest(repo: str, revision: str | None) -> TaskSuggestion:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(
            repo,
            revision=revision or "main",
            cache_dir=hub.hub_cache_dir(),
            local_files_only=True,
        )
    except LocalEntryNotFoundError:
        return TaskSuggestion(
            task=None,
            reason=f"'{repo}' is not in this server's model cache yet, so its config cannot be "
            "read; choose the task (the deploy checks it)",
        )
    except Exception as exc:
        return TaskSuggestion(task=None, reason=f"could not read the cached repository: {exc}")
    task = hub.infer_task(path)
    if task is None:
        return TaskSuggestion(
            task=None, reason="its config does not say which task it is made for; choose it"
        )
    source = "modules.json" if (Path(path) / "modules.json").is_file() else "config.json"
    return TaskSuggestion(task=task, reason=f"from the cached repository's {source}")


@strawberry.type
class MetricsQuery:
    @strawberry.field
    async def metrics(
        self,
        info: Info,
        model: str,
        environment: str = "production",
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        step: int = 10,
    ) -> MetricsSeries:
        if environment not in ENVIRONMENTS:
            raise _bad("environment", f"unknown environment '{environment}'; use production")
        end = to.timestamp() if to is not None else time.time()
        start = from_.timestamp() if from_ is not None else end - DEFAULT_WINDOW_S
        if start >= end:
            raise _bad("from", "'from' must be before 'to'")
        context = info.context
        exists, deployment_id = await context.db(
            lambda session: _deployment_for(session, model, environment)
        )
        if not exists:
            raise GraphQLError("model not found")
        try:
            aggregate((), int(start), int(end), step)  # validates step and the point count
        except ValueError as exc:
            raise _bad("step", str(exc)) from None
        points: list[Point] = []
        if deployment_id is not None:
            store = MetricsStore(context.sessions)
            first = int(start) - int(start) % step
            rows = await asyncio.to_thread(
                store.rows, model, [deployment_id, ""], first, int(end) + step
            )
            points = aggregate(rows, int(start), int(end), step)
        return MetricsSeries(
            model=model,
            environment=environment,
            deployment_id=None if deployment_id is None else strawberry.ID(deployment_id),
            from_=_at(start),
            to=_at(end),
            step=step,
            points=[_point(p) for p in points],
        )

    @strawberry.field
    async def cold_starts(self, info: Info, model: str, limit: int = 50) -> list[ColdStartRecord]:
        if not 1 <= limit <= MAX_COLD_STARTS:
            raise _bad("limit", f"limit must be between 1 and {MAX_COLD_STARTS}")
        context = info.context
        found = await context.db(lambda session: services.get_model(session=session, name=model))
        if found is None:
            raise GraphQLError("model not found")
        records = await asyncio.to_thread(MetricsStore(context.sessions).cold_starts, model, limit)
        return [
            ColdStartRecord(
                deployment_id=strawberry.ID(c.deployment_id),
                replica_id=c.replica_id,
                ready_at=_at(c.ready_at),
                seconds=c.seconds,
                phases=[ColdStartPhase(name=k, seconds=v) for k, v in c.phases.items()],
            )
            for c in records
        ]

    @strawberry.field
    async def suggest_task(
        self, hugging_face_repo: str, revision: str | None = None
    ) -> TaskSuggestion:
        repo = hugging_face_repo.strip()
        if not repo or not REPO_ID.match(repo) or ".." in repo:
            return TaskSuggestion(
                task=None, reason=f"{repo!r} is not a Hugging Face repository id ('org/name')"
            )
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(_suggest, repo, revision or None), SUGGEST_TIMEOUT_S
            )
        except TimeoutError:
            return TaskSuggestion(
                task=None, reason="reading the model cache took too long; choose the task"
            )
