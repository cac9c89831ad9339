"""Async predict, batch jobs and webhooks from the SDK.

    req = client.models.async_predict("minilm", ["hi"], webhook_url="https://example.com/hook")
    client.models.get_async(req.id).status        # QUEUED, RUNNING, SUCCEEDED, ...
    client.models.wait_async(req.id).result        # polls until it finished
    client.models.cancel_async(req.id)

    job = client.batch.run("minilm", "inputs.jsonl")   # a path, or a list of {"inputs": ...}
    job = client.batch.wait(job.id, on_progress=print)
    client.batch.output(job.id)                    # one dict per input line, in input order

    client.webhooks.reveal_secret()                # the key's signing secret, shown once
    client.webhooks.rotate_secret()
    client.webhooks.dead_letters(); client.webhooks.replay(delivery_id)

Priority: 0 runs first, 1 is the default, 2 last. `AsyncRequest`/`BatchJob` mirror the REST
answers (`GET /v1/async/{id}`, `GET /v1/batch/{id}`). Both clients send the same `Call`s.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from plinth._exceptions import APIError, PlinthError
from plinth._graphql import unwrap_union
from plinth._operations import Call, graphql, raise_for_error

if TYPE_CHECKING:
    from plinth._client import AsyncClient, Client

ASYNC_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
BATCH_TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
InputsSource = str | PathLike[str] | Iterable[Mapping[str, Any]]
ProgressCallback = Callable[["BatchJob"], object]


class AsyncRequest(BaseModel):
    id: str
    model: str
    status: str
    priority: int = 1
    attempts: int = 0
    webhook_url: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    queue_deadline: datetime | None = None
    cancel_requested: bool = False
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in ASYNC_TERMINAL


class BatchJob(BaseModel):
    id: str
    model: str
    status: str
    total: int
    completed: int = 0
    failed: int = 0
    concurrency: int = 1
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in BATCH_TERMINAL


class WebhookDelivery(BaseModel):
    id: str
    request_id: str
    model: str
    url: str
    status: str
    attempts: int
    last_error: str | None = None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None = None


class WaitTimeoutError(PlinthError):
    """An async request or batch job was still running when waiting gave up."""


def _json(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    raise_for_error(response, body)
    if body is None:
        raise APIError("the platform answered non-JSON", status=response.status_code)
    return body


def _parse(model: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: model.model_validate(_json(response))


# -- calls ------------------------------------------------------------------------------------


def async_predict(
    name: str,
    inputs: Any,
    parameters: Mapping[str, Any] | None,
    *,
    webhook_url: str | None,
    priority: int | None,
    max_time_in_queue_s: float | None,
) -> Call[AsyncRequest]:
    body: dict[str, Any] = {"inputs": inputs}
    if parameters is not None:
        body["parameters"] = dict(parameters)
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    if priority is not None:
        body["priority"] = priority
    if max_time_in_queue_s is not None:
        body["max_time_in_queue_s"] = max_time_in_queue_s
    path = f"/v1/models/{quote(name, safe='')}/async_predict"
    return Call("POST", path, body, _parse(AsyncRequest))


def get_async(request_id: str) -> Call[AsyncRequest]:
    return Call("GET", f"/v1/async/{quote(request_id, safe='')}", None, _parse(AsyncRequest))


def cancel_async(request_id: str) -> Call[AsyncRequest]:
    return Call("DELETE", f"/v1/async/{quote(request_id, safe='')}", None, _parse(AsyncRequest))


def read_items(source: InputsSource) -> list[Any]:
    """Batch inputs from a JSONL file path, or an iterable of `{"inputs": ...}` objects."""
    if isinstance(source, str | PathLike):
        items = []
        path = Path(source)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from exc
        return items
    return [dict(item) for item in source]


def create_batch(name: str, items: list[Any], concurrency: int | None) -> Call[BatchJob]:
    body: dict[str, Any] = {"items": items}
    if concurrency is not None:
        body["concurrency"] = concurrency
    return Call("POST", f"/v1/models/{quote(name, safe='')}/batch", body, _parse(BatchJob))


def get_batch(job_id: str) -> Call[BatchJob]:
    return Call("GET", f"/v1/batch/{quote(job_id, safe='')}", None, _parse(BatchJob))


def batch_output(job_id: str) -> Call[list[Any]]:
    def parse(response: httpx.Response) -> list[Any]:
        if response.status_code >= 400:
            _json(response)
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    return Call("GET", f"/v1/batch/{quote(job_id, safe='')}/output", None, parse)


_DELIVERY = "id requestId model url status attempts lastError createdAt nextAttemptAt deliveredAt"
DEAD_LETTERS = (
    f"query DeadLetters($limit: Int!) {{ asyncDeadLetters(limit: $limit) {{ {_DELIVERY} }} }}"
)
REPLAY = f"""mutation Replay($id: ID!) {{ replayWebhook(id: $id) {{
  __typename ... on WebhookDelivery {{ {_DELIVERY} }}
  ... on NotFoundError {{ message }} ... on ValidationError {{ field message }} }} }}"""
REVEAL = """mutation { revealWebhookSecret { __typename
  ... on WebhookSigningSecret { secret } ... on ValidationError { field message } } }"""
ROTATE = "mutation { rotateWebhookSecret { secret } }"


def _delivery(data: Mapping[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=data["id"],
        request_id=data["requestId"],
        model=data["model"],
        url=data["url"],
        status=data["status"],
        attempts=data["attempts"],
        last_error=data.get("lastError"),
        created_at=data["createdAt"],
        next_attempt_at=data["nextAttemptAt"],
        delivered_at=data.get("deliveredAt"),
    )


def dead_letters(limit: int) -> Call[list[WebhookDelivery]]:
    return graphql(
        DEAD_LETTERS, {"limit": limit}, lambda d: [_delivery(x) for x in d["asyncDeadLetters"]]
    )


def replay_webhook(delivery_id: str) -> Call[WebhookDelivery]:
    return graphql(
        REPLAY,
        {"id": delivery_id},
        lambda d: _delivery(unwrap_union(d["replayWebhook"], "WebhookDelivery")),
    )


def reveal_secret() -> Call[str]:
    return graphql(
        REVEAL,
        {},
        lambda d: str(unwrap_union(d["revealWebhookSecret"], "WebhookSigningSecret")["secret"]),
    )


def rotate_secret() -> Call[str]:
    return graphql(ROTATE, {}, lambda d: str(d["rotateWebhookSecret"]["secret"]))


# -- waiting ----------------------------------------------------------------------------------


class _Waiter:
    def __init__(self, what: str, timeout: float | None, poll_interval: float) -> None:
        self._what = what
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._poll = poll_interval

    def delay(self) -> float:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise WaitTimeoutError(f"{self._what} had not finished when waiting gave up")
        return self._poll


# -- namespaces -------------------------------------------------------------------------------


class Batch:
    """`client.batch`: run a JSONL of inputs over a model as a durable batch job."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def run(
        self,
        model: str,
        inputs: InputsSource,
        *,
        concurrency: int | None = None,
        wait: bool = False,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        poll_interval: float = 1.0,
    ) -> BatchJob:
        """Start a job over `inputs` (a JSONL path or `{"inputs": ...}` objects); with `wait`,
        return it finished (see `wait`)."""
        job = self._client.send(create_batch(model, read_items(inputs), concurrency))
        if not wait:
            return job
        return self.wait(
            job.id, timeout=timeout, on_progress=on_progress, poll_interval=poll_interval
        )

    def get(self, job_id: str) -> BatchJob:
        return self._client.send(get_batch(job_id))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        poll_interval: float = 1.0,
    ) -> BatchJob:
        """Poll until the job SUCCEEDED or FAILED (returned either way); `WaitTimeoutError`."""
        waiter = _Waiter(f"batch job {job_id}", timeout, poll_interval)
        while True:
            job = self.get(job_id)
            if on_progress is not None:
                on_progress(job)
            if job.done:
                return job
            time.sleep(waiter.delay())

    def output(self, job_id: str) -> list[Any]:
        """The outputs in input order: `{"index", "output"}` or `{"index", "error"}` each."""
        return self._client.send(batch_output(job_id))


