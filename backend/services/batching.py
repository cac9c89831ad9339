"""Per-deployment dynamic batching settings: validation and their record in `config`.

A deployment may set `max_batch_size` (items per forward pass, 1 = batching off) and
`max_batch_wait_ms` (how long a batch waits to fill); None keeps the task's default. The limits
are the replica's own (`serving.engines.batching`, a light module), so a value accepted here
never makes a replica refuse to start. Errors name the GraphQL fields `batching.maxBatchSize`
and `batching.maxWaitMs`.
"""

from __future__ import annotations

import math
from typing import Any

from backend.errors import ValidationFailed
from serving.engines.batching import MAX_BATCH_SIZE_CAP, MAX_WAIT_MS_CAP

SIZE_FIELD = "batching.maxBatchSize"
WAIT_FIELD = "batching.maxWaitMs"


def check_batching(max_batch_size: int | None, max_batch_wait_ms: float | None) -> None:
    """ValidationFailed naming the field unless both values are None or within the limits."""
    if max_batch_size is not None and (
        isinstance(max_batch_size, bool)
        or not isinstance(max_batch_size, int)
        or not 1 <= max_batch_size <= MAX_BATCH_SIZE_CAP
    ):
        raise ValidationFailed(
            SIZE_FIELD,
            f"must be an integer between 1 and {MAX_BATCH_SIZE_CAP} (1 turns batching off), "
            f"got {max_batch_size!r}",
        )
    if max_batch_wait_ms is not None and (
        isinstance(max_batch_wait_ms, bool)
        or not isinstance(max_batch_wait_ms, int | float)
        or not math.isfinite(max_batch_wait_ms)
        or not 0 <= max_batch_wait_ms <= MAX_WAIT_MS_CAP
    ):
        raise ValidationFailed(
            WAIT_FIELD,
            f"must be between 0 and {MAX_WAIT_MS_CAP:g} milliseconds, got {max_batch_wait_ms!r}",
        )


def batching_config(max_batch_size: int | None, max_batch_wait_ms: float | None) -> dict[str, Any]:
    """The `batching` entry of a deployment's `config` (as given, camelCase like the input)."""
    return {"maxBatchSize": max_batch_size, "maxWaitMs": max_batch_wait_ms}
