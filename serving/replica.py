"""The replica process: one model, loaded once, served over HTTP on 127.0.0.1.

    python -m serving.replica --replica-id R --deployment-id D --model-name M --model-path P
        --task T --engine transformers --max-concurrency N --host 127.0.0.1 --port PORT
        [--parent-pid PID] [--graceful-timeout 5]

The same `main(argv)` also runs inside a child forked by the fork server
(`serving.forkserver`), which has already imported the engine's libraries; the child passes how
long the fork took as `spawn_s`.

Lifecycle:
1. Arrange to die with the parent: PR_SET_PDEATHSIG(SIGKILL) first thing, plus a watchdog
   thread that exits when os.getppid() stops being --parent-pid (covers a parent that died
   before the prctl, and non-Linux systems).
2. Load the model (readiness = model loaded). On failure the last stderr line is
   "plinth-replica: failed to load model: <reason>" and the exit code is 3. SIGTERM while
   loading exits 0 at once.
3. Serve (uvicorn, one worker):
   GET /health -> {"status": "ok", "in_flight": n}
   GET /ready  -> {"ready": true, "start_method": "spawn" | "fork",
                   "load_seconds": {spawn, imports, weights, warmup, bind, total}}
     Cold-start phases in seconds: spawn = from the runtime's start() (PLINTH_START_REQUESTED_AT,
     a time.monotonic() value; else the process's age) to this code running; imports = the
     engine's libraries (about 0 when forked); weights = tokenizer and weights; warmup = the
     first forward pass; bind = the HTTP server starting to listen; total = all of them, i.e.
     start() to the moment /ready can answer.
   POST /predict {"inputs": ..., "parameters": {...}} -> the engine's JSON answer;
     422 {"error": {"type": "invalid_input", "message", "field"}} for a bad body,
     429 {"error": {"type": "overloaded", ...}} when max-concurrency requests are in flight,
     500 {"error": {"type": "engine_error", "message"}} when the engine fails.
   Predictions run in a thread pool of max-concurrency threads, off the event loop, unless the
   engine says its predict never blocks (`inline = True`, the no-op engine): then on the loop.
     With dynamic batching on (--max-batch-size > 1; defaults per task, see
     `serving.engines.batching`), concurrent requests share forward passes.
   POST /predict_stream {"inputs": "prompt" | "messages": [...], "parameters": {...}} -> server-
     sent events of the generated text (`serving.sse`); errors before the first event as above.
     The request holds a concurrency slot until its generation ends; a client that disconnects
     stops the generation within one token.
   GET /health also reports "streams" (generations running), "streams_cancelled" (stopped early
     because their client left) and "batching" (config, and counts when on).
4. SIGTERM: stop accepting, let in-flight requests finish for up to --graceful-timeout seconds,
   exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import functools
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving.engines import Engine, EngineError, InvalidInput, get_engine
from serving.engines.base import BATCHES_ATTRIBUTE, INLINE_ATTRIBUTE
from serving.engines.batching import Batcher, BatchingConfig
from serving.replica_client import REPLICA_KEEP_ALIVE_S
from serving.replica_stream import ReplicaStreams

EXIT_LOAD_FAILED = 3
EXIT_SERVE_FAILED = 4
EXIT_PARENT_GONE = 5
_PR_SET_PDEATHSIG = 1
REQUESTED_AT_ENV = "PLINTH_START_REQUESTED_AT"


def log(message: str) -> None:
    print(f"plinth-replica: {message}", file=sys.stderr, flush=True)


@functools.cache
def libc() -> ctypes.CDLL:
    """This process' C library (dlopen(NULL): no ldconfig subprocess, unlike find_library)."""
    return ctypes.CDLL(None, use_errno=True)


def set_parent_death_signal() -> None:
    """Ask Linux to SIGKILL us when the thread that spawned us exits."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc().prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError) as error:  # the watchdog still covers us
        log(f"could not set PR_SET_PDEATHSIG: {error}")


def watch_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Exit the process as soon as parent_pid is no longer our parent."""

    def loop() -> None:
        while True:
            if os.getppid() != parent_pid:
                log(f"parent process {parent_pid} is gone; exiting")
                os._exit(EXIT_PARENT_GONE)
            time.sleep(interval_s)

    if os.getppid() != parent_pid:
        log(f"parent process {parent_pid} is gone; exiting")
        os._exit(EXIT_PARENT_GONE)
    threading.Thread(target=loop, name="plinth-parent-watch", daemon=True).start()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serving.replica", description=__doc__)
    parser.add_argument("--replica-id", required=True)
    parser.add_argument("--deployment-id", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--engine", default="transformers")
    parser.add_argument("--max-concurrency", type=int, default=4)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--graceful-timeout", type=float, default=5.0)
    parser.add_argument("--max-batch-size", type=int, default=None)
    parser.add_argument("--max-batch-wait-ms", type=float, default=None)
    args = parser.parse_args(argv)
    if args.max_concurrency < 1:
        parser.error("--max-concurrency must be 1 or more")
    try:
        args.batching = BatchingConfig.for_task(
            args.task, max_batch_size=args.max_batch_size, max_wait_ms=args.max_batch_wait_ms
        )
    except ValueError as error:
        parser.error(f"batching: {error}")
    return args


def _error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status_code=status)


