"""A fresh control-plane database per test on SQLite or on a real PostgreSQL (own schema)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.db.session import normalize_url


def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a URL: a SQLite file in `tmp_path`, or a new PostgreSQL schema dropped afterwards
    (skips loudly without PostgreSQL; fails under CI=true)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'plinth.db'}"
        return
    base = normalize_url(request.getfixturevalue("postgres_url"))
    schema = f"plinth_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