class AsyncBatch:
    """`async_client.batch`: see `Batch`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def run(
        self,
        model: str,
        inputs: InputsSource,
        *,
        concurrency: int | None = None,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109
        on_progress: ProgressCallback | None = None,
        poll_interval: float = 1.0,
    ) -> BatchJob:
        job = await self._client.send(create_batch(model, read_items(inputs), concurrency))
        if not wait:
            return job
        return await self.wait(
            job.id, timeout=timeout, on_progress=on_progress, poll_interval=poll_interval
        )

    async def get(self, job_id: str) -> BatchJob:
        return await self._client.send(get_batch(job_id))

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        on_progress: ProgressCallback | None = None,
        poll_interval: float = 1.0,
    ) -> BatchJob:
        waiter = _Waiter(f"batch job {job_id}", timeout, poll_interval)
        while True:
            job = await self.get(job_id)
            if on_progress is not None:
                on_progress(job)
            if job.done:
                return job
            await asyncio.sleep(waiter.delay())

    async def output(self, job_id: str) -> list[Any]:
        return await self._client.send(batch_output(job_id))


class Webhooks:
    """`client.webhooks`: this key's signing secret, and the dead-letter list."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def reveal_secret(self) -> str:
        """The key's signing secret, once; afterwards `ValidationError` (rotate instead)."""
        return self._client.send(reveal_secret())

    def rotate_secret(self) -> str:
        return self._client.send(rotate_secret())

    def dead_letters(self, limit: int = 100) -> list[WebhookDelivery]:
        return self._client.send(dead_letters(limit))

    def replay(self, delivery_id: str) -> WebhookDelivery:
        return self._client.send(replay_webhook(delivery_id))


class AsyncWebhooks:
    """`async_client.webhooks`: see `Webhooks`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def reveal_secret(self) -> str:
        return await self._client.send(reveal_secret())

    async def rotate_secret(self) -> str:
        return await self._client.send(rotate_secret())

    async def dead_letters(self, limit: int = 100) -> list[WebhookDelivery]:
        return await self._client.send(dead_letters(limit))

    async def replay(self, delivery_id: str) -> WebhookDelivery:
        return await self._client.send(replay_webhook(delivery_id))


def wait_async_sync(
    client: Client, request_id: str, timeout: float | None, poll_interval: float
) -> AsyncRequest:
    waiter = _Waiter(f"async request {request_id}", timeout, poll_interval)
    while True:
        found = client.send(get_async(request_id))
        if found.done:
            return found
        time.sleep(waiter.delay())


async def wait_async(
    client: AsyncClient,
    request_id: str,
    timeout: float | None,  # noqa: ASYNC109
    poll_interval: float,
) -> AsyncRequest:
    waiter = _Waiter(f"async request {request_id}", timeout, poll_interval)
    while True:
        found = await client.send(get_async(request_id))
        if found.done:
            return found
        await asyncio.sleep(waiter.delay())


__all__ = [
    "AsyncBatch",
    "AsyncRequest",
    "AsyncWebhooks",
    "Batch",
    "BatchJob",
    "WaitTimeoutError",
    "WebhookDelivery",
    "Webhooks",
]
