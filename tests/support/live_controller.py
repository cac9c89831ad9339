"""The controller with the real LocalProcessRuntime (real `serving.replica` processes) over an
in-memory store, for integration tests that do not need the whole platform."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from serving.controller import Controller
from serving.runtime_local import LocalProcessRuntime
from tests.unit.serving.fakes import FakeStore

START_TIMEOUT_S = 120.0  # a replica imports torch and transformers: seconds of CPU on 2 cores


@contextlib.asynccontextmanager
async def running_controller(
    log_dir: Path, **controller_options: Any
) -> AsyncIterator[tuple[Controller, FakeStore]]:
    store = FakeStore()
    runtime = LocalProcessRuntime(log_dir, python=sys.executable, env={"HF_HUB_OFFLINE": "1"})
    controller = Controller(
        store, runtime, tick_s=0.2, start_timeout_s=START_TIMEOUT_S, **controller_options
    )
    task = asyncio.create_task(controller.run())
    try:
        yield controller, store
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await controller.shutdown()


async def wait_for(condition: Callable[[], bool], timeout_s: float = START_TIMEOUT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
