"""The engine registry and the engine life cycle (load once, predict after load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.engines import EngineError, UnsupportedModel, get_engine, supported_tasks
from serving.engines.transformers_engine import torch_threads


def test_supported_tasks_of_transformers() -> None:
    assert set(supported_tasks("transformers")) == {
        "feature-extraction",
        "text-classification",
        "text-generation",
    }


def test_unknown_engine_is_named_with_the_alternatives(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModel, match=r"engine 'vllm' is not supported.*transformers"):
        get_engine("vllm", "text-generation", tmp_path)


def test_unknown_task_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(
        UnsupportedModel,
        match=r"task 'image-to-text' not supported by engine 'transformers' \(supported: "
        r"feature-extraction, text-classification, text-generation\)",
    ):
        get_engine("transformers", "image-to-text", tmp_path)


def test_predict_before_load_and_second_load_are_errors(classifier_path: Path) -> None:
    engine = get_engine("transformers", "text-classification", classifier_path)
    with pytest.raises(EngineError, match="not loaded"):
        engine.predict({"inputs": "x"})
    engine.load()
    with pytest.raises(EngineError, match="already loaded"):
        engine.load()


def test_torch_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLINTH_TORCH_THREADS", "3")
    assert torch_threads() == 3
    monkeypatch.setenv("PLINTH_TORCH_THREADS", "zero")
    with pytest.raises(EngineError, match="PLINTH_TORCH_THREADS"):
        torch_threads()
    monkeypatch.delenv("PLINTH_TORCH_THREADS")
    assert torch_threads() >= 1
