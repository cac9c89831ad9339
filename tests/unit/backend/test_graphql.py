"""GraphQL API over HTTP: deploy, validation failures as union members, scaling, delete, reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from backend import services
from backend.db.session import session_scope
from plinth.types import DeploymentStatus, ReplicaState
from serving.spec import ReplicaObservation
from tests.unit.backend.support import Harness

DEPLOY = """
mutation Deploy($input: DeployModelInput!) {
  deployModel(input: $input) {
    __typename
    ... on Deployment { id modelName version huggingFaceRepo revision task engine status error }
    ... on ValidationError { field message }
  }
}
"""

MODEL = """
query Model($name: String!) {
  model(name: $name) {
    name createdAt
    scaling { minReplicas maxReplicas concurrencyTarget maxConcurrency
              scaleDownDelaySeconds autoscalingWindowSeconds maxQueue }
    activeDeployment { id version }
    deployments {
      id version status resolvedRevision task
      replicas { id state pid port startedAt readyAt error }
      events { id deploymentId at kind status message }
    }
  }
}
"""


def deploy(h: Harness, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"name": "minilm", "huggingFaceRepo": "org/minilm", **fields}
    result: dict[str, Any] = h.gql(DEPLOY, input=payload)["deployModel"]
    return result


def test_deploy_model_creates_a_pending_deployment_and_starts_it(harness: Harness) -> None:
    result = deploy(
        harness,
        revision="abc123",
        task="feature-extraction",
        scaling={"minReplicas": 1, "maxReplicas": 3},
    )

    assert result["__typename"] == "Deployment"
    assert result["status"] == "PENDING"
    assert result["modelName"] == "minilm"
    assert result["version"] == 1
    assert result["huggingFaceRepo"] == "org/minilm"
    assert result["revision"] == "abc123"
    assert result["engine"] == "transformers"
    assert harness.starter.started == [result["id"]]

    model = harness.gql(MODEL, name="minilm")["model"]
    assert model["scaling"]["minReplicas"] == 1
    assert model["scaling"]["maxReplicas"] == 3
    assert model["scaling"]["maxConcurrency"] == 4  # an omitted field keeps its default
    assert model["activeDeployment"] is None
    assert [d["id"] for d in model["deployments"]] == [result["id"]]
    [created] = model["deployments"][0]["events"]
    assert created["kind"] == "created"
    assert created["status"] == "PENDING"
    assert "org/minilm@abc123" in created["message"]


@pytest.mark.parametrize(
    ("fields", "field", "needle"),
    [
        ({"scaling": {"minReplicas": 3, "maxReplicas": 2}}, "minReplicas", "must not exceed"),
        ({"scaling": {"minReplicas": -1}}, "minReplicas", "0 or more"),
        ({"scaling": {"maxQueue": -5}}, "maxQueue", "0 or more"),
        ({"scaling": {"scaleDownDelaySeconds": -1.0}}, "scaleDownDelaySeconds", "0 or more"),
        ({"scaling": {"concurrencyTarget": 0}}, "concurrencyTarget", "greater than 0"),
        ({"huggingFaceRepo": ""}, "huggingFaceRepo", "must not be empty"),
        ({"huggingFaceRepo": "has space/x"}, "huggingFaceRepo", "not a Hugging Face repository"),
        ({"name": "Bad_Name"}, "name", "not a valid name"),
        ({"name": ""}, "name", "must not be empty"),
        ({"task": "translation"}, "task", "unknown task 'translation'"),
        ({"engine": "vllm"}, "engine", "unknown engine 'vllm'"),
    ],
)
def test_deploy_model_rejects_invalid_input_naming_the_field(
    harness: Harness, fields: dict[str, Any], field: str, needle: str
) -> None:
    result = deploy(harness, **fields)

    assert result["__typename"] == "ValidationError"
    assert result["field"] == field
    assert needle in result["message"]
    assert harness.starter.started == []
    assert harness.gql("{ models { name } }")["models"] == []


def test_deploying_an_existing_name_creates_the_next_version(harness: Harness) -> None:
    first = deploy(harness)
    assert first["__typename"] == "Deployment"

    second = deploy(harness, huggingFaceRepo="other/repo")

    assert second["__typename"] == "Deployment", second
    assert (first["version"], second["version"]) == (1, 2)
    assert second["huggingFaceRepo"] == "other/repo"
    assert harness.starter.started == [first["id"], second["id"]]
    versions = harness.gql(MODEL, name="minilm")["model"]["deployments"]
    assert [d["version"] for d in versions] == [2, 1]


def test_a_deploy_that_cannot_start_is_failed_with_the_reason(harness: Harness) -> None:
    harness.starter.fail_with = ConnectionError("temporal is down")

    result = deploy(harness)

    assert result["__typename"] == "Deployment"
    assert result["status"] == "FAILED"
    assert "temporal is down" in result["error"]


UPDATE = """
mutation Update($model: String!, $scaling: ScalingInput!) {
  updateScaling(model: $model, scaling: $scaling) {
    __typename
    ... on Model { name scaling { minReplicas maxReplicas maxQueue } }
    ... on ValidationError { field message }
    ... on NotFoundError { message }
  }
}
"""


def test_update_scaling_merges_given_fields_and_wakes_the_controller(harness: Harness) -> None:
    deploy(harness, scaling={"maxReplicas": 4, "maxQueue": 10})

    result = harness.gql(UPDATE, model="minilm", scaling={"minReplicas": 2})["updateScaling"]

    assert result == {
        "__typename": "Model",
        "name": "minilm",
        "scaling": {"minReplicas": 2, "maxReplicas": 4, "maxQueue": 10},
    }
    assert len(harness.wakes) == 1


def test_update_scaling_validates_the_merged_result(harness: Harness) -> None:
    deploy(harness, scaling={"maxReplicas": 2})

    result = harness.gql(UPDATE, model="minilm", scaling={"minReplicas": 3})["updateScaling"]

    assert result["__typename"] == "ValidationError"
    assert result["field"] == "minReplicas"
    model = harness.gql(MODEL, name="minilm")["model"]
    assert model["scaling"]["minReplicas"] == 0  # unchanged
    assert harness.wakes == []


def test_update_scaling_of_an_unknown_model_is_not_found(harness: Harness) -> None:
    result = harness.gql(UPDATE, model="ghost", scaling={"minReplicas": 1})["updateScaling"]

    assert result == {"__typename": "NotFoundError", "message": "model 'ghost' not found"}


DELETE = """
mutation Delete($name: String!) {
  deleteModel(name: $name) {
    __typename ... on DeletedModel { name } ... on NotFoundError { message }
  }
}
"""


def test_delete_model_removes_it_with_its_deployments(harness: Harness) -> None:
    deployment_id = deploy(harness)["id"]

    result = harness.gql(DELETE, name="minilm")["deleteModel"]

    assert result == {"__typename": "DeletedModel", "name": "minilm"}
    assert harness.gql(MODEL, name="minilm")["model"] is None
    query = "query D($id: ID!) { deployment(id: $id) { id } }"
    assert harness.gql(query, id=deployment_id)["deployment"] is None
    assert len(harness.wakes) == 1
    again = harness.gql(DELETE, name="minilm")["deleteModel"]
    assert again == {"__typename": "NotFoundError", "message": "model 'minilm' not found"}


def test_model_shows_deployments_replicas_and_events(harness: Harness) -> None:
    deployment_id = deploy(harness)["id"]
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with session_scope(harness.sessions) as session:
        services.set_resolution(
            session,
            deployment_id=deployment_id,
            resolved_revision="f" * 40,
            model_path="/cache/minilm",
            task="feature-extraction",
        )
        services.set_deployment_status(
            session, deployment_id=deployment_id, status=DeploymentStatus.DEPLOYING
        )
        services.replace_replicas(
            session,
            deployment_id=deployment_id,
            replicas=[
                ReplicaObservation(
                    "r-1", deployment_id, ReplicaState.READY, pid=42, port=9001, started_at=started
                )
            ],
        )
        services.activate_deployment(session, deployment_id=deployment_id)

    model = harness.gql(MODEL, name="minilm")["model"]

    assert model["activeDeployment"] == {"id": deployment_id, "version": 1}
    [deployment] = model["deployments"]
    assert deployment["status"] == "ACTIVE"
    assert deployment["resolvedRevision"] == "f" * 40
    assert deployment["task"] == "feature-extraction"
    assert deployment["replicas"] == [
        {
            "id": "r-1",
            "state": "READY",
            "pid": 42,
            "port": 9001,
            "startedAt": "2026-01-02T03:04:05+00:00",
            "readyAt": None,
            "error": None,
        }
    ]
    events = deployment["events"]
    assert [e["kind"] for e in events] == [
        "created",
        "resolved",
        "status",
        "status",
        "traffic_shifted",
    ]
    assert [e["status"] for e in events] == ["PENDING", "PENDING", "DEPLOYING", "ACTIVE", "ACTIVE"]
    assert all(e["deploymentId"] == deployment_id for e in events)
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)


def test_nested_lists_cost_one_query_per_level_not_per_parent(harness: Harness) -> None:
    for i in range(5):
        deploy(harness, name=f"model-{i}")
    statements: list[str] = []
    engine = harness.sessions.kw["bind"]

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        models = harness.gql(
            "{ models { name activeDeployment { id } deployments { id replicas { id } "
            "events { id } } } }"
        )["models"]
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(models) == 5
    assert all(len(m["deployments"]) == 1 for m in models)
    # models + deployments (activeDeployment shares the batch) and the environments they serve
    # + replicas + events.
    assert len(statements) == 5, statements


def test_deployment_by_id(harness: Harness) -> None:
    deployment_id = deploy(harness)["id"]
    query = "query D($id: ID!) { deployment(id: $id) { id modelName status } }"

    found = harness.gql(query, id=deployment_id)["deployment"]

    assert found == {"id": deployment_id, "modelName": "minilm", "status": "PENDING"}
    assert harness.gql(query, id="no-such-id")["deployment"] is None
