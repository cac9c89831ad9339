"""Async predict through a real `plinth up`: 500 requests with signed webhooks survive a SIGKILL
of the platform, every request completes once, and a receiver that was down gets its
deliveries on retry. The webhook receiver is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from plinth.webhooks import WebhookVerificationError, verify
from serving.runtime_local import free_port
from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 500
REVEAL = "mutation { revealWebhookSecret { __typename ... on WebhookSigningSecret { secret } } }"
ASYNC_ENV = {
    "PLINTH_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
    "PLINTH_ASYNC_LEASE_S": "3",
    "PLINTH_ASYNC_CONCURRENCY_PER_MODEL": "2",
    "PLINTH_WEBHOOK_BACKOFF_S": "0.5",
    "PLINTH_WEBHOOK_MAX_BACKOFF_S": "2",
    "PLINTH_WEBHOOK_MAX_ATTEMPTS": "100",
}


class Receiver:
    """A webhook receiver: records every delivery (headers, raw body)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hook"
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    yield found
    found.stop()


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


def db_rows(home: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{home / 'plinth.db'}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(query).fetchall()


def status_counts(home: Path) -> dict[str, int]:
    rows = db_rows(home, "SELECT status, count(*) FROM async_requests GROUP BY status")
    return {str(status): int(n) for status, n in rows}


def deploy_classifier(platform: PlatformProcess) -> None:
    platform.deploy(
        name="clf",
        huggingFaceRepo="plinth-test/tiny-classifier",
        task="text-classification",
        scaling={"minReplicas": 1, "maxReplicas": 1},
    )
    done = platform.wait_deployment(
        "clf", lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy", 180
    )
    assert done["status"] == "ACTIVE", done


def test_500_async_requests_survive_a_sigkill_with_signed_webhooks(
    tmp_path: Path, tiny_hf_home: Path, receiver: Receiver
) -> None:
    home = tmp_path / "plinth"
    platform = PlatformProcess(home, tiny_hf_home, env=ASYNC_ENV).start()
    try:
        deploy_classifier(platform)
        secret = platform.graphql(REVEAL)["revealWebhookSecret"]["secret"]
        assert secret.startswith("whsec_")
        ids: list[str] = []
        with httpx.Client(base_url=platform.url, headers=platform.headers, timeout=30) as http:
            for i in range(N):
                resp = http.post(
                    "/v1/models/clf/async_predict",
                    json={"inputs": f"sample {i}", "webhook_url": receiver.url, "priority": i % 3},
                )
                assert resp.status_code == 202, resp.text
                assert resp.json()["status"] == "QUEUED"
                ids.append(resp.json()["id"])
        # Durable before acknowledged: every acknowledged id is a row.
        assert len(db_rows(home, "SELECT id FROM async_requests")) == N
        wait_for(
            lambda: status_counts(home).get("SUCCEEDED", 0) >= 20,
            120,
            "some requests to complete before the kill",
        )
    finally:
        platform.stop(signal.SIGKILL)
    before = status_counts(home)
    assert before.get("SUCCEEDED", 0) < N, "the kill came too late to test recovery"

    restarted = PlatformProcess(home, tiny_hf_home, env=ASYNC_ENV)
    restarted.port, restarted.url = platform.port, platform.url
    restarted.env.update(PLINTH_PORT=str(platform.port), PLINTH_URL=platform.url)
    restarted.start()
    try:
        # The receiver was down so far: every delivery until now failed and waits for a retry.
        assert receiver.deliveries == []
        time.sleep(2)
        receiver.start()
        wait_for(
            lambda: status_counts(home).get("SUCCEEDED", 0) == N,
            240,
            f"all {N} requests to succeed (before the kill: {before})",
        )

        def all_delivered() -> bool:
            with receiver.lock:
                seen = {headers.get("X-Plinth-Request-Id") for headers, _ in receiver.deliveries}
            return set(ids) <= seen

        wait_for(all_delivered, 120, "a webhook for every request")

        with receiver.lock:
            deliveries = list(receiver.deliveries)
        bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for headers, raw in deliveries:
            try:
                event = verify(secret, headers, raw)
            except WebhookVerificationError as exc:
                raise AssertionError(f"a webhook failed verification: {exc}") from exc
            assert headers["X-Plinth-Request-Id"] == event["id"]
            bodies[event["id"]].append(event)
        with pytest.raises(WebhookVerificationError):
            verify("whsec_wrong", deliveries[0][0], deliveries[0][1])

        # One completion per request: one webhook delivery row each, and every body received
        # for a request is the same final answer.
        per_request = dict(
            db_rows(home, "SELECT request_id, count(*) FROM webhook_deliveries GROUP BY 1")
        )
        assert per_request == dict.fromkeys(ids, 1)
        attempts = dict(db_rows(home, "SELECT id, attempts FROM async_requests"))
        assert all(attempts[i] >= 1 for i in ids)
        with httpx.Client(base_url=restarted.url, headers=restarted.headers, timeout=30) as http:
            for i, request_id in enumerate(ids):
                events = bodies[request_id]
                assert all(e == events[0] for e in events), events
                assert events[0]["status"] == "SUCCEEDED"
                if i % 50 == 0:  # results are the model's answers for those inputs
                    stored = http.get(f"/v1/async/{request_id}").json()
                    assert stored["result"] == events[0]["result"]
                    direct = http.post("/v1/models/clf/predict", json={"inputs": f"sample {i}"})
                    assert _same_prediction(direct.json(), events[0]["result"])
    finally:
        restarted.stop()


def _same_prediction(a: Any, b: Any) -> bool:
    """Same labels in the same order, scores equal to 1e-4 (batching may change last digits)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_prediction(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-4
    return bool(a == b)


def test_expiry_cancel_validation_and_access(
    tmp_path: Path, tiny_hf_home: Path, receiver: Receiver
) -> None:
    env = {"PLINTH_ASYNC_LEASE_S": "3", "PLINTH_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    platform = PlatformProcess(tmp_path / "plinth", tiny_hf_home, env=env).start()
    receiver.start()
    try:
        with httpx.Client(base_url=platform.url, headers=platform.headers, timeout=30) as http:
            # Before any deploy: an unknown model is 404; the metadata address is refused even
            # though the operator allowed 127.0.0.1.
            resp = http.post("/v1/models/nope/async_predict", json={"inputs": "x"})
            assert resp.status_code == 404
            resp = http.post(
                "/v1/models/nope/async_predict",
                json={"inputs": "x", "webhook_url": "http://169.254.169.254/latest/meta-data"},
            )
            assert resp.status_code == 422
            assert resp.json()["error"]["field"] == "webhook_url"
            resp = http.post("/v1/models/nope/async_predict", json={"inputs": "x", "priority": 7})
            assert (resp.status_code, resp.json()["error"]["field"]) == (422, "priority")

            # While the model is still deploying nothing can start: one request expires (and
            # its webhook says so), one is cancelled while queued.
            platform.deploy(
                name="clf",
                huggingFaceRepo="plinth-test/tiny-classifier",
                task="text-classification",
                scaling={"minReplicas": 1, "maxReplicas": 1},
            )
            expiring = http.post(
                "/v1/models/clf/async_predict",
                json={"inputs": "x", "max_time_in_queue_s": 0.5, "webhook_url": receiver.url},
            ).json()
            queued = http.post("/v1/models/clf/async_predict", json={"inputs": "y"}).json()
            cancelled = http.delete(f"/v1/async/{queued['id']}")
            assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
            expired = wait_for(
                lambda: (
                    (r := http.get(f"/v1/async/{expiring['id']}").json())["status"] == "EXPIRED"
                    and r
                ),
                60,
                "the request to expire",
            )
            assert expired["attempts"] == 0 and expired["error"]["type"] == "expired"
            wait_for(lambda: receiver.deliveries, 30, "the EXPIRED webhook")
            [(headers, raw)] = receiver.deliveries
            assert headers["X-Plinth-Request-Id"] == expiring["id"]
            assert json.loads(raw)["status"] == "EXPIRED"

            done_deploy = platform.wait_deployment(
                "clf", lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy", 180
            )
            assert done_deploy["status"] == "ACTIVE"
            done = http.post("/v1/models/clf/async_predict", json={"inputs": "hello"}).json()
            finished = wait_for(
                lambda: (
                    (r := http.get(f"/v1/async/{done['id']}").json())["status"] == "SUCCEEDED" and r
                ),
                60,
                "the request to succeed",
            )
            assert finished["attempts"] == 1 and finished["result"]
            assert http.delete(f"/v1/async/{done['id']}").status_code == 409
            assert http.get("/v1/async/does-not-exist").status_code == 404
            assert http.get(f"/v1/async/{queued['id']}").json()["status"] == "CANCELLED"

            # An invoke key for another model may not see it.
            created = platform.graphql(
                'mutation { createApiKey(input: {scopes: ["invoke:other"]}) '
                "{ ... on CreatedApiKey { key } } }"
            )["createApiKey"]["key"]
            other = {"Authorization": f"Bearer {created}"}
            denied = httpx.get(f"{platform.url}/v1/async/{done['id']}", headers=other)
            assert denied.status_code == 403
            assert denied.json()["error"]["required_scope"] == "invoke:clf"
    finally:
        code = platform.stop()
    assert code == 0  # a clean stop with the dispatcher and the sender running
