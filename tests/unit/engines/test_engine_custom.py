"""The custom engine in-process: the model contract, and hot reload keeping the old code on
failure. (Replica processes and virtualenvs are covered by tests/integration/test_packages.py.)"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from serving.engines import InvalidInput, UnsupportedModel, get_engine
from serving.engines.base import EngineLoadError
from serving.engines.custom import CustomEngine, ReloadError


def package(path: Path, model: str, config: str = "name: echo\n") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "plinth.yaml").write_text(config)
    (path / "model.py").write_text(model)
    return path


def engine_for(path: Path) -> CustomEngine:
    engine = get_engine("custom", "custom", path)
    assert isinstance(engine, CustomEngine)
    engine.check()
    engine.load()
    return engine


def test_sync_model_gets_config_environment_and_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    model = """
import os
import helper

class Model:
    def __init__(self, config, secrets):
        self.config = config
        self.secrets = secrets

    def load(self):
        self.greeting = os.environ["GREETING"] + helper.PUNCT

    def predict(self, inputs, parameters):
        if not isinstance(inputs, str):
            raise ValueError("inputs must be a string")
        return {"text": f"{self.greeting} {inputs}", "config": self.config,
                "secret": self.secrets["MY_TOKEN"], "parameters": parameters}
"""
    config = (
        "name: echo\nenvironment_variables: {GREETING: hi}\nsecrets: [MY_TOKEN]\n"
        "engine:\n  config: {n: 3}\n"
    )
    path = package(tmp_path / "p", model, config)
    (path / "helper.py").write_text("PUNCT = '!'\n")
    monkeypatch.delenv("GREETING", raising=False)
    engine = engine_for(path)
    answer = engine.predict({"inputs": "bob", "parameters": {"k": 1}})
    assert answer == {
        "text": "hi! bob",
        "config": {"n": 3},
        "secret": "s3cret",
        "parameters": {"k": 1},
    }
    with pytest.raises(InvalidInput, match="must be a string"):
        engine.predict({"inputs": 3})
    with pytest.raises(InvalidInput, match="inputs"):
        engine.predict({"text": "bob"})


def test_async_and_generator_models(tmp_path: Path) -> None:
    async_model = """
import asyncio

class Model:
    async def load(self):
        await asyncio.sleep(0)
        self.n = 2

    async def predict(self, inputs):
        await asyncio.sleep(0)
        return inputs * self.n
"""
    assert engine_for(package(tmp_path / "a", async_model)).predict({"inputs": 21}) == 42
    generator_model = """
class Model:
    def load(self):
        pass

    def predict(self, inputs):
        for word in inputs.split():
            yield word.upper()
"""
    engine = engine_for(package(tmp_path / "g", generator_model))
    assert engine.predict({"inputs": "a b c"}) == ["A", "B", "C"]
    async_generator = """
class Model:
    def load(self):
        pass

    async def predict(self, inputs):
        for i in range(inputs):
            yield i
"""
    assert engine_for(package(tmp_path / "ag", async_generator)).predict({"inputs": 3}) == [0, 1, 2]


VERSION = """
import helper

class Model:
    def load(self):
        pass

    def predict(self, inputs):
        return {version!r} + helper.SUFFIX
"""


def test_reload_swaps_code_and_helpers(tmp_path: Path) -> None:
    v1 = package(tmp_path / "v1", VERSION.format(version="v1"))
    (v1 / "helper.py").write_text("SUFFIX = '-a'\n")
    v2 = package(tmp_path / "v2", VERSION.format(version="v2"))
    (v2 / "helper.py").write_text("SUFFIX = '-b'\n")
    engine = engine_for(v1)
    assert engine.predict({"inputs": None}) == "v1-a"
    result = engine.reload(v2)
    assert result["digest"].startswith("sha256:")
    assert engine.predict({"inputs": None}) == "v2-b"


def test_failed_reload_keeps_old_code_and_names_the_line(tmp_path: Path) -> None:
    v1 = package(tmp_path / "v1", VERSION.format(version="v1"))
    (v1 / "helper.py").write_text("SUFFIX = ''\n")
    engine = engine_for(v1)
    broken_load = "class Model:\n    def load(self):\n        raise RuntimeError('no weights')\n"
    broken_load += "    def predict(self, inputs):\n        return 0\n"
    with pytest.raises(ReloadError) as caught:
        engine.reload(package(tmp_path / "bad", broken_load))
    assert (caught.value.file, caught.value.line) == ("model.py", 3)
    assert "no weights" in caught.value.message
    with pytest.raises(ReloadError) as syntax:
        engine.reload(package(tmp_path / "syntax", "class Model:\n    def load(self)\n"))
    assert (syntax.value.file, syntax.value.line) == ("model.py", 2)
    assert engine.predict({"inputs": None}) == "v1"


def test_in_flight_request_finishes_on_the_old_instance(tmp_path: Path) -> None:
    slow = """
import threading
started = threading.Event()
release = threading.Event()

class Model:
    def load(self):
        pass

    def predict(self, inputs):
        started.set()
        release.wait(10)
        return "old"
"""
    engine = engine_for(package(tmp_path / "v1", slow))
    module = engine._current.module if engine._current is not None else None
    assert module is not None
    answers: list[object] = []
    worker = threading.Thread(target=lambda: answers.append(engine.predict({"inputs": 1})))
    worker.start()
    assert module.started.wait(10)
    new = "class Model:\n    def load(self): pass\n    def predict(self, inputs):\n"
    engine.reload(package(tmp_path / "v2", new + "        return 'new'\n"))
    assert engine.predict({"inputs": 1}) == "new"
    module.release.set()
    worker.join(10)
    assert answers == ["old"]


def test_bad_package_is_unsupported_and_load_failure_is_located(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModel, match=r"model.py:1"):
        get_engine("custom", "custom", package(tmp_path / "a", "class (:\n")).check()
    failing = "class M:\n    def load(self):\n        1 / 0\n    def predict(self, x): ...\n"
    engine = get_engine("custom", "custom", package(tmp_path / "b", failing))
    with pytest.raises(EngineLoadError, match=r"model.py:3: ZeroDivisionError"):
        engine.load()
