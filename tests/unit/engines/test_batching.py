"""Dynamic batching: batch formation, result splitting and error isolation."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from serving.engines import Engine, InvalidInput, get_engine
from serving.engines.batching import Batcher, BatchingConfig, Pending, payload_size, take_batch


def _pending(loop: asyncio.AbstractEventLoop, size: int, arrived: float) -> Pending:
    inputs: Any = ["x"] * size if size > 1 else "x"
    return Pending({"inputs": inputs}, size, arrived, loop.create_future())


def test_a_full_batch_leaves_at_once_and_the_rest_waits() -> None:
    loop = asyncio.new_event_loop()
    try:
        config = BatchingConfig(max_batch_size=4, max_wait_ms=50)
        queue = deque(_pending(loop, 1, 0.0) for _ in range(6))
        batch = take_batch(queue, now=0.0, config=config)
        assert isinstance(batch, list) and len(batch) == 4
        assert len(queue) == 2
        wait = take_batch(queue, now=0.01, config=config)
        assert wait == pytest.approx(0.04)  # not full: the oldest may wait 40 ms more
        late = take_batch(queue, now=0.05, config=config)
        assert isinstance(late, list) and len(late) == 2 and not queue
    finally:
        loop.close()


def test_items_count_texts_and_an_oversized_request_goes_alone() -> None:
    loop = asyncio.new_event_loop()
    try:
        config = BatchingConfig(max_batch_size=4, max_wait_ms=0)
        queue = deque([_pending(loop, 3, 0.0), _pending(loop, 2, 0.0), _pending(loop, 9, 0.0)])
        first = take_batch(queue, now=0.0, config=config)
        assert isinstance(first, list) and [p.size for p in first] == [3]  # 3 + 2 > 4
        second = take_batch(queue, now=0.0, config=config)
        assert isinstance(second, list) and [p.size for p in second] == [2]
        third = take_batch(queue, now=0.0, config=config)
        assert isinstance(third, list) and [p.size for p in third] == [9]
    finally:
        loop.close()


def test_cancelled_requests_leave_the_queue() -> None:
    loop = asyncio.new_event_loop()
    try:
        config = BatchingConfig(max_batch_size=8, max_wait_ms=0)
        queue = deque(_pending(loop, 1, 0.0) for _ in range(3))
        queue[0].future.cancel()
        queue[1].future.cancel()
        batch = take_batch(queue, now=0.0, config=config)
        assert isinstance(batch, list) and len(batch) == 1 and not queue
    finally:
        loop.close()


def test_payload_size_counts_input_texts() -> None:
    assert payload_size({"inputs": "one"}) == 1
    assert payload_size({"inputs": ["a", "b", "c"]}) == 3
    assert payload_size({"inputs": []}) == 1
    assert payload_size({}) == 1


def test_config_defaults_and_overrides() -> None:
    assert BatchingConfig.for_task("feature-extraction", env={}).max_batch_size == 64
    assert BatchingConfig.for_task("text-classification", env={}).enabled
    assert not BatchingConfig.for_task("text-generation", env={}).enabled
    off = BatchingConfig.for_task("feature-extraction", env={"PLINTH_MAX_BATCH_SIZE": "1"})
    assert not off.enabled
    explicit = BatchingConfig.for_task(
        "feature-extraction", max_batch_size=8, max_wait_ms=2, env={"PLINTH_MAX_BATCH_SIZE": "1"}
    )
    assert (explicit.max_batch_size, explicit.max_wait_ms) == (8, 2)
    with pytest.raises(ValueError, match="max_batch_size"):
        BatchingConfig(max_batch_size=0)


class _Recorder:
    """A batch function that echoes each payload's inputs and fails the ones marked bad."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.release = threading.Event()

    def __call__(self, payloads: Sequence[Mapping[str, Any]]) -> list[Any]:
        self.release.wait(5)
        self.batches.append(len(payloads))
        return [
            InvalidInput("bad", "inputs") if p["inputs"] == "bad" else {"echo": p["inputs"]}
            for p in payloads
        ]


async def test_concurrent_submits_share_a_batch_and_get_their_own_results() -> None:
    recorder = _Recorder()
    batcher = Batcher(recorder, BatchingConfig(max_batch_size=16, max_wait_ms=20))
    try:
        first = asyncio.create_task(batcher.submit({"inputs": "warm"}))
        await asyncio.sleep(0.05)  # the first batch is now running (held by the recorder)
        texts = [f"t{i}" for i in range(10)]
        tasks = [asyncio.create_task(batcher.submit({"inputs": t})) for t in texts]
        bad = asyncio.create_task(batcher.submit({"inputs": "bad"}))
        await asyncio.sleep(0.01)
        recorder.release.set()
        assert await first == {"echo": "warm"}
        assert [await t for t in tasks] == [{"echo": t} for t in texts]
        with pytest.raises(InvalidInput):
            await bad
        assert recorder.batches == [1, 11]  # everything that queued meanwhile went together
        assert batcher.stats.largest == 11 and batcher.stats.requests == 12
    finally:
        await batcher.aclose()


