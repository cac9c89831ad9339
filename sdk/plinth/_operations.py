"""Every platform call as data: what to send, and how to read the answer (no I/O here).

An operation is a `Call[T]`: method, path, JSON body and a `parse(response) -> T` that either
returns the result or raises the typed error the response stands for. `Client` and
`AsyncClient` only send calls, so request building and response parsing exist once.

Error mapping, in order:
- HTTP status >= 400 with `{"error": {"type", "message", "field"?}}` -> `error_for_status`
  (429 carries `Retry-After` as `retry_after`);
- a GraphQL body with `errors` -> `APIError(type="graphql_error")` (typed by status if >= 400);
  errors whose `extensions.code` is UNAUTHENTICATED / FORBIDDEN -> `AuthenticationError` /
  `PermissionDeniedError` (type "unauthorized" / "forbidden");
- GraphQL union members `ValidationError` / `NotFoundError` -> the exceptions of those names;
- anything unreadable -> `APIError(type="invalid_response")`.
Transport failures map through `transport_error` (connection refused -> `APIConnectionError`).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from plinth import _graphql as gql
from plinth._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    NotFoundError,
    error_for_status,
)
from plinth.types import Deployment, DeploymentEvent, Environment, LogLine, Model, Scaling

T = TypeVar("T")

GRAPHQL_PATH = "/graphql"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    json: Any
    parse: Callable[[httpx.Response], T]
    timeout: float | None = None  # None: the client's timeout

    def request_timeout(self) -> float | httpx._client.UseClientDefault:
        return httpx.USE_CLIENT_DEFAULT if self.timeout is None else self.timeout


def transport_error(exc: httpx.TransportError, base_url: str, timeout: float | None) -> Exception:
    """The SDK error for a request that got no HTTP answer."""
    if isinstance(exc, httpx.ConnectTimeout):
        return APIConnectionError.unreachable(base_url, "connection timed out")
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError.after(base_url, timeout)
    if isinstance(exc, httpx.ConnectError):
        return APIConnectionError.unreachable(base_url, str(exc))
    return APIConnectionError(
        f"the connection to the Plinth platform at {base_url} failed: {exc!r}", url=base_url
    )


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url.path} answered HTTP {response.status_code}"


def raise_for_error(response: httpx.Response, body: Any) -> None:
    """Raise the typed error for an HTTP error response; return for a success."""
    status = response.status_code
    if status < 400:
        return
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        field = error.get("field")
        raise error_for_status(
            status,
            str(error.get("message") or _describe(response)),
            type=str(error["type"]) if error.get("type") else None,
            field=str(field) if field else None,
            retry_after=retry_after,
        )
    if isinstance(body, Mapping) and body.get("errors"):
        raise error_for_status(status, _graphql_errors(body["errors"]), type="graphql_error")
    text = response.text.strip()[:300]
    detail = f" {response.reason_phrase}: {text}" if text else f" {response.reason_phrase}"
    raise error_for_status(status, _describe(response) + detail, retry_after=retry_after)


def _graphql_errors(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)
    parts = []
    for err in errors:
        if isinstance(err, Mapping):
            path = ".".join(str(p) for p in err.get("path") or [])
            message = str(err.get("message", err))
            parts.append(f"{path}: {message}" if path else message)
        else:
            parts.append(str(err))
    return "GraphQL error: " + "; ".join(parts)


_AUTH_CODES = {"UNAUTHENTICATED": (401, "unauthorized"), "FORBIDDEN": (403, "forbidden")}


def _graphql_error(response: httpx.Response, errors: Any) -> APIError:
    message = _graphql_errors(errors)
    if isinstance(errors, list):
        for err in errors:
            extensions = err.get("extensions") if isinstance(err, Mapping) else None
            code = extensions.get("code") if isinstance(extensions, Mapping) else None
            if code in _AUTH_CODES:
                status, kind = _AUTH_CODES[code]
                return error_for_status(status, message, type=kind)
    return APIError(message, status=response.status_code, type="graphql_error")


def _invalid(response: httpx.Response, detail: str) -> APIError:
    return APIError(
        f"unexpected answer from the platform ({_describe(response)}): {detail}",
        status=response.status_code,
        type="invalid_response",
    )


def graphql(
    query: str, variables: Mapping[str, Any], extract: Callable[[Mapping[str, Any]], T]
) -> Call[T]:
    """A GraphQL call whose `data` is turned into a result by `extract`."""

    def parse(response: httpx.Response) -> T:
        body = _json_or_none(response)
        raise_for_error(response, body)
        if not isinstance(body, Mapping):
            raise _invalid(response, "the body is not a JSON object")
        if body.get("errors"):
            raise _graphql_error(response, body["errors"])
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise _invalid(response, "no `data` in the GraphQL answer")
        try:
            return extract(data)
        except (KeyError, TypeError, pydantic.ValidationError) as exc:
            raise _invalid(response, str(exc)) from exc

    return Call("POST", GRAPHQL_PATH, {"query": query, "variables": dict(variables)}, parse)


class ScalingFields(TypedDict, total=False):
    """`Scaling` fields as keyword arguments; None means "not given"."""

    min_replicas: int | None
    max_replicas: int | None
    concurrency_target: float | None
    max_concurrency: int | None
    scale_down_delay_s: float | None
    autoscaling_window_s: float | None
    max_queue: int | None
    autoscaling_policy: str | None


def scaling_values(scaling: Scaling | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Snake_case scaling fields to send: all of `scaling` if given, then the non-None overrides."""
    values: dict[str, Any] = scaling.model_dump() if scaling is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values


