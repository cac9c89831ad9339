"""Test doubles of the backend unit tests: a recording DeployStarter, a scriptable data plane,
and the harness bundling a TestClient with them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from serving.plane import Routed
from workflows.names import CanaryInput, PromoteInput


class RecordingStarter:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.fail_with: Exception | None = None
        self.rollouts: list[PromoteInput | CanaryInput] = []

    async def start_deploy(self, deployment_id: str) -> None:
        self.started.append(deployment_id)
        if self.fail_with is not None:
            raise self.fail_with

    async def start_promote(self, inp: PromoteInput) -> None:
        self.rollouts.append(inp)

    async def start_canary(self, inp: CanaryInput) -> None:
        self.rollouts.append(inp)


@dataclass
class FakePlane:
    """Answers `answer`, or raises `error`; records (model, payload, timeout) of each call."""

    answer: bytes = b'{"embeddings": [[0.5]]}'
    error: Exception | None = None
    calls: list[tuple[str, bytes, float]] = field(default_factory=list)
    environments: list[tuple[str, str | None]] = field(default_factory=list)  # (env, key)

    async def predict(self, model_name: str, payload: bytes, *, timeout_s: float = 60.0) -> bytes:
        self.calls.append((model_name, payload, timeout_s))
        if self.error is not None:
            raise self.error
        return self.answer

    async def predict_routed(
        self,
        model_name: str,
        payload: bytes,
        *,
        timeout_s: float = 60.0,
        environment: str = "production",
        key: str | None = None,
    ) -> Routed:
        self.environments.append((environment, key))
        answer = await self.predict(model_name, payload, timeout_s=timeout_s)
        return Routed(answer, 1, "d-1")

    def routable(self, model_name: str) -> bool:
        return self.error is None


@dataclass
class Harness:
    client: TestClient
    sessions: sessionmaker[Session]
    starter: RecordingStarter
    plane: FakePlane
    wakes: list[None]
    admin_key: str

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        """POST a GraphQL operation; asserts there were no GraphQL errors, returns `data`."""
        response = self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data
