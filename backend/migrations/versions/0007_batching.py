"""Dynamic batching per deployment: `deployments.max_batch_size` and `max_batch_wait_ms`.

Both nullable: null means the task's default (`serving.engines.batching`), which is what every
existing deployment keeps.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("max_batch_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_batch_wait_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("max_batch_wait_ms")
        batch.drop_column("max_batch_size")