def deploy_model(
    *,
    name: str,
    hugging_face_repo: str,
    revision: str | None,
    task: str | None,
    engine: str,
    scaling: Mapping[str, Any],
    secrets: Sequence[str] = (),
    environment: str | None = None,
    max_batch_size: int | None = None,
    max_batch_wait_ms: float | None = None,
) -> Call[Deployment]:
    payload: dict[str, Any] = {"name": name, "huggingFaceRepo": hugging_face_repo, "engine": engine}
    batching = gql.batching_input(max_batch_size, max_batch_wait_ms)
    if batching:
        payload["batching"] = batching
    if environment is not None:
        payload["environment"] = environment
    if secrets:
        payload["secrets"] = list(secrets)
    if revision is not None:
        payload["revision"] = revision
    if task is not None:
        payload["task"] = task
    if scaling:
        payload["scaling"] = gql.scaling_input(scaling)
    return graphql(
        gql.DEPLOY_MODEL,
        {"input": payload},
        lambda data: gql.parse_deployment(gql.unwrap_union(data["deployModel"], "Deployment")),
    )


def _model_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"model '{name}' not found")


def get_model(name: str) -> Call[Model]:
    def extract(data: Mapping[str, Any]) -> Model:
        if data.get("model") is None:
            raise _model_not_found(name)
        return gql.parse_model(data["model"])

    return graphql(gql.GET_MODEL, {"name": name}, extract)


def list_models() -> Call[list[Model]]:
    return graphql(gql.LIST_MODELS, {}, lambda data: [gql.parse_model(m) for m in data["models"]])


def get_deployment(deployment_id: str) -> Call[tuple[Deployment, list[DeploymentEvent]]]:
    """A deployment and its events so far (oldest first)."""

    def extract(data: Mapping[str, Any]) -> tuple[Deployment, list[DeploymentEvent]]:
        found = data.get("deployment")
        if found is None:
            raise NotFoundError(f"deployment '{deployment_id}' not found")
        events = [gql.parse_event(e) for e in found.get("events") or []]
        return gql.parse_deployment(found), events

    return graphql(gql.GET_DEPLOYMENT, {"id": deployment_id}, extract)


