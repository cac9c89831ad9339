"""A scripted fake of the platform's HTTP API for SDK and CLI tests (httpx.MockTransport).

Tests reach everything through the `platform` fixture (pytest's importlib mode does not let test
modules import this file): `platform.deployment(...)`, `platform.event(...)` etc. build
contract-shaped (camelCase) GraphQL objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from plinth import AsyncClient, Client

BASE_URL = "http://plinth.test"
CREATED = "2025-01-01T00:00:00+00:00"

SCALING = {
    "minReplicas": 0,
    "maxReplicas": 1,
    "concurrencyTarget": 2.0,
    "maxConcurrency": 4,
    "scaleDownDelaySeconds": 300.0,
    "autoscalingWindowSeconds": 60.0,
    "maxQueue": 64,
}


def deployment(
    status: str = "PENDING",
    *,
    id: str = "dep-1",
    model: str = "minilm",
    version: int = 1,
    error: str | None = None,
    task: str | None = "feature-extraction",
    replicas: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "__typename": "Deployment",
        "id": id,
        "modelName": model,
        "version": version,
        "huggingFaceRepo": "sentence-transformers/all-MiniLM-L6-v2",
        "revision": None,
        "resolvedRevision": None,
        "task": task,
        "engine": "transformers",
        "status": status,
        "error": error,
        "createdAt": CREATED,
        "replicas": replicas or [],
    }
    if events is not None:
        data["events"] = events
    return data


def event(n: int, status: str, kind: str, message: str, dep: str = "dep-1") -> dict[str, Any]:
    return {
        "id": f"ev-{n}",
        "deploymentId": dep,
        "at": f"2025-01-01T00:00:{n:02d}+00:00",
        "kind": kind,
        "status": status,
        "message": message,
    }


def replica(n: int, state: str = "READY") -> dict[str, Any]:
    return {
        "id": f"r-{n}",
        "state": state,
        "pid": 1000 + n,
        "port": 9000 + n,
        "startedAt": CREATED,
        "readyAt": CREATED if state == "READY" else None,
        "error": None,
    }


def model(
    name: str = "minilm", *, deployments: list[dict[str, Any]] | None = None, **scaling: Any
) -> dict[str, Any]:
    return {
        "__typename": "Model",
        "name": name,
        "createdAt": CREATED,
        "scaling": {**SCALING, **scaling},
        "deployments": deployments or [],
    }


Handler = Callable[[dict[str, Any]], Any]


class FakePlatform:
    """Answers GraphQL operations by name and REST predict calls from scripted handlers.

    `graphql[OperationName]` is a function of the variables returning `data` (or an
    `httpx.Response` to send as is); `polls` is a list of `deployment(id)` answers served in
    order (the last one repeats); `predict` answers `POST /v1/models/{name}/predict`.
    """

    BASE_URL = BASE_URL
    deployment = staticmethod(deployment)
    event = staticmethod(event)
    replica = staticmethod(replica)
    model = staticmethod(model)

    def __init__(self) -> None:
        self.graphql: dict[str, Handler] = {}
        self.polls: list[dict[str, Any] | None] = []
        self.predict: Callable[[str, dict[str, Any]], httpx.Response] | None = None
        self.requests: list[httpx.Request] = []
        self.operations: list[tuple[str, dict[str, Any]]] = []
        self.factory_calls: list[tuple[str | None, str | None]] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = json.loads(request.content) if request.content else None
        if request.url.path == "/graphql":
            match = re.search(r"(?:query|mutation)\s+(\w+)", body["query"])
            assert match, body["query"]
            name, variables = match.group(1), body.get("variables") or {}
            self.operations.append((name, variables))
            if name == "GetDeployment" and name not in self.graphql:
                answer = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
                return httpx.Response(200, json={"data": {"deployment": answer}})
            result = self.graphql[name](variables)
            if isinstance(result, httpx.Response):
                return result
            return httpx.Response(200, json={"data": result})
        match = re.fullmatch(r"/v1/models/([^/]+)/predict", request.url.path)
        if match and self.predict is not None:
            return self.predict(match.group(1), body)
        return httpx.Response(404, json={"error": {"type": "not_found", "message": "no route"}})

    def poll_count(self) -> int:
        return sum(1 for name, _ in self.operations if name == "GetDeployment")

    def variables(self, operation: str) -> dict[str, Any]:
        return next(v for name, v in self.operations if name == operation)

    @staticmethod
    def error_response(status: int, type_: str, message: str, **extra: Any) -> httpx.Response:
        headers = extra.pop("headers", None)
        return httpx.Response(
            status, json={"error": {"type": type_, "message": message, **extra}}, headers=headers
        )

    def script_deploy(self, final: str = "ACTIVE", error: str | None = None) -> None:
        """deployModel answers PENDING; polls go PENDING -> DEPLOYING -> `final`, with events."""
        ev = [
            event(1, "PENDING", "created", "deployment requested"),
            event(2, "DEPLOYING", "resolved", "resolved revision abc123"),
        ]
        kind = "failed" if final == "FAILED" else "active"
        last = event(3, final, kind, error or "1 replica ready")
        self.graphql["DeployModel"] = lambda v: {"deployModel": deployment("PENDING")}
        self.polls = [
            deployment("PENDING", events=ev[:1]),
            deployment("DEPLOYING", events=ev),
            deployment(
                final,
                error=error,
                events=[*ev, last],
                replicas=[replica(1)] if final == "ACTIVE" else [],
            ),
        ]

    def client(self, **kwargs: Any) -> Client:
        kwargs.setdefault("base_url", BASE_URL)
        return Client(transport=self.transport, **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncClient:
        kwargs.setdefault("base_url", BASE_URL)
        return AsyncClient(transport=self.transport, **kwargs)

    def client_factory(self, *, base_url: str | None, api_key: str | None) -> Client:
        """A `plinth.cli` client factory that talks to this fake."""
        self.factory_calls.append((base_url, api_key))
        return Client(base_url=base_url or BASE_URL, api_key=api_key, transport=self.transport)


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()
