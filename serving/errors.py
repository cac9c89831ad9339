"""Errors of the data plane, each knowing its HTTP status, error type and headers.

The REST layer maps them to responses at the edge with `error.body()` and `error.headers`;
nothing below the edge formats HTTP itself. The tree:

    ServingError          500 "internal"       base: status, type, message, headers
    ├── ModelNotRoutable  503 "unavailable"    no ACTIVE deployment in the routing table
    ├── QueueFull         429 "queue_full"     queue at max_queue; Retry-After from drain rate
    ├── RequestTimeout    504 "timeout"        no answer within the request's timeout
    ├── InvalidInput      422 "invalid_input"  the replica rejected the body (has `field`)
    └── ReplicaFailed     502 "replica_error"  the replica crashed, refused or answered 5xx
"""

from __future__ import annotations

import math
from typing import Any


class ServingError(Exception):
    """Base of every data-plane error: `status`, `type`, `message`, `headers`."""

    status: int = 500
    type: str = "internal"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body of the contract: {"error": {"type", "message", ...}}."""
        return {"error": {"type": self.type, "message": self.message}}


class ModelNotRoutable(ServingError):
    """No ACTIVE deployment of this model is in the routing table (404 vs 503 decided upstream)."""

    status = 503
    type = "unavailable"

    def __init__(self, model_name: str, message: str | None = None) -> None:
        super().__init__(message or f"model '{model_name}' has no active deployment")
        self.model_name = model_name


class QueueFull(ServingError):
    """The deployment's queue holds max_queue requests already; retry after `retry_after_s`."""

    status = 429
    type = "queue_full"

    def __init__(
        self,
        model_name: str,
        *,
        max_queue: int,
        retry_after_s: float,
        ready: int | None = None,
        max_replicas: int | None = None,
    ) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        message = (
            f"model '{model_name}' is overloaded: {max_queue} "
            f"{'request is' if max_queue == 1 else 'requests are'} already queued; "
            f"retry in {self.retry_after_s} s"
        )
        if max_replicas is not None and ready is not None and ready >= max_replicas:
            # More of this load needs more capacity than the bounds allow: say which knob.
            message += (
                f". It runs at its maximum of {max_replicas} replicas: for more, raise it "
                f"(`plinth scale {model_name} --max N`) or the queue (`--max-queue N`)"
            )
        super().__init__(message, headers={"Retry-After": str(self.retry_after_s)})
        self.model_name = model_name


class RequestTimeout(ServingError):
    status = 504
    type = "timeout"

    def __init__(self, model_name: str, timeout_s: float) -> None:
        super().__init__(f"model '{model_name}' did not answer within {timeout_s:g} s")
        self.timeout_s = timeout_s


class InvalidInput(ServingError):
    """The replica refused the request body; `detail` is the replica's error object unchanged."""

    status = 422
    type = "invalid_input"

    def __init__(
        self, message: str, *, field: str = "inputs", detail: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.detail: dict[str, Any] = detail or {
            "type": self.type,
            "message": message,
            "field": field,
        }

    def body(self) -> dict[str, Any]:
        return {"error": dict(self.detail)}


class ReplicaFailed(ServingError):
    status = 502
    type = "replica_error"
