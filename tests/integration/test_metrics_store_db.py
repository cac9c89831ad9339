"""The console's time series on SQLite and on a real PostgreSQL: 10-second rows written by the
sampler's store survive a restart, add up when a bucket is written twice, stay bounded by
retention, and aggregate per step from what was stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from backend.db import models as orm
from backend.db.migrate import upgrade_database
from backend.db.session import make_engine, make_sessionmaker, normalize_url, session_scope
from backend.metrics_store import N_LATENCY, MetricRow, MetricsStore, aggregate

pytestmark = pytest.mark.integration

T0 = 1_800_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
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


def hist(index: int, n: int) -> list[int]:
    counts = [0] * N_LATENCY
    counts[index] = n
    return counts


def test_rows_survive_a_restart_stay_bounded_and_aggregate(db_url: str) -> None:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        store = MetricsStore(make_sessionmaker(engine), retention_s=600)
        # 30 minutes of one deployment at 10 s, plus the model's 503s before routing.
        store.write(
            [
                MetricRow("m", "d1", T0 + i, requests_2xx=2, latency=hist(2, 2), ready=1)
                for i in range(0, 1800, 10)
            ]
        )
        store.write([MetricRow("m", "", T0 + 1790, requests_5xx=1, not_routed=1, samples=0)])
        cold = {"replica_id": "r1", "ready_at": T0 + 1795.0, "seconds": 0.4, "phases": {}}
        store.write([MetricRow("m", "d1", T0 + 1790, cold_starts=[cold])])
    finally:
        engine.dispose()  # the platform stops; a new one opens the same database

    engine = make_engine(db_url)
    try:
        sessions = make_sessionmaker(engine)
        store = MetricsStore(sessions, retention_s=600)
        assert store.prune(T0 + 1800) == 120
        with session_scope(sessions) as session:
            left = session.scalar(select(func.count()).select_from(orm.MetricBucket))
        assert left == 61  # 60 buckets of the last 10 minutes, and the model-level row

        rows = store.rows("m", ["d1", ""], T0 + 1200, T0 + 1800)
        (point,) = aggregate(rows, T0 + 1200, T0 + 1800, 600)
        assert point.samples == 61  # 60 sampled buckets; the one written twice counts twice
        assert point.requests_2xx == 120 and point.requests_5xx == 1 and point.not_routed == 1
        assert point.cold_starts == 1 and point.cold_start_max == pytest.approx(0.4)
        assert point.latency_p50 is not None and 0.01 < point.latency_p50 <= 0.025
        (start,) = store.cold_starts("m", 10)
        assert (start.replica_id, start.deployment_id, start.seconds) == ("r1", "d1", 0.4)
    finally:
        engine.dispose()
