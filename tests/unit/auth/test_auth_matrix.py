"""The auth matrix: every REST route and every GraphQL root field, times every kind of caller.

The expected tables below are written out by hand (not derived from the registry), and each test
first checks that they cover exactly the app's routes and the schema's root fields: a new route
or field fails here until someone decides who may call it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from backend.auth.routes import route_table
from backend.graphql.schema import build_schema
from tests.unit.auth.support import CALLERS, AuthApp, auth_app

VALID = {"read", "invoke_other", "invoke_this", "deploy", "admin"}
UNAUTHENTICATED = {"none", "bad", "expired", "revoked"}
PUBLIC = set(CALLERS)
READERS = {"read", "deploy", "admin"}
DEPLOYERS = {"deploy", "admin"}
ADMINS = {"admin"}
INVOKERS = {"invoke_other", "invoke_this", "admin"}

# (method, path) -> callers allowed
REST: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/assets/{path:path}"): PUBLIC,
    ("POST", "/v1/models/{name}/predict"): {"invoke_this", "admin"},
    ("POST", "/v1/models/{name}/async_predict"): {"invoke_this", "admin"},
    ("POST", "/v1/models/{name}/batch"): {"invoke_this", "admin"},
    # No model in the path: any invoke scope gets past the door (an unknown id is then 404;
    # a known one needs invoke on its model, see tests/unit/backend/test_async_routes.py).
    ("GET", "/v1/async/{request_id}"): INVOKERS,
    ("DELETE", "/v1/async/{request_id}"): INVOKERS,
    ("GET", "/v1/batch/{job_id}"): INVOKERS,
    ("GET", "/v1/batch/{job_id}/output"): INVOKERS,
    ("POST", "/v1/models/{name}/environments/{env}/predict"): {"invoke_this", "admin"},
    # OpenAI-compatible: the model ("minilm") is named in the body.
    ("POST", "/v1/chat/completions"): {"invoke_this", "admin"},
    ("POST", "/v1/completions"): {"invoke_this", "admin"},
    ("POST", "/v1/embeddings"): {"invoke_this", "admin"},
    ("GET", "/v1/models"): VALID,  # each key sees only the models it may invoke
    ("GET", "/metrics"): READERS,
    ("POST", "/v1/packages"): DEPLOYERS,
    ("GET", "/graphql"): VALID,
    ("POST", "/graphql"): VALID,
    ("WEBSOCKET", "/graphql"): VALID,
}

MODEL = "minilm"
OPENAI_BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
    "/v1/completions": {"model": MODEL, "prompt": "x"},
    "/v1/embeddings": {"model": MODEL, "input": "x"},
}
# "Root.field" -> (document, callers allowed)
GRAPHQL: dict[str, tuple[str, set[str]]] = {
    "Query.models": ("{ models { name } }", READERS),
    "Query.model": ('{ model(name: "minilm") { name } }', READERS),
    "Query.deployment": ('{ deployment(id: "nope") { id } }', READERS),
    "Query.apiKeys": ("{ apiKeys { id prefix } }", ADMINS),
    "Query.secrets": ("{ secrets { name } }", ADMINS),
    "Query.auditLog": ("{ auditLog(limit: 1) { action } }", ADMINS),
    "Query.replicaLogs": ('{ replicaLogs(model: "minilm", tail: 1) { line } }', READERS),
    "Query.metrics": ('{ metrics(model: "minilm") { step } }', READERS),
    "Query.coldStarts": ('{ coldStarts(model: "minilm") { seconds } }', READERS),
    "Query.suggestTask": ('{ suggestTask(huggingFaceRepo: "org/m") { reason } }', READERS),
    "Mutation.deployModel": (
        'mutation { deployModel(input: {name: "m1", huggingFaceRepo: "org/m"}) { __typename } }',
        DEPLOYERS,
    ),
    "Mutation.updateScaling": (
        'mutation { updateScaling(model: "nope", scaling: {maxReplicas: 2}) { __typename } }',
        DEPLOYERS,
    ),
    "Mutation.deleteModel": ('mutation { deleteModel(name: "nope") { __typename } }', DEPLOYERS),
    "Mutation.deployPackage": (
        'mutation { deployPackage(input: {packageDigest: "sha256:00"}) { __typename } }',
        DEPLOYERS,
    ),
    "Mutation.reloadDeployment": (
        'mutation { reloadDeployment(deploymentId: "x", packageDigest: "sha256:00") '
        "{ __typename } }",
        DEPLOYERS,
    ),
    "Mutation.createApiKey": (
        'mutation { createApiKey(input: {scopes: ["read"]}) { __typename } }',
        ADMINS,
    ),
    "Mutation.revokeApiKey": ('mutation { revokeApiKey(id: "nope") { __typename } }', ADMINS),
    "Mutation.setSecret": (
        'mutation { setSecret(name: "TOKEN", value: "v") { __typename } }',
        ADMINS,
    ),
    "Mutation.deleteSecret": ('mutation { deleteSecret(name: "NOPE") { __typename } }', ADMINS),
    "Query.asyncDeadLetters": ("{ asyncDeadLetters { id } }", VALID),
    "Query.batchJob": ('{ batchJob(id: "nope") { id } }', VALID),
    "Query.batchJobs": ("{ batchJobs { id } }", VALID),
    "Mutation.replayWebhook": ('mutation { replayWebhook(id: "nope") { __typename } }', VALID),
    "Mutation.revealWebhookSecret": ("mutation { revealWebhookSecret { __typename } }", VALID),
    "Mutation.rotateWebhookSecret": ("mutation { rotateWebhookSecret { secret } }", VALID),
    "Query.modelEvents": ('{ modelEvents(model: "nope") { id } }', READERS),
    "Mutation.createEnvironment": (
        'mutation { createEnvironment(model: "nope", name: "qa") { __typename } }',
        DEPLOYERS,
    ),
    "Mutation.promoteDeployment": (
        'mutation { promoteDeployment(deploymentId: "nope") { __typename } }',
        DEPLOYERS,
    ),
    "Mutation.rollback": ('mutation { rollback(model: "nope") { __typename } }', DEPLOYERS),
    "Mutation.startCanary": (
        'mutation { startCanary(model: "nope", deploymentId: "x", percent: 5) { __typename } }',
        DEPLOYERS,
    ),
    "Mutation.promoteCanary": (
        'mutation { promoteCanary(model: "nope") { __typename } }',
        DEPLOYERS,
    ),
    "Mutation.abortCanary": ('mutation { abortCanary(model: "nope") { __typename } }', DEPLOYERS),
    "Subscription.deploymentEvents": (
        'subscription { deploymentEvents(id: "nope") { id } }',
        READERS,
    ),
    "Subscription.replicaLogs": ('subscription { replicaLogs(model: "nope") { line } }', READERS),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthApp]:
    with auth_app(tmp_path_factory.mktemp("matrix")) as app:
        yield app


def _schema_root_fields() -> set[str]:
    schema = build_schema()._schema  # the schema `create_app` serves
    found: set[str] = set()
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        found.update(f"{root.name}.{name}" for name in root.fields)
    return found


def test_the_matrix_covers_every_route_and_root_field(env: AuthApp) -> None:
    routes = {(e.method, e.path) for e in route_table(env.app.routes)}
    assert routes == set(REST), "declare who may call each new route in REST above"
    assert _schema_root_fields() == set(GRAPHQL), "add each new root field to GRAPHQL"


def _call_rest(env: AuthApp, method: str, path: str, caller: str) -> Any:
    headers = env.headers(caller)
    url = path.replace("{name}", MODEL).replace("{env}", "staging")
    if method == "POST" and path == "/graphql":
        return env.client.post(url, json={"query": "{ __typename }"}, headers=headers)
    if method == "POST" and path in OPENAI_BODIES:
        return env.client.post(url, json=OPENAI_BODIES[path], headers=headers)
    if method == "POST":
        return env.client.post(url, json={"inputs": "x"}, headers=headers)
    if method == "DELETE":
        return env.client.delete(url, headers=headers)
    params = {"query": "{ __typename }"} if path == "/graphql" else None
    return env.client.get(url, params=params, headers=headers)


def _ws_allowed(env: AuthApp, caller: str) -> bool:
    try:
        with env.client.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers=env.headers(caller)
        ) as ws:
            ws.send_json({"type": "connection_init"})
            return bool(ws.receive_json()["type"] == "connection_ack")
    except WebSocketDisconnect:
        return False


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), sorted(REST))
def test_rest_route(env: AuthApp, method: str, path: str, caller: str) -> None:
    allowed = caller in REST[(method, path)]
    if method == "WEBSOCKET":
        assert _ws_allowed(env, caller) is allowed
        return
    response = _call_rest(env, method, path, caller)
    if allowed:
        assert response.status_code not in (401, 403), response.text
        return
    error = response.json()["error"]
    if caller in UNAUTHENTICATED:
        assert response.status_code == 401
        assert error["type"] == "unauthorized"
        assert caller == "none" or caller in error["message"] or "key" in error["message"]
    else:
        assert response.status_code == 403
        assert error["type"] == "forbidden"
        named = "{name}" in path or path in OPENAI_BODIES
        if named:
            scope = f"invoke:{MODEL}"
        elif path.startswith(("/v1/async/", "/v1/batch/")):
            scope = "invoke"
        elif (method, path) == ("POST", "/v1/packages"):
            scope = "deploy"
        else:
            scope = "read"
        assert error["required_scope"] == scope
        assert scope in error["message"]


def _subscribe(env: AuthApp, caller: str, document: str) -> dict[str, Any]:
    with env.client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"], headers=env.headers(caller)
    ) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": document}})
        message: dict[str, Any] = ws.receive_json()
        return message


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("field", sorted(GRAPHQL))
def test_graphql_root_field(env: AuthApp, field: str, caller: str) -> None:
    document, allowed_callers = GRAPHQL[field]
    allowed = caller in allowed_callers
    if caller in UNAUTHENTICATED:
        response = env.gql(caller, document)
        assert response.status_code == 401
        body = response.json()
        assert body["error"]["type"] == "unauthorized"
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        return
    if field.startswith("Subscription."):
        message = _subscribe(env, caller, document)
        errors = message["payload"] if message["type"] == "error" else []
    else:
        response = env.gql(caller, document)
        assert response.status_code == 200
        errors = response.json().get("errors", [])
    codes = [e.get("extensions", {}).get("code") for e in errors]
    if allowed:
        assert "FORBIDDEN" not in codes, errors
    else:
        assert codes == ["FORBIDDEN"], errors
        assert errors[0]["extensions"]["requiredScope"] in errors[0]["message"]