class ReplicaServer:
    """The HTTP face of one loaded engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_concurrency: int,
        load_seconds: dict[str, float],
        batching: BatchingConfig | None = None,
        **info: str,
    ) -> None:
        self.engine = engine
        self.max_concurrency = max_concurrency
        self.load_seconds = load_seconds
        self.info = info
        self.in_flight = 0
        # An engine whose predict never blocks (INLINE_ATTRIBUTE, e.g. the no-op engine) runs on
        # the event loop: a thread hop would cost more than the call.
        self.inline = bool(getattr(engine, INLINE_ATTRIBUTE, False))
        self.executor = ThreadPoolExecutor(max_concurrency, thread_name_prefix="plinth-predict")
        self.batching = batching or BatchingConfig()
        self.batcher: Batcher | None = None
        if self.batching.enabled:
            self.batcher = Batcher(engine.predict_batch, self.batching, executor=self.executor)
        self.streams = ReplicaStreams(engine, self.executor)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/ready", self.ready, methods=["GET"]),
                Route("/predict", self.predict, methods=["POST"]),
                Route("/predict_stream", self.predict_stream, methods=["POST"]),
            ]
        )

    async def health(self, request: Request) -> JSONResponse:
        batching: dict[str, Any] = {
            "max_batch_size": self.batching.max_batch_size,
            "max_wait_ms": self.batching.max_wait_ms,
        }
        if self.batcher is not None:
            batching.update(self.batcher.stats.as_dict())
        return JSONResponse(
            {
                "status": "ok",
                "in_flight": self.in_flight,
                "streams": self.streams.active,
                "streams_cancelled": self.streams.cancelled,
                "batching": batching,
            }
        )

    async def ready(self, request: Request) -> JSONResponse:
        return JSONResponse({"ready": True, "load_seconds": self.load_seconds, **self.info})

    async def predict(self, request: Request) -> JSONResponse:
        # The event loop is single-threaded: check-and-increment cannot race.
        if self.in_flight >= self.max_concurrency:
            return _error(
                429,
                "overloaded",
                f"replica is at max_concurrency ({self.max_concurrency} requests in flight)",
            )
        self.in_flight += 1
        try:
            return await self._predict(request)
        finally:
            self.in_flight -= 1

    async def _predict(self, request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body())
        except ValueError as error:
            return _error(422, "invalid_input", f"body is not JSON: {error}", field="body")
        if not isinstance(payload, dict):
            return _error(422, "invalid_input", "body must be a JSON object", field="body")
        try:
            if self.batcher is not None:
                result = await self.batcher.submit(payload)
            elif self.inline:
                result = self.engine.predict(payload)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self.executor, self.engine.predict, payload)
            return JSONResponse(result)  # rendering can fail too (NaN, odd types): an engine bug
        except InvalidInput as error:
            return _error(422, "invalid_input", error.message, field=error.field)
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            message = error.message if isinstance(error, EngineError) else str(error)
            return _error(500, "engine_error", f"{type(error).__name__}: {message}")

    async def predict_stream(self, request: Request) -> Response:
        if self.in_flight >= self.max_concurrency:
            return _error(
                429,
                "overloaded",
                f"replica is at max_concurrency ({self.max_concurrency} requests in flight)",
            )
        try:
            payload = json.loads(await request.body())
        except ValueError as error:
            return _error(422, "invalid_input", f"body is not JSON: {error}", field="body")
        if not isinstance(payload, dict):
            return _error(422, "invalid_input", "body must be a JSON object", field="body")
        try:
            job = self.streams.prepare(payload)
        except InvalidInput as error:
            return _error(422, "invalid_input", error.message, field=error.field)
        except EngineError as error:
            return _error(500, "engine_error", error.message)
        # The slot is held until the generation thread ends (a disconnect stops it early).
        self.in_flight += 1
        return self.streams.response(job, on_end=self._stream_ended)

    def _stream_ended(self) -> None:
        self.in_flight -= 1


def _process_age_s() -> float:
    """Seconds since this process started (interpreter start-up included), 10 ms resolution."""
    try:
        # Both numbers count from boot in the kernel's clock ticks / seconds: no wall clock.
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):  # not Linux: the phase is informational
        return 0.0


def spawn_seconds() -> float:
    """Seconds from the runtime asking for this replica to now (see the module docstring)."""
    raw = os.environ.get(REQUESTED_AT_ENV, "")
    try:
        # time.monotonic() is CLOCK_MONOTONIC on Linux: one clock for every process.
        return max(0.0, time.monotonic() - float(raw))
    except ValueError:
        return _process_age_s()


def load_engine(args: argparse.Namespace, spawn_s: float) -> tuple[Engine, dict[str, float]]:
    started = time.perf_counter()
    engine = get_engine(args.engine, args.task, args.model_path)
    engine.check()
    phases = engine.load()
    total = spawn_s + time.perf_counter() - started
    return engine, {"spawn": round(spawn_s, 4), **phases, "total": round(total, 4)}


class _TimedServer(uvicorn.Server):
    """uvicorn's server, noting when it listens: the `bind` phase of the cold start."""

    def __init__(self, config: uvicorn.Config, load_seconds: dict[str, float]) -> None:
        super().__init__(config)
        self.load_seconds = load_seconds
        self._started = time.perf_counter()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            bind = time.perf_counter() - self._started
            self.load_seconds["bind"] = round(bind, 4)
            self.load_seconds["total"] = round(self.load_seconds.get("total", 0.0) + bind, 4)


