"""Time series of the console: one row per deployment and 10-second bucket, pruned by age.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_buckets",
        sa.Column("model_name", sa.String(length=63), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("cold_starts", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name", "deployment_id", "bucket", name=op.f("pk_metric_buckets")
        ),
    )
    op.create_index(op.f("ix_metric_buckets_bucket"), "metric_buckets", ["bucket"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_metric_buckets_bucket"), table_name="metric_buckets")
    op.drop_table("metric_buckets")
