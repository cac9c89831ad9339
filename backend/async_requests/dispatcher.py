"""`AsyncDispatcher`: runs queued async requests through the in-process data plane.

Each round (on `notify()` after a submit or a finished request, else every `poll_s`):
1. Maintenance, at most once per `maintenance_s`: requeue RUNNING requests whose lease expired
   (their worker died: a new attempt), expire requests that waited past
   `max_time_in_queue_s`, fail queued requests of deleted models, renew the leases of the
   requests this process runs, and, once a minute, purge results older than the retention.
2. Claim: for each model with queued work that the data plane can route, take as many
   requests as the model has free async slots (`async_concurrency_per_model` in flight per
   model and process, so async work never takes every replica slot from sync traffic);
   priority 0 first, then oldest (`store.claim`).
3. Run each claimed request as a task: `plane.predict(model, payload, timeout_s=...)`, then
   complete it, conditional on the attempt (`store.complete`). Retryable failures (429, 502,
   503, 504, no route, connection errors) go back to the queue after `retry_delay_s`
   (Retry-After when the plane gave one) until `async_max_attempts`; others (422 invalid input,
   500) FAIL at once with the plane's error body.
`cancel(id)` stops a request this process is running (its attempt completes CANCELLED).
On a clean stop the requests still running are put back in the queue at once; after a crash
their leases run out instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.async_requests import store
from backend.db.models import utcnow
from backend.db.session import session_scope
from backend.interfaces import PredictPlane
from backend.settings import Settings
from backend.webhooks import retry_delay_s
from serving.aio import wake_or_timeout
from serving.errors import ModelNotRoutable, ServingError

log = logging.getLogger("plinth.async")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
PURGE_EVERY_S = 60.0


def classify(exc: BaseException) -> tuple[bool, dict[str, Any], float | None]:
    """(retryable, error body, Retry-After seconds or None) of a failed predict."""
    if isinstance(exc, ModelNotRoutable):
        return True, exc.body()["error"], None
    if isinstance(exc, ServingError):
        retry_after: float | None = None
        with contextlib.suppress(KeyError, ValueError):
            retry_after = float(exc.headers["Retry-After"])
        return exc.status in RETRYABLE_STATUSES, exc.body()["error"], retry_after
    if isinstance(exc, OSError | ConnectionError):
        return True, {"type": "connection_error", "message": str(exc) or type(exc).__name__}, None
    return False, {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}, None


class AsyncDispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        plane: PredictPlane,
        settings: Settings,
        *,
        on_webhooks: Callable[[], None] | None = None,
        poll_s: float = 0.25,
        maintenance_s: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._plane = plane
        self._settings = settings
        self._on_webhooks = on_webhooks or (lambda: None)
        self._poll_s = poll_s
        self._maintenance_s = maintenance_s
        self._clock = clock
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wakeup = asyncio.Event()
        self._running: dict[str, tuple[asyncio.Task[None], store.Claimed]] = {}
        self._per_model: dict[str, int] = {}
        self._cancelled: set[str] = set()
        self._last_maintenance = -1e9
        self._last_purge = -1e9

    def notify(self) -> None:
        self._wakeup.set()

    def running(self, request_id: str) -> bool:
        return request_id in self._running

    async def cancel(self, request_id: str) -> bool:
        """Stop a request this process runs; True once its attempt has ended."""
        found = self._running.get(request_id)
        if found is None:
            return False
        task, item = found
        self._cancelled.add(request_id)
        task.cancel()
        await asyncio.wait([task], timeout=10)
        if not task.done():
            return False
        await self._settle_cancel(item)  # also when the task was cancelled before it started
        return True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    now = loop.time()
                    if now - self._last_maintenance >= self._maintenance_s:
                        self._last_maintenance = now
                        await self._maintain(purge=now - self._last_purge >= PURGE_EVERY_S)
                        if now - self._last_purge >= PURGE_EVERY_S:
                            self._last_purge = now
                    started = await self._claim_and_start()
                except Exception:
                    log.exception("async dispatch round failed; retrying")
                    started = 0
                if started == 0:
                    self._wakeup.clear()
                    await wake_or_timeout(self._wakeup, self._poll_s)
        finally:
            tasks = [task for task, _ in self._running.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # A clean stop hands this owner's requests back now instead of when the leases run
            # out; also when none is running here, since a stop that lands while a claim is
            # committing loses the claimed list but not the claim.
            try:
                self._in_transaction(lambda s: store.release(s, owner=self.owner))
            except Exception:
                log.exception("releasing running async requests failed")

    async def _maintain(self, *, purge: bool) -> None:
        settings = self._settings
        owner = self.owner
        ids = list(self._running)

        def work(session: Session) -> int:
            now = self._clock()
            store.renew_leases(
                session, ids=ids, owner=owner, lease_s=settings.async_lease_s, now=now
            )
            changed = len(
                store.recover_expired_leases(
                    session, max_attempts=settings.async_max_attempts, now=now
                )
            )
            changed += len(store.expire_queued(session, now=now))
            changed += len(store.fail_orphans(session, now=now))
            if purge:
                store.purge(session, ttl_s=settings.async_result_ttl_s, now=now)
            return changed

        if await asyncio.to_thread(self._in_transaction, work):
            self._on_webhooks()

    def _in_transaction(self, fn: Callable[[Session], Any]) -> Any:
        with session_scope(self._sessions) as session:
            return fn(session)

    async def _claim_and_start(self) -> int:
        limit = self._settings.async_concurrency_per_model
        models = await asyncio.to_thread(
            self._in_transaction, lambda s: store.queued_models(s, now=self._clock())
        )
        capacity = {m: limit - self._per_model.get(m, 0) for m in models if self._plane.routable(m)}
        if not any(n > 0 for n in capacity.values()):
            return 0
        claimed: list[store.Claimed] = await asyncio.to_thread(
            self._in_transaction,
            lambda s: store.claim(
                s,
                capacity=capacity,
                owner=self.owner,
                lease_s=self._settings.async_lease_s,
                now=self._clock(),
            ),
        )
        for item in claimed:
            self._per_model[item.model] = self._per_model.get(item.model, 0) + 1
            task = asyncio.create_task(self._execute(item), name=f"async-{item.id}")
            task.add_done_callback(functools.partial(self._ended, item))
            self._running[item.id] = (task, item)
        return len(claimed)

    async def _execute(self, item: store.Claimed) -> None:
        try:
            await self._attempt(item)
        except asyncio.CancelledError:
            if item.id in self._cancelled:
                await asyncio.shield(self._settle_cancel(item))
            raise  # shutdown: the lease runs out and another attempt runs it
        except Exception:
            log.exception("async request %s attempt %d failed to settle", item.id, item.attempt)

    def _ended(self, item: store.Claimed, _task: asyncio.Task[None]) -> None:
        # A done callback, not a `finally`: it also runs for a task cancelled before it started.
        found = self._running.get(item.id)
        if found is not None and found[1] is item:  # not a newer attempt of the same request
            del self._running[item.id]
            self._cancelled.discard(item.id)
        self._per_model[item.model] -= 1
        self.notify()

    async def _settle_cancel(self, item: store.Claimed) -> None:
        error = {"type": "cancelled", "message": "cancelled while running"}
        done = await asyncio.to_thread(
            self._in_transaction,
            lambda s: store.complete(
                s,
                request_id=item.id,
                attempt=item.attempt,
                status=store.CANCELLED,
                error=error,
                now=self._clock(),
            ),
        )
        if done:
            self._on_webhooks()

    async def _attempt(self, item: store.Claimed) -> None:
        settings = self._settings
        try:
            answer = await self._plane.predict(
                item.model, item.payload, timeout_s=settings.predict_timeout_s
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            retryable, error, retry_after = classify(exc)
            if retryable and item.attempt < settings.async_max_attempts:
                delay = retry_after or retry_delay_s(item.attempt, base_s=0.5, cap_s=30.0)
                requeued = await asyncio.to_thread(
                    self._in_transaction,
                    lambda s: store.retry_later(
                        s,
                        request_id=item.id,
                        attempt=item.attempt,
                        delay_s=delay,
                        error=error,
                        now=self._clock(),
                    ),
                )
                if requeued:
                    log.info(
                        "async request %s attempt %d: %s; retrying in %.1f s",
                        item.id,
                        item.attempt,
                        error.get("message"),
                        delay,
                    )
                    return
            status, result = store.FAILED, None
        else:
            status, result, error = store.SUCCEEDED, bytes(answer), {}
            try:
                json.loads(result)
            except ValueError:
                status, result = store.FAILED, None
                error = {"type": "replica_error", "message": "the replica answered non-JSON"}
        done = await asyncio.to_thread(
            self._in_transaction,
            lambda s: store.complete(
                s,
                request_id=item.id,
                attempt=item.attempt,
                status=status,
                result=result,
                error=error,
                now=self._clock(),
            ),
        )
        if done:
            self._on_webhooks()
        else:
            log.warning(
                "async request %s attempt %d finished after losing its lease; result dropped",
                item.id,
                item.attempt,
            )
