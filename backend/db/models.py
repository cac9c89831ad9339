"""ORM models of the control-plane database (SQLAlchemy 2 typed declarative).

Tables: `models` (a named model with its scaling config), `deployments` (one version of a model:
which Hugging Face repo and revision, what it resolved to, its status), `replicas` (what the
controller last observed running for a deployment) and `deployment_events` (an append-only log per
deployment). Ids are uuid4 strings, except `deployment_events.id`: an autoincrement integer that
orders events, so a reader can ask for "events after N". Every datetime is timezone-aware UTC,
also on SQLite (which stores no offset). Deleting a model cascades to all of its rows.
Migrations in `backend/migrations` must stay in step with these classes (a test compares them).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from plinth.types import DeploymentStatus, ReplicaState, Scaling

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused on write."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite keeps no offset: store naive UTC and re-attach UTC on read.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum(cls: type[DeploymentStatus] | type[ReplicaState]) -> Enum:
    # Stored as plain strings (no native PostgreSQL enum) so adding a value needs no ALTER TYPE.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ScalingColumns:
    """The columns of a `plinth.types.Scaling` (models: production's; environments: their own),
    read and written whole through `scaling`."""

    min_replicas: Mapped[int] = mapped_column(Integer)
    max_replicas: Mapped[int] = mapped_column(Integer)
    concurrency_target: Mapped[float] = mapped_column(Float)
    max_concurrency: Mapped[int] = mapped_column(Integer)
    scale_down_delay_s: Mapped[float] = mapped_column(Float)
    autoscaling_window_s: Mapped[float] = mapped_column(Float)
    max_queue: Mapped[int] = mapped_column(Integer)
    autoscaling_policy: Mapped[str] = mapped_column(String(32), default="plinth")

    @property
    def scaling(self) -> Scaling:
        return Scaling(
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            concurrency_target=self.concurrency_target,
            max_concurrency=self.max_concurrency,
            scale_down_delay_s=self.scale_down_delay_s,
            autoscaling_window_s=self.autoscaling_window_s,
            max_queue=self.max_queue,
            autoscaling_policy=self.autoscaling_policy,
        )

    @scaling.setter
    def scaling(self, value: Scaling) -> None:
        self.min_replicas = value.min_replicas
        self.max_replicas = value.max_replicas
        self.concurrency_target = value.concurrency_target
        self.max_concurrency = value.max_concurrency
        self.scale_down_delay_s = value.scale_down_delay_s
        self.autoscaling_window_s = value.autoscaling_window_s
        self.max_queue = value.max_queue
        self.autoscaling_policy = value.autoscaling_policy


class Model(ScalingColumns, Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="model",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Deployment.version.desc()",
    )
    environments: Mapped[list[Environment]] = relationship(
        back_populates="model",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Environment.created_at, Environment.name",
    )


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    hf_repo: Mapped[str] = mapped_column(String(200))
    revision: Mapped[str | None] = mapped_column(String(200))
    resolved_revision: Mapped[str | None] = mapped_column(String(200))
    model_path: Mapped[str | None] = mapped_column(Text)
    task: Mapped[str | None] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(32))
    # Names of the secrets handed to this deployment's replicas as environment variables.
    secret_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[DeploymentStatus] = mapped_column(_enum(DeploymentStatus))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Lifecycle (issue 5): the environment this version is being rolled out into (its scaling
    # sizes the rollout), who asked (API key prefix), the deploy input as given, and the
    # deployment it was cloned from when promoted out of another environment.
    target_environment: Mapped[str] = mapped_column(String(63), default="production")
    created_by: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    promoted_from_id: Mapped[str | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    # Dynamic batching of its replicas (None: the task's default, see serving.engines.batching).
    max_batch_size: Mapped[int | None] = mapped_column(Integer)
    max_batch_wait_ms: Mapped[float | None] = mapped_column(Float)

    model: Mapped[Model] = relationship(back_populates="deployments")
    replicas: Mapped[list[Replica]] = relationship(
        back_populates="deployment",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Replica.started_at",
    )
    events: Mapped[list[DeploymentEvent]] = relationship(
        back_populates="deployment",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="DeploymentEvent.id",
    )


class Environment(ScalingColumns, Base):
    """A named stage of a model (development, staging, production, ...): which deployment serves
    it, the one before (for rollback), an optional canary with its share of traffic and
    automatic-rollback bounds, and the environment's own scaling."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("model_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deployment_id: Mapped[str | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    previous_deployment_id: Mapped[str | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    canary_deployment_id: Mapped[str | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    canary_percent: Mapped[float] = mapped_column(Float, default=0.0)
    canary_max_error_rate: Mapped[float | None] = mapped_column(Float)
    canary_max_p95_ms: Mapped[float | None] = mapped_column(Float)
    canary_window_s: Mapped[float | None] = mapped_column(Float)
    last_rollback_reason: Mapped[str | None] = mapped_column(Text)

    model: Mapped[Model] = relationship(back_populates="environments")


class Replica(Base):
    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[ReplicaState] = mapped_column(_enum(ReplicaState))
    pid: Mapped[int | None] = mapped_column(Integer)
    port: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # Measurements the controller reports with the replica, e.g. cold-start phase seconds.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    deployment: Mapped[Deployment] = relationship(back_populates="replicas")


class DeploymentEvent(Base):
    __tablename__ = "deployment_events"

    # Autoincrement (never reused on SQLite either): the order of events and the cursor of
    # "events after N". BIGINT on PostgreSQL; SQLite needs INTEGER for a rowid alias.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[DeploymentStatus] = mapped_column(_enum(DeploymentStatus))
    message: Mapped[str] = mapped_column(Text)

    deployment: Mapped[Deployment] = relationship(back_populates="events")

    __table_args__ = {"sqlite_autoincrement": True}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(63))
    # The visible part of the key (`pl_<prefix>_...`), to tell keys apart in lists and logs.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # SHA-256 (hex) of the whole key: the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Secret(Base):
    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # No foreign key: the history outlives the key (and says "auth disabled" as NULL).
    key_id: Mapped[str | None] = mapped_column(String(36))
    key_prefix: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class MetricBucket(Base):
    """One deployment's measurements over one 10-second bucket (`backend.metrics_store`).

    `bucket` is the bucket's start in Unix seconds; `deployment_id` is "" for a model's requests
    answered before any deployment (404/503). No foreign key: the history of a deleted model is
    dropped by retention, like every other row. `data` holds the counters and histogram deltas.
    """

    __tablename__ = "metric_buckets"

    model_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    cold_starts: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class AsyncRequest(Base):
    """One async predict (`backend.async_requests`): committed before the 202 answers."""

    __tablename__ = "async_requests"
    __table_args__ = (
        Index("ix_async_requests_claim", "status", "priority", "created_at"),
        Index("ix_async_requests_lease", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model: Mapped[str] = mapped_column(String(63), index=True)
    key_id: Mapped[str | None] = mapped_column(String(36))  # who submitted; None: auth off
    payload: Mapped[str] = mapped_column(Text)  # the predict body as sent to the replica
    webhook_url: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=1)  # 0 is served first
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queue_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())  # retry backoff
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str | None] = mapped_column(Text)  # the replica's JSON answer
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WebhookDelivery(Base):
    """A webhook to send, with its durable retry schedule; DEAD ones are the dead letters."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    model: Mapped[str] = mapped_column(String(63))
    key_id: Mapped[str | None] = mapped_column(String(36))  # whose signing secret
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # fixed at creation: every attempt sends the same
    status: Mapped[str] = mapped_column(String(16))  # PENDING, DELIVERED, DEAD
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookSecret(Base):
    """The per-key webhook signing secret (encrypted with the platform's SecretBox)."""

    __tablename__ = "webhook_secrets"

    # The API key id; "-" for requests made with auth disabled.
    owner: Mapped[str] = mapped_column(String(36), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BatchJob(Base):
    """A batch job (`workflows/batch`): a JSONL of inputs mapped over a model."""

    __tablename__ = "batch_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model: Mapped[str] = mapped_column(String(63), index=True)
    key_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))  # QUEUED, RUNNING, SUCCEEDED, FAILED
    concurrency: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)


class BatchItem(Base):
    """One input line of a batch job and, once done, its output (the checkpoint)."""

    __tablename__ = "batch_items"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("batch_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    input: Mapped[str] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)  # one JSON line; None until done
    ok: Mapped[bool | None] = mapped_column(Boolean)  # None until done; False: an error line
