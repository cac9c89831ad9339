"""Async requests, batch jobs and webhook secrets through the app: who may see and cancel what
(the path names no model, so the stored row decides), input validation with the field named,
and durability before the 202."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend import services
from backend.async_requests import store
from backend.db import models as orm
from backend.db.models import utcnow
from backend.db.session import session_scope
from backend.services import batch
from tests.unit.auth.support import AuthApp, auth_app

URL = "/v1/models/minilm/async_predict"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AuthApp]:
    with auth_app(tmp_path) as app:
        with session_scope(app.sessions) as session:
            services.create_deployment(session, name="minilm", hf_repo="org/minilm")
        yield app


def submit(env: AuthApp, caller: str = "invoke_this", **body: Any) -> Any:
    return env.client.post(URL, json={"inputs": "x", **body}, headers=env.headers(caller))


def test_submit_is_committed_before_the_202(env: AuthApp) -> None:
    resp = submit(env, priority=0, max_time_in_queue_s=60, parameters={"top_k": 1})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert resp.headers["Location"] == f"/v1/async/{body['id']}"
    assert (body["status"], body["priority"], body["attempts"]) == ("QUEUED", 0, 0)
    assert body["queue_deadline"] is not None
    with session_scope(env.sessions) as session:
        row = store.get(session, body["id"])
        assert row is not None and row.payload == '{"inputs":"x","parameters":{"top_k":1}}'
    assert (
        env.client.post(
            "/v1/models/nope/async_predict", json={"inputs": "x"}, headers=env.headers("admin")
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": "x"}, "parameters"),
        ({"priority": 3}, "priority"),
        ({"priority": -1}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"max_time_in_queue_s": 0}, "max_time_in_queue_s"),
        ({"max_time_in_queue_s": 1e9}, "max_time_in_queue_s"),
        ({"max_time_in_queue_s": "soon"}, "max_time_in_queue_s"),
        ({"webhook_url": 5}, "webhook_url"),
        ({"webhook_url": "ftp://example.com/"}, "webhook_url"),
        ({"webhook_url": "http://127.0.0.1:9/hook"}, "webhook_url"),
        ({"webhook_url": "http://169.254.169.254/latest/meta-data/"}, "webhook_url"),
        ({"webhook_url": "http://[::1]/"}, "webhook_url"),
        ({"callback": "x"}, "callback"),
    ],
)
def test_bad_submissions_name_the_field(env: AuthApp, body: dict[str, Any], field: str) -> None:
    resp = submit(env, **body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field
    for missing in ({"parameters": {}}, [1, 2]):
        resp = env.client.post(URL, json=missing, headers=env.headers("admin"))
        assert resp.status_code == 422
        assert resp.json()["error"]["field"] in ("inputs", "body")


def test_get_and_cancel_need_invoke_on_the_requests_model(env: AuthApp) -> None:
    request_id = submit(env).json()["id"]
    path = f"/v1/async/{request_id}"
    for caller in ("invoke_this", "admin"):
        assert env.client.get(path, headers=env.headers(caller)).json()["id"] == request_id
    denied = env.client.get(path, headers=env.headers("invoke_other"))
    assert denied.status_code == 403
    assert denied.json()["error"]["required_scope"] == "invoke:minilm"
    for caller in ("read", "deploy"):
        resp = env.client.get(path, headers=env.headers(caller))
        assert (resp.status_code, resp.json()["error"]["required_scope"]) == (403, "invoke")
    assert env.client.get(path).status_code == 401
    assert env.client.delete(path, headers=env.headers("invoke_other")).status_code == 403

    cancelled = env.client.delete(path, headers=env.headers("invoke_this"))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
    again = env.client.delete(path, headers=env.headers("invoke_this"))
    assert (again.status_code, again.json()["error"]["status"]) == (409, "CANCELLED")


def test_a_running_request_elsewhere_is_marked_for_cancellation(env: AuthApp) -> None:
    request_id = submit(env).json()["id"]
    with session_scope(env.sessions) as session:
        [_taken] = store.claim(
            session, capacity={"minilm": 1}, owner="other", lease_s=30, now=utcnow()
        )
    resp = env.client.delete(f"/v1/async/{request_id}", headers=env.headers("admin"))
    assert resp.status_code == 202
    assert (resp.json()["status"], resp.json()["cancel_requested"]) == ("RUNNING", True)


REVEAL = "mutation { revealWebhookSecret { __typename ... on WebhookSigningSecret { secret } } }"


def test_webhook_secret_is_per_key_shown_once_and_rotates(env: AuthApp) -> None:
    first = env.gql("invoke_this", REVEAL).json()["data"]["revealWebhookSecret"]
    assert first["secret"].startswith("whsec_")
    again = env.gql("invoke_this", REVEAL).json()["data"]["revealWebhookSecret"]
    assert again == {"__typename": "ValidationError"}
    other = env.gql("admin", REVEAL).json()["data"]["revealWebhookSecret"]["secret"]
    assert other != first["secret"]  # each key has its own
    rotated = env.gql("invoke_this", "mutation { rotateWebhookSecret { secret } }").json()
    assert rotated["data"]["rotateWebhookSecret"]["secret"] not in (first["secret"], other)


DEAD = "{ asyncDeadLetters { id requestId status } }"
REPLAY = 'mutation { replayWebhook(id: "%s") { __typename ... on WebhookDelivery { status } } }'


def test_dead_letters_show_only_models_the_key_may_invoke_and_replay(env: AuthApp) -> None:
    with session_scope(env.sessions) as session:
        dead = orm.WebhookDelivery(
            request_id="r1",
            model="minilm",
            url="https://hooks.example.com/x",
            body="{}",
            status="DEAD",
            attempts=8,
        )
        session.add(dead)
        session.flush()
        dead_id = dead.id
    seen = env.gql("invoke_this", DEAD).json()["data"]["asyncDeadLetters"]
    assert [d["id"] for d in seen] == [dead_id]
    assert env.gql("invoke_other", DEAD).json()["data"]["asyncDeadLetters"] == []
    hidden = env.gql("invoke_other", REPLAY % dead_id).json()["data"]["replayWebhook"]
    assert hidden == {"__typename": "NotFoundError"}
    replayed = env.gql("invoke_this", REPLAY % dead_id).json()["data"]["replayWebhook"]
    assert replayed == {"__typename": "WebhookDelivery", "status": "PENDING"}
    twice = env.gql("invoke_this", REPLAY % dead_id).json()["data"]["replayWebhook"]
    assert twice == {"__typename": "ValidationError"}


def test_batch_routes_validate_and_check_access(env: AuthApp) -> None:
    url = "/v1/models/minilm/batch"
    headers = env.headers("invoke_this")
    bad = env.client.post(url, json={"items": [{"inputs": 1}, {"x": 2}]}, headers=headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "items[1]")
    jsonl = {**headers, "Content-Type": "application/jsonl"}
    bad = env.client.post(url, content=b'{"inputs": 1}\nnope\n', headers=jsonl)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "line 2")
    too_wide = env.client.post(
        url, json={"items": [{"inputs": 1}], "concurrency": 0}, headers=headers
    )
    assert (too_wide.status_code, too_wide.json()["error"]["field"]) == (422, "concurrency")
    # This app has no Temporal: a valid job is refused, not left waiting forever.
    assert env.client.post(url, json={"items": [{"inputs": 1}]}, headers=headers).status_code == 503

    with session_scope(env.sessions) as session:
        job_id = batch.create_job(
            session, model="minilm", items=[{"inputs": 1}], concurrency=1, key_id=None
        ).id
    path = f"/v1/batch/{job_id}"
    assert env.client.get(path, headers=headers).json()["total"] == 1
    assert env.client.get(path, headers=env.headers("invoke_other")).status_code == 403
    early = env.client.get(f"{path}/output", headers=headers)
    assert (early.status_code, early.json()["error"]["status"]) == (409, "QUEUED")
