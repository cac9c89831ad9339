"""The async dispatcher over a real SQLite database and a scripted data plane: retries of
retryable failures, none for bad input, bounded attempts, per-model concurrency, cancel."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.async_requests import store
from backend.async_requests.dispatcher import AsyncDispatcher, classify
from backend.db.migrate import upgrade_database
from backend.db.models import utcnow
from backend.db.session import make_engine, make_sessionmaker, session_scope
from backend.settings import Settings
from serving.errors import InvalidInput, ModelNotRoutable, QueueFull, ReplicaFailed, RequestTimeout


@dataclass
class ScriptedPlane:
    """Answers with `script(call_number)`: bytes to return, or an exception to raise."""

    script: Callable[[int], Any]
    gate: asyncio.Event | None = None
    routable_models: set[str] = field(default_factory=lambda: {"m"})
    calls: int = 0
    in_flight: int = 0
    peak: int = 0

    async def predict(self, model_name: str, payload: bytes, *, timeout_s: float = 60.0) -> bytes:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            outcome = self.script(self.calls)
            if isinstance(outcome, Exception):
                raise outcome
            return bytes(outcome)
        finally:
            self.in_flight -= 1

    def routable(self, model_name: str) -> bool:
        return model_name in self.routable_models


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'plinth.db'}"
    upgrade_database(url)
    factory = make_sessionmaker(make_engine(url))
    with session_scope(factory) as session:
        services.create_deployment(session, name="m", hf_repo="org/m")
    return factory


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, async_max_attempts=3, async_concurrency_per_model=2)


def submit(sessions: sessionmaker[Session], model: str = "m") -> str:
    with session_scope(sessions) as session:
        return store.submit(
            session,
            model=model,
            payload={"inputs": "x"},
            key_id=None,
            webhook_url=None,
            priority=1,
            max_time_in_queue_s=None,
            now=utcnow(),
        ).id


def get(sessions: sessionmaker[Session], request_id: str) -> store.orm.AsyncRequest:
    with session_scope(sessions) as session:
        found = store.get(session, request_id)
        assert found is not None
        return found


async def until(check: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(dispatcher: AsyncDispatcher) -> AsyncIterator[AsyncDispatcher]:
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def make(
    sessions: sessionmaker[Session], plane: ScriptedPlane, settings: Settings
) -> AsyncDispatcher:
    return AsyncDispatcher(sessions, plane, settings, poll_s=0.02, maintenance_s=0.05)


def test_classify_retryable_failures() -> None:
    assert classify(QueueFull("m", max_queue=1, retry_after_s=3))[::2] == (True, 3.0)
    assert classify(RequestTimeout("m", 1))[0] is True
    assert classify(ReplicaFailed("replica crashed"))[0] is True
    assert classify(ModelNotRoutable("m"))[0] is True
    assert classify(ConnectionRefusedError("refused"))[0] is True
    retryable, error, _ = classify(InvalidInput("bad inputs", field="inputs"))
    assert (retryable, error["type"]) == (False, "invalid_input")
    assert classify(RuntimeError("bug"))[0] is False


async def test_a_retryable_failure_runs_again_as_a_new_attempt(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    plane = ScriptedPlane(lambda n: RequestTimeout("m", 1) if n == 1 else b'{"ok": true}')
    async with running(make(sessions, plane, settings)):
        request_id = submit(sessions)
        await until(lambda: get(sessions, request_id).status == store.SUCCEEDED)
        done = get(sessions, request_id)
        assert (done.attempts, json.loads(done.result or "null")) == (2, {"ok": True})


async def test_bad_input_fails_at_once_and_attempts_are_bounded(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    bad = ScriptedPlane(lambda n: InvalidInput("inputs must be text", field="inputs"))
    dispatcher = make(sessions, bad, settings)
    async with running(dispatcher):
        request_id = submit(sessions)
        await until(lambda: get(sessions, request_id).status == store.FAILED)
        failed = get(sessions, request_id)
        assert failed.attempts == 1 and failed.error is not None
        assert failed.error["type"] == "invalid_input"

        bad.script = lambda n: RequestTimeout("m", 1)
        again = submit(sessions)
        await until(lambda: get(sessions, again).status == store.FAILED, 30)
        assert get(sessions, again).attempts == settings.async_max_attempts


async def test_concurrency_per_model_is_bounded_and_unroutable_models_wait(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    gate = asyncio.Event()
    plane = ScriptedPlane(lambda n: b"{}", gate=gate)
    async with running(make(sessions, plane, settings)):
        with session_scope(sessions) as session:
            services.create_deployment(session, name="cold", hf_repo="org/cold")
        waiting = submit(sessions, model="cold")  # not routable (yet)
        ids = [submit(sessions) for _ in range(5)]
        await until(lambda: plane.in_flight == 2)
        await asyncio.sleep(0.3)
        assert plane.peak == 2  # async_concurrency_per_model
        gate.set()
        await until(lambda: all(get(sessions, i).status == store.SUCCEEDED for i in ids))
        assert plane.peak == 2
        assert get(sessions, waiting).status == store.QUEUED
        plane.routable_models.add("cold")
        await until(lambda: get(sessions, waiting).status == store.SUCCEEDED)


async def test_cancel_stops_a_running_request(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    plane = ScriptedPlane(lambda n: b"{}", gate=asyncio.Event())  # never answers
    dispatcher = make(sessions, plane, settings)
    async with running(dispatcher):
        request_id = submit(sessions)
        await until(lambda: dispatcher.running(request_id))
        with session_scope(sessions) as session:
            store.cancel(session, request_id=request_id, now=utcnow())
        assert await dispatcher.cancel(request_id) is True
        cancelled = get(sessions, request_id)
        assert (cancelled.status, cancelled.attempts) == (store.CANCELLED, 1)
        assert plane.in_flight == 0
        assert await dispatcher.cancel(request_id) is False  # no longer running here


async def test_a_clean_stop_hands_running_requests_back(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    plane = ScriptedPlane(lambda n: b"{}", gate=asyncio.Event())  # never answers
    dispatcher = make(sessions, plane, settings)
    async with running(dispatcher):
        request_id = submit(sessions)
        await until(lambda: get(sessions, request_id).status == store.RUNNING)
    requeued = get(sessions, request_id)
    assert (requeued.status, requeued.lease_owner, requeued.attempts) == (store.QUEUED, None, 1)


async def test_a_stop_that_lands_with_a_wakeup_is_not_lost(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    # On Python 3.11 asyncio.wait_for swallows a cancellation that arrives as the awaited event
    # is set; the dispatcher's loop must stop anyway.
    dispatcher = make(sessions, ScriptedPlane(lambda n: b'{"ok": true}'), settings)
    task = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0.2)  # idle: waiting for a wake-up
    dispatcher.notify()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert task in done
