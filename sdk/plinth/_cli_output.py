"""What the `plinth` command prints: deploy progress, the models table, how to call a model.

`DeployProgress` prints one line per deployment event, `[  12.3s] STATUS     kind: message`,
with the time elapsed since the command started. On a terminal it also keeps a spinner line
with the current status and elapsed time below the events (redrawn by a background thread);
on anything else (a pipe, a file, CI logs) it prints the event lines only.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self, TextIO

from plinth.types import Deployment, DeploymentEvent, Model, ReplicaState

_SPINNER = "|/-\\"
_CLEAR_LINE = "\r\x1b[K"

_EXAMPLE_INPUTS: dict[str, Any] = {
    "feature-extraction": ["Hello world"],
    "text-classification": ["I love this product"],
    "text-generation": "Once upon a time",
}


class DeployProgress:
    """Prints deployment events as they arrive; use as a context manager around the wait."""

    def __init__(
        self,
        stream: TextIO,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        spin_interval: float = 0.1,
    ) -> None:
        self._stream = stream
        self._interactive = _isatty(stream) if interactive is None else interactive
        self._clock = clock
        self._start = clock()
        self._spin_interval = spin_interval
        self._status = "PENDING"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def elapsed(self) -> float:
        return self._clock() - self._start

    def event(self, event: DeploymentEvent) -> None:
        line = f"[{self.elapsed():6.1f}s] {event.status.value:<10} {event.kind}: {event.message}"
        with self._lock:
            self._status = event.status.value
            if self._interactive:
                self._stream.write(_CLEAR_LINE)
            self._stream.write(line + "\n")
            self._stream.flush()

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(self._spin_interval):
            with self._lock:
                spinner = _SPINNER[frame % len(_SPINNER)]
                self._stream.write(f"{_CLEAR_LINE}{spinner} {self._status} {self.elapsed():.1f}s")
                self._stream.flush()
            frame += 1

    def __enter__(self) -> Self:
        if self._interactive:
            self._thread = threading.Thread(target=self._spin, name="plinth-spinner", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._stream.write(_CLEAR_LINE)
            self._stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    all_rows = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in all_rows
    )


def _latest(model: Model) -> Deployment | None:
    return model.deployments[0] if model.deployments else None  # newest first (plinth.types)


def models_table(models: Sequence[Model]) -> str:
    """NAME, STATUS (latest deployment), REPLICAS (ready/total over all its deployments),
    MIN-MAX, REPO (of the latest deployment, @revision when pinned)."""
    rows = []
    for model in models:
        latest = _latest(model)
        replicas = [r for d in model.deployments for r in d.replicas]
        ready = sum(r.state is ReplicaState.READY for r in replicas)
        repo = "-"
        if latest is not None:
            repo = latest.hugging_face_repo + (f"@{latest.revision}" if latest.revision else "")
        rows.append(
            [
                model.name,
                latest.status.value if latest is not None else "-",
                f"{ready}/{len(replicas)}",
                f"{model.scaling.min_replicas}-{model.scaling.max_replicas}",
                repo,
            ]
        )
    return table(["NAME", "STATUS", "REPLICAS", "MIN-MAX", "REPO"], rows)


def model_details(model: Model) -> str:
    data = model.model_dump(mode="json")
    active = model.active_deployment
    data["active_deployment"] = active.id if active is not None else None
    return json.dumps(data, indent=2)


def how_to_call(deployment: Deployment, base_url: str, *, with_api_key: bool) -> str:
    """Ready-to-paste ways to call a freshly deployed model."""
    name = deployment.model_name
    inputs = _EXAMPLE_INPUTS.get(deployment.task or "", "Hello world")
    body = json.dumps({"inputs": inputs})
    auth = ' -H "Authorization: Bearer $PLINTH_API_KEY"' if with_api_key else ""
    return "\n".join(
        [
            "Call it:",
            f"  plinth predict {name} --data {shlex.quote(body)}",
            f"  curl -s {base_url}/v1/models/{name}/predict"
            f" -H 'Content-Type: application/json'{auth} -d {shlex.quote(body)}",
            f"  python: plinth.Client().models.predict({name!r}, {inputs!r})",
        ]
    )
