"""REST routes of async predict: submit, status, cancel.

- `POST /v1/models/{name}/async_predict` body `{"inputs", "parameters"?, "webhook_url"?,
  "priority"? (0, 1 or 2; 0 runs first; default 1), "max_time_in_queue_s"? (1 s .. 7 days)}`
  -> 202 `{"id", "status": "QUEUED", ...}` with `Location: /v1/async/{id}`, answered only after
  the row is committed. A webhook URL is validated first (`backend.webhooks`; 422 `field`
  "webhook_url"); an unknown model is 404. Access: INVOKE on the model, like predict.
- `GET /v1/async/{id}` -> the request (`store.describe`): status, attempts, times, result or
  error. `DELETE /v1/async/{id}` cancels: a queued request is CANCELLED at once (200); one this
  process runs is stopped and CANCELLED (200); one running elsewhere is marked
  `cancel_requested` (202) and ends CANCELLED instead of SUCCEEDED; a finished one is 409.
  Access: the path has no model, so the registry declares these AUTHENTICATED and the handler
  decides from the stored row: the key must be allowed INVOKE on the request's model (403
  naming `invoke:MODEL`); a key without any invoke scope is refused before any lookup (403
  `invoke`); an unknown id is 404. Fail closed: no principal means 403.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from backend import services, webhooks
from backend.async_requests import store
from backend.auth.http import PRINCIPAL
from backend.auth.scopes import ADMIN, INVOKE, Access, Principal, required_scope
from backend.db.models import utcnow
from backend.db.session import session_scope
from backend.errors import ValidationFailed
from backend.rest import ModelName, error_response, error_responses
from backend.secrets import SecretBox
from backend.settings import Settings

MAX_QUEUE_TIME_S = 7 * 24 * 3600.0
RequestId = Annotated[str, Path(max_length=64, description="async request id")]

_ASYNC_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "inputs": {"description": "Hugging Face Inference API inputs"},
                    "parameters": {"type": "object"},
                    "webhook_url": {"type": "string", "format": "uri"},
                    "priority": {"type": "integer", "minimum": 0, "maximum": 2, "default": 1},
                    "max_time_in_queue_s": {"type": "number", "exclusiveMinimum": 0},
                },
            }
        }
    },
}


class AsyncHooks:
    """What the routes may ask of the platform's dispatcher (no-ops without one)."""

    def __init__(
        self,
        *,
        notify: Callable[[], None] | None = None,
        cancel: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.notify = notify or (lambda: None)
        self._cancel = cancel

    async def cancel(self, request_id: str) -> bool:
        return False if self._cancel is None else await self._cancel(request_id)


def principal_of(request: Request) -> Principal | None:
    found = request.scope.get("state", {}).get(PRINCIPAL)
    return found if isinstance(found, Principal) else None


def may_invoke_some_model(principal: Principal) -> bool:
    return any(s in (ADMIN, INVOKE) or s.startswith(f"{INVOKE}:") for s in principal.scopes)


def forbidden(principal: Principal | None, model: str | None) -> JSONResponse:
    needed = required_scope(Access.INVOKE, model)
    if principal is None:
        message = "no authenticated caller; denied"
    else:
        message = principal.denial(Access.INVOKE, model)
    return error_response(403, "forbidden", message, required_scope=needed)


def _invalid(field: str, message: str) -> JSONResponse:
    return error_response(422, "invalid_request", f"{field}: {message}", field=field)


def parse_submit(body: Any) -> dict[str, Any] | JSONResponse:
    """The validated submit fields, or the 422 answer naming the bad field."""
    if not isinstance(body, dict):
        return _invalid("body", 'must be a JSON object like {"inputs": ...}')
    if "inputs" not in body:
        return _invalid("inputs", "is required")
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return _invalid("parameters", "must be a JSON object")
    priority = body.get("priority", store.DEFAULT_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 2:
        return _invalid("priority", "must be 0 (first), 1 (default) or 2 (last)")
    max_wait = body.get("max_time_in_queue_s")
    if max_wait is not None and (
        isinstance(max_wait, bool)
        or not isinstance(max_wait, int | float)
        or not math.isfinite(max_wait)
        or not 0 < max_wait <= MAX_QUEUE_TIME_S
    ):
        return _invalid(
            "max_time_in_queue_s", f"must be a number of seconds in (0, {MAX_QUEUE_TIME_S:g}]"
        )
    webhook_url = body.get("webhook_url")
    if webhook_url is not None and not isinstance(webhook_url, str):
        return _invalid("webhook_url", "must be an http(s) URL")
    unknown = set(body) - {"inputs", "parameters", "priority", "max_time_in_queue_s", "webhook_url"}
    if unknown:
        return _invalid(sorted(unknown)[0], "is not a field of an async request")
    payload: dict[str, Any] = {"inputs": body["inputs"]}
    if parameters is not None:
        payload["parameters"] = parameters
    return {
        "payload": payload,
        "priority": priority,
        "max_time_in_queue_s": None if max_wait is None else float(max_wait),
        "webhook_url": webhook_url,
    }


def create_async_router(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    box: SecretBox,
    hooks: AsyncHooks,
) -> APIRouter:
    router = APIRouter()
    check_url = webhooks.url_checker(settings)

    def in_transaction(fn: Callable[[Session], Any]) -> Any:
        with session_scope(sessions) as session:
            return fn(session)

    @router.post(
        "/v1/models/{name}/async_predict",
        status_code=202,
        responses={
            202: {"description": "accepted and stored; poll GET /v1/async/{id}"},
            **error_responses(404, 422),
        },
        openapi_extra={"requestBody": _ASYNC_BODY},
        response_class=JSONResponse,
    )
    async def async_predict(name: ModelName, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _invalid("body", f"is not valid JSON ({exc})")
        fields = parse_submit(body)
        if isinstance(fields, JSONResponse):
            return fields
        if fields["webhook_url"] is not None:
            try:
                await asyncio.to_thread(check_url, fields["webhook_url"])
            except ValidationFailed as exc:
                return _invalid(exc.field, exc.message)
        principal = principal_of(request)
        key_id = None if principal is None else principal.key_id

        def write(session: Session) -> dict[str, Any] | None:
            if services.get_model(session=session, name=name) is None:
                return None
            if fields["webhook_url"] is not None:
                webhooks.ensure_signing_secret(session, box=box, owner=webhooks.owner_of(key_id))
            row = store.submit(
                session,
                model=name,
                payload=fields["payload"],
                key_id=key_id,
                webhook_url=fields["webhook_url"],
                priority=fields["priority"],
                max_time_in_queue_s=fields["max_time_in_queue_s"],
                now=utcnow(),
            )
            return store.describe(row)

        answer = await asyncio.to_thread(in_transaction, write)
        if answer is None:
            return error_response(
                404, "not_found", f"model '{name}' not found; see `plinth models`"
            )
        hooks.notify()
        return JSONResponse(
            answer, status_code=202, headers={"Location": f"/v1/async/{answer['id']}"}
        )

    async def load(request: Request, request_id: str) -> dict[str, Any] | JSONResponse:
        principal = principal_of(request)
        if principal is None or not may_invoke_some_model(principal):
            return forbidden(principal, None)
        found = await asyncio.to_thread(
            in_transaction,
            lambda s: (lambda row: None if row is None else store.describe(row))(
                store.get(s, request_id)
            ),
        )
        if found is None:
            return error_response(404, "not_found", f"async request '{request_id}' not found")
        if not principal.allows(Access.INVOKE, found["model"]):
            return forbidden(principal, found["model"])
        return dict(found)

    @router.get(
        "/v1/async/{request_id}",
        responses={200: {"description": "the request's status and result"}, **error_responses(404)},
    )
    async def get_async(request_id: RequestId, request: Request) -> Response:
        found = await load(request, request_id)
        return found if isinstance(found, JSONResponse) else JSONResponse(found)

    @router.delete(
        "/v1/async/{request_id}",
        responses={
            200: {"description": "cancelled (the request as it is now)"},
            202: {"description": "running elsewhere: cancellation requested"},
            **error_responses(404, 409),
        },
    )
    async def cancel_async(request_id: RequestId, request: Request) -> Response:
        found = await load(request, request_id)
        if isinstance(found, JSONResponse):
            return found
        if found["status"] in store.TERMINAL:
            return error_response(
                409,
                "conflict",
                f"async request '{request_id}' already finished ({found['status']})",
                status=found["status"],
            )
        row = await asyncio.to_thread(
            in_transaction,
            lambda s: (
                store.describe(r)
                if (r := store.cancel(s, request_id=request_id, now=utcnow()))
                else None
            ),
        )
        if row is None:
            return error_response(404, "not_found", f"async request '{request_id}' not found")
        if row["status"] == store.RUNNING and await hooks.cancel(request_id):
            row = await asyncio.to_thread(
                in_transaction,
                lambda s: store.describe(store.get(s, request_id)),  # type: ignore[arg-type]
            )
        if row["status"] == store.CANCELLED:
            hooks.notify()
            return JSONResponse(row)
        if row["status"] == store.RUNNING:
            return JSONResponse(row, status_code=202)
        return error_response(
            409,
            "conflict",
            f"async request '{request_id}' already finished ({row['status']})",
            status=row["status"],
        )

    return router
