"""deploymentEvents over graphql-transport-ws: past events, then live ones, then completion."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession

from backend import services
from backend.db.session import session_scope
from backend.graphql import schema
from plinth.types import DeploymentStatus
from tests.unit.backend.support import Harness

SUBSCRIBE = """
subscription Events($id: ID!) {
  deploymentEvents(id: $id) { id deploymentId kind status message }
}
"""


@pytest.fixture(autouse=True)
def _fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "EVENT_POLL_INTERVAL_S", 0.02)


def _deploy(h: Harness) -> str:
    result = h.gql(
        'mutation { deployModel(input: {name: "m", huggingFaceRepo: "org/m"}) '
        "{ ... on Deployment { id } } }"
    )
    deployment_id: str = result["deployModel"]["id"]
    return deployment_id


def _subscribe(ws: WebSocketTestSession, deployment_id: str) -> None:
    ws.send_json({"type": "connection_init"})
    assert ws.receive_json() == {"type": "connection_ack"}
    ws.send_json(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": SUBSCRIBE, "variables": {"id": deployment_id}},
        }
    )


def _next_event(ws: WebSocketTestSession) -> dict[str, Any]:
    message = ws.receive_json()
    assert message["type"] == "next", message
    assert message["id"] == "1"
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["deploymentEvents"]
    return event


def _set_status(h: Harness, deployment_id: str, status: DeploymentStatus, **kw: Any) -> None:
    with session_scope(h.sessions) as session:
        services.set_deployment_status(session, deployment_id=deployment_id, status=status, **kw)


def test_streams_past_then_new_events_and_completes_when_active(harness: Harness) -> None:
    deployment_id = _deploy(harness)

    with harness.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        _subscribe(ws, deployment_id)
        created = _next_event(ws)
        assert created["kind"] == "created"
        assert created["status"] == "PENDING"
        assert created["deploymentId"] == deployment_id

        _set_status(harness, deployment_id, DeploymentStatus.DEPLOYING)
        deploying = _next_event(ws)
        assert (deploying["status"], deploying["message"]) == ("DEPLOYING", "PENDING -> DEPLOYING")

        with session_scope(harness.sessions) as session:
            services.record_event(
                session, deployment_id=deployment_id, kind="replica_ready", message="r-1 ready"
            )
            services.activate_deployment(session, deployment_id=deployment_id)
        assert _next_event(ws)["kind"] == "replica_ready"
        active = _next_event(ws)
        assert active["status"] == "ACTIVE"
        assert int(active["id"]) > int(deploying["id"]) > int(created["id"])
        assert _next_event(ws)["kind"] == "traffic_shifted"

        assert ws.receive_json() == {"type": "complete", "id": "1"}


def test_a_failed_deployment_replays_its_events_and_completes(harness: Harness) -> None:
    deployment_id = _deploy(harness)
    _set_status(harness, deployment_id, DeploymentStatus.FAILED, error="no such repo")

    with harness.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        _subscribe(ws, deployment_id)
        assert _next_event(ws)["kind"] == "created"
        failed = _next_event(ws)
        assert failed["status"] == "FAILED"
        assert "no such repo" in failed["message"]
        assert ws.receive_json() == {"type": "complete", "id": "1"}


def test_an_unknown_deployment_is_a_graphql_error(harness: Harness) -> None:
    with harness.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        _subscribe(ws, "no-such-deployment")
        message = ws.receive_json()
        assert message["type"] == "next"
        assert message["payload"]["data"] is None
        assert [e["message"] for e in message["payload"]["errors"]] == ["deployment not found"]
        assert ws.receive_json() == {"type": "complete", "id": "1"}
