"""Streaming and dynamic batching on real replica processes, through the real Router.

- A streamed generation holds a router slot while it runs; closing it (what a disconnecting
  client causes) frees the slot at once and stops the generation on the replica early.
- Concurrent embedding requests on one replica are answered by shared forward passes (the
  replica's /health counts batches), each with its own correct result.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plinth.types import Scaling
from serving import sse
from serving.errors import InvalidInput
from serving.router import Router
from serving.runtime_local import free_port
from tests.support import tiny_models

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def _start(hf_home: Path, model: Path, task: str, log: Path, *extra: str) -> tuple[Any, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PLINTH_TORCH_THREADS="1")
    command = [
        sys.executable, "-W", "error", "-m", "serving.replica",
        "--replica-id", "r-1", "--deployment-id", "d-1", "--model-name", "tiny",
        "--model-path", str(model), "--task", task, "--host", "127.0.0.1",
        "--port", str(port), *extra,
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("replica not ready in time")


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-home")


@pytest.fixture(scope="module")
def generator(hf_home: Path) -> Iterator[str]:
    model = tiny_models.build_tiny_gpt2(hf_home)
    process, url = _start(
        hf_home, model, "text-generation", hf_home.parent / "gen.log", "--max-concurrency", "2"
    )
    try:
        yield url
    finally:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def embedder(hf_home: Path) -> Iterator[str]:
    model = tiny_models.build_tiny_sentence_embedder(hf_home)
    process, url = _start(
        hf_home,
        model,
        "feature-extraction",
        hf_home.parent / "emb.log",
        "--max-concurrency", "32", "--max-batch-size", "32", "--max-batch-wait-ms", "200",
    )  # fmt: skip
    try:
        yield url
    finally:
        process.kill()
        process.wait(10)


def _router(url: str, max_concurrency: int = 2) -> Router:
    router = Router(
        deployment_id="d-1",
        model_name="tiny",
        scaling=Scaling(max_replicas=1, max_concurrency=max_concurrency),
    )
    router.add_replica("r-1", url, max_concurrency=max_concurrency)
    return router


async def _health(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        body: dict[str, Any] = (await client.get(f"{url}/health")).json()
        return body


async def test_a_full_stream_reports_usage_and_frees_its_slot(generator: str) -> None:
    router = _router(generator)
    try:
        payload = {"inputs": "hello world", "parameters": {"max_new_tokens": 8}}
        stream = await router.open_stream(json.dumps(payload).encode())
        assert router.in_flight == 1
        events = [e async for e in sse.parse_events(stream.chunks())]
        assert router.in_flight == 0
        *pieces, done = events
        assert all("text" in e for e in pieces) and pieces
        assert done["done"] is True
        assert done["usage"]["completion_tokens"] <= 8
        assert done["usage"]["total_tokens"] == sum(
            done["usage"][k] for k in ("prompt_tokens", "completion_tokens")
        )
    finally:
        await router.aclose()


async def test_closing_a_stream_frees_the_slot_and_stops_generation(generator: str) -> None:
    router = _router(generator)
    try:
        before = (await _health(generator))["streams_cancelled"]
        # ~60 new tokens: far more than the one piece read before leaving.
        payload = {"inputs": "hi", "parameters": {"max_new_tokens": 60}}
        stream = await router.open_stream(json.dumps(payload).encode())
        chunks = stream.chunks()
        first = await anext(chunks)
        assert first.startswith(b"data: ")
        await chunks.aclose()  # what a client disconnect does to the gateway's relay
        assert router.in_flight == 0
        async with asyncio.timeout(30):
            while True:
                health = await _health(generator)
                if health["streams"] == 0 and health["in_flight"] == 0:
                    break
                await asyncio.sleep(0.05)
        assert health["streams_cancelled"] == before + 1  # stopped before its end
    finally:
        await router.aclose()


async def test_a_bad_stream_request_fails_before_streaming(generator: str) -> None:
    router = _router(generator)
    try:
        with pytest.raises(InvalidInput) as error:
            await router.open_stream(json.dumps({"inputs": ["a", "b"]}).encode())
        assert error.value.field == "inputs"
        assert router.in_flight == 0
    finally:
        await router.aclose()


async def test_models_that_do_not_generate_refuse_to_stream(embedder: str) -> None:
    router = _router(embedder)
    try:
        with pytest.raises(InvalidInput) as error:
            await router.open_stream(json.dumps({"inputs": "a"}).encode())
        assert error.value.field == "stream"
    finally:
        await router.aclose()


async def test_concurrent_requests_share_forward_passes(embedder: str) -> None:
    router = _router(embedder, max_concurrency=32)
    try:
        before = (await _health(embedder))["batching"]
        texts = [f"hello world {i}" for i in range(24)]
        answers = await asyncio.gather(
            *(router.forward(json.dumps({"inputs": t}).encode()) for t in texts)
        )
        after = (await _health(embedder))["batching"]
        assert after["max_batch_size"] == 32
        assert after["requests"] - before["requests"] == 24
        assert after["batches"] - before["batches"] < 24  # some requests shared a pass
        assert after["largest"] > 1
        async with httpx.AsyncClient() as client:
            for text, answer in zip(texts[:3], answers[:3], strict=True):
                alone = await client.post(f"{embedder}/predict", json={"inputs": text})
                ours = json.loads(answer)["embeddings"][0]
                assert ours == pytest.approx(alone.json()["embeddings"][0], abs=1e-5)
    finally:
        await router.aclose()
