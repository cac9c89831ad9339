"""An asyncio event loop that runs in virtual time: when nothing is ready, the clock jumps.

Contract: `run_virtual(coro)` runs `coro` to completion on a `VirtualTimeLoop` whose `time()`
starts at 0 and advances only when every task is waiting on a timer: it then jumps straight to
the next timer instead of sleeping. Everything built on the loop's clock (`asyncio.sleep`,
`asyncio.timeout`, `wait_for`, `call_at`) therefore runs unchanged and as fast as the CPU
allows, which is what lets the simulator drive the real Router and Controller code. Real I/O
still works (polled without blocking), but a simulation that waits on real I/O with no timer
pending has stalled and raises.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class SimulationStalled(RuntimeError):
    """Every task waits, no timer is pending: the simulated system would hang forever."""


class _VirtualSelector(selectors.BaseSelector):
    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.loop: VirtualTimeLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            raise SimulationStalled("no task can make progress and no timer is pending")
        assert self.loop is not None
        self.loop.advance(timeout)
        return events

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_now = 0.0

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += max(0.0, seconds)


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
