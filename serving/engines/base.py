"""The engine contract: what a replica needs from an inference backend.

An engine is built cheaply (no heavy imports, nothing loaded), can `check()` a snapshot from its
files alone (used by `serving.hub.validate_snapshot` before any replica starts), can `preload()`
the modules a load will need (in a fork server, see `serving.forkserver`), `load()`s its
model exactly once (returning the seconds each load phase took), then answers `predict(payload)`
synchronously, from several threads at once if the replica allows it.

An engine may carry a `server_class` attribute (a `serving.replica.ReplicaServer` subclass) to
add routes to its replica; the custom engine adds `POST /-/reload` that way.
An engine whose `predict` never blocks and takes microseconds may set a class attribute
`inline = True` (`INLINE_ATTRIBUTE`): the replica then calls it on its event loop instead of in
its thread pool. Model engines leave it unset. An engine that gains nothing from dynamic
batching sets `batches = False` (`BATCHES_ATTRIBUTE`): its replica then runs requests one at a
time unless the deployment sets a batch size; its `predict_batch` can be `predict_each`.

`payload` is the Hugging Face Inference API body: `{"inputs": ..., "parameters": {...}}`. A bad
payload raises `InvalidInput(message, field)`; the replica maps it to HTTP 422. Any other
exception from `predict` is an engine failure (HTTP 500).

Error tree (one base for the package):

    EngineError
    ├── InvalidInput       the request is wrong (field names the culprit, e.g. "parameters.top_k")
    ├── UnsupportedModel   engine/task/architecture cannot work together (deploy-time check)
    └── EngineLoadError    the model files exist but could not be loaded
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

MAX_BATCH_INPUTS = 256
INLINE_ATTRIBUTE = "inline"  # optional engine class attribute, see the module docstring
BATCHES_ATTRIBUTE = "batches"  # optional engine class attribute, see the module docstring


class EngineError(Exception):
    """Base of every error raised by an engine."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(EngineError):
    """The request payload is malformed; `field` is a dotted path into the payload."""

    def __init__(self, message: str, field: str = "inputs") -> None:
        super().__init__(message)
        self.field = field


class UnsupportedModel(EngineError):
    """The engine cannot serve this task, or this model for this task."""


class EngineLoadError(EngineError):
    """Loading the model failed (corrupt weights, missing tokenizer, out of memory, ...)."""


class Engine(Protocol):
    """One loaded model answering one task."""

    task: str

    def check(self) -> None:
        """Validate the snapshot from its files without loading it; raise UnsupportedModel."""
        ...

    def preload(self) -> None:
        """Import what `load()` will need for this snapshot, without running any tensor
        operation or starting a thread: a fork server calls it before forking replicas."""
        ...

    def load(self) -> dict[str, float]:
        """Load the model once; return seconds per phase (e.g. imports, weights, warmup)."""
        ...

    def predict(self, payload: Mapping[str, Any]) -> Any:
        """Answer one request (JSON-serialisable result); raise InvalidInput for bad payloads."""
        ...

    def predict_batch(self, payloads: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Answer several requests together (dynamic batching): per payload, its result or the
        exception it raised, in order; one bad payload must not fail the others."""
        ...


def predict_each(
    predict: Callable[[Mapping[str, Any]], Any], payloads: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """`predict_batch` for engines without a batched forward: each payload on its own, its
    result or the exception it raised."""
    results: list[Any] = []
    for payload in payloads:
        try:
            results.append(predict(payload))
        except Exception as exc:
            results.append(exc)
    return results


def parse_inputs(payload: Mapping[str, Any], *, allow_empty_strings: bool = True) -> list[str]:
    """Return the request's texts: a single string becomes a list of one."""
    if "inputs" not in payload:
        raise InvalidInput('missing \'inputs\': send {"inputs": "text"} or a list of texts')
    raw = payload["inputs"]
    texts: list[str]
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list):
        if not raw:
            raise InvalidInput("'inputs' must not be an empty list")
        if len(raw) > MAX_BATCH_INPUTS:
            raise InvalidInput(
                f"'inputs' has {len(raw)} items; at most {MAX_BATCH_INPUTS} per request"
            )
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                raise InvalidInput(
                    f"'inputs[{index}]' must be a string, got {type(item).__name__}",
                    f"inputs[{index}]",
                )
        texts = list(raw)
    else:
        raise InvalidInput(
            f"'inputs' must be a string or a list of strings, got {type(raw).__name__}"
        )
    if not allow_empty_strings:
        for index, text in enumerate(texts):
            if not text.strip():
                field = "inputs" if isinstance(raw, str) else f"inputs[{index}]"
                raise InvalidInput("input text must not be empty", field)
    return texts


def parse_parameters(payload: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """Return the request's parameters (absent or null = none), rejecting unknown names."""
    raw = payload.get("parameters")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"'parameters' must be an object, got {type(raw).__name__}", "parameters"
        )
    unknown = sorted(set(raw) - allowed)
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(
            f"unknown parameter '{unknown[0]}' (supported for this task: {names})",
            f"parameters.{unknown[0]}",
        )
    return {key: value for key, value in raw.items() if value is not None}


def int_parameter(
    params: Mapping[str, Any], name: str, *, default: int | None, low: int, high: int
) -> int | None:
    """An integer parameter in [low, high]; bools are not integers here."""
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"'{name}' must be an integer", f"parameters.{name}")
    if not low <= value <= high:
        raise InvalidInput(f"'{name}' must be between {low} and {high}", f"parameters.{name}")
    return value


def float_parameter(
    params: Mapping[str, Any], name: str, *, low: float, high: float, low_inclusive: bool = False
) -> float | None:
    """A finite number parameter in (low, high] (or [low, high] when low_inclusive)."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"'{name}' must be a number", f"parameters.{name}")
    above_low = value >= low if low_inclusive else value > low
    if not above_low or value > high:
        bracket = "[" if low_inclusive else "("
        raise InvalidInput(f"'{name}' must be in {bracket}{low}, {high}]", f"parameters.{name}")
    return float(value)


def bool_parameter(params: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be true or false", f"parameters.{name}")
    return value
