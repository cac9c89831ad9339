"""Versions and environments: who deployed what, and which version serves each environment.

Adds `environments` (one row per model and name, with its own scaling and canary) and the
lifecycle columns of `deployments`. Existing models get `development`, `staging` and
`production`, each with the model's scaling; `production` points at the ACTIVE deployment.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_ENVIRONMENTS = ("development", "staging", "production")
SCALING_COLUMNS = (
    "min_replicas",
    "max_replicas",
    "concurrency_target",
    "max_concurrency",
    "scale_down_delay_s",
    "autoscaling_window_s",
    "max_queue",
    "autoscaling_policy",
)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(
            sa.Column(
                "target_environment",
                sa.String(length=63),
                nullable=False,
                server_default="production",
            )
        )
        batch.add_column(sa.Column("created_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("config", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("promoted_from_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            op.f("fk_deployments_promoted_from_id_deployments"),
            "deployments",
            ["promoted_from_id"],
            ["id"],
            ondelete="SET NULL",
        )
    environments = op.create_table(
        "environments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.Column("previous_deployment_id", sa.String(length=36), nullable=True),
        sa.Column("canary_deployment_id", sa.String(length=36), nullable=True),
        sa.Column("canary_percent", sa.Float(), nullable=False),
        sa.Column("canary_max_error_rate", sa.Float(), nullable=True),
        sa.Column("canary_max_p95_ms", sa.Float(), nullable=True),
        sa.Column("canary_window_s", sa.Float(), nullable=True),
        sa.Column("last_rollback_reason", sa.Text(), nullable=True),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("concurrency_target", sa.Float(), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("scale_down_delay_s", sa.Float(), nullable=False),
        sa.Column("autoscaling_window_s", sa.Float(), nullable=False),
        sa.Column("max_queue", sa.Integer(), nullable=False),
        sa.Column("autoscaling_policy", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_environments_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_environments_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["previous_deployment_id"],
            ["deployments.id"],
            name=op.f("fk_environments_previous_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["canary_deployment_id"],
            ["deployments.id"],
            name=op.f("fk_environments_canary_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint("model_id", "name", name=op.f("uq_environments_model_id_name")),
    )
    op.create_index(op.f("ix_environments_model_id"), "environments", ["model_id"])

    conn = op.get_bind()
    models = conn.execute(sa.text(f"SELECT id, {', '.join(SCALING_COLUMNS)} FROM models")).all()
    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as backend.db.models.UTCDateTime stores it there
    rows = []
    for model in models:
        active = conn.execute(
            sa.text(
                "SELECT id FROM deployments WHERE model_id = :m AND status = 'ACTIVE' "
                "ORDER BY version DESC"
            ),
            {"m": model.id},
        ).first()
        scaling = {column: getattr(model, column) for column in SCALING_COLUMNS}
        for name in DEFAULT_ENVIRONMENTS:
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "model_id": model.id,
                    "name": name,
                    "created_at": now,
                    "deployment_id": active.id if active and name == "production" else None,
                    "previous_deployment_id": None,
                    "canary_deployment_id": None,
                    "canary_percent": 0.0,
                    "canary_max_error_rate": None,
                    "canary_max_p95_ms": None,
                    "canary_window_s": None,
                    "last_rollback_reason": None,
                    **scaling,
                }
            )
    if rows:
        op.bulk_insert(environments, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_environments_model_id"), table_name="environments")
    op.drop_table("environments")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_constraint(
            op.f("fk_deployments_promoted_from_id_deployments"), type_="foreignkey"
        )
        batch.drop_column("promoted_from_id")
        batch.drop_column("config")
        batch.drop_column("created_by")
        batch.drop_column("target_environment")
