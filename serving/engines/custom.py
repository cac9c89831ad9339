"""The `custom` engine: serves a custom model package's `model.py` (see `plinth.package`).

The model contract, as package authors read it:

    class Model:
        def __init__(self, config, secrets, environment):  # each argument optional
            ...                     # config: engine.config of plinth.yaml; secrets: the
                                    # secrets it lists, by name; environment: its variables
        def load(self):             # once per replica, before the first request (or async)
            ...
        def predict(self, inputs):  # `inputs` of the request body {"inputs": ..., ...};
            ...                     # also gets `parameters=` if it accepts that keyword.
                                    # sync (runs in the replica's thread pool), async def, or a
                                    # generator (plain predict answers the list it yields)

The replica runs in the package's interpreter (its virtualenv, see `serving.package_env`),
always spawned, never forked: the fork servers hold the platform's libraries, not the package's.
`model_path` is the stored package directory. The package's environment variables are set
before model.py is imported. Raising `ValueError` in predict is the caller's fault (HTTP 422),
anything else an engine failure (500).

Hot reload (development mode): `CustomReplicaServer` adds `POST /-/reload {"path": DIR}` to
the replica's routes. It validates the package at DIR, imports its model.py as a fresh module,
instantiates and `load()`s it, then swaps it in: requests already running finish on the old
instance, new ones use the new. A failure keeps the old code serving and answers 422 with the
file and line at fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import itertools
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plinth.package import MODEL_FILE, Package, PackageError, load_package
from serving.engines.base import EngineLoadError, InvalidInput, UnsupportedModel, predict_each
from serving.replica import ReplicaServer

_modules = itertools.count(1)
_package_path: str | None = None  # the package directory on sys.path


class ReloadError(Exception):
    def __init__(self, message: str, file: str = MODEL_FILE, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line


class _AsyncRunner:
    """One event loop in a daemon thread for a model's `async def` methods."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, awaitable: Any) -> Any:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="plinth-model-loop", daemon=True
                ).start()
        return asyncio.run_coroutine_threadsafe(_await(awaitable), self._loop).result()


async def _await(awaitable: Any) -> Any:
    if inspect.isasyncgen(awaitable):
        return [item async for item in awaitable]
    return await awaitable


def _location(error: BaseException, package_dir: Path) -> tuple[str, int | None]:
    """The package file and line where `error` was raised (deepest frame inside the package)."""
    if isinstance(error, SyntaxError) and error.filename:
        return Path(error.filename).name, error.lineno
    found: tuple[str, int | None] = (MODEL_FILE, None)
    root = str(package_dir.resolve())
    for frame, line in traceback.walk_tb(error.__traceback__):
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename.startswith(root + os.sep):
            found = (os.path.relpath(filename, root), line)
    return found


