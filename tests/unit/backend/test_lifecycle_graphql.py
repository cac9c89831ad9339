"""Versions, environments, promote, rollback and canary through GraphQL: what each mutation
checks, what it commits, and which workflow it starts (recorded by the harness's starter)."""

from __future__ import annotations

from typing import Any

from backend import services
from backend.db.session import session_scope
from plinth.types import DeploymentStatus
from tests.unit.backend.support import Harness
from workflows.names import CanaryInput, PromoteInput

DEPLOY = """
mutation Deploy($input: DeployModelInput!) {
  deployModel(input: $input) {
    __typename
    ... on Deployment { id version status targetEnvironment createdBy config }
    ... on ValidationError { field message }
  }
}"""
ENVS = """
query E($name: String!) {
  model(name: $name) {
    scaling { minReplicas }
    environments {
      name scaling { minReplicas maxReplicas }
      deployment { version environment } previousDeployment { version }
      canary { percent deployment { version } autoRollback { maxErrorRate windowSeconds } }
      lastRollbackReason
    }
    deployments { version status environment promotedFrom }
  }
}"""
RESULT = """__typename
  ... on Deployment { id version status environment targetEnvironment promotedFrom }
  ... on ValidationError { field message }
  ... on NotFoundError { field message }"""
PROMOTE = f"""mutation P($id: ID!, $env: String!) {{
  promoteDeployment(deploymentId: $id, environment: $env) {{ {RESULT} }} }}"""
ROLLBACK = f"""mutation R($m: String!, $env: String!) {{
  rollback(model: $m, environment: $env) {{ {RESULT} }} }}"""
CANARY = f"""mutation C($m: String!, $id: ID!, $p: Float!, $env: String!, $a: AutoRollbackInput) {{
  startCanary(model: $m, deploymentId: $id, percent: $p, environment: $env, autoRollback: $a) {{
    {RESULT} }} }}"""
PROMOTE_CANARY = f"""mutation PC($m: String!) {{ promoteCanary(model: $m) {{ {RESULT} }} }}"""
ABORT_CANARY = f"""mutation AC($m: String!) {{ abortCanary(model: $m) {{ {RESULT} }} }}"""
CREATE_ENV = """mutation CE($m: String!, $n: String!, $s: ScalingInput) {
  createEnvironment(model: $m, name: $n, scaling: $s) {
    __typename
    ... on Environment { name scaling { minReplicas maxReplicas } deployment { version } }
    ... on ValidationError { field message }
    ... on NotFoundError { field message }
  }
}"""
SCALE = """mutation S($m: String!, $env: String!) {
  updateScaling(model: $m, scaling: {maxReplicas: 4}, environment: $env) {
    __typename ... on NotFoundError { field message } ... on Model { scaling { maxReplicas } }
  }
}"""


def deploy(h: Harness, **fields: Any) -> dict[str, Any]:
    payload = {"name": "m", "huggingFaceRepo": "org/m", **fields}
    result: dict[str, Any] = h.gql(DEPLOY, input=payload)["deployModel"]
    return result


def roll_out(h: Harness, deployment_id: str) -> None:
    """What DeployModel does: resolve, start (DEPLOYING), then shift traffic."""
    with session_scope(h.sessions) as session:
        services.set_resolution(
            session,
            deployment_id=deployment_id,
            resolved_revision="a" * 40,
            model_path="/cache/m",
            task="text-classification",
        )
        services.set_deployment_status(
            session, deployment_id=deployment_id, status=DeploymentStatus.DEPLOYING
        )
        services.activate_deployment(session, deployment_id=deployment_id)


def envs(h: Harness, name: str = "m") -> dict[str, Any]:
    model = h.gql(ENVS, name=name)["model"]
    model["env"] = {e["name"]: e for e in model["environments"]}
    return model  # type: ignore[no-any-return]


def test_a_new_model_has_three_environments_and_records_who_deployed(harness: Harness) -> None:
    created = deploy(harness, scaling={"minReplicas": 1, "maxReplicas": 2})

    assert created["targetEnvironment"] == "production"
    assert created["createdBy"].startswith("pl_")
    assert created["config"]["huggingFaceRepo"] == "org/m"
    model = envs(harness)
    assert [e["name"] for e in model["environments"]] == ["development", "staging", "production"]
    assert all(e["scaling"] == {"minReplicas": 1, "maxReplicas": 2} for e in model["environments"])
    assert all(e["deployment"] is None for e in model["environments"])


def test_deploying_into_an_unknown_environment_names_the_field(harness: Harness) -> None:
    deploy(harness)
    result = deploy(harness, environment="qa")
    assert (result["__typename"], result["field"]) == ("ValidationError", "environment")


