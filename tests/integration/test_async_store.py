"""The async request state machine and webhook delivery on SQLite and a real PostgreSQL:
priority order, leases and their expiry, one completion per request, retries, cancel, expiry,
retention, signing secrets, and deliveries to a real HTTP receiver (retries, dead letters,
replay). Time is an explicit `now` (an injectable clock), never a sleep."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend import services, webhooks
from backend.async_requests import store
from backend.db import models as orm
from backend.db.migrate import upgrade_database
from backend.db.session import make_engine, make_sessionmaker, session_scope
from backend.errors import Conflict
from backend.secrets import SecretBox
from backend.settings import Settings
from plinth.webhooks import verify
from serving.runtime_local import free_port
from tests.support.databases import database_url

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    for url in database_url(request, request.param, tmp_path):
        upgrade_database(url)
        engine = make_engine(url)
        try:
            yield make_sessionmaker(engine)
        finally:
            engine.dispose()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def submit(
    sessions: sessionmaker[Session],
    *,
    model: str = "m",
    priority: int = 1,
    now: datetime = T0,
    webhook: str | None = "https://hooks.example.com/x",
    max_wait: float | None = None,
) -> str:
    with session_scope(sessions) as session:
        return store.submit(
            session,
            model=model,
            payload={"inputs": "x"},
            key_id="key-1",
            webhook_url=webhook,
            priority=priority,
            max_time_in_queue_s=max_wait,
            now=now,
        ).id


def claim(
    sessions: sessionmaker[Session], now: datetime, lease_s: float = 5, **capacity: int
) -> list[store.Claimed]:
    with session_scope(sessions) as session:
        return store.claim(
            session, capacity=capacity or {"m": 100}, owner="me", lease_s=lease_s, now=now
        )


def row(sessions: sessionmaker[Session], request_id: str) -> orm.AsyncRequest:
    with session_scope(sessions) as session:
        found = store.get(session, request_id)
        assert found is not None
        return found


def deliveries(sessions: sessionmaker[Session], request_id: str) -> list[orm.WebhookDelivery]:
    with session_scope(sessions) as session:
        return list(
            session.scalars(
                select(orm.WebhookDelivery).where(orm.WebhookDelivery.request_id == request_id)
            )
        )


def complete(sessions: sessionmaker[Session], request_id: str, attempt: int, now: datetime) -> bool:
    with session_scope(sessions) as session:
        return store.complete(
            session,
            request_id=request_id,
            attempt=attempt,
            status=store.SUCCEEDED,
            result=b'{"ok": 1}',
            now=now,
        )


def test_claims_by_priority_then_age_within_each_models_capacity(
    sessions: sessionmaker[Session],
) -> None:
    low = submit(sessions, priority=2, now=at(0))
    first = submit(sessions, priority=0, now=at(1))
    normal = submit(sessions, priority=1, now=at(2))
    second = submit(sessions, priority=0, now=at(3))
    other = submit(sessions, model="other", priority=0, now=at(4))
    taken = claim(sessions, at(10), m=3)
    assert [c.id for c in taken] == [first, second, normal]
    assert all(c.attempt == 1 and json.loads(c.payload) == {"inputs": "x"} for c in taken)
    assert row(sessions, first).status == store.RUNNING
    assert claim(sessions, at(10), m=0, other=1)[0].id == other
    assert [c.id for c in claim(sessions, at(10), m=5)] == [low]
    assert claim(sessions, at(10), m=5) == []


def test_an_expired_lease_requeues_and_only_the_new_attempt_completes(
    sessions: sessionmaker[Session],
) -> None:
    request_id = submit(sessions)
    [first] = claim(sessions, at(0), lease_s=5)
    with session_scope(sessions) as session:
        assert store.recover_expired_leases(session, max_attempts=3, now=at(4)) == []
        assert store.renew_leases(session, ids=[request_id], owner="me", lease_s=5, now=at(4))
        assert store.recover_expired_leases(session, max_attempts=3, now=at(8)) == []
        assert store.recover_expired_leases(session, max_attempts=3, now=at(10)) == [request_id]
    assert row(sessions, request_id).status == store.QUEUED
    [second] = claim(sessions, at(11))
    assert second.attempt == 2
    assert complete(sessions, request_id, first.attempt, at(12)) is False  # the lost attempt
    assert complete(sessions, request_id, second.attempt, at(12)) is True
    assert complete(sessions, request_id, second.attempt, at(13)) is False  # never twice
    done = row(sessions, request_id)
    assert (done.status, done.attempts, done.result) == (store.SUCCEEDED, 2, '{"ok": 1}')
    [delivery] = deliveries(sessions, request_id)
    body = json.loads(delivery.body)
    assert (body["id"], body["status"], body["result"]) == (request_id, "SUCCEEDED", {"ok": 1})


def test_a_request_whose_worker_keeps_dying_fails_after_max_attempts(
    sessions: sessionmaker[Session],
) -> None:
    request_id = submit(sessions)
    for attempt in (1, 2):
        [taken] = claim(sessions, at(attempt * 100))
        assert taken.attempt == attempt
        with session_scope(sessions) as session:
            store.recover_expired_leases(session, max_attempts=2, now=at(attempt * 100 + 10))
    failed = row(sessions, request_id)
    assert (failed.status, failed.attempts) == (store.FAILED, 2)
    assert failed.error is not None and failed.error["type"] == "lost"
    assert json.loads(deliveries(sessions, request_id)[0].body)["status"] == "FAILED"


def test_retry_waits_for_its_backoff(sessions: sessionmaker[Session]) -> None:
    request_id = submit(sessions)
    [taken] = claim(sessions, at(0))
    with session_scope(sessions) as session:
        assert store.retry_later(
            session,
            request_id=request_id,
            attempt=taken.attempt,
            delay_s=30,
            error={"type": "queue_full"},
            now=at(1),
        )
    assert claim(sessions, at(30)) == []
    [again] = claim(sessions, at(31))
    assert again.attempt == 2
    assert deliveries(sessions, request_id) == []  # a retry is not a completion


def test_cancel_queued_at_once_and_running_on_completion(sessions: sessionmaker[Session]) -> None:
    queued = submit(sessions, now=at(0))
    running = submit(sessions, now=at(1))
    with session_scope(sessions) as session:
        found = store.cancel(session, request_id=queued, now=at(2))
        assert found is not None and found.status == store.CANCELLED
    [taken] = claim(sessions, at(3))
    assert taken.id == running
    with session_scope(sessions) as session:
        found = store.cancel(session, request_id=running, now=at(4))
        assert found is not None
        assert (found.status, found.cancel_requested) == (store.RUNNING, True)
        assert store.cancel(session, request_id="nope", now=at(4)) is None
    assert complete(sessions, running, taken.attempt, at(5)) is True
    assert row(sessions, running).status == store.CANCELLED
    assert row(sessions, running).result is None
    for request_id in (queued, running):
        [delivery] = deliveries(sessions, request_id)
        assert json.loads(delivery.body)["status"] == "CANCELLED"


def test_max_time_in_queue_expires_requests_that_never_started(
    sessions: sessionmaker[Session],
) -> None:
    waiting = submit(sessions, max_wait=10)
    started = submit(sessions, max_wait=10, now=at(1))
    [taken] = claim(sessions, at(2), m=1)
    assert taken.id == waiting
    with session_scope(sessions) as session:
        assert store.expire_queued(session, now=at(5)) == []
        assert store.expire_queued(session, now=at(12)) == [started]
    assert row(sessions, started).status == store.EXPIRED
    assert json.loads(deliveries(sessions, started)[0].body)["status"] == "EXPIRED"
    assert row(sessions, waiting).status == store.RUNNING  # it started in time


def test_results_are_purged_after_the_retention(sessions: sessionmaker[Session]) -> None:
    old = submit(sessions, now=at(0))
    [taken] = claim(sessions, at(0))
    assert complete(sessions, old, taken.attempt, at(1))
    with session_scope(sessions) as session:
        session.execute(orm.WebhookDelivery.__table__.update().values(status=webhooks.DELIVERED))
    fresh = submit(sessions, now=at(50))
    with session_scope(sessions) as session:
        assert store.purge(session, ttl_s=100, now=at(100)) == 0
        assert store.purge(session, ttl_s=100, now=at(102)) == 1
        assert store.get(session, old) is None
        assert store.get(session, fresh) is not None  # queued work is never purged
        assert session.scalar(select(func.count()).select_from(orm.WebhookDelivery)) == 0


def test_queued_requests_of_a_deleted_model_fail(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        services.create_deployment(session, name="kept", hf_repo="org/kept")
    kept = submit(sessions, model="kept")
    gone = submit(sessions, model="gone")
    with session_scope(sessions) as session:
        assert store.fail_orphans(session, now=at(1)) == [gone]
    assert row(sessions, kept).status == store.QUEUED


def test_concurrent_dispatchers_never_claim_the_same_request(
    sessions: sessionmaker[Session],
) -> None:
    ids = {submit(sessions, now=at(i)) for i in range(60)}
    claimed: list[list[str]] = [[], [], []]
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            while True:
                taken = claim(sessions, at(100), m=4)
                if not taken:
                    return
                claimed[slot].extend(c.id for c in taken)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    flat = [i for part in claimed for i in part]
    assert sorted(flat) == sorted(ids)  # each exactly once


def test_signing_secret_is_shown_once_and_rotates(sessions: sessionmaker[Session]) -> None:
    box = SecretBox(Fernet.generate_key())
    with session_scope(sessions) as session:
        webhooks.ensure_signing_secret(session, box=box, owner="k1")
        stored = session.get(orm.WebhookSecret, "k1")
        assert stored is not None and b"whsec_" not in stored.ciphertext  # encrypted at rest
        first = webhooks.reveal_signing_secret(session, box=box, owner="k1")
        assert first.startswith("whsec_")
        assert webhooks.signing_secret(session, box=box, owner="k1") == first
        with pytest.raises(Conflict, match="rotate"):
            webhooks.reveal_signing_secret(session, box=box, owner="k1")
        rotated = webhooks.rotate_signing_secret(session, box=box, owner="k1")
        assert rotated != first
        assert webhooks.signing_secret(session, box=box, owner="k1") == rotated


class _Receiver:
    """A real HTTP receiver answering `status` (a list consumed per request, then 204)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.seen: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.seen.append((dict(self.headers.items()), body))
                code = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(code)
                if code in (301, 302):
                    self.send_header("Location", "http://169.254.169.254/")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _deliver_until_settled(sender: webhooks.WebhookSender, rounds: int) -> None:
    async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
        for _ in range(rounds):
            await sender.send_due(client)


