"""The console's time series: sampling into 10-second buckets, step aggregation from merged
histograms, retention, persistence across a restart, and the GraphQL fields over it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.db import models as orm
from backend.db.session import make_engine, make_sessionmaker, session_scope
from backend.metrics_store import (
    N_LATENCY,
    MetricRow,
    MetricsSampler,
    MetricsStore,
    aggregate,
    histogram_quantile,
)
from plinth.types import DeploymentStatus, ReplicaState, Scaling
from serving import hub
from serving.deployment_state import DeploymentState, ReplicaRecord
from serving.errors import ModelNotRoutable
from serving.metrics import LATENCY_BUCKETS, ServingMetrics
from serving.router import Router
from serving.spec import ReplicaSpec
from tests.unit.backend.support import Harness
from tests.unit.serving.fakes import FakeReplicas, payload, spec

T0 = 1_800_000_000  # a multiple of 10 and of 60


def latency(**by_bound: int) -> list[int]:
    """Per-bucket counts from {"b0_1": n} style keywords (bound 0.1 -> "b0_1")."""
    counts = [0] * N_LATENCY
    for key, n in by_bound.items():
        bound = float(key[1:].replace("_", "."))
        counts[list(LATENCY_BUCKETS).index(bound)] = n
    return counts


def test_quantiles_interpolate_within_the_bucket_like_prometheus() -> None:
    bounds = (1.0, 2.0, 4.0)
    assert histogram_quantile(0.5, [0, 0, 0, 0], bounds) is None
    assert histogram_quantile(0.5, [10, 0, 0, 0], bounds) == pytest.approx(0.5)
    assert histogram_quantile(0.75, [0, 4, 0, 0], bounds) == pytest.approx(1.75)
    assert histogram_quantile(0.99, [0, 0, 0, 5], bounds) == 4.0  # +Inf: highest finite bound


def test_a_coarse_step_merges_histograms_instead_of_averaging_percentiles() -> None:
    fast = MetricRow("m", "d1", T0, requests_2xx=99, latency=latency(b0_01=99))
    slow = MetricRow("m", "d1", T0 + 10, requests_2xx=1, requests_5xx=1, latency=latency(b5=2))
    points = aggregate([fast, slow], T0, T0 + 60, 60)
    assert len(points) == 1
    p = points[0]
    assert p.samples == 2 and p.requests == 101 and p.requests_5xx == 1
    assert p.requests_per_second == pytest.approx(101 / 20)  # over the 20 s that were sampled
    # p50 of the merged buckets lies in the fast bucket; an average of the two p50s would be ~1.3 s.
    assert p.latency_p50 is not None and p.latency_p50 <= 0.01
    assert p.latency_p99 is not None and 2.5 < p.latency_p99 <= 5
    assert p.in_flight == 0.0

    fine = aggregate([fast, slow], T0, T0 + 60, 10)
    assert [q.samples for q in fine] == [1, 1, 0, 0, 0, 0]
    assert fine[2].latency_p50 is None and fine[2].in_flight is None  # no data, not zero


def test_bad_steps_and_too_many_points_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 10"):
        aggregate([], T0, T0 + 60, 15)
    with pytest.raises(ValueError, match="at most"):
        aggregate([], T0, T0 + 10 * 86400, 10)
    assert len(aggregate([], T0, T0 + 86400, 10)) == 8640  # 24 h at 10 s is allowed


def test_retention_bounds_the_table(sessions: sessionmaker[Session]) -> None:
    store = MetricsStore(sessions, retention_s=3600)
    for i in range(0, 3 * 3600, 60):
        store.write([MetricRow("m", "d1", T0 + i, requests_2xx=1)])
    now = T0 + 3 * 3600
    deleted = store.prune(now)
    with session_scope(sessions) as session:
        left = session.scalar(select(func.count()).select_from(orm.MetricBucket))
        oldest = session.scalar(select(func.min(orm.MetricBucket.bucket)))
    assert deleted == 120 and left == 60
    assert oldest is not None and oldest >= now - 3600


def test_history_survives_a_restart_and_a_bucket_written_twice_adds_up(db_url: str) -> None:
    engine = make_engine(db_url)
    MetricsStore(make_sessionmaker(engine)).write(
        [MetricRow("m", "d1", T0, requests_2xx=3, latency=latency(b0_1=3))]
    )
    engine.dispose()  # the platform stops

    engine = make_engine(db_url)
    try:
        store = MetricsStore(make_sessionmaker(engine))
        store.write([MetricRow("m", "d1", T0, requests_2xx=2, latency=latency(b0_1=2))])
        rows = store.rows("m", ["d1"], T0, T0 + 10)
    finally:
        engine.dispose()
    assert len(rows) == 1
    assert rows[0].requests_2xx == 5 and rows[0].samples == 2
    assert rows[0].latency == latency(b0_1=5)


@pytest.fixture()
async def live() -> AsyncIterator[tuple[ServingMetrics, DeploymentState]]:
    metrics, replicas = ServingMetrics(), FakeReplicas()
    router = Router(
        deployment_id="d1",
        model_name="m",
        scaling=Scaling.model_validate({"max_replicas": 2}),
        transport=replicas.transport,
        metrics=metrics.deployment("m", "d1"),
    )
    router.add_replica("a", "http://a.replica")
    state = DeploymentState(spec=spec(), router=router, since=0.0)
    yield metrics, state
    await router.aclose()


def ready_replica(state: DeploymentState, rid: str) -> ReplicaRecord:
    rspec = ReplicaSpec(
        replica_id=rid,
        deployment_id="d1",
        model_name="m",
        model_path="/x",
        task="text-classification",
        engine="transformers",
        max_concurrency=4,
    )
    rec = ReplicaRecord.starting(rspec, 100.0, datetime.fromtimestamp(T0, UTC))
    rec.obs.state = ReplicaState.READY
    rec.obs.ready_at = datetime.fromtimestamp(T0 + 2, UTC)
    rec.obs.extra = {"spawn": 0.25, "weights": 1.0}
    rec.obs.pid = os.getpid()  # a real process for psutil to read
    rec.ready_since = 101.5
    state.replicas[rid] = rec
    return rec


async def test_the_sampler_writes_deltas_per_bucket(
    live: tuple[ServingMetrics, DeploymentState],
) -> None:
    metrics, state = live
    sampler = MetricsSampler(metrics, lambda: [state], None)
    for i in range(3):
        await state.router.forward(payload(i))
    metrics.deployment("m", "d1").request_done(429, 0.001)  # the registry's newest router
    metrics.not_routed("m", 503)
    metrics.not_routed("", 404)  # an unknown name: no model's series
    ready_replica(state, "a")

    rows = {r.deployment_id: r for r in sampler.sample(T0 + 10.2)}
    assert set(rows) == {"d1", ""}
    row = rows["d1"]
    assert row.bucket == T0 and row.samples == 1
    assert (row.requests_2xx, row.requests_4xx, row.requests_429) == (3, 1, 1)
    assert sum(row.latency) == 4 and row.queue_count == 3
    assert row.ready == 1 and row.starting == 0 and row.in_flight == 0
    assert [c["replica_id"] for c in row.cold_starts] == ["a"]
    assert row.cold_starts[0]["seconds"] == pytest.approx(1.5)
    assert row.cold_starts[0]["phases"] == {"spawn": 0.25, "weights": 1.0}
    assert row.replicas["a"][1] > 0 and row.memory_bytes > 0  # this test's own resident memory
    assert rows[""].not_routed == 1 and rows[""].requests_5xx == 1

    assert sampler.sample(T0 + 15) == []  # same bucket: the deltas wait for the next one
    await state.router.forward(payload(9))
    later = {r.deployment_id: r for r in sampler.sample(T0 + 20.1)}
    assert set(later) == {"d1"}  # nothing new before routing: no model-level row
    assert later["d1"].bucket == T0 + 10
    assert later["d1"].requests_2xx == 1 and later["d1"].requests_429 == 0
    assert later["d1"].cold_starts == []  # counted once
    usage = sampler.latest_usage["a"]
    assert usage.cpu_percent is not None and usage.memory_bytes > 0


# -- GraphQL -------------------------------------------------------------------------------------

METRICS = """
query($model: String!, $from: DateTime, $to: DateTime, $step: Int!) {
  metrics(model: $model, from: $from, to: $to, step: $step) {
    deploymentId step
    points { time samples requests requests429 notRouted latencyP50 latencyP99 replicasReady
             coldStarts replicas { replicaId memoryBytes } }
  }
}"""


def active_model(sessions: sessionmaker[Session], name: str = "m") -> str:
    with session_scope(sessions) as session:
        row = services.create_deployment(session=session, name=name, hf_repo="org/x")
        services.set_deployment_status(
            session=session, deployment_id=row.id, status=DeploymentStatus.ACTIVE
        )
        return row.id


def at(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def test_graphql_metrics_aggregates_the_active_deployment(harness: Harness) -> None:
    dep = active_model(harness.sessions)
    store = MetricsStore(harness.sessions)
    store.write(
        [
            MetricRow("m", dep, T0, requests_2xx=10, latency=latency(b0_05=10), ready=1),
            MetricRow("m", dep, T0 + 10, requests_429=2, requests_4xx=2, ready=2),
            MetricRow("m", "", T0 + 20, requests_5xx=1, not_routed=1, samples=0),
            MetricRow("m", "other", T0, requests_2xx=1000),  # not production: left out
            MetricRow(
                "m",
                dep,
                T0 + 60,
                cold_starts=[
                    {
                        "replica_id": "r1",
                        "ready_at": T0 + 61,
                        "seconds": 0.8,
                        "phases": {"spawn": 0.1, "total": 0.7},
                    }
                ],
                replicas={"r1": [12.0, 5e7]},
            ),
        ]
    )
    data = harness.gql(METRICS, model="m", **{"from": at(T0), "to": at(T0 + 120)}, step=60)
    series = data["metrics"]
    assert series["deploymentId"] == dep and series["step"] == 60
    first, second = series["points"]
    assert first["requests"] == 13 and first["requests429"] == 2 and first["notRouted"] == 1
    assert 0.025 < first["latencyP50"] <= 0.05
    assert first["replicasReady"] == 1.5  # mean of the two samples
    assert second["coldStarts"] == 1 and second["replicas"] == [
        {"replicaId": "r1", "memoryBytes": 5e7}
    ]

    cold = harness.gql('{ coldStarts(model: "m") { replicaId seconds phases { name } } }')
    assert cold["coldStarts"] == [
        {"replicaId": "r1", "seconds": 0.8, "phases": [{"name": "spawn"}]}  # "total" is no phase
    ]


def test_graphql_metrics_errors_name_the_field(harness: Harness) -> None:
    active_model(harness.sessions)

    def errors(query: str) -> list[dict[str, object]]:
        body = harness.client.post("/graphql", json={"query": query}).json()
        return list(body["errors"])

    (bad_step,) = errors('{ metrics(model: "m", step: 15) { step } }')
    assert bad_step["extensions"] == {"field": "step"}
    (bad_env,) = errors('{ metrics(model: "m", environment: "qa") { step } }')
    assert bad_env["extensions"] == {"field": "environment"}
    (missing,) = errors('{ metrics(model: "nope") { step } }')
    assert missing["message"] == "model not found"
    (limit,) = errors('{ coldStarts(model: "m", limit: 0) { seconds } }')
    assert limit["extensions"] == {"field": "limit"}


def test_a_model_without_an_active_deployment_has_no_points(harness: Harness) -> None:
    with session_scope(harness.sessions) as session:
        services.create_deployment(session=session, name="m", hf_repo="org/x")
    series = harness.gql('{ metrics(model: "m") { deploymentId points { time } } }')["metrics"]
    assert series == {"deploymentId": None, "points": []}


def test_suggest_task_reads_the_cached_config(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text('{"architectures": ["BertForSequenceClassification"]}')
    hub.register_folder(source, "org/classifier", hf_home_dir=home)

    query = "query($r: String!) { suggestTask(huggingFaceRepo: $r) { task reason } }"
    found = harness.gql(query, r="org/classifier")["suggestTask"]
    assert found["task"] == "text-classification" and "config.json" in found["reason"]
    unknown = harness.gql(query, r="org/not-cached")["suggestTask"]
    assert unknown["task"] is None and "not in this server's model cache" in unknown["reason"]
    invalid = harness.gql(query, r="no spaces allowed")["suggestTask"]
    assert invalid["task"] is None and "not a Hugging Face repository id" in invalid["reason"]


def test_gateway_counts_requests_that_reach_no_deployment(harness: Harness) -> None:
    with session_scope(harness.sessions) as session:
        services.create_deployment(session=session, name="m", hf_repo="org/x")
    harness.plane.error = ModelNotRoutable("m")
    body = {"inputs": "hi"}
    assert harness.client.post("/v1/models/m/predict", json=body).status_code == 503
    assert harness.client.post("/v1/models/nope/predict", json=body).status_code == 404
    text = harness.client.get("/metrics").text
    assert 'plinth_unrouted_requests_total{code="503",model="m"} 1.0' in text
    assert 'plinth_unrouted_requests_total{code="404",model=""} 1.0' in text  # name not kept


def test_deploy_and_update_scaling_accept_the_autoscaling_policy(harness: Harness) -> None:
    deploy = """mutation($policy: String) {
      deployModel(input: {name: "m", huggingFaceRepo: "org/x",
                          scaling: {autoscalingPolicy: $policy}}) {
        __typename ... on ValidationError { field message } } }"""
    bad = harness.gql(deploy, policy="hpa")["deployModel"]
    assert bad["__typename"] == "ValidationError" and bad["field"] == "autoscalingPolicy"
    assert harness.gql(deploy, policy="knative_kpa")["deployModel"]["__typename"] == "Deployment"
    update = """mutation { updateScaling(model: "m", scaling: {autoscalingPolicy: "k8s_hpa"}) {
      ... on Model { scaling { autoscalingPolicy } } } }"""
    assert harness.gql(update)["updateScaling"]["scaling"]["autoscalingPolicy"] == "k8s_hpa"


async def test_a_gone_deployment_adds_rows_only_for_what_it_counted(
    live: tuple[ServingMetrics, DeploymentState],
) -> None:
    metrics, state = live
    sampler = MetricsSampler(metrics, lambda: [], None)  # the controller no longer runs it
    assert sampler.sample(T0 + 10) == []
    await state.router.forward(payload(1))  # a request still finishing on its way out
    (row,) = sampler.sample(T0 + 20)
    assert (row.deployment_id, row.samples, row.requests_2xx) == ("d1", 0, 1)
