"""REST routes (inference and health) and the JSON error format of every HTTP error.

Contract: every error answer is `{"error": {"type", "message", ...}}` with the right status:
- `POST /v1/models/{name}/predict`: the body must be a JSON object with "inputs" (422
  `invalid_request` with `field` "body" or "inputs"); it is passed to the data plane unchanged and
  the replica's JSON comes back unchanged. A request that waited for a replica to start (the model
  was at zero replicas) gets `X-Plinth-Cold-Start-Ms`, the whole milliseconds it waited; others
  get no such header. With `"stream": true` in the body or `Accept: text/event-stream`, a
  text-generation model answers server-sent events instead (`backend.streaming`). Data-plane
  errors keep their status, type and headers
  (429 `queue_full` with Retry-After, 504 `timeout`, ...). When the plane has no route for the
  model, the database decides: unknown model -> 404 `not_found`; known model -> 503 `unavailable`
  saying the status of its latest deployment and what to do. The hot path reads no database.
- `POST /v1/models/{name}/environments/{env}/predict`: the same for one environment of the model
  (the plain route means `production`); an unknown environment is 404 `not_found` with `field`
  "env". Both answer `X-Plinth-Deployment-Version`, the version that served the request. A
  request may send `X-Plinth-Request-Key`: while the environment runs a canary, requests with
  the same key always reach the same deployment (without a key the split is exact over many
  requests).
- `GET /healthz` -> `{"status": "ok"}` (public: no key).
- The model name in a path must be a valid name (`plinth.types.NAME_PATTERN`), else 422 with
  `field` "name". Every route declares its answers (`responses=`) so the OpenAPI document is
  truthful; 401/403/413 are added to protected operations by `backend.auth.openapi`.
- Unknown routes (404), wrong methods (405), request validation (422) and unhandled exceptions
  (500, logged) use the same error shape (`install_error_handlers`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import services
from backend.db.session import session_scope
from backend.interfaces import PredictPlane
from backend.streaming import stream_predict, wants_stream
from plinth.types import NAME_PATTERN, DeploymentStatus
from serving.errors import ModelNotRoutable, ServingError
from serving.metrics import ServingMetrics
from serving.plane import ColdStartAnswer

log = logging.getLogger("plinth.rest")

COLD_START_HEADER = "X-Plinth-Cold-Start-Ms"
VERSION_HEADER = "X-Plinth-Deployment-Version"
REQUEST_KEY_HEADER = "X-Plinth-Request-Key"

_TYPE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    message: str
    field: str | None = None
    required_scope: str | None = None


class ErrorResponse(BaseModel):
    """Every error answer: `{"error": {"type", "message", ...}}`."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


_ERROR_DESCRIPTIONS = {
    404: "the model does not exist",
    422: "the path or body is invalid (`field` names it)",
    429: "the model's queue is full (see Retry-After)",
    502: "the replica failed on this request",
    503: "the model exists but serves nothing yet (see its deployment status)",
    504: "no answer within the deadline",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for error answers in the contract's shape."""
    return {
        status: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS.get(status, "error")}
        for status in statuses
    }


_PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "inputs": {"description": "Hugging Face Inference API inputs"},
                    "parameters": {"type": "object"},
                },
            }
        }
    },
}
ModelName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63, description="model name")]
EnvName = Annotated[
    str, Path(pattern=NAME_PATTERN, max_length=63, description="environment, e.g. staging")
]
_PREDICT_OK = {
    "description": "the replica's JSON answer, unchanged",
    "content": {"application/json": {"schema": {}}},
    "headers": {
        COLD_START_HEADER: {
            "description": "only when the request waited for a replica to start: "
            "the milliseconds it waited",
            "schema": {"type": "integer"},
        },
        VERSION_HEADER: {
            "description": "the version of the deployment that answered",
            "schema": {"type": "integer"},
        },
    },
}


