"""`SecurityMiddleware`: the ASGI layer in front of every route (HTTP and WebSocket).

For each connection, in order:
1. Body size limit (HTTP): a declared Content-Length above `max_body_bytes` is refused at once;
   otherwise the body is counted as it streams in, and the request is cut off with 413 the
   moment it passes the limit (a missing or lying Content-Length changes nothing). The app's own
   answer to the interrupted read is dropped: the client gets one 413 JSON error.
2. Routing: the route that will handle the request is found in the app's routes; its access is
   read from `backend.auth.registry` (an undeclared route is denied: fail closed). Paths no route
   matches go on to the app (404/405 in the usual JSON shape).
3. Authentication (unless the route is PUBLIC): `Authorization: Bearer <key>` against the
   `KeyCache` (no database). No, malformed, unknown, revoked or expired key -> 401. With
   `PLINTH_AUTH=disabled` every request acts as admin. A WebSocket without the header is let
   through unauthenticated; GraphQL then authenticates its `connection_init` payload.
4. Authorization: the key must satisfy the route's access (for INVOKE, on the model named by the
   `name` path parameter; for INVOKE_BODY, the OpenAI-compatible routes, on the model named by
   the JSON body's `model` field: the middleware reads the body first, within the size limit,
   and replays it to the app; a body without a readable `model` counts as naming no model, so
   only keys that may invoke every model pass) -> else 403 naming `required_scope`.
The principal is left in `scope["state"]["principal"]` (`request.state.principal`).

REST errors: `{"error": {"type": "unauthorized"|"forbidden"|"payload_too_large", "message",
"required_scope"?}}`; on /graphql the body also carries GraphQL `errors` with
`extensions.code` UNAUTHENTICATED / FORBIDDEN.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from backend.auth.cache import KeyCache, Unauthenticated
from backend.auth.routes import RouteEntry, match
from backend.auth.scopes import Access, Principal, required_scope

GRAPHQL_PATH = "/graphql"
PRINCIPAL = "principal"


class BodyTooLarge(Exception):
    """Raised from `receive` when the body passes the limit (the middleware answers 413)."""


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def error_body(
    error_type: str, message: str, *, graphql_code: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"type": error_type, "message": message, **extra}}
    if graphql_code is not None:
        extensions = {"code": graphql_code, **extra}
        body["errors"] = [{"message": message, "extensions": extensions}]
    return body


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _model_from_body(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) and model else None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the real messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _BodyLimit:
    """Counts request body bytes as they arrive; stops the app's answer once over the limit."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.exceeded = False
        self.started = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded and not self.started:
            return  # the app's answer to the cut-off read; ours is the 413
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[RouteEntry],
        keys: KeyCache,
        auth_enabled: bool,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.routes = routes
        self.keys = keys
        self.auth_enabled = auth_enabled
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit: _BodyLimit | None = None
        if kind == "http":
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            limit = _BodyLimit(receive, send, self.max_body_bytes)
            receive, send = limit.receive, limit.send

        found = match(self.routes, scope)
        body_model: str | None = None
        if limit is not None and found is not None and found[0].access is Access.INVOKE_BODY:
            try:
                body = await _read_body(receive)
            except BodyTooLarge:
                await self._too_large(scope, receive, limit._send)
                return
            body_model = _model_from_body(body)
            receive = _replay(body, receive)
        denial = self._authorize(scope, headers, found, body_model)
        if denial is not None:
            await denial(scope, receive, send)
            return
        with contextlib.suppress(BodyTooLarge):  # answered below with 413
            await self.app(scope, receive, send)
        if limit is not None and limit.exceeded and not limit.started:
            limit.started = True
            await self._too_large(scope, receive, limit._send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body is larger than {self.max_body_bytes} bytes (PLINTH_MAX_BODY_BYTES)"
        response = JSONResponse(
            error_body("payload_too_large", message),
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)

    def _authorize(
        self,
        scope: Scope,
        headers: Headers,
        found: tuple[RouteEntry, dict[str, str]] | None,
        body_model: str | None = None,
    ) -> Any:
        """None to let the request through (principal stored), else the ASGI app that denies it."""
        if found is None:
            return None  # 404 / 405 from the app
        route, params = found
        access = route.access
        graphql = route.path == GRAPHQL_PATH
        if access is None:
            return self._deny(
                scope, 403, "forbidden", f"{route.method} {route.path} declares no access"
            )
        if access is Access.PUBLIC:
            return None
        state: dict[str, Any] = scope.setdefault("state", {})
        if not self.auth_enabled:
            state[PRINCIPAL] = Principal.auth_disabled()
            return None
        token = bearer_token(headers)
        if token is None and scope["type"] == "websocket" and graphql:
            return None  # authenticated from the graphql-transport-ws connection_init payload
        model = params.get("name") if access is Access.INVOKE else None
        if access is Access.INVOKE_BODY:
            model = body_model
        try:
            principal = self.keys.authenticate(token)
        except Unauthenticated as exc:
            needed = required_scope(access, model)
            extra = {} if needed is None else {"required_scope": needed}
            return self._deny(scope, 401, "unauthorized", exc.message, graphql=graphql, **extra)
        if not principal.allows(access, model):
            return self._deny(
                scope,
                403,
                "forbidden",
                principal.denial(access, model),
                graphql=graphql,
                required_scope=required_scope(access, model),
            )
        state[PRINCIPAL] = principal
        return None

    @staticmethod
    def _deny(
        scope: Scope,
        status: int,
        error_type: str,
        message: str,
        *,
        graphql: bool = False,
        **extra: Any,
    ) -> ASGIApp:
        if scope["type"] == "websocket":
            return WebSocketClose(code=4401 if status == 401 else 4403, reason=message[:120])
        code = ("UNAUTHENTICATED" if status == 401 else "FORBIDDEN") if graphql else None
        headers = {"WWW-Authenticate": 'Bearer realm="plinth"'} if status == 401 else None
        body = error_body(error_type, message, graphql_code=code, **extra)
        return JSONResponse(body, status_code=status, headers=headers)