async def test_deliveries_retry_with_backoff_then_dead_letter_and_replay(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    box = SecretBox(Fernet.generate_key())
    receiver = _Receiver([500, 302, 503])  # a redirect is a failure, never followed
    settings = Settings(
        home=tmp_path,
        webhook_allow_private=True,
        webhook_max_attempts=3,
        webhook_backoff_s=10,
        webhook_max_backoff_s=15,
    )
    clock = [at(0)]
    sender = webhooks.WebhookSender(sessions, box, settings, clock=lambda: clock[0])
    try:
        request_id = submit(sessions, webhook=receiver.url)
        with session_scope(sessions) as session:
            webhooks.ensure_signing_secret(session, box=box, owner="key-1")
            secret = webhooks.signing_secret(session, box=box, owner="key-1")
        [taken] = claim(sessions, at(0))
        assert complete(sessions, request_id, taken.attempt, at(0))
        schedule = []
        for _ in range(3):
            await _deliver_until_settled(sender, 1)
            [delivery] = deliveries(sessions, request_id)
            schedule.append((delivery.attempts, delivery.status, delivery.next_attempt_at))
            clock[0] = delivery.next_attempt_at
        assert [s[:2] for s in schedule] == [(1, "PENDING"), (2, "PENDING"), (3, "DEAD")]
        # 10 s after the first failure, then 20 s capped at 15 s after the second
        assert schedule[0][2] == at(10) and schedule[1][2] == at(25)
        assert len(receiver.seen) == 3
        assert all(verify(secret, h, b, tolerance_s=1e12) for h, b in receiver.seen)
        assert {h["X-Plinth-Delivery-Id"] for h, _ in receiver.seen} == {delivery.id}
        assert [h["X-Plinth-Delivery-Attempt"] for h, _ in receiver.seen] == ["1", "2", "3"]

        with session_scope(sessions) as session:
            assert [d.id for d in webhooks.dead_letters(session)] == [delivery.id]
            webhooks.replay_delivery(session, delivery_id=delivery.id, now=at(5000))
            with pytest.raises(Conflict):
                webhooks.replay_delivery(session, delivery_id=delivery.id)
        clock[0] = at(10_000)
        await _deliver_until_settled(sender, 1)
        [delivery] = deliveries(sessions, request_id)
        assert (delivery.status, delivery.attempts) == (webhooks.DELIVERED, 1)
        assert len(receiver.seen) == 4
        assert receiver.seen[-1][1] == receiver.seen[0][1]  # the same body every time
    finally:
        receiver.close()


async def test_a_delivery_to_a_now_private_address_is_refused_at_send_time(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    box = SecretBox(Fernet.generate_key())
    receiver = _Receiver([])
    settings = Settings(home=tmp_path, webhook_max_attempts=1)  # private targets not allowed
    sender = webhooks.WebhookSender(sessions, box, settings, clock=lambda: at(0))
    try:
        request_id = submit(sessions, webhook=receiver.url)  # e.g. DNS changed since submit
        with session_scope(sessions) as session:
            webhooks.ensure_signing_secret(session, box=box, owner="key-1")
        [taken] = claim(sessions, at(0))
        assert complete(sessions, request_id, taken.attempt, at(0))
        await _deliver_until_settled(sender, 1)
        [delivery] = deliveries(sessions, request_id)
        assert delivery.status == webhooks.DEAD
        assert delivery.last_error is not None and "non-public" in delivery.last_error
        assert receiver.seen == []
    finally:
        receiver.close()