def error_response(
    http_status: int,
    error_type: str,
    message: str,
    /,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The contract's error answer: {"error": {"type", "message", **extra}}."""
    return JSONResponse(
        {"error": {"type": error_type, "message": message, **extra}},
        status_code=http_status,
        headers=headers,
    )


def create_rest_router(
    *,
    plane: PredictPlane,
    sessions: sessionmaker[Session],
    predict_timeout_s: float,
    metrics: ServingMetrics | None = None,  # counts the 404/503 answered before any router
) -> APIRouter:
    router = APIRouter()
    answer = predict_answerer(
        plane=plane, sessions=sessions, predict_timeout_s=predict_timeout_s, metrics=metrics
    )

    @router.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def serve(name: str, environment: str, request: Request) -> Response:
        payload = await request.body()
        invalid = _check_predict_body(payload)
        if invalid is not None:
            return invalid
        key = request.headers.get(REQUEST_KEY_HEADER)
        if wants_stream(request.headers, payload):  # server-sent events: backend.streaming
            return await stream_predict(
                plane,
                name,
                payload,
                timeout_s=predict_timeout_s,
                not_routable=lambda: asyncio.to_thread(_not_routable, sessions, name, environment),
                environment=environment,
                key=key,
            )
        return await answer(name, environment, payload, key)

    @router.post(
        "/v1/models/{name}/predict",
        responses={200: _PREDICT_OK, **error_responses(404, 422, 429, 502, 503, 504)},
        openapi_extra={"requestBody": _PREDICT_BODY},
        response_class=Response,
    )
    async def predict(name: ModelName, request: Request) -> Response:
        return await serve(name, "production", request)

    @router.post(
        "/v1/models/{name}/environments/{env}/predict",
        responses={200: _PREDICT_OK, **error_responses(404, 422, 429, 502, 503, 504)},
        openapi_extra={"requestBody": _PREDICT_BODY},
        response_class=Response,
    )
    async def predict_environment(name: ModelName, env: EnvName, request: Request) -> Response:
        return await serve(name, env, request)

    return router


PredictAnswer = Callable[[str, str, bytes, str | None], Awaitable[Response]]


def predict_answerer(
    *,
    plane: PredictPlane,
    sessions: sessionmaker[Session],
    predict_timeout_s: float,
    metrics: ServingMetrics | None = None,
) -> PredictAnswer:
    """`answer(name, environment, payload, key)`: the predict routes' answer to a valid,
    non-streamed body (the route and `backend.fastpath` share it, so both answer alike)."""

    async def answer(name: str, environment: str, payload: bytes, key: str | None) -> Response:
        try:
            routed = await plane.predict_routed(
                name, payload, timeout_s=predict_timeout_s, environment=environment, key=key
            )
        except ModelNotRoutable:
            answer_404_503 = await asyncio.to_thread(_not_routable, sessions, name, environment)
            if metrics is not None:
                code = answer_404_503.status_code
                metrics.not_routed(name if code == 503 else "", code)
            return answer_404_503
        except ServingError as exc:
            return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
        body = routed.answer
        headers = {VERSION_HEADER: str(routed.version)}
        if isinstance(body, ColdStartAnswer):
            headers[COLD_START_HEADER] = str(round(body.cold_start_s * 1000))
        return Response(body, media_type="application/json", headers=headers)

    return answer


def _check_predict_body(payload: bytes) -> JSONResponse | None:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return error_response(
            422,
            "invalid_request",
            f'request body is not valid JSON ({exc}); send {{"inputs": ...}}',
            field="body",
        )
    if not isinstance(body, dict):
        return error_response(
            422,
            "invalid_request",
            f'request body must be a JSON object like {{"inputs": ...}}, not {type(body).__name__}',
            field="inputs",
        )
    if "inputs" not in body:
        return error_response(
            422, "invalid_request", 'request body has no "inputs" field', field="inputs"
        )
    if "parameters" in body and not isinstance(body["parameters"], dict):
        return error_response(
            422, "invalid_request", '"parameters" must be a JSON object', field="parameters"
        )
    return None


def _not_routable(
    sessions: sessionmaker[Session], name: str, environment: str = "production"
) -> JSONResponse:
    """404 if no model `name` (or no such environment) exists, else 503 explaining why it
    serves nothing yet."""
    with session_scope(sessions) as session:
        model = services.get_model(session=session, name=name)
        if model is None:
            return error_response(
                404, "not_found", f"model '{name}' not found; see `plinth models`", field="name"
            )
        env = services.get_environment(session, model_id=model.id, name=environment)
        if env is None:
            envs = services.list_environments(session, model_id=model.id)
            known = ", ".join(e.name for e in envs)
            return error_response(
                404,
                "not_found",
                f"model '{name}' has no environment '{environment}' (it has: {known})",
                field="env",
            )
        latest = services.latest_deployment(session=session, model_id=model.id)
        if latest is None:
            return error_response(
                503,
                "unavailable",
                f"model '{name}' has no deployment; deploy it with `plinth deploy`",
                model=name,
                deployment_status=None,
            )
        if env.deployment_id is None and latest.target_environment != environment:
            return error_response(
                503,
                "unavailable",
                f"model '{name}' serves nothing in {environment} yet; promote a version: "
                f"`plinth promote {name} --version N --env {environment}`",
                model=name,
                deployment_status=None,
            )
        status, version, error = latest.status, latest.version, latest.error
    headers: dict[str, str] | None = None
    if status in (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING):
        message = (
            f"model '{name}' is not serving yet: version {version} is {status.value}; "
            "retry when it is ACTIVE (see `plinth models`)"
        )
        headers = {"Retry-After": "5"}
    elif status is DeploymentStatus.FAILED:
        message = (
            f"model '{name}' is not serving: the deploy of version {version} FAILED"
            f"{f': {error}' if error else ''}; fix the cause and deploy it again"
        )
    elif status is DeploymentStatus.ACTIVE:
        message = (
            f"model '{name}' is ACTIVE (version {version}) but has no route yet; "
            "retry in a few seconds"
        )
        headers = {"Retry-After": "1"}
    else:
        message = (
            f"model '{name}' has no active deployment (version {version} is {status.value}); "
            "deploy it again"
        )
    return error_response(
        503, "unavailable", message, headers=headers, model=name, deployment_status=status.value
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every HTTP error, including the framework's own, in the contract's JSON shape."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        if status < 400:  # pragma: no cover - redirects are not errors
            return Response(status_code=status, headers=exc.headers)
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else _phrase(status)
        error_type = _TYPE_BY_STATUS.get(status, "internal" if status >= 500 else "bad_request")
        return error_response(status, error_type, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        message = str(first.get("msg", "invalid request"))
        return error_response(422, "invalid_request", f"{field}: {message}", field=field)

    @app.exception_handler(Exception)
    async def unhandled(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal", "internal server error; see the server log")