async def test_a_lone_request_waits_at_most_max_wait() -> None:
    recorder = _Recorder()
    recorder.release.set()
    batcher = Batcher(recorder, BatchingConfig(max_batch_size=16, max_wait_ms=30))
    try:
        async with asyncio.timeout(5):
            assert await batcher.submit({"inputs": "solo"}) == {"echo": "solo"}
        assert recorder.batches == [1]
    finally:
        await batcher.aclose()


@pytest.fixture(scope="module")
def embedder(embedder_path: Path) -> Engine:
    engine = get_engine("transformers", "feature-extraction", embedder_path)
    engine.load()
    return engine


def test_engine_batch_equals_one_request_at_a_time(embedder: Engine) -> None:
    payloads: list[dict[str, Any]] = [
        {"inputs": "hello world"},
        {"inputs": ["the cat sat on the mat", "a good movie"]},
        {"inputs": "a much longer sentence about a replica that serves models fast"},
        {"inputs": "hello", "parameters": {"normalize": False}},
    ]
    together = embedder.predict_batch(payloads)
    for payload, answer in zip(payloads, together, strict=True):
        alone = embedder.predict(payload)
        assert len(answer["embeddings"]) == len(alone["embeddings"])
        for a, b in zip(answer["embeddings"], alone["embeddings"], strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_a_bad_request_fails_alone(embedder: Engine) -> None:
    payloads: list[dict[str, Any]] = [
        {"inputs": "fine"},
        {"inputs": 5},  # not a text
        {"inputs": "also fine", "parameters": {"nope": 1}},
        {"inputs": "still fine"},
    ]
    results = embedder.predict_batch(payloads)
    assert isinstance(results[1], InvalidInput) and results[1].field == "inputs"
    assert isinstance(results[2], InvalidInput) and results[2].field == "parameters.nope"
    assert len(results[0]["embeddings"]) == 1 and len(results[3]["embeddings"]) == 1


def test_a_failing_shared_pass_falls_back_to_each_request(embedder: Engine) -> None:
    long_text = "hello world " * 600  # far over the tiny model's length: refused untruncated
    payloads: list[dict[str, Any]] = [
        {"inputs": "fine", "parameters": {"truncate": False}},
        {"inputs": long_text, "parameters": {"truncate": False}},
    ]
    good, bad = embedder.predict_batch(payloads)
    assert len(good["embeddings"]) == 1
    assert isinstance(bad, InvalidInput) and bad.field == "inputs[0]"


def test_token_counts_split_with_the_embeddings(embedder: Engine) -> None:
    params = {"return_token_counts": True}
    a, b = embedder.predict_batch(
        [
            {"inputs": ["hello", "hello world"], "parameters": params},
            {"inputs": "cat", "parameters": params},
        ]
    )
    assert len(a["token_counts"]) == 2 and a["token_counts"][0] < a["token_counts"][1]
    assert len(b["token_counts"]) == 1


def test_generation_batches_with_left_padding(gpt2_path: Path) -> None:
    engine = get_engine("transformers", "text-generation", gpt2_path)
    engine.load()
    params = {"max_new_tokens": 4}
    payloads: list[dict[str, Any]] = [
        {"inputs": "hello", "parameters": params},
        {"inputs": "a good movie is a happy", "parameters": params},
        {"inputs": "hello", "parameters": {"max_new_tokens": 2}},
    ]
    together = engine.predict_batch(payloads)
    assert together == [engine.predict(p) for p in payloads]


def test_the_wait_counts_from_when_the_model_became_free() -> None:
    loop = asyncio.new_event_loop()
    try:
        config = BatchingConfig(max_batch_size=8, max_wait_ms=10)
        queue = deque(_pending(loop, 1, 0.0) for _ in range(3))
        # Queued long ago, but the previous batch ended at t=1.0: wait for its clients.
        assert take_batch(queue, now=1.004, config=config, free_since=1.0) == pytest.approx(0.006)
        batch = take_batch(queue, now=1.01, config=config, free_since=1.0)
        assert isinstance(batch, list) and len(batch) == 3
    finally:
        loop.close()
