"""Feature extraction on tiny models: shapes, pooling, normalisation, truncation, bad inputs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from serving.engines import Engine, InvalidInput, get_engine
from tests.support import tiny_models


def _loaded(path: Path) -> Engine:
    engine = get_engine("transformers", "feature-extraction", path)
    phases = engine.load()
    assert set(phases) == {"imports", "weights", "warmup"}
    return engine


@pytest.fixture(scope="module")
def embedder(embedder_path: Path) -> Engine:
    return _loaded(embedder_path)


@pytest.fixture(scope="module")
def plain(bert_path: Path) -> Engine:
    return _loaded(bert_path)


def _embed(engine: Engine, inputs: Any, **parameters: Any) -> list[list[float]]:
    result = engine.predict({"inputs": inputs, "parameters": parameters})
    vectors: list[list[float]] = result["embeddings"]
    return vectors


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_sentence_transformers_model_gives_one_unit_vector_per_input(embedder: Engine) -> None:
    vectors = _embed(embedder, ["the cat sat on the mat", "a good movie", ""])
    assert len(vectors) == 3
    assert all(len(v) == tiny_models.HIDDEN for v in vectors)
    assert all(_norm(v) == pytest.approx(1.0, abs=1e-5) for v in vectors)


def test_single_string_gives_a_list_of_one(embedder: Engine) -> None:
    assert len(_embed(embedder, "hello world")) == 1


def test_batching_does_not_change_vectors(embedder: Engine) -> None:
    texts = ["hello", "the cat sat on the mat and the dog sat too"]
    together = _embed(embedder, texts)
    alone = [_embed(embedder, text)[0] for text in texts]
    for a, b in zip(together, alone, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_inputs_are_truncated_to_max_seq_length(embedder: Engine) -> None:
    # The tiny embedder's sentence_bert_config.json says max_seq_length=24.
    long_text = " ".join(["cat"] * 40)
    [short, longer] = _embed(embedder, [long_text, long_text + " dog dog dog"])
    assert short == pytest.approx(longer, abs=1e-6)


def test_truncate_false_refuses_long_input(embedder: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        _embed(embedder, ["short", " ".join(["cat"] * 40)], truncate=False)
    assert caught.value.field == "inputs[1]"
    assert "24" in caught.value.message


def test_plain_transformers_model_uses_mean_pooling_without_normalising(
    plain: Engine, bert_path: Path
) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    text = "the dog sat"
    [vector] = _embed(plain, text)
    tokenizer = AutoTokenizer.from_pretrained(bert_path)
    model = AutoModel.from_pretrained(bert_path).eval()
    with torch.inference_mode():
        states = model(**tokenizer([text], return_tensors="pt")).last_hidden_state
    assert vector == pytest.approx(states[0].mean(dim=0).tolist(), abs=1e-5)
    assert _norm(vector) != pytest.approx(1.0, abs=1e-3)


def test_cls_pooling_takes_the_first_token(hf_home: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = tiny_models.build_tiny_sentence_embedder(
        hf_home, "plinth-test/tiny-cls-embedder", pooling="cls"
    )
    engine = _loaded(path)
    [vector] = _embed(engine, "a happy cat")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    with torch.inference_mode():
        cls = model(**tokenizer(["a happy cat"], return_tensors="pt")).last_hidden_state[0, 0]
    expected = torch.nn.functional.normalize(cls, dim=-1).tolist()
    assert vector == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "inputs"),
        ({"inputs": 3}, "inputs"),
        ({"inputs": []}, "inputs"),
        ({"inputs": ["ok", 7]}, "inputs[1]"),
        ({"inputs": "ok", "parameters": "x"}, "parameters"),
        ({"inputs": "ok", "parameters": {"temperature": 1.0}}, "parameters.temperature"),
        ({"inputs": "ok", "parameters": {"normalize": "yes"}}, "parameters.normalize"),
        ({"inputs": ["x"] * 257}, "inputs"),
    ],
)
def test_bad_inputs_name_the_field(embedder: Engine, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        embedder.predict(payload)
    assert caught.value.field == field
    assert caught.value.message
