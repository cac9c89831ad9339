"""`PredictFastPath`: the predict route's common case, answered without the framework's layers.

`POST /v1/models/{name}/predict` is the one route on the hot path. Through FastAPI it pays for
route matching over every route (GraphQL, console, ...), the dependency machinery, Request and
Response objects and several middleware hops: most of the gateway's Python time per request
(docs/benchmarks/gateway.md). This ASGI middleware sits in front of `SecurityMiddleware` and
answers the common case itself, with the same code the route uses for everything that decides
the answer:

- it handles only a POST to a predict path (`/v1/models/{name}/predict` and
  `/v1/models/{name}/environments/{env}/predict`) with valid names, no root path, a declared
  Content-Length within `max_body_bytes`, and a key that `KeyCache.authenticate` accepts and
  whose scopes allow INVOKE on that model (or auth disabled); the route's access is read from
  `backend.auth.registry` at start, and the fast path stays off unless it is INVOKE;
- it reads the body, checks it with the route's own `_check_predict_body`, and answers with
  the route's own `predict_answerer` (the replica's bytes with `X-Plinth-Deployment-Version`,
  `X-Plinth-Cold-Start-Ms` after a cold start, a `ServingError`'s JSON body, status and headers,
  or the 404/503 from the database, counted in the metrics like the route's);
- anything else goes to the full stack unchanged (`self.app`): other routes and methods, a
  missing, malformed, unknown, revoked or expired key (401), a key without the scope (403), a
  missing or too large Content-Length (413 and the streaming limit), an invalid body (422), a
  request for a streamed answer (server-sent events).
  When the body was already read it is replayed to the full stack, which then answers exactly
  as if the fast path did not exist.
  Unexpected exceptions propagate to the same error middleware as the route's would.

So every status, error shape and header is produced by the same code as before; the fast path
only skips work. The OpenAPI document still comes from the FastAPI route, which stays in place.
A new predict-like route joins by adding its path pattern and handler here.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth.cache import KeyCache, Unauthenticated
from backend.auth.http import PRINCIPAL
from backend.auth.registry import route_access
from backend.auth.scopes import Access, Principal
from backend.interfaces import PredictPlane
from backend.rest import REQUEST_KEY_HEADER, _check_predict_body, predict_answerer
from backend.streaming import wants_stream
from plinth.types import NAME_PATTERN
from serving.metrics import ServingMetrics

PREDICT_ROUTES = ("/v1/models/{name}/predict", "/v1/models/{name}/environments/{env}/predict")
_PREDICT_PATH = re.compile(r"^/v1/models/([^/]+)/(?:environments/([^/]+)/)?predict$")
_NAME = re.compile(NAME_PATTERN)
_NAME_MAX = 63
_REQUEST_KEY = REQUEST_KEY_HEADER.lower().encode("latin-1")


class PredictFastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        plane: PredictPlane,
        sessions: sessionmaker[Session],
        keys: KeyCache,
        auth_enabled: bool,
        max_body_bytes: int,
        predict_timeout_s: float,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.app = app
        self.answer = predict_answerer(
            plane=plane, sessions=sessions, predict_timeout_s=predict_timeout_s, metrics=metrics
        )
        self.keys = keys
        self.auth_enabled = auth_enabled
        self.max_body_bytes = max_body_bytes
        # Fail closed: if the registry ever says otherwise, the full stack decides everything.
        self.enabled = all(route_access("POST", route) is Access.INVOKE for route in PREDICT_ROUTES)
        self._anonymous = Principal.auth_disabled()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.enabled
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        found = _PREDICT_PATH.match(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        name = found.group(1)
        environment = found.group(2) or "production"
        if len(environment) > _NAME_MAX or _NAME.match(environment) is None:
            await self.app(scope, receive, send)
            return
        principal = self._principal(scope, name)
        length = _content_length(scope) if principal is not None else None
        if principal is None or length is None or length > self.max_body_bytes:
            await self.app(scope, receive, send)
            return
        # Read the body (its length is what the client declared: the server frames it).
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client is gone: nobody to answer
                return
            chunk: bytes = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
            if not message.get("more_body", False):
                break
        payload = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        headers = Headers(scope=scope)
        if (
            size > self.max_body_bytes
            or _check_predict_body(payload) is not None
            or wants_stream(headers, payload)
        ):
            await self.app(scope, _replay(payload, receive), send)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        key = _header(scope, _REQUEST_KEY)
        response = await self.answer(name, environment, payload, key)
        await response(scope, receive, send)

    def _principal(self, scope: Scope, name: str) -> Principal | None:
        """The caller allowed to invoke model `name`, or None to let the full stack answer."""
        if len(name) > _NAME_MAX or _NAME.match(name) is None:
            return None
        if not self.auth_enabled:
            return self._anonymous
        token = _bearer(scope)
        if token is None:
            return None
        try:
            principal = self.keys.authenticate(token)
        except Unauthenticated:
            return None
        return principal if principal.allows(Access.INVOKE, name) else None


def _bearer(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then defers to the real one."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
