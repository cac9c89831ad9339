"""Inference engines and the registry that picks one for an (engine, task) pair.

`get_engine(engine_name, task, model_path)` builds an unloaded engine (cheap: no torch import)
or raises UnsupportedModel naming what is supported; `serving.hub.validate_snapshot` and the
replica both go through it. Engines: "transformers" (`serving.engines.transformers_engine`) and
"noop" (`serving.engines.noop`: echoes the inputs, any task, no model files; for it
`needs_snapshot` is False and a deploy resolves nothing). `preload_libraries(engine_name)`
imports an engine's libraries without running them (for fork servers). See
`serving.engines.base` for the engine contract.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from plinth.types import TASKS
from serving.engines.base import (
    Engine,
    EngineError,
    EngineLoadError,
    InvalidInput,
    UnsupportedModel,
)
from serving.engines.noop import ENGINE_NAME as NOOP_ENGINE
from serving.engines.noop import NoopEngine
from serving.engines.noop import preload_libraries as preload_noop
from serving.engines.transformers_engine import (
    FeatureExtractionEngine,
    TextClassificationEngine,
    TextGenerationEngine,
    TransformersEngine,
)
from serving.engines.transformers_engine import preload_libraries as preload_transformers

__all__ = [
    "ENGINES",
    "Engine",
    "EngineError",
    "EngineLoadError",
    "InvalidInput",
    "UnsupportedModel",
    "get_engine",
    "needs_snapshot",
    "preload_libraries",
    "supported_tasks",
]

EngineFactory = Callable[[str | Path], Engine]

_TRANSFORMERS: dict[str, type[TransformersEngine]] = {
    "feature-extraction": FeatureExtractionEngine,
    "text-classification": TextClassificationEngine,
    "text-generation": TextGenerationEngine,
}
ENGINES: dict[str, dict[str, EngineFactory]] = {
    "transformers": dict(_TRANSFORMERS),
    NOOP_ENGINE: {task: functools.partial(NoopEngine, task=task) for task in TASKS},
}


PRELOADS: dict[str, Callable[[], None]] = {
    "transformers": preload_transformers,
    NOOP_ENGINE: preload_noop,
}


def needs_snapshot(engine_name: str) -> bool:
    """Whether the engine serves model files (resolved from the Hugging Face cache at deploy)."""
    return engine_name != NOOP_ENGINE


def preload_libraries(engine_name: str) -> None:
    """Import an engine's libraries (no tensor op, no thread); UnsupportedModel if unknown."""
    preload = PRELOADS.get(engine_name)
    if preload is None:
        raise UnsupportedModel(
            f"engine {engine_name!r} is not supported (supported: {', '.join(PRELOADS)})"
        )
    preload()


def supported_tasks(engine_name: str) -> tuple[str, ...]:
    return tuple(ENGINES.get(engine_name, {}))


def get_engine(engine_name: str, task: str, model_path: str | Path) -> Engine:
    """An unloaded engine for this task; UnsupportedModel for unknown engines or tasks."""
    if engine_name == "custom":  # any task: the package's model.py decides what it does
        from serving.engines.custom import CustomEngine  # imports the replica server

        return CustomEngine(model_path, task)
    tasks = ENGINES.get(engine_name)
    if tasks is None:
        raise UnsupportedModel(
            f"engine {engine_name!r} is not supported (supported: {', '.join(ENGINES)})"
        )
    engine_class = tasks.get(task)
    if engine_class is None:
        raise UnsupportedModel(
            f"task {task!r} not supported by engine {engine_name!r} (supported: {', '.join(tasks)})"
        )
    return engine_class(model_path)