class _Loaded:
    """One imported and loaded instance of a package's model class."""

    def __init__(self, package: Package, runner: _AsyncRunner) -> None:
        self.package = package
        self.runner = runner
        config = package.config
        os.environ.update(config.environment_variables)
        self.module = self._import(package.path)
        cls = getattr(self.module, package.model_class)
        offered: dict[str, Any] = {
            "config": dict(config.engine.config),
            "secrets": {name: os.environ.get(name) for name in config.secrets},
            "environment": dict(config.environment_variables),
        }
        params = inspect.signature(cls).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            kwargs = offered
        else:
            kwargs = {k: v for k, v in offered.items() if k in params}
        self.instance = cls(**kwargs)
        self.takes_parameters = "parameters" in inspect.signature(self.instance.predict).parameters

    @staticmethod
    def _import(package_dir: Path) -> ModuleType:
        name = f"plinth_package_model_{next(_modules)}"
        spec = importlib.util.spec_from_file_location(name, package_dir / MODEL_FILE)
        if spec is None or spec.loader is None:
            raise ReloadError(f"cannot import {package_dir / MODEL_FILE}")
        global _package_path
        # Helper modules next to model.py import by their plain names: forget those of the
        # previous package version so that they are imported again from this one.
        if _package_path is not None:
            with contextlib.suppress(ValueError):
                sys.path.remove(_package_path)
            for key, module in list(sys.modules.items()):
                if (getattr(module, "__file__", None) or "").startswith(_package_path + os.sep):
                    del sys.modules[key]
        _package_path = str(package_dir)
        sys.path.insert(0, _package_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    def call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        if inspect.isawaitable(result) or inspect.isasyncgen(result):
            return self.runner.run(result)
        if inspect.isgenerator(result):
            return list(result)
        return result


class CustomEngine:
    """The engine of one package (see the module docstring)."""

    server_class: type[ReplicaServer]  # set below, once CustomReplicaServer exists
    batches = False  # a package's predict takes one request's inputs

    def __init__(self, model_path: str | Path, task: str = "custom") -> None:
        self.path = Path(model_path)
        self.task = task
        self._runner = _AsyncRunner()
        self._current: _Loaded | None = None
        self._reload_lock = threading.Lock()

    def check(self) -> None:
        try:
            load_package(self.path)
        except PackageError as exc:
            raise UnsupportedModel(str(exc)) from exc

    def preload(self) -> None:
        """Nothing to preload: custom replicas are never forked."""

    def load(self) -> dict[str, float]:
        try:
            return self._load(self.path)
        except ReloadError as exc:
            where = f"{exc.file}:{exc.line}: " if exc.line else f"{exc.file}: "
            raise EngineLoadError(where + exc.message) from exc

    def _load(self, path: Path) -> dict[str, float]:
        started = time.perf_counter()
        try:
            package = load_package(path)
        except PackageError as exc:
            first = exc.first
            raise ReloadError(str(exc), first.file, first.line or None) from exc
        try:
            loaded = _Loaded(package, self._runner)
            imported = time.perf_counter()
            loaded.call(loaded.instance.load)
        except Exception as exc:
            file, line = _location(exc, package.path)
            traceback.print_exc(file=sys.stderr)
            raise ReloadError(f"{type(exc).__name__}: {exc}", file, line) from exc
        done = time.perf_counter()
        self._current = loaded  # one reference swap: a running predict keeps the old one
        self.path = package.path
        return {"imports": round(imported - started, 4), "weights": round(done - imported, 4)}

    def reload(self, path: Path) -> dict[str, Any]:
        with self._reload_lock:  # one reload at a time; predictions continue meanwhile
            seconds = self._load(path)
        assert self._current is not None
        return {"digest": self._current.package.digest, "load_seconds": seconds}

    def predict(self, payload: Mapping[str, Any]) -> Any:
        loaded = self._current
        if loaded is None:
            raise EngineLoadError("the model is not loaded")
        if "inputs" not in payload:
            raise InvalidInput("missing 'inputs': send {\"inputs\": ...}")
        kwargs = {}
        if loaded.takes_parameters:
            kwargs["parameters"] = payload.get("parameters") or {}
        try:
            return loaded.call(loaded.instance.predict, payload["inputs"], **kwargs)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc

    def predict_batch(self, payloads: Sequence[Mapping[str, Any]]) -> list[Any]:
        return predict_each(self.predict, payloads)  # batches = False: one request at a time


class CustomReplicaServer(ReplicaServer):
    """The replica server plus `POST /-/reload` (development mode)."""

    def app(self) -> Any:
        app = super().app()
        app.router.routes.append(Route("/-/reload", self.reload, methods=["POST"]))
        return app

    async def reload(self, request: Request) -> JSONResponse:
        engine = self.engine
        assert isinstance(engine, CustomEngine)
        try:
            body = await request.json()
            path = Path(body["path"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {"error": {"type": "invalid_input", "message": 'send {"path": DIR}'}},
                status_code=422,
            )
        try:
            result = await asyncio.get_running_loop().run_in_executor(None, engine.reload, path)
        except ReloadError as exc:
            return JSONResponse(
                {
                    "error": {
                        "type": "reload_failed",
                        "message": exc.message,
                        "file": exc.file,
                        "line": exc.line,
                    }
                },
                status_code=422,
            )
        return JSONResponse({"reloaded": True, **result})


CustomEngine.server_class = CustomReplicaServer
