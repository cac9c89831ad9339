"""The replica's streaming generations: `POST /predict_stream` answered as server-sent events.

`ReplicaStreams.prepare(payload)` validates the request with the engine (InvalidInput before any
byte is sent; an engine without `prepare_stream` cannot stream). `response(job, on_end)` runs the
generation in the replica's thread pool and turns each decoded piece into an event
(`serving.sse`); pieces cross from the generation thread to the event loop through
`call_soon_threadsafe`. When the client disconnects, Starlette cancels the response's iterator:
its `finally` sets the job's stop event, and the streamer ends `generate` at the next token.
`on_end` runs when the generation thread has ended (that is when the slot is free again).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor
from typing import Any

from starlette.responses import StreamingResponse

from serving import sse
from serving.engines import Engine, InvalidInput
from serving.engines.streaming import StreamCancelled, StreamJob


class ReplicaStreams:
    def __init__(self, engine: Engine, executor: Executor) -> None:
        self._engine = engine
        self._executor = executor
        self.active = 0  # generations whose thread has not ended
        self.cancelled = 0  # generations stopped early because their client left

    def prepare(self, payload: Mapping[str, Any]) -> StreamJob:
        prepare: Callable[[Mapping[str, Any]], StreamJob] | None = getattr(
            self._engine, "prepare_stream", None
        )
        if prepare is None:
            task = getattr(self._engine, "task", "this task")
            raise InvalidInput(f"{task} does not stream; only text-generation does", "stream")
        return prepare(payload)

    def response(self, job: StreamJob, *, on_end: Callable[[], None]) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()

        def emit(piece: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, piece)

        def run() -> dict[str, Any]:
            try:
                return job.run(emit, stop)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        self.active += 1
        future = loop.run_in_executor(self._executor, run)

        def ended(done: asyncio.Future[dict[str, Any]]) -> None:
            self.active -= 1
            if not done.cancelled() and isinstance(done.exception(), StreamCancelled):
                self.cancelled += 1
            on_end()

        future.add_done_callback(ended)

        async def events() -> AsyncIterator[bytes]:
            try:
                while True:
                    piece = await queue.get()
                    if piece is not None:
                        yield sse.event({"text": piece})
                        continue
                    # Pieces emitted before the end marker are all queued ahead of it.
                    try:
                        result = await future
                    except Exception as error:
                        traceback.print_exc(file=sys.stderr)
                        message = f"{type(error).__name__}: {error}"
                        yield sse.event({"error": {"type": "engine_error", "message": message}})
                    else:
                        yield sse.event({"done": True, **result})
                    return
            finally:
                stop.set()

        return StreamingResponse(events(), media_type=sse.MEDIA_TYPE, headers=sse.STREAM_HEADERS)