def replica_logs(name: str, tail: int) -> Call[list[LogLine]]:
    return graphql(
        gql.REPLICA_LOGS,
        {"model": name, "tail": tail},
        lambda data: [gql.parse_log_line(line) for line in data["replicaLogs"]],
    )


def update_scaling(name: str, scaling: Mapping[str, Any]) -> Call[Model]:
    return graphql(
        gql.UPDATE_SCALING,
        {"model": name, "scaling": gql.scaling_input(scaling)},
        lambda data: gql.parse_model(gql.unwrap_union(data["updateScaling"], "Model")),
    )


def _lifecycle(document: str, root: str, variables: Mapping[str, Any]) -> Call[Deployment]:
    return graphql(
        document,
        variables,
        lambda data: gql.parse_deployment(gql.unwrap_union(data[root], "Deployment")),
    )


def promote_deployment(deployment_id: str, environment: str) -> Call[Deployment]:
    return _lifecycle(
        gql.PROMOTE_DEPLOYMENT,
        "promoteDeployment",
        {"id": deployment_id, "environment": environment},
    )


def rollback(name: str, environment: str) -> Call[Deployment]:
    return _lifecycle(gql.ROLLBACK, "rollback", {"model": name, "environment": environment})


def start_canary(
    name: str,
    deployment_id: str,
    percent: float,
    environment: str,
    *,
    max_error_rate: float | None = None,
    max_p95_ms: float | None = None,
    window_s: float = 60.0,
) -> Call[Deployment]:
    auto: dict[str, Any] | None = None
    if max_error_rate is not None or max_p95_ms is not None:
        auto = {"maxErrorRate": max_error_rate, "maxP95Ms": max_p95_ms, "windowSeconds": window_s}
    variables = {
        "model": name,
        "id": deployment_id,
        "percent": percent,
        "environment": environment,
        "autoRollback": auto,
    }
    return _lifecycle(gql.START_CANARY, "startCanary", variables)


def promote_canary(name: str, environment: str) -> Call[Deployment]:
    return _lifecycle(
        gql.PROMOTE_CANARY, "promoteCanary", {"model": name, "environment": environment}
    )


def abort_canary(name: str, environment: str) -> Call[Deployment]:
    return _lifecycle(gql.ABORT_CANARY, "abortCanary", {"model": name, "environment": environment})


def list_environments(name: str) -> Call[list[Environment]]:
    def extract(data: Mapping[str, Any]) -> list[Environment]:
        if data.get("model") is None:
            raise _model_not_found(name)
        return [gql.parse_environment(e) for e in data["model"]["environments"]]

    return graphql(gql.LIST_ENVIRONMENTS, {"name": name}, extract)


def create_environment(
    name: str, environment: str, scaling: Mapping[str, Any]
) -> Call[Environment]:
    return graphql(
        gql.CREATE_ENVIRONMENT,
        {"model": name, "name": environment, "scaling": gql.scaling_input(scaling) or None},
        lambda data: gql.parse_environment(
            gql.unwrap_union(data["createEnvironment"], "Environment")
        ),
    )


def delete_model(name: str) -> Call[str]:
    return graphql(
        gql.DELETE_MODEL,
        {"name": name},
        lambda data: str(gql.unwrap_union(data["deleteModel"], "DeletedModel")["name"]),
    )


def predict(
    name: str,
    inputs: Any,
    parameters: Mapping[str, Any] | None,
    timeout: float | None,
    environment: str | None = None,
) -> Call[Any]:
    body: dict[str, Any] = {"inputs": inputs}
    if parameters is not None:
        body["parameters"] = dict(parameters)

    def parse(response: httpx.Response) -> Any:
        result = _json_or_none(response)
        raise_for_error(response, result)
        if result is None:
            raise _invalid(response, "the body is not JSON")
        return result

    path = f"/v1/models/{quote(name, safe='')}"
    if environment is not None:
        path += f"/environments/{quote(environment, safe='')}"
    return Call("POST", f"{path}/predict", body, parse, timeout)