def server_config(app: Starlette, host: str, port: int, graceful_s: float) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        lifespan="off",
        log_level="warning",
        access_log=False,
        # Longer than the gateway keeps an idle connection (serving.replica_client): the replica
        # never closes a connection just as the gateway writes a request on it.
        timeout_keep_alive=REPLICA_KEEP_ALIVE_S,
        # Annotated int, but uvicorn uses it as a float timeout.
        timeout_graceful_shutdown=max(0.1, graceful_s),  # type: ignore[arg-type]
    )


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (uvicorn[standard] brings it), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] is a dependency
        return None
    return uvloop.new_event_loop


def preload_server() -> None:
    """Import the modules uvicorn picks when it loads its config (for a fork server: about
    30 ms less per forked replica). Binds nothing, starts no thread."""
    server_config(Starlette(), "127.0.0.1", 0, 1.0).load()
    event_loop_factory()


def quiet_libraries() -> None:
    # Progress bars and load reports would flood replica logs; errors still get through.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # The model path is local; nothing in a replica may reach a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None, *, spawn_s: float | None = None) -> int:
    """Run a replica until SIGTERM; return its exit code. `spawn_s`: set by a fork server."""
    spawn = spawn_seconds() if spawn_s is None else spawn_s
    set_parent_death_signal()
    args = parse_args(argv)
    if args.parent_pid is not None:
        watch_parent(args.parent_pid)

    def exit_now(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_now)  # while loading there is nothing to drain
    quiet_libraries()
    try:
        engine, load_seconds = load_engine(args, spawn)
    except EngineError as error:
        log(f"failed to load model: {error.message}")
        return EXIT_LOAD_FAILED
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        log(f"failed to load model: {type(error).__name__}: {error}")
        return EXIT_LOAD_FAILED
    log(f"model {args.model_name} ({args.task}) loaded: {json.dumps(load_seconds)}")

    # An engine that gains nothing from batching (BATCHES_ATTRIBUTE) runs one request at a time
    # unless the deployment asked for a batch size.
    batching: BatchingConfig = args.batching
    if args.max_batch_size is None and not getattr(engine, BATCHES_ATTRIBUTE, True):
        batching = dataclasses.replace(batching, max_batch_size=1)
    # An engine may extend the server (the custom engine adds POST /-/reload).
    server_class: type[ReplicaServer] = getattr(engine, "server_class", ReplicaServer)
    server = server_class(
        engine,
        max_concurrency=args.max_concurrency,
        load_seconds=load_seconds,
        replica_id=args.replica_id,
        deployment_id=args.deployment_id,
        model_name=args.model_name,
        task=args.task,
        start_method="spawn" if spawn_s is None else "fork",
        batching=batching,
    )
    config = server_config(server.app(), args.host, args.port, args.graceful_timeout)
    # uvicorn handles SIGTERM/SIGINT while serving (graceful drain), then re-raises the signal
    # against the handler installed here: make that a no-op so a drained replica exits 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: None)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_TimedServer(config, load_seconds).serve())
    except SystemExit as exit_:  # uvicorn exits when it cannot bind
        if exit_.code:
            log(f"could not serve on {args.host}:{args.port} (see the error above)")
            return EXIT_SERVE_FAILED
    server.executor.shutdown(wait=False, cancel_futures=True)
    log("stopped")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: a generation still running past the graceful timeout would
    # otherwise hold the exit until it finished.
    os._exit(code)
