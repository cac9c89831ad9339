"""schemathesis against the REST routes' OpenAPI document, authenticated as admin.

Bounded (25 examples per operation) so it fits `make test`. Checks: no 5xx, every status and
content type the document declares, bodies that match the declared schemas. The data plane is
the unit tests' fake (answers JSON, or raises what a test sets), so only the gateway is tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from backend import services
from backend.app import create_app
from backend.auth.cache import KeyCache
from backend.db.migrate import upgrade_database
from backend.db.session import make_engine, make_sessionmaker, session_scope
from backend.settings import Settings
from tests.unit.backend.support import FakePlane, RecordingStarter

pytestmark = pytest.mark.slow

ADMIN: dict[str, str] = {}
PLANE = FakePlane()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{home / 'plinth.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as session:
        services.create_deployment(session, name="minilm", hf_repo="org/minilm")
        ADMIN["key"] = services.create_api_key(session, scopes=["admin"])[1]
    keys = KeyCache(sessions)
    keys.load()  # schemathesis calls the app without running its lifespan
    app = create_app(
        settings=Settings(home=home, max_body_bytes=64 * 1024),
        sessionmaker=sessions,
        plane=PLANE,
        deploy_starter=RecordingStarter(),
        wake=lambda: None,
        keys=keys,
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    engine.dispose()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_rest_api_conforms_to_its_openapi_document(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "GET /healthz",
        "POST /v1/models/{name}/predict",
    }
    headers = {"Authorization": f"Bearer {ADMIN['key']}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
    assert PLANE.calls, "no generated predict request got through authentication"
