"""Activities of BatchJob: the database (items, outputs) and the in-process data plane.

`run_batch_items` runs every item without a stored output, `concurrency` at a time, through
`plane.predict`, and stores each output as it arrives (`services.batch.record_output`, a
conditional update: an output is stored once). Retryable data-plane failures (429, 502, 503,
504, no route yet, connection errors) are retried for the item with backoff for up to
`ITEM_RETRY_S`; after that the activity fails and Temporal retries it (skipping stored items).
Other failures (422 invalid input, ...) are the item's output: an error line. It heartbeats the
number of items done so far, so a dead worker is noticed within the heartbeat timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from backend.db import models as orm
from backend.db.session import session_scope
from backend.interfaces import PredictPlane
from backend.services import batch
from serving.errors import ModelNotRoutable, ServingError
from workflows.names import BatchJobInput

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
ITEM_RETRY_S = 120.0
HEARTBEAT_EVERY_S = 1.0


class _Retryable(Exception):
    pass


class BatchActivities:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        plane: PredictPlane,
        *,
        predict_timeout_s: float = 60.0,
    ) -> None:
        self._sessions = session_factory
        self._plane = plane
        self._timeout_s = predict_timeout_s

    def _set(self, job_id: str, status: str, error: str | None = None) -> None:
        with session_scope(self._sessions) as session:
            if batch.set_status(session, job_id=job_id, status=status, error=error) is None:
                raise ApplicationError(f"batch job {job_id} no longer exists", non_retryable=True)

    @activity.defn(name="start_batch_job")
    async def start_batch_job(self, inp: BatchJobInput) -> None:
        await asyncio.to_thread(self._set, inp.job_id, batch.RUNNING)

    @activity.defn(name="finish_batch_job")
    async def finish_batch_job(self, inp: BatchJobInput) -> None:
        await asyncio.to_thread(self._set, inp.job_id, batch.SUCCEEDED)

    @activity.defn(name="fail_batch_job")
    async def fail_batch_job(self, inp: BatchJobInput, reason: str) -> None:
        await asyncio.to_thread(self._set, inp.job_id, batch.FAILED, reason)

    def _pending(self, job_id: str) -> tuple[str, int, list[tuple[int, str]]]:
        with session_scope(self._sessions) as session:
            job = session.get(orm.BatchJob, job_id)
            if job is None:
                raise ApplicationError(f"batch job {job_id} no longer exists", non_retryable=True)
            return job.model, job.concurrency, batch.pending_items(session, job_id=job_id)

    def _record(self, job_id: str, index: int, output: Any, error: Any) -> None:
        with session_scope(self._sessions) as session:
            batch.record_output(session, job_id=job_id, index=index, output=output, error=error)

    async def _predict(self, model: str, line: str) -> tuple[Any, Any]:
        """(output, None) or (None, error body); raises `_Retryable` after ITEM_RETRY_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ITEM_RETRY_S
        delay = 0.5
        while True:
            try:
                answer = await self._plane.predict(
                    model, line.encode("utf-8"), timeout_s=self._timeout_s
                )
                return json.loads(answer), None
            except ModelNotRoutable as exc:
                reason = exc.message
            except ServingError as exc:
                if exc.status not in RETRYABLE_STATUSES:
                    return None, exc.body()["error"]
                reason = exc.message
            except OSError as exc:
                reason = str(exc) or type(exc).__name__
            except ValueError:
                return None, {"type": "replica_error", "message": "the replica answered non-JSON"}
            if loop.time() + delay > deadline:
                raise _Retryable(reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    @activity.defn(name="run_batch_items")
    async def run_batch_items(self, inp: BatchJobInput) -> int:
        model, concurrency, pending = await asyncio.to_thread(self._pending, inp.job_id)
        done = 0
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, line: str) -> None:
            nonlocal done
            async with gate:
                output, error = await self._predict(model, line)
                await asyncio.to_thread(self._record, inp.job_id, index, output, error)
                done += 1

        tasks = [asyncio.create_task(one(i, line)) for i, line in pending]
        if not tasks:
            return 0
        try:
            while True:
                finished, _ = await asyncio.wait(tasks, timeout=HEARTBEAT_EVERY_S)
                activity.heartbeat(done)
                failed = [t for t in finished if t.exception() is not None]
                if failed:
                    exc = failed[0].exception()
                    raise ApplicationError(f"batch items kept failing: {exc}") from exc
                if len(finished) == len(tasks):
                    return done
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)

    def all(self) -> list[Any]:
        return [
            self.start_batch_job,
            self.run_batch_items,
            self.finish_batch_job,
            self.fail_batch_job,
        ]
