"""GET /metrics: the Prometheus text format of the registry the app was given, for `read` keys."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.app import create_app
from backend.db.session import session_scope
from backend.settings import Settings
from serving.metrics import ServingMetrics
from tests.unit.backend.support import FakePlane, RecordingStarter


def test_metrics_serves_the_platform_registry_in_prometheus_text_format(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    metrics = ServingMetrics()
    metrics.deployment("minilm", "dep-1").request_done(200, 0.042)
    metrics.deployment("minilm", "dep-1").request_done(429, 0.001)
    with session_scope(sessions) as session:
        _row, key = services.create_api_key(session, scopes=["read"], name="prometheus")
    app = create_app(
        settings=Settings(home=tmp_path),
        sessionmaker=sessions,
        plane=FakePlane(),
        deploy_starter=RecordingStarter(),
        wake=lambda: None,
        metrics=metrics,
    )
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        response = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    labels = (("code", "2xx"), ("deployment", "dep-1"), ("model", "minilm"))
    assert found[("plinth_requests_total", labels)] == 1
    labels_4xx = (("code", "4xx"), ("deployment", "dep-1"), ("model", "minilm"))
    assert found[("plinth_requests_total", labels_4xx)] == 1
    le = (("deployment", "dep-1"), ("le", "0.05"), ("model", "minilm"))
    assert found[("plinth_request_duration_seconds_bucket", le)] == 2
