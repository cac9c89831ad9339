"""Text generation on a tiny GPT-2 (64-token context)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.engines import Engine, InvalidInput, get_engine


@pytest.fixture(scope="module")
def generator(gpt2_path: Path) -> Engine:
    engine = get_engine("transformers", "text-generation", gpt2_path)
    engine.load()
    return engine


def test_generates_one_text_per_input_with_the_prompt_first(generator: Engine) -> None:
    prompts = ["hello world", "the cat sat on the mat and"]
    result = generator.predict({"inputs": prompts, "parameters": {"max_new_tokens": 5}})
    assert len(result) == 2
    for prompt, item in zip(prompts, result, strict=True):
        assert item["generated_text"].startswith(prompt)
        assert len(item["generated_text"]) > len(prompt)


def test_return_full_text_false_gives_only_the_continuation(generator: Engine) -> None:
    parameters: dict[str, Any] = {"max_new_tokens": 4}
    [full] = generator.predict({"inputs": "hello", "parameters": parameters})
    [tail] = generator.predict(
        {"inputs": "hello", "parameters": {**parameters, "return_full_text": False}}
    )
    assert full["generated_text"] == "hello" + tail["generated_text"]


def test_batched_prompts_match_single_prompts(generator: Engine) -> None:
    prompts = ["hello", "a good movie is a happy"]
    together = generator.predict({"inputs": prompts, "parameters": {"max_new_tokens": 3}})
    alone = [
        generator.predict({"inputs": p, "parameters": {"max_new_tokens": 3}})[0] for p in prompts
    ]
    assert together == alone


def test_sampling_parameters_are_accepted(generator: Engine) -> None:
    parameters = {"max_new_tokens": 3, "temperature": 0.7, "top_p": 0.9, "do_sample": True}
    [item] = generator.predict({"inputs": "hello", "parameters": parameters})
    assert item["generated_text"].startswith("hello")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"inputs": "hi", "parameters": {"max_new_tokens": 513}}, "parameters.max_new_tokens"),
        ({"inputs": "hi", "parameters": {"max_new_tokens": 0}}, "parameters.max_new_tokens"),
        ({"inputs": "hi", "parameters": {"temperature": 0}}, "parameters.temperature"),
        ({"inputs": "hi", "parameters": {"top_p": 1.5}}, "parameters.top_p"),
        ({"inputs": "hi", "parameters": {"do_sample": 1}}, "parameters.do_sample"),
        ({"inputs": "   "}, "inputs"),
        ({"inputs": ["ok", ""]}, "inputs[1]"),
        ({"inputs": ["ok", "cat " * 60], "parameters": {"max_new_tokens": 10}}, "inputs[1]"),
    ],
)
def test_bad_inputs_name_the_field(generator: Engine, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        generator.predict(payload)
    assert caught.value.field == field