def test_a_deploy_shifts_its_environment_and_keeps_the_previous(harness: Harness) -> None:
    v1 = deploy(harness)
    roll_out(harness, v1["id"])
    v2 = deploy(harness, environment="staging")
    roll_out(harness, v2["id"])
    v3 = deploy(harness)
    roll_out(harness, v3["id"])

    model = envs(harness)
    assert model["env"]["production"]["deployment"] == {"version": 3, "environment": "production"}
    assert model["env"]["production"]["previousDeployment"] == {"version": 1}
    assert model["env"]["staging"]["deployment"]["version"] == 2
    statuses = {d["version"]: d["status"] for d in model["deployments"]}
    assert statuses == {3: "ACTIVE", 2: "ACTIVE", 1: "SUPERSEDED"}


def test_promoting_a_version_that_serves_another_environment_clones_it(harness: Harness) -> None:
    v1 = deploy(harness)
    roll_out(harness, v1["id"])
    v2 = deploy(harness, environment="staging")
    roll_out(harness, v2["id"])

    result = harness.gql(PROMOTE, id=v2["id"], env="production")["promoteDeployment"]

    assert result["__typename"] == "Deployment"
    assert (result["version"], result["status"]) == (3, "DEPLOYING")
    assert (result["promotedFrom"], result["targetEnvironment"]) == (v2["id"], "production")
    assert harness.starter.rollouts == [PromoteInput(result["id"], "production")]
    again = harness.gql(PROMOTE, id=v2["id"], env="production")["promoteDeployment"]
    assert (again["__typename"], again["field"]) == ("ValidationError", "environment")


def test_promote_refuses_what_cannot_serve_and_names_the_field(harness: Harness) -> None:
    pending = deploy(harness)
    result = harness.gql(PROMOTE, id=pending["id"], env="staging")["promoteDeployment"]
    assert (result["__typename"], result["field"]) == ("ValidationError", "deploymentId")
    roll_out(harness, pending["id"])
    result = harness.gql(PROMOTE, id=pending["id"], env="production")["promoteDeployment"]
    assert (result["__typename"], result["field"]) == ("ValidationError", "deploymentId")
    result = harness.gql(PROMOTE, id=pending["id"], env="nowhere")["promoteDeployment"]
    assert (result["__typename"], result["field"]) == ("NotFoundError", "environment")
    result = harness.gql(PROMOTE, id="missing", env="production")["promoteDeployment"]
    assert (result["__typename"], result["field"]) == ("NotFoundError", "deploymentId")
    assert harness.starter.rollouts == []


def test_rollback_promotes_the_previous_deployment(harness: Harness) -> None:
    v1 = deploy(harness)
    roll_out(harness, v1["id"])
    nothing = harness.gql(ROLLBACK, m="m", env="production")["rollback"]
    assert (nothing["__typename"], nothing["field"]) == ("ValidationError", "environment")
    v2 = deploy(harness)
    roll_out(harness, v2["id"])

    result = harness.gql(ROLLBACK, m="m", env="production")["rollback"]

    assert (result["version"], result["status"]) == (1, "DEPLOYING")
    assert harness.starter.rollouts == [PromoteInput(v1["id"], "production", rollback=True)]
    unknown = harness.gql(ROLLBACK, m="nope", env="production")["rollback"]
    assert (unknown["__typename"], unknown["field"]) == ("NotFoundError", "model")


def test_canary_validation_start_promote_and_abort(harness: Harness) -> None:
    v1 = deploy(harness)
    roll_out(harness, v1["id"])
    v2 = deploy(harness, environment="staging")
    roll_out(harness, v2["id"])
    auto = {"maxErrorRate": 0.1, "windowSeconds": 30}
    for percent, bad_auto, field in (
        (0.0, None, "percent"),
        (100.0, None, "percent"),
        (10.0, {"maxErrorRate": 2.0}, "autoRollback.maxErrorRate"),
        (10.0, {"maxP95Ms": -1.0}, "autoRollback.maxP95Ms"),
    ):
        refused = harness.gql(CANARY, m="m", id=v2["id"], p=percent, env="production", a=bad_auto)
        assert refused["startCanary"]["field"] == field

    started = harness.gql(CANARY, m="m", id=v2["id"], p=10.0, env="production", a=auto)
    canary = started["startCanary"]
    assert (canary["version"], canary["status"]) == (3, "DEPLOYING")
    assert harness.starter.rollouts == [
        CanaryInput(canary["id"], "production", 10.0, max_error_rate=0.1, window_s=30.0)
    ]
    with session_scope(harness.sessions) as session:
        services.set_canary(
            session,
            deployment_id=canary["id"],
            percent=10.0,
            bounds=services.CanaryBounds(max_error_rate=0.1, window_s=30.0),
        )
    production = envs(harness)["env"]["production"]
    assert production["canary"] == {
        "percent": 10.0,
        "deployment": {"version": 3},
        "autoRollback": {"maxErrorRate": 0.1, "windowSeconds": 30.0},
    }

    promoted = harness.gql(PROMOTE_CANARY, m="m")["promoteCanary"]
    assert (promoted["version"], promoted["status"]) == (3, "ACTIVE")
    production = envs(harness)["env"]["production"]
    assert production["canary"] is None
    assert production["deployment"]["version"] == 3
    assert production["previousDeployment"] == {"version": 1}
    none_left = harness.gql(ABORT_CANARY, m="m")["abortCanary"]
    assert (none_left["__typename"], none_left["field"]) == ("ValidationError", "environment")


