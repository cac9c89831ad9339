"""The predict fast path answers exactly as the FastAPI route does, and leaves every other case
to the full stack: the same requests against the app with and without it give the same status,
body and headers; and the middleware alone shows which requests it answered itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from backend import services
from backend.app import create_app
from backend.auth.cache import KeyCache
from backend.db.session import session_scope
from backend.fastpath import PredictFastPath
from backend.settings import Settings
from serving.errors import ModelNotRoutable, QueueFull, ReplicaFailed, RequestTimeout
from serving.plane import ColdStartAnswer
from tests.unit.backend.support import FakePlane, RecordingStarter

BIG = 2048


@dataclass
class Pair:
    fast: TestClient
    slow: TestClient
    plane: FakePlane
    keys: dict[str, str] = field(default_factory=dict)


def _app(tmp_path: Path, sessions: sessionmaker[Session], plane: FakePlane, fast: bool) -> FastAPI:
    app = create_app(
        settings=Settings(home=tmp_path, predict_timeout_s=7.5, max_body_bytes=BIG),
        sessionmaker=sessions,
        plane=plane,
        deploy_starter=RecordingStarter(),
        wake=lambda: None,
    )
    if not fast:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not PredictFastPath]
    return app


@pytest.fixture
def pair(tmp_path: Path, sessions: sessionmaker[Session]) -> Iterator[Pair]:
    keys = {}
    with session_scope(sessions) as session:
        services.create_deployment(session, name="known", hf_repo="org/known")
        for name, scopes in {
            "admin": ["admin"],
            "invoke": ["invoke"],
            "invoke_known": ["invoke:known"],
            "read": ["read"],
        }.items():
            _row, keys[name] = services.create_api_key(
                session, scopes=scopes, name=name.replace("_", "-")
            )
        revoked, keys["revoked"] = services.create_api_key(session, scopes=["invoke"], name="r")
        services.revoke_api_key(session, key_id=revoked.id)
    plane = FakePlane()
    with (
        TestClient(_app(tmp_path, sessions, plane, True), raise_server_exceptions=False) as fast,
        TestClient(_app(tmp_path, sessions, plane, False), raise_server_exceptions=False) as slow,
    ):
        yield Pair(fast, slow, plane, keys)


def _answer(client: TestClient, key: str | None, **request: Any) -> tuple[int, Any, dict[str, str]]:
    headers = dict(request.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    client.headers.clear()
    response = client.request(headers=headers, **request)
    kept = {k: v for k, v in response.headers.items() if k not in ("date", "server")}
    return response.status_code, response.content, kept


POST = {"method": "POST", "url": "/v1/models/known/predict"}
ENV_POST = {"method": "POST", "url": "/v1/models/known/environments/staging/predict"}
CASES: dict[str, tuple[str | None, dict[str, Any], Exception | bytes | None]] = {
    "ok, invoke key": ("invoke", {**POST, "json": {"inputs": "x"}}, None),
    "ok, admin key": ("admin", {**POST, "json": {"inputs": "x"}}, None),
    "ok, model-scoped key": ("invoke_known", {**POST, "json": {"inputs": ["a", "b"]}}, None),
    "cold start header": (
        "invoke",
        {**POST, "json": {"inputs": "x"}},
        ColdStartAnswer(b"[1]", 0.25),
    ),
    "queue full, Retry-After": (
        "invoke",
        {**POST, "json": {"inputs": "x"}},
        QueueFull("known", max_queue=4, retry_after_s=2.4),
    ),
    "timeout": ("invoke", {**POST, "json": {"inputs": "x"}}, RequestTimeout("known", 7.5)),
    "replica failed": ("invoke", {**POST, "json": {"inputs": "x"}}, ReplicaFailed("boom")),
    "not routable, known model": (
        "invoke",
        {**POST, "json": {"inputs": "x"}},
        ModelNotRoutable("known"),
    ),
    "not routable, unknown model": (
        "invoke",
        {"method": "POST", "url": "/v1/models/nope/predict", "json": {"inputs": "x"}},
        ModelNotRoutable("nope"),
    ),
    "no key": (None, {**POST, "json": {"inputs": "x"}}, None),
    "malformed key": ("pl_bad", {**POST, "json": {"inputs": "x"}}, None),
    "revoked key": ("revoked", {**POST, "json": {"inputs": "x"}}, None),
    "wrong scope": ("read", {**POST, "json": {"inputs": "x"}}, None),
    "other model's scope": (
        "invoke_known",
        {"method": "POST", "url": "/v1/models/other/predict", "json": {"inputs": "x"}},
        None,
    ),
    "basic auth": ("invoke", {**POST, "json": {"inputs": "x"}, "headers": {"X": "y"}}, None),
    "invalid name": (
        "invoke",
        {"method": "POST", "url": "/v1/models/Bad_Name/predict", "json": {"inputs": "x"}},
        None,
    ),
    "body not JSON": ("invoke", {**POST, "content": b"{nope"}, None),
    "body not an object": ("invoke", {**POST, "json": [1, 2]}, None),
    "no inputs": ("invoke", {**POST, "json": {"input": "x"}}, None),
    "parameters not an object": (
        "invoke",
        {**POST, "json": {"inputs": "x", "parameters": 3}},
        None,
    ),
    "body too large": ("invoke", {**POST, "json": {"inputs": "x" * BIG}}, None),
    "GET": ("invoke", {"method": "GET", "url": "/v1/models/known/predict"}, None),
    "query string": (
        "invoke",
        {"method": "POST", "url": "/v1/models/known/predict?x=1", "json": {"inputs": "x"}},
        None,
    ),
    "environment route": ("invoke", {**ENV_POST, "json": {"inputs": "x"}}, None),
    "environment route, model-scoped key": (
        "invoke_known",
        {**ENV_POST, "json": {"inputs": "x"}},
        None,
    ),
    "environment route, not routable": (
        "invoke",
        {**ENV_POST, "json": {"inputs": "x"}},
        ModelNotRoutable("known"),
    ),
    "invalid environment name": (
        "invoke",
        {
            "method": "POST",
            "url": "/v1/models/known/environments/Bad_Env/predict",
            "json": {"inputs": "x"},
        },
        None,
    ),
    "request key": (
        "invoke",
        {**POST, "json": {"inputs": "x"}, "headers": {"X-Plinth-Request-Key": "user-7"}},
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_exactly_as_the_route(pair: Pair, case: str) -> None:
    key_name, request, outcome = CASES[case]
    key = pair.keys.get(key_name, key_name) if key_name is not None else None
    if case == "basic auth":
        key = None
        request = {**request, "headers": {"Authorization": f"Basic {pair.keys['invoke']}"}}
    pair.plane.error = outcome if isinstance(outcome, Exception) else None
    pair.plane.answer = outcome if isinstance(outcome, bytes) else b'{"echo": true}'

    fast = _answer(pair.fast, key, **dict(request))
    calls_fast = list(pair.plane.calls)
    pair.plane.calls.clear()
    slow = _answer(pair.slow, key, **dict(request))

    assert fast == slow
    assert calls_fast == pair.plane.calls


def test_the_cold_start_and_retry_after_headers_come_through(pair: Pair) -> None:
    pair.plane.answer = ColdStartAnswer(b"[1]", 0.4126)
    status, body, headers = _answer(pair.fast, pair.keys["invoke"], **POST, json={"inputs": "x"})
    assert (status, body, headers["x-plinth-cold-start-ms"]) == (200, b"[1]", "413")
    assert headers["content-type"] == "application/json"

    pair.plane.error = QueueFull("known", max_queue=4, retry_after_s=2.4)
    status, _body, headers = _answer(pair.fast, pair.keys["invoke"], **POST, json={"inputs": "x"})
    assert status == 429 and headers["retry-after"] == "3"


# -- the middleware on its own: what it answers itself, what it hands on ------------------------


class FullStack:
    """Stands where SecurityMiddleware and the routes are: answers 299 and records the body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"full stack"})


