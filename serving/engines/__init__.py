"""Inference engines and the registry that picks one for an (engine, task) pair.

`get_engine(engine_name, task, model_path)` builds an unloaded engine (cheap: no torch import)
or raises UnsupportedModel naming what is supported; `serving.hub.validate_snapshot` and the
replica both go through it. `preload_libraries(engine_name)` imports an engine's libraries
without running them (for fork servers). See `serving.engines.base` for the engine contract.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from serving.engines.base import (
    Engine,
    EngineError,
    EngineLoadError,
    InvalidInput,
    UnsupportedModel,
)
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
    "preload_libraries",
    "supported_tasks",
]

ENGINES: dict[str, dict[str, type[TransformersEngine]]] = {
    "transformers": {
        "feature-extraction": FeatureExtractionEngine,
        "text-classification": TextClassificationEngine,
        "text-generation": TextGenerationEngine,
    },
}


PRELOADS: dict[str, Callable[[], None]] = {"transformers": preload_transformers}


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