def test_a_rolled_back_canary_fails_with_the_reason_on_the_environment(harness: Harness) -> None:
    v1 = deploy(harness)
    roll_out(harness, v1["id"])
    v2 = deploy(harness, environment="staging")
    roll_out(harness, v2["id"])
    with session_scope(harness.sessions) as session:
        clone = services.prepare_rollout(
            session, deployment_id=v2["id"], environment="production", canary=True
        )
        services.set_canary(
            session, deployment_id=clone.id, percent=5.0, bounds=services.CanaryBounds()
        )
        services.end_canary(
            session,
            model_name="m",
            environment="production",
            reason="error rate 100% above 10%",
            deployment_id=clone.id,
        )

    production = envs(harness)["env"]["production"]
    assert production["canary"] is None
    assert production["lastRollbackReason"] == (
        "canary version 3 rolled back: error rate 100% above 10%"
    )
    statuses = {d["version"]: d["status"] for d in envs(harness)["deployments"]}
    assert statuses[3] == "FAILED"


def test_environments_can_be_created_and_scaled_on_their_own(harness: Harness) -> None:
    deploy(harness)
    created = harness.gql(CREATE_ENV, m="m", n="qa", s={"maxReplicas": 3})["createEnvironment"]
    assert created == {
        "__typename": "Environment",
        "name": "qa",
        "scaling": {"minReplicas": 0, "maxReplicas": 3},
        "deployment": None,
    }
    twice = harness.gql(CREATE_ENV, m="m", n="qa")["createEnvironment"]
    assert (twice["__typename"], twice["field"]) == ("ValidationError", "name")
    bad = harness.gql(CREATE_ENV, m="m", n="Not A Name")["createEnvironment"]
    assert (bad["__typename"], bad["field"]) == ("ValidationError", "name")

    staged = harness.gql(SCALE, m="m", env="staging")["updateScaling"]
    assert staged["scaling"]["maxReplicas"] == 1  # the model's scaling is production's
    assert envs(harness)["env"]["staging"]["scaling"]["maxReplicas"] == 4
    unknown = harness.gql(SCALE, m="m", env="nowhere")["updateScaling"]
    assert (unknown["__typename"], unknown["field"]) == ("NotFoundError", "environment")


def test_an_environment_that_serves_nothing_is_503_and_an_unknown_one_404(
    harness: Harness,
) -> None:
    from serving.errors import ModelNotRoutable

    deploy(harness)
    harness.plane.error = ModelNotRoutable("m")

    empty = harness.client.post("/v1/models/m/environments/staging/predict", json={"inputs": "a"})
    unknown = harness.client.post("/v1/models/m/environments/qa/predict", json={"inputs": "a"})

    assert empty.status_code == 503
    assert "serves nothing in staging" in empty.json()["error"]["message"]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "env"
    assert harness.plane.environments == [("staging", None), ("qa", None)]


def test_predict_passes_environment_and_key_and_answers_the_version(harness: Harness) -> None:
    ok = harness.client.post(
        "/v1/models/m/environments/staging/predict",
        json={"inputs": "a"},
        headers={"X-Plinth-Request-Key": "user-7"},
    )
    plain = harness.client.post("/v1/models/m/predict", json={"inputs": "a"})

    assert (ok.status_code, ok.headers["X-Plinth-Deployment-Version"]) == (200, "1")
    assert plain.status_code == 200
    assert harness.plane.environments == [("staging", "user-7"), ("production", None)]


def test_environments_of_many_models_cost_two_queries(harness: Harness) -> None:
    from sqlalchemy import event

    for name in ("a", "b", "c"):
        created = deploy(harness, name=name)
        roll_out(harness, created["id"])
    statements: list[str] = []
    engine = harness.sessions.kw["bind"]

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        models = harness.gql("{ models { environments { name deployment { version } } } }")
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert [len(m["environments"]) for m in models["models"]] == [3, 3, 3]
    # models, then environments and the deployments they point at: one batch for all models.
    assert len(statements) == 3, statements
