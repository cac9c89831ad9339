"""Dynamic batching: concurrent requests on one replica share one forward pass.

Contract: `Batcher.submit(payload)` returns what `engine.predict(payload)` would have returned
(or raises what it would have raised), but the payload travels to the engine together with the
other payloads that arrived around the same time, through `engine.predict_batch(payloads)`,
which answers one result (or one exception) per payload, in order.

How a batch is formed (`take_batch`, a pure function of the queue and the clock):

1. The oldest waiting request always goes into the next batch.
2. Requests join it in arrival order while the batch holds at most `max_batch_size` items
   (an item is one input text: a request with 8 texts counts 8). A request larger than the limit
   on its own forms a batch by itself (the engine chunks it).
3. The batch leaves when it is full (the next request does not fit) or `max_wait_ms` after both
   the oldest request arrived and the model became free (the previous batch ended), whichever
   comes first. Counting from the model becoming free matters under closed-loop load: the
   clients answered by the previous batch send their next requests within a round trip, and
   without that short wait they would always miss the batch formed from the requests that
   queued meanwhile, so the load would stay split into convoys of partial batches. A request
   therefore waits at most one batch's compute plus `max_wait_ms`; a lone client, `max_wait_ms`.

One batch runs at a time (the engine's forward pass already uses every torch thread). A request
whose caller went away (its future cancelled) before its batch formed is dropped from the queue.
`BatchStats` (batches run, items, largest batch, count per size) is reported by the replica's
`/health`, so tests and operators can see that batching happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_BATCH_SIZE = {"feature-extraction": 64, "text-classification": 64}
DEFAULT_MAX_WAIT_MS = 5.0
MAX_BATCH_SIZE_CAP = 1024
MAX_WAIT_MS_CAP = 1000.0
BATCH_SIZE_ENV = "PLINTH_MAX_BATCH_SIZE"
BATCH_WAIT_ENV = "PLINTH_MAX_BATCH_WAIT_MS"


@dataclass(frozen=True)
class BatchingConfig:
    """`max_batch_size` items per forward pass (1 = batching off), waiting at most
    `max_wait_ms` for a batch to fill."""

    max_batch_size: int = 1
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_size <= MAX_BATCH_SIZE_CAP:
            raise ValueError(f"max_batch_size must be between 1 and {MAX_BATCH_SIZE_CAP}")
        if not 0 <= self.max_wait_ms <= MAX_WAIT_MS_CAP:
            raise ValueError(f"max_wait_ms must be between 0 and {MAX_WAIT_MS_CAP}")

    @property
    def enabled(self) -> bool:
        return self.max_batch_size > 1

    @classmethod
    def for_task(
        cls,
        task: str,
        *,
        max_batch_size: int | None = None,
        max_wait_ms: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> BatchingConfig:
        """Explicit values first, then PLINTH_MAX_BATCH_SIZE / PLINTH_MAX_BATCH_WAIT_MS, then
        the task's default: on (64 items, 5 ms) for feature-extraction and text-classification,
        off for text-generation (a batched generation holds every request until the longest
        one ends, so it is opt-in)."""
        environ = os.environ if env is None else env
        if max_batch_size is None and environ.get(BATCH_SIZE_ENV, "").strip():
            max_batch_size = int(environ[BATCH_SIZE_ENV])
        if max_wait_ms is None and environ.get(BATCH_WAIT_ENV, "").strip():
            max_wait_ms = float(environ[BATCH_WAIT_ENV])
        return cls(
            max_batch_size=(
                max_batch_size
                if max_batch_size is not None
                else DEFAULT_MAX_BATCH_SIZE.get(task, 1)
            ),
            max_wait_ms=max_wait_ms if max_wait_ms is not None else DEFAULT_MAX_WAIT_MS,
        )


@dataclass
class Pending:
    """One request waiting for its batch."""

    payload: Mapping[str, Any]
    size: int
    arrived: float
    future: asyncio.Future[Any]


def payload_size(payload: Mapping[str, Any]) -> int:
    """Items a payload brings to a batch: its number of input texts (at least 1)."""
    inputs = payload.get("inputs")
    return max(1, len(inputs)) if isinstance(inputs, list) else 1


def take_batch(
    queue: deque[Pending],
    *,
    now: float,
    config: BatchingConfig,
    free_since: float = float("-inf"),
    closing: bool = False,
) -> list[Pending] | float:
    """The next batch, removed from the queue, if it may leave now; else the seconds until it
    may (see step 3 of the module docstring; `free_since`: when the previous batch ended).
    Cancelled requests are dropped on the way."""
    while queue and queue[0].future.done():
        queue.popleft()
    if not queue:
        return config.max_wait_ms / 1000.0
    total = 0
    count = 0
    full = False
    for pending in queue:
        if pending.future.done():
            count += 1
            continue
        if total and total + pending.size > config.max_batch_size:
            full = True
            break
        total += pending.size
        count += 1
        if total >= config.max_batch_size:
            full = True
            break
    waited = now - max(queue[0].arrived, free_since)
    remaining = config.max_wait_ms / 1000.0 - waited
    if not (full or closing or remaining <= 0):
        return remaining
    batch = [queue.popleft() for _ in range(count)]
    return [pending for pending in batch if not pending.future.done()]


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    requests: int = 0
    largest: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # items per batch -> batches

    def record(self, items: int, requests: int) -> None:
        self.batches += 1
        self.items += items
        self.requests += requests
        self.largest = max(self.largest, items)
        self.sizes[items] = self.sizes.get(items, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "items": self.items,
            "requests": self.requests,
            "largest": self.largest,
            "sizes": {str(size): n for size, n in sorted(self.sizes.items())},
        }


RunBatch = Callable[[Sequence[Mapping[str, Any]]], list[Any]]


class Batcher:
    """Gathers concurrent `submit` calls into batches for `run_batch` (see the module docstring).

    `run_batch(payloads)` runs in `executor` and returns one entry per payload: the result, or
    the exception that payload raised (an exception instance, not raised)."""

    def __init__(
        self,
        run_batch: RunBatch,
        config: BatchingConfig,
        *,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run_batch = run_batch
        self.config = config
        self._executor = executor
        self._clock = clock
        self._queue: deque[Pending] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._free_since = float("-inf")
        self.stats = BatchStats()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def submit(self, payload: Mapping[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._loop(), name="plinth-batcher")
        assert self._wake is not None
        pending = Pending(payload, payload_size(payload), self._clock(), loop.create_future())
        self._queue.append(pending)
        self._wake.set()
        return await pending.future

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for pending in self._queue:
            if not pending.future.done():
                pending.future.cancel()
        self._queue.clear()

    async def _loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = take_batch(
                self._queue, now=self._clock(), config=self.config, free_since=self._free_since
            )
            if isinstance(batch, float):
                self._wake.clear()
                try:
                    async with asyncio.timeout(batch):
                        await self._wake.wait()  # a new request may fill the batch earlier
                except TimeoutError:
                    pass
                continue
            if not batch:
                continue
            payloads = [pending.payload for pending in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, payloads)
            except Exception as error:  # run_batch itself failed: every request gets the error
                results = [error] * len(batch)
            self._free_since = self._clock()
            self.stats.record(sum(p.size for p in batch), len(batch))
            for pending, result in zip(batch, results, strict=True):
                if pending.future.done():
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)
