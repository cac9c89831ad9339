"""The no-op engine ("noop"): loads nothing and answers each request's inputs back.

It serves any task and needs no model files, so a deployment with engine "noop" measures (and
tests) everything a request costs except the model: gateway, auth, routing, metrics, the replica
process and its HTTP server. The replica is an ordinary one (same runtime, limits, logs,
metrics); only the engine differs. At deploy time nothing is resolved from the Hugging Face
cache: the repository id is a label (by convention `plinth/noop`), see `needs_snapshot`.

    POST /predict {"inputs": X, "parameters": {...}}  ->  X
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from serving.engines.base import InvalidInput, predict_each

ENGINE_NAME = "noop"


class NoopEngine:
    """An engine that echoes `inputs`; `parameters` (an object, if given) are ignored."""

    inline = True  # predict is a dictionary lookup: the replica calls it on its event loop
    batches = False  # batching a no-op only adds the batch wait

    def __init__(self, model_path: str | Path, task: str) -> None:
        self.model_path = str(model_path)
        self.task = task

    def check(self) -> None:
        """Nothing to check: there are no files."""

    def preload(self) -> None:
        """Nothing to import."""

    def load(self) -> dict[str, float]:
        return {"imports": 0.0, "weights": 0.0, "warmup": 0.0}

    def predict(self, payload: Mapping[str, Any]) -> Any:
        if "inputs" not in payload:
            raise InvalidInput("missing 'inputs': send {\"inputs\": ...}")
        parameters = payload.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidInput(
                f"'parameters' must be an object, got {type(parameters).__name__}", "parameters"
            )
        return payload["inputs"]

    def predict_batch(self, payloads: Sequence[Mapping[str, Any]]) -> list[Any]:
        return predict_each(self.predict, payloads)  # batches = False: one request at a time


def preload_libraries() -> None:
    """The no-op engine imports nothing."""
