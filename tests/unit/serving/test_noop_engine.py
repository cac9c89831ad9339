"""The no-op engine: any task, no files, echoes the inputs; a deploy resolves nothing for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from plinth.types import TASKS
from serving import hub
from serving.engines import InvalidInput, UnsupportedModel, get_engine, needs_snapshot
from serving.engines.noop import NoopEngine


@pytest.mark.parametrize("task", TASKS)
def test_it_serves_every_task_and_echoes_the_inputs(task: str) -> None:
    engine = get_engine("noop", task, "noop:plinth/noop")
    engine.check()
    engine.preload()

    assert isinstance(engine, NoopEngine) and engine.task == task
    assert engine.load() == {"imports": 0.0, "weights": 0.0, "warmup": 0.0}
    assert engine.predict({"inputs": ["a", {"b": 1}]}) == ["a", {"b": 1}]
    assert engine.predict({"inputs": "x", "parameters": {"top_k": 3}}) == "x"


def test_bad_payloads_are_invalid_input_with_a_field() -> None:
    engine = get_engine("noop", "feature-extraction", "-")
    with pytest.raises(InvalidInput) as missing:
        engine.predict({"input": "x"})
    with pytest.raises(InvalidInput) as parameters:
        engine.predict({"inputs": "x", "parameters": [1]})

    assert missing.value.field == "inputs"
    assert parameters.value.field == "parameters"


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(UnsupportedModel, match="task 'summarization' not supported"):
        get_engine("noop", "summarization", "-")


def test_a_deploy_resolves_and_validates_nothing_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    snap = hub.resolve_for_engine("noop", "plinth/noop")
    hub.validate_snapshot(snap.path, "text-generation", "noop")

    assert (snap.path, snap.revision) == ("noop:plinth/noop", "none")
    assert hub.infer_task(snap.path) is None  # the deploy then takes the first task
    assert not needs_snapshot("noop") and needs_snapshot("transformers")
    with pytest.raises(hub.ModelResolutionError, match="not a repository id"):
        hub.resolve_for_engine("noop", "../x")
    with pytest.raises(hub.ModelResolutionError):  # transformers still needs the cache
        hub.resolve_for_engine("transformers", "plinth/noop")
