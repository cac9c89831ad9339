"""Streaming generation: pieces, usage, chat templates and early stop."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from serving.engines import InvalidInput, get_engine
from serving.engines.streaming import StreamCancelled
from serving.engines.transformers_engine import TextGenerationEngine


@pytest.fixture(scope="module")
def generator(gpt2_path: Path) -> TextGenerationEngine:
    engine = get_engine("transformers", "text-generation", gpt2_path)
    assert isinstance(engine, TextGenerationEngine)
    engine.load()
    return engine


def test_streamed_pieces_join_to_the_unstreamed_text(generator: TextGenerationEngine) -> None:
    params: dict[str, Any] = {"max_new_tokens": 12}
    pieces: list[str] = []
    job = generator.prepare_stream({"inputs": "hello world", "parameters": params})
    result = job.run(pieces.append, threading.Event())
    [expected] = generator.predict(
        {"inputs": "hello world", "parameters": {**params, "return_full_text": False}}
    )
    assert "".join(pieces) == expected["generated_text"]
    usage = result["usage"]
    assert usage["prompt_tokens"] == job.prompt_tokens > 0
    assert 0 < usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert result["finish_reason"] in ("length", "stop")


def test_a_set_stop_event_ends_generation_early(generator: TextGenerationEngine) -> None:
    stop = threading.Event()
    pieces: list[str] = []

    def emit(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 2:
            stop.set()

    job = generator.prepare_stream({"inputs": "hello", "parameters": {"max_new_tokens": 40}})
    with pytest.raises(StreamCancelled):
        job.run(emit, stop)
    assert len(pieces) == 2


def test_chat_messages_use_the_tokenizer_template(generator: TextGenerationEngine) -> None:
    messages = [{"role": "user", "content": "hello"}]
    job = generator.prepare_stream({"messages": messages, "parameters": {"max_new_tokens": 2}})
    rendered = generator.prepare_stream(
        {"inputs": "user: hello\nassistant:", "parameters": {"max_new_tokens": 2}}
    )
    assert job.encoded["input_ids"].tolist() == rendered.encoded["input_ids"].tolist()


def test_bad_stream_requests_are_refused_before_generating(
    generator: TextGenerationEngine,
) -> None:
    with pytest.raises(InvalidInput) as error:
        generator.prepare_stream({"inputs": ["a", "b"]})
    assert error.value.field == "inputs"
    with pytest.raises(InvalidInput) as error:
        generator.prepare_stream({"messages": [{"role": "user"}]})
    assert error.value.field == "messages[0]"
    with pytest.raises(InvalidInput) as error:
        generator.prepare_stream({"inputs": "hi", "parameters": {"max_new_tokens": 100}})
    assert error.value.field == "inputs[0]"  # 64-token context


def test_stop_strings_end_generation_right_after_them(generator: TextGenerationEngine) -> None:
    params: dict[str, Any] = {"max_new_tokens": 20, "return_full_text": False}
    [free] = generator.predict({"inputs": "hello world", "parameters": params})
    text = free["generated_text"]
    stop = text[3:6]
    [stopped] = generator.predict(
        {"inputs": "hello world", "parameters": {**params, "stop": [stop]}}
    )
    assert stopped["generated_text"].endswith(stop)
    assert text.startswith(stopped["generated_text"])
    with pytest.raises(InvalidInput) as error:
        generator.predict({"inputs": "x", "parameters": {"stop": ["a"] * 5}})
    assert error.value.field == "parameters.stop"
