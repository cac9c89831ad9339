"""The control-plane database on SQLite and on a real PostgreSQL: migrations, services, store.

Every test runs on both backends. PostgreSQL tests get a fresh schema each (dropped afterwards),
so they share no state; without a reachable PostgreSQL they skip loudly (fail under CI=true).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.control_store import SqlControlStore
from backend.db import models as orm
from backend.db.migrate import alembic_config, upgrade_database
from backend.db.session import make_engine, make_sessionmaker, normalize_url, session_scope
from backend.errors import Conflict, NotFound, ValidationFailed
from plinth.types import DeploymentStatus, ReplicaState, Scaling
from serving.spec import Phase, ReplicaObservation

pytestmark = pytest.mark.integration


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


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _deploy(sessions: sessionmaker[Session], name: str = "minilm", **kw: Any) -> str:
    with session_scope(sessions) as session:
        return services.create_deployment(session, name=name, hf_repo="org/minilm", **kw).id


def test_migrations_build_exactly_the_models_and_are_idempotent(db_url: str) -> None:
    upgrade_database(db_url)
    upgrade_database(db_url)  # a second run at head changes nothing

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), orm.Base.metadata
            )
            tables = set(inspect(conn).get_table_names())
            version = conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()
    assert diff == []
    assert tables == {
        "alembic_version",
        "models",
        "deployments",
        "replicas",
        "environments",
        "deployment_events",
        "api_keys",
        "secrets",
        "audit_log",
        "metric_buckets",
        "async_requests",
        "webhook_deliveries",
        "webhook_secrets",
        "batch_jobs",
        "batch_items",
    }
    # One linear history: exactly one head, and the database is at it.
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [version]


def test_migration_runs_from_any_working_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    upgrade_database(db_url)


def test_create_read_update_delete(sessions: sessionmaker[Session]) -> None:
    deployment_id = _deploy(
        sessions, revision="v1", task="text-classification", scaling={"max_replicas": 3}
    )
    with session_scope(sessions) as session:
        model = services.get_model(session, name="minilm")
        assert model is not None
        assert model.scaling == Scaling(max_replicas=3)
        assert model.created_at.tzinfo is UTC
        [deployment] = model.deployments
        assert deployment.id == deployment_id
        assert (deployment.version, deployment.status) == (1, DeploymentStatus.PENDING)
        assert (deployment.revision, deployment.task) == ("v1", "text-classification")

    with session_scope(sessions) as session:
        updated = services.update_scaling(
            session, name="minilm", changes={"min_replicas": 1, "max_queue": None}
        )
        assert updated.scaling == Scaling(min_replicas=1, max_replicas=3)
    with session_scope(sessions) as session:
        assert [m.name for m in services.list_models(session, with_deployments=True)] == ["minilm"]

    with pytest.raises(ValidationFailed) as invalid, session_scope(sessions) as session:
        services.update_scaling(session, name="minilm", changes={"max_replicas": 0})
    assert invalid.value.field == "maxReplicas"

    with session_scope(sessions) as session:
        services.replace_replicas(
            session,
            deployment_id=deployment_id,
            replicas=[ReplicaObservation("r-1", deployment_id, ReplicaState.STARTING)],
        )
        services.delete_model(session, name="minilm")
    with session_scope(sessions) as session:
        assert services.get_model(session, name="minilm") is None
        # ON DELETE CASCADE reached every table (foreign keys are enforced on SQLite too).
        for table in (orm.Deployment, orm.Replica, orm.DeploymentEvent, orm.Environment):
            assert session.scalars(select(table)).all() == []
    with pytest.raises(NotFound), session_scope(sessions) as session:
        services.delete_model(session, name="minilm")


def test_a_duplicate_name_conflicts_even_when_both_requests_pass_the_check(
    sessions: sessionmaker[Session],
) -> None:
    outcome: list[BaseException | str] = []
    first = sessions()
    first.begin()
    services.create_deployment(first, name="twin", hf_repo="org/a")  # flushed, not committed

    def second() -> None:
        try:
            outcome.append(_deploy(sessions, name="twin"))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)  # it passed the name check and now waits on the first's lock
    first.commit()
    first.close()
    thread.join(30)

    [result] = outcome
    assert isinstance(result, Conflict), result
    assert isinstance(result.__cause__, IntegrityError)  # caught by the constraint, not the check
    assert result.field == "name"
    with session_scope(sessions) as session:
        assert len(services.list_models(session)) == 1


def test_status_changes_append_events_and_one_deployment_stays_active(
    sessions: sessionmaker[Session],
) -> None:
    first = _deploy(sessions)
    with session_scope(sessions) as session:
        services.activate_deployment(session, deployment_id=first)
        model = services.require_model(session, name="minilm")
        second = orm.Deployment(
            model_id=model.id,
            version=2,
            hf_repo="org/minilm",
            engine="transformers",
            status=DeploymentStatus.DEPLOYING,
        )
        session.add(second)
        session.flush()
        second_id, model_id = second.id, model.id
    with session_scope(sessions) as session:
        services.activate_deployment(session, deployment_id=second_id)

    with session_scope(sessions) as session:
        old = services.require_deployment(session, deployment_id=first)
        assert old.status is DeploymentStatus.SUPERSEDED
        events = services.list_events_since(session, deployment_id=first)
        assert [(e.kind, e.status) for e in events] == [
            ("created", DeploymentStatus.PENDING),
            ("status", DeploymentStatus.ACTIVE),
            ("traffic_shifted", DeploymentStatus.ACTIVE),
            ("status", DeploymentStatus.SUPERSEDED),
        ]
        assert events[-1].message == "superseded by version 2 in production"
        production = services.get_environment(session, model_id=model_id, name="production")
        assert production is not None
        assert (production.deployment_id, production.previous_deployment_id) == (second_id, first)
        later = services.list_events_since(session, deployment_id=first, after_id=events[0].id)
        assert [e.id for e in later] == [e.id for e in events[1:]]
        assert all(e.at.tzinfo is UTC for e in events)
        with pytest.raises(NotFound):
            services.set_deployment_status(
                session, deployment_id="missing", status=DeploymentStatus.FAILED
            )


def test_datetimes_round_trip_as_utc(sessions: sessionmaker[Session]) -> None:
    deployment_id = _deploy(sessions)
    plus_two = timezone(timedelta(hours=2))
    started = datetime(2026, 3, 1, 14, 0, 0, 123456, tzinfo=plus_two)
    with session_scope(sessions) as session:
        services.replace_replicas(
            session,
            deployment_id=deployment_id,
            replicas=[
                ReplicaObservation("r-1", deployment_id, ReplicaState.READY, started_at=started)
            ],
        )
    with session_scope(sessions) as session:
        replica = session.get_one(orm.Replica, "r-1")
        assert replica.started_at == started
        assert replica.started_at is not None and replica.started_at.tzinfo is UTC
        assert replica.started_at.hour == 12


async def test_control_store_maps_statuses_to_phases(sessions: sessionmaker[Session]) -> None:
    store = SqlControlStore(sessions)
    ids = {name: _deploy(sessions, name=name) for name in ("pending", "unresolved", "deploying")}
    ids |= {name: _deploy(sessions, name=name) for name in ("active", "failed")}
    with session_scope(sessions) as session:
        for name in ("deploying", "active", "failed"):
            services.set_resolution(
                session,
                deployment_id=ids[name],
                resolved_revision="abc",
                model_path=f"/cache/{name}",
                task="feature-extraction",
            )
        for name in ("unresolved", "deploying"):
            services.set_deployment_status(
                session, deployment_id=ids[name], status=DeploymentStatus.DEPLOYING
            )
        services.activate_deployment(session, deployment_id=ids["active"])
        services.set_deployment_status(
            session, deployment_id=ids["failed"], status=DeploymentStatus.FAILED, error="x"
        )
        services.update_scaling(session, name="active", changes={"min_replicas": 1})

    desired = {spec.model_name: spec for spec in await store.load_desired()}

    assert set(desired) == {"deploying", "active"}
    assert desired["deploying"].phase is Phase.DEPLOYING
    active = desired["active"]
    assert active.phase is Phase.ACTIVE
    assert (active.deployment_id, active.model_path) == (ids["active"], "/cache/active")
    assert (active.task, active.engine) == ("feature-extraction", "transformers")
    assert active.scaling.min_replicas == 1


async def test_control_store_records_observations(sessions: sessionmaker[Session]) -> None:
    store = SqlControlStore(sessions)
    deployment_id = _deploy(sessions)
    now = datetime.now(UTC)

    await store.save_replicas(
        deployment_id,
        [
            ReplicaObservation("r-1", deployment_id, ReplicaState.STARTING, pid=10, port=9001),
            ReplicaObservation("r-2", deployment_id, ReplicaState.STARTING, pid=11, port=9002),
        ],
    )
    await store.save_replicas(
        deployment_id,
        [
            ReplicaObservation(
                "r-2",
                deployment_id,
                ReplicaState.READY,
                pid=11,
                port=9002,
                started_at=now,
                ready_at=now,
                extra={"load_s": 1.5},
            )
        ],
    )
    await store.save_replicas("deleted-meanwhile", [])  # ignored, no error
    await store.record_event(deployment_id, "replica_ready", "r-2 ready in 1.5 s")
    await store.record_event("deleted-meanwhile", "replica_stopped", "ignored")

    with session_scope(sessions) as session:
        [replica] = session.scalars(select(orm.Replica)).all()
        assert (replica.id, replica.state, replica.port) == ("r-2", ReplicaState.READY, 9002)
        assert replica.extra == {"load_s": 1.5}
        events = services.list_events_since(session, deployment_id=deployment_id)
        assert (events[-1].kind, events[-1].status) == ("replica_ready", DeploymentStatus.PENDING)

    await store.reset_observed()

    with session_scope(sessions) as session:
        assert session.scalars(select(orm.Replica)).all() == []


def test_postgres_urls_use_psycopg_3() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert normalize_url(url).drivername == "postgresql+psycopg"
    assert make_url("sqlite:///x.db") == normalize_url("sqlite:///x.db")


def test_migration_0006_gives_existing_models_environments(db_url: str) -> None:
    upgrade_database(db_url, "0005")
    engine = make_engine(db_url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    if engine.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    scaling = {
        "min_replicas": 1,
        "max_replicas": 3,
        "concurrency_target": 2.0,
        "max_concurrency": 4,
        "scale_down_delay_s": 30.0,
        "autoscaling_window_s": 60.0,
        "max_queue": 64,
        "autoscaling_policy": "ray_serve",
    }
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO models (id, name, created_at, min_replicas, max_replicas, "
                    "concurrency_target, max_concurrency, scale_down_delay_s, "
                    "autoscaling_window_s, max_queue, autoscaling_policy) VALUES ('m1', 'old', "
                    ":now, :min_replicas, :max_replicas, :concurrency_target, :max_concurrency, "
                    ":scale_down_delay_s, :autoscaling_window_s, :max_queue, :autoscaling_policy)"
                ),
                {"now": now, **scaling},
            )
            for dep_id, version, status in (("d1", 1, "SUPERSEDED"), ("d2", 2, "ACTIVE")):
                conn.execute(
                    text(
                        "INSERT INTO deployments (id, model_id, version, hf_repo, engine, "
                        "status, created_at, updated_at, secret_names) VALUES (:id, 'm1', "
                        ":version, 'org/old', 'transformers', :status, :now, :now, '[]')"
                    ),
                    {"id": dep_id, "version": version, "status": status, "now": now},
                )
    finally:
        engine.dispose()

    upgrade_database(db_url)

    engine = make_engine(db_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            envs = {e.name: e for e in services.list_environments(session, model_id="m1")}
            assert set(envs) == {"development", "staging", "production"}
            assert envs["production"].deployment_id == "d2"
            assert envs["staging"].deployment_id is None
            assert all(e.scaling == Scaling.model_validate(scaling) for e in envs.values())
            old = session.get_one(orm.Deployment, "d1")
            assert (old.target_environment, old.config, old.created_by) == (
                "production",
                {},
                None,
            )
    finally:
        engine.dispose()
