"""Alembic revisions of the control-plane schema, one module per revision."""