@pytest.fixture
def middleware(sessions: sessionmaker[Session]) -> Iterator[tuple[PredictFastPath, dict[str, str]]]:
    keys = {}
    with session_scope(sessions) as session:
        _row, keys["invoke"] = services.create_api_key(session, scopes=["invoke"], name="i")
        _row, keys["read"] = services.create_api_key(session, scopes=["read"], name="r")
    cache = KeyCache(sessions)
    cache.load()
    fast = PredictFastPath(
        FullStack(),
        plane=FakePlane(answer=b'"hi"'),
        sessions=sessions,
        keys=cache,
        auth_enabled=True,
        max_body_bytes=BIG,
        predict_timeout_s=3.0,
    )
    yield fast, keys


async def _call(fast: PredictFastPath, key: str | None, **request: Any) -> httpx.Response:
    headers = dict(request.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    transport = httpx.ASGITransport(app=fast)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(headers=headers, **request)


async def test_the_common_case_never_reaches_the_full_stack(
    middleware: tuple[PredictFastPath, dict[str, str]],
) -> None:
    fast, keys = middleware
    response = await _call(fast, keys["invoke"], **POST, json={"inputs": "hi"})

    assert (response.status_code, response.content) == (200, b'"hi"')
    assert isinstance(fast.app, FullStack) and fast.app.bodies == []


@pytest.mark.parametrize(
    ("key", "request_"),
    [
        (None, {**POST, "json": {"inputs": "x"}}),
        ("read", {**POST, "json": {"inputs": "x"}}),
        ("invoke", {**POST, "content": b"{broken"}),
        ("invoke", {**POST, "json": {"inputs": "x" * BIG}}),
        ("invoke", {"method": "GET", "url": "/v1/models/known/predict"}),
        ("invoke", {"method": "POST", "url": "/v1/models/known/other", "json": {"inputs": 1}}),
        ("invoke", {**POST, "json": {"inputs": "x", "stream": True}}),
        (
            "invoke",
            {**ENV_POST, "json": {"inputs": "x"}, "headers": {"Accept": "text/event-stream"}},
        ),
    ],
)
async def test_everything_else_goes_to_the_full_stack_with_its_body(
    middleware: tuple[PredictFastPath, dict[str, str]], key: str | None, request_: dict[str, Any]
) -> None:
    fast, keys = middleware
    response = await _call(fast, keys.get(key or "", None), **request_)

    assert (response.status_code, response.content) == (299, b"full stack")
    assert isinstance(fast.app, FullStack)
    sent = httpx.Request(**{k: v for k, v in request_.items() if k != "headers"}).read()
    assert fast.app.bodies == [sent]
