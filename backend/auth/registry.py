"""The one place where every REST route and every GraphQL root field declares its access.

Enforcement reads only this table: the ASGI middleware (`backend.auth.http`) for routes, the
root-field guard (`backend.auth.graphql`) for GraphQL. A route or field missing here is denied
to everyone (fail closed), `create_app` refuses to build an app with an undeclared route, and
the auth matrix test walks `app.routes` and the schema's root fields against this table.

Public routes, and why they are public:
- `GET /healthz`: load balancers and `plinth up` probe it without credentials; it says only "ok".
- `GET /openapi.json`, `/docs`, `/docs/oauth2-redirect`, `/redoc`: the API's shape is published
  (it is open source anyway); calling any documented operation still needs a key.
- `GET /` and `GET /assets/{path}`: the console's static page and scripts hold no secrets; the
  console signs in with an API key that it sends to `/graphql` like any other client.
`/graphql` (GET, POST, WebSocket) needs any valid key to reach the executor; each root field
then needs its own access. A WebSocket may instead authenticate in its `connection_init` payload
(`{"Authorization": "Bearer <key>"}`), since browsers cannot set headers on WebSockets.
"""

from __future__ import annotations

from backend.auth.scopes import Access

# (method, route path) -> access. HEAD is checked as GET; WEBSOCKET is a WebSocket route.
REST_ROUTES: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): Access.PUBLIC,
    ("GET", "/openapi.json"): Access.PUBLIC,
    ("GET", "/docs"): Access.PUBLIC,
    ("GET", "/docs/oauth2-redirect"): Access.PUBLIC,
    ("GET", "/redoc"): Access.PUBLIC,
    ("GET", "/"): Access.PUBLIC,
    ("GET", "/assets/{path:path}"): Access.PUBLIC,
    ("POST", "/v1/models/{name}/predict"): Access.INVOKE,
    ("POST", "/v1/packages"): Access.DEPLOY,
    ("POST", "/v1/models/{name}/async_predict"): Access.INVOKE,
    ("POST", "/v1/models/{name}/batch"): Access.INVOKE,
    # No model in the path: the handler loads the request (or job) and requires INVOKE on its
    # model, refusing keys without any invoke scope before the lookup (fail closed).
    ("GET", "/v1/async/{request_id}"): Access.AUTHENTICATED,
    ("DELETE", "/v1/async/{request_id}"): Access.AUTHENTICATED,
    ("GET", "/v1/batch/{job_id}"): Access.AUTHENTICATED,
    ("GET", "/v1/batch/{job_id}/output"): Access.AUTHENTICATED,
    ("POST", "/v1/models/{name}/environments/{env}/predict"): Access.INVOKE,
    # OpenAI-compatible API (backend.openai_api): the model is named in the body.
    ("POST", "/v1/chat/completions"): Access.INVOKE_BODY,
    ("POST", "/v1/completions"): Access.INVOKE_BODY,
    ("POST", "/v1/embeddings"): Access.INVOKE_BODY,
    ("GET", "/v1/models"): Access.AUTHENTICATED,  # lists only the models the key may invoke
    ("GET", "/metrics"): Access.READ,  # Prometheus scrapes with a read-only key
    ("GET", "/graphql"): Access.AUTHENTICATED,
    ("POST", "/graphql"): Access.AUTHENTICATED,
    ("WEBSOCKET", "/graphql"): Access.AUTHENTICATED,
}

# "RootType.fieldName" -> access.
GRAPHQL_FIELDS: dict[str, Access] = {
    "Query.models": Access.READ,
    "Query.model": Access.READ,
    "Query.deployment": Access.READ,
    "Query.apiKeys": Access.ADMIN,
    "Query.secrets": Access.ADMIN,
    "Query.auditLog": Access.ADMIN,
    "Query.replicaLogs": Access.READ,
    "Query.metrics": Access.READ,
    "Query.coldStarts": Access.READ,
    "Query.suggestTask": Access.READ,
    "Mutation.deployModel": Access.DEPLOY,
    "Mutation.updateScaling": Access.DEPLOY,
    "Mutation.deleteModel": Access.DEPLOY,
    "Mutation.deployPackage": Access.DEPLOY,
    "Mutation.reloadDeployment": Access.DEPLOY,
    "Query.modelEvents": Access.READ,
    "Mutation.createEnvironment": Access.DEPLOY,
    "Mutation.promoteDeployment": Access.DEPLOY,
    "Mutation.rollback": Access.DEPLOY,
    "Mutation.startCanary": Access.DEPLOY,
    "Mutation.promoteCanary": Access.DEPLOY,
    "Mutation.abortCanary": Access.DEPLOY,
    "Mutation.createApiKey": Access.ADMIN,
    "Mutation.revokeApiKey": Access.ADMIN,
    "Mutation.setSecret": Access.ADMIN,
    "Mutation.deleteSecret": Access.ADMIN,
    # Async requests and batch jobs: any key; each resolver shows and acts only on what the key
    # may invoke (its models; the signing secret of the key itself).
    "Query.asyncDeadLetters": Access.AUTHENTICATED,
    "Query.batchJob": Access.AUTHENTICATED,
    "Query.batchJobs": Access.AUTHENTICATED,
    "Mutation.replayWebhook": Access.AUTHENTICATED,
    "Mutation.revealWebhookSecret": Access.AUTHENTICATED,
    "Mutation.rotateWebhookSecret": Access.AUTHENTICATED,
    "Subscription.deploymentEvents": Access.READ,
    "Subscription.replicaLogs": Access.READ,
}


def route_access(method: str, path: str) -> Access | None:
    method = "GET" if method == "HEAD" else method
    return REST_ROUTES.get((method, path))


def field_access(type_name: str, field_name: str) -> Access | None:
    return GRAPHQL_FIELDS.get(f"{type_name}.{field_name}")
