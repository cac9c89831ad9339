"""Async predict, batch jobs and webhooks in the SDK (both clients) and the CLI, against a
scripted HTTP fake of the platform (httpx.MockTransport)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import plinth
from plinth import cli
from plinth._async import BatchJob
from plinth._cli_async import BatchProgress

BASE = "http://plinth.test"
NOW = "2026-11-30T00:00:00+00:00"


def request_json(status: str = "QUEUED", **extra: Any) -> dict[str, Any]:
    return {
        "id": "req-1",
        "model": "clf",
        "status": status,
        "priority": 1,
        "attempts": 0 if status == "QUEUED" else 1,
        "created_at": NOW,
        **extra,
    }


def job_json(status: str, completed: int, total: int = 3, failed: int = 0) -> dict[str, Any]:
    return {
        "id": "job-1",
        "model": "emb",
        "status": status,
        "total": total,
        "completed": completed,
        "failed": failed,
        "concurrency": 2,
        "created_at": NOW,
    }


class Fake:
    """Answers each request with the next scripted answer for its (method, path)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.answers: dict[tuple[str, str], list[httpx.Response]] = {}

    def on(self, method: str, path: str, *answers: httpx.Response) -> None:
        self.answers.setdefault((method, path), []).extend(answers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        queue = self.answers.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(404, json={"error": {"type": "not_found", "message": "no"}})
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def client(self) -> plinth.Client:
        return plinth.Client(BASE, api_key="k", transport=httpx.MockTransport(self.handler))

    def async_client(self) -> plinth.AsyncClient:
        return plinth.AsyncClient(BASE, api_key="k", transport=httpx.MockTransport(self.handler))

    def factory(self, *, base_url: str | None, api_key: str | None) -> plinth.Client:
        return self.client()


def ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_async_predict_sends_the_options_and_parses_the_request() -> None:
    fake = Fake()
    fake.on("POST", "/v1/models/clf/async_predict", ok(request_json(), 202))
    with fake.client() as client:
        req = client.models.async_predict(
            "clf",
            ["hi"],
            {"top_k": 1},
            webhook_url="https://hooks.example.com/x",
            priority=0,
            max_time_in_queue_s=30,
        )
    assert (req.id, req.status, req.done) == ("req-1", "QUEUED", False)
    assert fake.sent[0][2] == {
        "inputs": ["hi"],
        "parameters": {"top_k": 1},
        "webhook_url": "https://hooks.example.com/x",
        "priority": 0,
        "max_time_in_queue_s": 30,
    }


def test_a_refused_webhook_url_is_a_validation_error_naming_the_field() -> None:
    fake = Fake()
    refused = {"error": {"type": "invalid_request", "message": "no", "field": "webhook_url"}}
    fake.on("POST", "/v1/models/clf/async_predict", ok(refused, 422))
    with fake.client() as client, pytest.raises(plinth.ValidationError) as caught:
        client.models.async_predict("clf", "x", webhook_url="http://127.0.0.1/")
    assert caught.value.field == "webhook_url"


def test_wait_get_and_cancel() -> None:
    fake = Fake()
    done = request_json("SUCCEEDED", result=[{"label": "A"}])
    fake.on("GET", "/v1/async/req-1", ok(request_json("RUNNING")), ok(done))
    fake.on("DELETE", "/v1/async/req-1", ok(request_json("CANCELLED")))
    with fake.client() as client:
        assert client.models.get_async("req-1").status == "RUNNING"
        finished = client.models.wait_async("req-1", poll_interval=0)
        assert (finished.status, finished.result) == ("SUCCEEDED", [{"label": "A"}])
        assert client.models.cancel_async("req-1").status == "CANCELLED"
    fake.on("GET", "/v1/async/slow", ok(request_json("RUNNING")))
    with fake.client() as client, pytest.raises(plinth.WaitTimeoutError):
        client.models.wait_async("slow", timeout=0.05, poll_interval=0.01)


async def test_the_async_client_has_the_same_calls(tmp_path: Path) -> None:
    fake = Fake()
    fake.on("POST", "/v1/models/clf/async_predict", ok(request_json(), 202))
    fake.on("GET", "/v1/async/req-1", ok(request_json("SUCCEEDED", result=1)))
    fake.on("POST", "/v1/models/emb/batch", ok(job_json("QUEUED", 0), 202))
    fake.on("GET", "/v1/batch/job-1", ok(job_json("RUNNING", 1)), ok(job_json("SUCCEEDED", 3)))
    fake.on("GET", "/v1/batch/job-1/output", httpx.Response(200, text='{"index": 0}\n'))
    async with fake.async_client() as client:
        assert (await client.models.async_predict("clf", "x")).id == "req-1"
        assert (await client.models.wait_async("req-1", poll_interval=0)).result == 1
        job = await client.batch.run("emb", [{"inputs": "a"}], wait=True, poll_interval=0)
        assert job.status == "SUCCEEDED"
        assert await client.batch.output("job-1") == [{"index": 0}]


def test_batch_run_uploads_a_jsonl_file_and_waits_with_progress(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"inputs": "a"}\n\n{"inputs": "b", "parameters": {"x": 1}}\n')
    fake = Fake()
    fake.on("POST", "/v1/models/emb/batch", ok(job_json("QUEUED", 0, total=2), 202))
    fake.on(
        "GET",
        "/v1/batch/job-1",
        ok(job_json("RUNNING", 1, total=2)),
        ok(job_json("SUCCEEDED", 2, total=2)),
    )
    seen: list[int] = []
    with fake.client() as client:
        job = client.batch.run(
            "emb",
            path,
            concurrency=5,
            wait=True,
            poll_interval=0,
            on_progress=lambda j: seen.append(j.completed),
        )
    assert job.status == "SUCCEEDED" and seen == [1, 2]
    assert fake.sent[0][2] == {
        "items": [{"inputs": "a"}, {"inputs": "b", "parameters": {"x": 1}}],
        "concurrency": 5,
    }
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": "a"}\nnot json\n')
    with fake.client() as client, pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        client.batch.run("emb", bad)


def test_webhook_secret_and_dead_letters_over_graphql() -> None:
    delivery = {
        "id": "d1",
        "requestId": "req-1",
        "model": "clf",
        "url": "https://hooks.example.com/x",
        "status": "DEAD",
        "attempts": 8,
        "lastError": "HTTP 500",
        "createdAt": NOW,
        "nextAttemptAt": NOW,
        "deliveredAt": None,
    }

    def graphql(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["query"]
        if "revealWebhookSecret" in query:
            data = {"revealWebhookSecret": {"__typename": "WebhookSigningSecret", "secret": "s1"}}
        elif "rotateWebhookSecret" in query:
            data = {"rotateWebhookSecret": {"secret": "s2"}}
        elif "asyncDeadLetters" in query:
            data = {"asyncDeadLetters": [delivery]}
        else:
            data = {
                "replayWebhook": {"__typename": "WebhookDelivery", **delivery, "status": "PENDING"}
            }
        return ok({"data": data})

    transport = httpx.MockTransport(graphql)
    with plinth.Client(BASE, api_key="k", transport=transport) as client:
        assert client.webhooks.reveal_secret() == "s1"
        assert client.webhooks.rotate_secret() == "s2"
        [dead] = client.webhooks.dead_letters()
        assert (dead.id, dead.status, dead.last_error) == ("d1", "DEAD", "HTTP 500")
        assert client.webhooks.replay("d1").status == "PENDING"


def run(fake: Fake, *argv: str) -> int:
    return cli.main(list(argv), client_factory=fake.factory)


def test_cli_predict_async_prints_the_id(capsys: pytest.CaptureFixture[str]) -> None:
    fake = Fake()
    fake.on("POST", "/v1/models/clf/async_predict", ok(request_json(), 202))
    code = run(
        fake, "predict", "clf", "-d", '["hi"]', "--async", "--webhook", "https://h.example/x"
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == "req-1" and "plinth async get req-1" in err
    assert fake.sent[0][2]["webhook_url"] == "https://h.example/x"
    assert run(fake, "predict", "clf", "-d", '["hi"]', "--webhook", "https://h.example/x") == 2
    assert "need --async" in capsys.readouterr().err


def test_cli_async_get_and_cancel(capsys: pytest.CaptureFixture[str]) -> None:
    fake = Fake()
    fake.on("GET", "/v1/async/req-1", ok(request_json("SUCCEEDED", result={"a": 1})))
    fake.on("DELETE", "/v1/async/req-1", ok(request_json("RUNNING", cancel_requested=True), 202))
    assert run(fake, "async", "get", "req-1") == 0
    assert json.loads(capsys.readouterr().out)["result"] == {"a": 1}
    assert run(fake, "async", "cancel", "req-1") == 0
    assert "cancel requested" in capsys.readouterr().out


def test_cli_batch_run_writes_outputs_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"inputs": str(i)}) + "\n" for i in range(3)))
    fake = Fake()
    fake.on("POST", "/v1/models/emb/batch", ok(job_json("QUEUED", 0), 202))
    fake.on("GET", "/v1/batch/job-1", ok(job_json("RUNNING", 1)), ok(job_json("SUCCEEDED", 3)))
    lines = "".join(json.dumps({"index": i, "output": i}) + "\n" for i in range(3))
    fake.on("GET", "/v1/batch/job-1/output", httpx.Response(200, text=lines))
    out = tmp_path / "out.jsonl"
    code = run(fake, "batch", "run", "emb", str(src), "-o", str(out), "--poll-interval", "0")
    stderr = capsys.readouterr().err
    assert code == 0, stderr
    assert out.read_text() == lines
    assert "1/3" in stderr and "3/3 100%" in stderr and "SUCCEEDED" in stderr
    assert run(fake, "batch", "run", "emb", str(tmp_path / "missing.jsonl")) == 2


def test_progress_bar_redraws_in_place_on_a_terminal() -> None:
    stream = io.StringIO()
    bar = BatchProgress(stream, interactive=True)

    def make(status: str, completed: int) -> BatchJob:
        return BatchJob.model_validate(job_json(status, completed, total=4))

    bar.update(make("RUNNING", 1))
    bar.update(make("RUNNING", 1))  # unchanged: not redrawn
    bar.update(make("SUCCEEDED", 4))
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 2 and text.endswith("\n")
    assert "[#######" in text and "4/4 100%" in text
