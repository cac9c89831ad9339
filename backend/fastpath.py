"""`PredictFastPath`: the predict route's common case, answered without the framework's layers.

`POST /v1/models/{name}/predict` is the one route on the hot path. Through FastAPI it pays for
route matching over every route (GraphQL, console, ...), the dependency machinery, Request and
Response objects and several middleware hops: most of the gateway's Python time per request
(docs/benchmarks/gateway.md). This ASGI middleware sits in front of `SecurityMiddleware` and
answers the common case itself, with the same code the route uses for everything that decides
the answer:

- it handles only a POST to the predict path with a valid model name, no root path, a declared
  Content-Length within `max_body_bytes`, and a key that `KeyCache.authenticate` accepts and
  whose scopes allow INVOKE on that model (or auth disabled); the route's access is read from
  `backend.auth.registry` at start, and the fast path stays off unless it is INVOKE;
- it reads the body, checks it with the route's own `_check_predict_body`, calls
  `plane.predict` with the route's timeout, and answers as the route does: the replica's bytes
  with `Content-Type: application/json` (plus `X-Plinth-Cold-Start-Ms` after a cold start), or a
  `ServingError`'s JSON body, status and headers (Retry-After, ...), or, when the plane has no
  route for the model, the route's own 404/503 from the database (`_not_routable`);
- anything else goes to the full stack unchanged (`self.app`): other routes and methods, a
  missing, malformed, unknown, revoked or expired key (401), a key without the scope (403), a
  missing or too large Content-Length (413 and the streaming limit), an invalid body (422).
  When the body was already read it is replayed to the full stack, which then answers exactly
  as if the fast path did not exist.
  Unexpected exceptions propagate to the same error middleware as the route's would.

So every status, error shape and header is produced by the same code as before; the fast path
only skips work. The OpenAPI document still comes from the FastAPI route, which stays in place.
A new predict-like route joins by adding its path pattern and handler here.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth.cache import KeyCache, Unauthenticated
from backend.auth.http import PRINCIPAL
from backend.auth.registry import route_access
from backend.auth.scopes import Access, Principal
from backend.interfaces import PredictPlane
from backend.rest import COLD_START_HEADER, _check_predict_body, _not_routable
from plinth.types import NAME_PATTERN
from serving.errors import ModelNotRoutable, ServingError
from serving.plane import ColdStartAnswer

PREDICT_ROUTE = "/v1/models/{name}/predict"
_PREDICT_PATH = re.compile(r"^/v1/models/([^/]+)/predict$")
_NAME = re.compile(NAME_PATTERN)
_NAME_MAX = 63
_JSON = (b"content-type", b"application/json")
_COLD = COLD_START_HEADER.lower().encode("latin-1")


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
    ) -> None:
        self.app = app
        self.plane = plane
        self.sessions = sessions
        self.keys = keys
        self.auth_enabled = auth_enabled
        self.max_body_bytes = max_body_bytes
        self.timeout_s = predict_timeout_s
        # Fail closed: if the registry ever says otherwise, the full stack decides everything.
        self.enabled = route_access("POST", PREDICT_ROUTE) is Access.INVOKE
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
        if size > self.max_body_bytes or _check_predict_body(payload) is not None:
            await self.app(scope, _replay(payload, receive), send)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        try:
            answer = await self.plane.predict(name, payload, timeout_s=self.timeout_s)
        except ModelNotRoutable:  # 404 or 503: the route's answer, from the database
            response = await asyncio.to_thread(_not_routable, self.sessions, name)
            await response(scope, receive, send)
            return
        except ServingError as exc:
            response = JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
            await response(scope, receive, send)
            return
        headers = [(b"content-length", b"%d" % len(answer)), _JSON]
        if isinstance(answer, ColdStartAnswer):
            headers.insert(0, (_COLD, b"%d" % round(answer.cold_start_s * 1000)))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": bytes(answer)})

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
