"""The official `openai` client, unchanged, against a real `plinth up` (tiny models + MiniLM).

Also the Plinth-native stream through the gateway: a client that disconnects mid-stream frees
the gateway's slot (`plinth_requests_in_flight` back to 0) and stops the replica's generation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from serving.hub import import_local_minilm
from tests.support import tiny_models
from tests.support.platform import PlatformProcess

pytestmark = pytest.mark.integration

ONE_REPLICA = {"minReplicas": 1, "maxReplicas": 1, "maxConcurrency": 4}
MODELS = {
    "gen": ("plinth-test/tiny-gpt2", "text-generation"),
    "emb": ("plinth-test/tiny-embedder", "feature-extraction"),
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2", "feature-extraction"),
    "slowgen": ("plinth-test/slow-gpt2", "text-generation"),  # seconds for 500 tokens
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    root = tmp_path_factory.mktemp("openai")
    hf_home = root / "hf"
    tiny_models.build_tiny_gpt2(hf_home, "plinth-test/tiny-gpt2")
    tiny_models.build_tiny_sentence_embedder(hf_home, "plinth-test/tiny-embedder")
    tiny_models.build_tiny_gpt2(
        hf_home, "plinth-test/slow-gpt2", context=1024, hidden=256, layers=4, endless=True
    )
    import_local_minilm(hf_home)
    proc = PlatformProcess(root / "plinth", hf_home).start()
    try:
        for name, (repo, task) in MODELS.items():
            proc.deploy(name=name, huggingFaceRepo=repo, task=task, scaling=ONE_REPLICA)
        for name in MODELS:
            proc.wait_deployment(
                name,
                lambda d: d["status"] == "ACTIVE" or d["status"] == "FAILED",
                f"{name} deployed",
                timeout_s=240,
            )
            assert proc.deployment(name)["status"] == "ACTIVE", proc.deployment(name)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(platform: PlatformProcess) -> Iterator[openai.OpenAI]:
    url = f"{platform.url}/v1"
    with openai.OpenAI(base_url=url, api_key=platform.api_key, max_retries=0) as client:
        yield client


def test_chat_completion_uses_the_chat_template_and_counts_tokens(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gen", messages=[{"role": "user", "content": "hello"}], max_tokens=5
    )
    assert reply.object == "chat.completion"
    assert reply.model == "gen"
    [choice] = reply.choices
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("length", "stop")
    usage = reply.usage
    assert usage is not None
    # "user: hello\nassistant:" is several tokens of the tiny BPE.
    assert usage.prompt_tokens > 2
    assert 0 < usage.completion_tokens <= 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_chat_completion_matches_the_unstreamed_one(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "the cat sat"}]
    whole = client.chat.completions.create(model="gen", messages=messages, max_tokens=8)
    chunks = list(
        client.chat.completions.create(
            model="gen",
            messages=messages,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason and not any(finishes[:-1])
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_completion(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="gen", prompt="hello world", max_tokens=4)
    assert reply.object == "text_completion"
    assert isinstance(reply.choices[0].text, str)
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 4
    streamed = client.completions.create(
        model="gen", prompt="hello world", max_tokens=4, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == reply.choices[0].text


def test_stop_sequences_end_the_answer_before_them(client: openai.OpenAI) -> None:
    free = client.completions.create(model="gen", prompt="hello world", max_tokens=12)
    text = free.choices[0].text
    stop = text[4:6]
    cut = text[: text.find(stop)]
    stopped = client.completions.create(
        model="gen", prompt="hello world", max_tokens=12, stop=[stop]
    )
    assert stopped.choices[0].text == cut
    assert stopped.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model="gen", prompt="hello world", max_tokens=12, stop=stop, stream=True
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks) == cut
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_embeddings_float_and_base64_agree(client: openai.OpenAI) -> None:
    texts = ["hello world", "the cat sat on the mat"]
    as_floats = client.embeddings.create(model="emb", input=texts, encoding_format="float")
    default = client.embeddings.create(model="emb", input=texts)  # the client asks for base64
    assert [d.index for d in as_floats.data] == [0, 1]
    for a, b in zip(as_floats.data, default.data, strict=True):
        assert np.allclose(a.embedding, b.embedding, atol=1e-6)
    assert as_floats.usage.prompt_tokens > len(texts)


def test_minilm_embeddings_equal_sentence_transformers(
    client: openai.OpenAI, platform: PlatformProcess
) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["Plinth serves models", "A man is eating food."]
    got = np.array(
        [d.embedding for d in client.embeddings.create(model="minilm", input=texts).data]
    )
    model_dir = platform.hf_home / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    snapshot = next((model_dir / "snapshots").iterdir())
    reference = SentenceTransformer(str(snapshot), device="cpu").encode(texts)
    for mine, theirs in zip(got, reference, strict=True):
        cosine = float(mine @ theirs / (np.linalg.norm(mine) * np.linalg.norm(theirs)))
        assert cosine > 0.9999


def test_models_and_errors_in_openai_shape(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} >= set(MODELS)
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="nope", input="x")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as wrong:
        client.embeddings.create(model="gen", input="x")  # a generator makes no embeddings
    assert "embeddings" in wrong.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="emb", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as too_long:
        client.completions.create(model="gen", prompt="hello", max_tokens=100)  # 64-token context
    assert too_long.value.param == "prompt"
    with (
        openai.OpenAI(base_url=str(client.base_url), api_key="pl_nope", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError),
    ):
        bad.models.list()


def _in_flight(platform: PlatformProcess, model: str) -> float:
    text = httpx.get(f"{platform.url}/metrics", headers=platform.headers, timeout=10).text
    for line in text.splitlines():
        if line.startswith("plinth_requests_in_flight{") and f'model="{model}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _replica_health(platform: PlatformProcess, model: str) -> dict[str, Any]:
    [replica] = platform.deployment(model)["replicas"]
    body: dict[str, Any] = httpx.get(f"http://127.0.0.1:{replica['port']}/health").json()
    return body


def test_a_client_leaving_a_stream_frees_the_slot_and_stops_generation(
    platform: PlatformProcess,
) -> None:
    model = "slowgen"
    before = _replica_health(platform, model)["streams_cancelled"]
    body = {"inputs": "hi", "stream": True, "parameters": {"max_new_tokens": 500}}
    url = f"{platform.url}/v1/models/{model}/predict"
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", url, json=body, headers=platform.headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()  # held: dropping it would close the connection now
        assert next(lines).startswith("data: {")
        assert _in_flight(platform, model) == 1
        assert _replica_health(platform, model)["streams"] == 1
        # Leaving the block closes the connection mid-stream.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = _replica_health(platform, model)
        if _in_flight(platform, model) == 0 and health["streams"] == 0:
            break
        time.sleep(0.1)
    assert _in_flight(platform, model) == 0
    assert health["streams"] == 0 and health["in_flight"] == 0
    assert health["streams_cancelled"] == before + 1


def test_plinth_stream_through_the_gateway(platform: PlatformProcess) -> None:
    from plinth import Client

    with Client(platform.url, api_key=platform.api_key) as sdk:
        stream = sdk.models.stream("gen", "hello world", {"max_new_tokens": 6})
        pieces = list(stream)
        expected = sdk.models.predict(
            "gen", "hello world", {"max_new_tokens": 6, "return_full_text": False}
        )
    assert "".join(pieces) == expected[0]["generated_text"]
    assert stream.usage is not None and stream.usage["completion_tokens"] <= 6
    refused = httpx.post(
        f"{platform.url}/v1/models/emb/predict",
        json={"inputs": "x", "stream": True},
        headers=platform.headers,
        timeout=30,
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "stream"


def test_an_invoke_key_for_one_model_reaches_only_it(
    platform: PlatformProcess, client: openai.OpenAI, tmp_path: Path
) -> None:
    created = platform.graphql(
        """mutation { createApiKey(input: {scopes: ["invoke:emb"]}) {
             __typename ... on CreatedApiKey { key } } }"""
    )["createApiKey"]
    url = str(client.base_url)
    with openai.OpenAI(base_url=url, api_key=created["key"], max_retries=0) as scoped:
        assert [m.id for m in scoped.models.list()] == ["emb"]
        assert scoped.embeddings.create(model="emb", input="x").data
        with pytest.raises(openai.PermissionDeniedError):
            scoped.embeddings.create(model="minilm", input="x")
