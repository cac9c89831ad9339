"""Dynamic batching per deployment through GraphQL: the input is validated with field errors,
stored on the deployment, answered as `Deployment.batching`, recorded in `config`, carried into
the controller's `DeploymentSpec`, and kept by a promote that clones the deployment."""

from __future__ import annotations

from typing import Any

import pytest

from backend import services
from backend.db.session import session_scope
from plinth.types import DeploymentStatus
from serving.engines.batching import MAX_BATCH_SIZE_CAP, MAX_WAIT_MS_CAP
from tests.unit.backend.support import Harness

DEPLOY = """
mutation Deploy($input: DeployModelInput!) {
  deployModel(input: $input) {
    __typename
    ... on Deployment { id version config batching { maxBatchSize maxWaitMs } }
    ... on ValidationError { field message }
  }
}"""
PROMOTE = """mutation P($id: ID!, $env: String!) {
  promoteDeployment(deploymentId: $id, environment: $env) {
    __typename ... on Deployment { id promotedFrom batching { maxBatchSize maxWaitMs } }
  }
}"""
MODEL = 'query { model(name: "m") { deployments { version } } }'


def deploy(h: Harness, **fields: Any) -> dict[str, Any]:
    payload = {"name": "m", "huggingFaceRepo": "org/m", **fields}
    result: dict[str, Any] = h.gql(DEPLOY, input=payload)["deployModel"]
    return result


def roll_out(h: Harness, deployment_id: str) -> None:
    with session_scope(h.sessions) as session:
        services.set_resolution(
            session,
            deployment_id=deployment_id,
            resolved_revision="a" * 40,
            model_path="/cache/m",
            task="feature-extraction",
        )
        services.set_deployment_status(
            session, deployment_id=deployment_id, status=DeploymentStatus.DEPLOYING
        )
        services.activate_deployment(session, deployment_id=deployment_id)


def specs_by_id(h: Harness) -> dict[str, tuple[int | None, float | None]]:
    with session_scope(h.sessions) as session:
        return {
            spec.deployment_id: (spec.max_batch_size, spec.max_batch_wait_ms)
            for spec in services.desired_specs(session)
        }


def test_batching_is_stored_answered_and_recorded_in_config(harness: Harness) -> None:
    default = deploy(harness)
    tuned = deploy(harness, batching={"maxBatchSize": 8, "maxWaitMs": 2.5})
    size_only = deploy(harness, batching={"maxBatchSize": 1})

    assert default["batching"] == {"maxBatchSize": None, "maxWaitMs": None}
    assert "batching" not in default["config"]
    assert tuned["batching"] == {"maxBatchSize": 8, "maxWaitMs": 2.5}
    assert tuned["config"]["batching"] == {"maxBatchSize": 8, "maxWaitMs": 2.5}
    assert size_only["batching"] == {"maxBatchSize": 1, "maxWaitMs": None}
    with session_scope(harness.sessions) as session:
        row = services.require_deployment(session, deployment_id=tuned["id"])
        assert (row.max_batch_size, row.max_batch_wait_ms) == (8, 2.5)


@pytest.mark.parametrize(
    ("batching", "field", "limit"),
    [
        ({"maxBatchSize": 0}, "batching.maxBatchSize", str(MAX_BATCH_SIZE_CAP)),
        ({"maxBatchSize": -3}, "batching.maxBatchSize", str(MAX_BATCH_SIZE_CAP)),
        ({"maxBatchSize": MAX_BATCH_SIZE_CAP + 1}, "batching.maxBatchSize", "between 1 and"),
        ({"maxWaitMs": -0.5}, "batching.maxWaitMs", f"{MAX_WAIT_MS_CAP:g}"),
        ({"maxBatchSize": 4, "maxWaitMs": MAX_WAIT_MS_CAP + 1}, "batching.maxWaitMs", "between"),
    ],
)
def test_out_of_range_batching_is_a_validation_error_naming_the_field(
    harness: Harness, batching: dict[str, Any], field: str, limit: str
) -> None:
    result = deploy(harness, batching=batching)

    assert (result["__typename"], result["field"]) == ("ValidationError", field)
    assert limit in result["message"]
    assert harness.gql(MODEL)["model"] is None  # nothing was created
    assert harness.starter.started == []


def test_the_limits_themselves_are_accepted(harness: Harness) -> None:
    result = deploy(harness, batching={"maxBatchSize": MAX_BATCH_SIZE_CAP, "maxWaitMs": 0.0})
    assert result["batching"] == {"maxBatchSize": MAX_BATCH_SIZE_CAP, "maxWaitMs": 0.0}
    result = deploy(harness, batching={"maxBatchSize": 1, "maxWaitMs": MAX_WAIT_MS_CAP})
    assert result["batching"] == {"maxBatchSize": 1, "maxWaitMs": MAX_WAIT_MS_CAP}


def test_desired_specs_carry_batching_and_a_promoted_clone_keeps_it(harness: Harness) -> None:
    plain = deploy(harness)
    roll_out(harness, plain["id"])
    staged = deploy(harness, environment="staging", batching={"maxBatchSize": 16, "maxWaitMs": 7})
    roll_out(harness, staged["id"])

    specs = specs_by_id(harness)
    assert specs[plain["id"]] == (None, None)
    assert specs[staged["id"]] == (16, 7.0)

    clone = harness.gql(PROMOTE, id=staged["id"], env="production")["promoteDeployment"]
    assert (clone["__typename"], clone["promotedFrom"]) == ("Deployment", staged["id"])
    assert clone["batching"] == {"maxBatchSize": 16, "maxWaitMs": 7.0}
    assert specs_by_id(harness)[clone["id"]] == (16, 7.0)  # DEPLOYING into production
