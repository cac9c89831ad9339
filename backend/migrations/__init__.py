"""Alembic migrations of the control-plane database (run by `backend.db.migrate`)."""
