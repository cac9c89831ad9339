"""Small asyncio helpers shared by the control loops (controller, async dispatcher, webhooks).

Contract: `await wake_or_timeout(event, seconds)` returns when `event` is set or `seconds` have
passed, whichever is first, and lets a cancellation through. It uses `asyncio.timeout`, not
`asyncio.wait_for`: on Python 3.11 `wait_for` returns normally when a cancellation lands as the
awaited event is set, so a `while True` loop around it never stops.
"""

from __future__ import annotations

import asyncio
import contextlib


async def wake_or_timeout(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
