"""GraphQL types of per-deployment dynamic batching (issue 6).

`DeployModelInput.batching` takes a `BatchingInput`; every deployment answers
`batching { maxBatchSize maxWaitMs }`, where null means the task's default
(`serving.engines.batching`: on with 64 items and 5 ms for feature-extraction and
text-classification, off for text-generation and custom packages). Validation lives in
`backend.services.batching` (fields `batching.maxBatchSize`, `batching.maxWaitMs`).
"""

from __future__ import annotations

import strawberry


@strawberry.input(description="Dynamic batching of the replicas; omitted or null: the default.")
class BatchingInput:
    max_batch_size: int | None = strawberry.field(
        default=None, description="Items (input texts) per forward pass; 1 turns batching off."
    )
    max_wait_ms: float | None = strawberry.field(
        default=None, description="Milliseconds a batch waits to fill before it runs."
    )


@strawberry.type(description="Dynamic batching as deployed; a null field is the task's default.")
class Batching:
    max_batch_size: int | None
    max_wait_ms: float | None
