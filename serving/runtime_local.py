"""Replicas as local processes: forked from a fork server, or `python -m serving.replica ...`.

Contract:
- `start(spec)` picks a free 127.0.0.1 port and starts the replica with the contract's command
  line plus `--parent-pid`, its stdout and stderr appended to
  `log_dir/<model_name>/<replica_id>.log`, and returns at once (the replica loads its model in
  the background). It starts it one of two ways (`ReplicaHandle.start_method`):
  - "fork": the engine's fork server (`serving.forkserver`), a process that has already imported
    torch and transformers, forks it in milliseconds. The fork server is started lazily by the
    first `start` for its engine (that replica is spawned while the server imports), or eagerly
    by `await prewarm()`. Its own log is `log_dir/_forkserver/<engine>.log`.
  - "spawn": a new interpreter (`python -m serving.replica`), always for engine "custom" (with
    the package's interpreter, `serving.package_env.package_interpreter`), and whenever the
    fork server cannot be used: disabled (`fork_server=False`), still importing, failed or
    lost (restarted at most `MAX_FORK_SERVER_LAUNCHES` times), a subclass overriding
    `command()`, or environment variables that libraries read at import time (HF_*,
    TRANSFORMERS_*, OMP_*, ...) that differ from the fork server's. The reason is logged once.
  Either way the replica learns when `start` was called (PLINTH_START_REQUESTED_AT, or the fork
  request) and reports its cold start by phase at GET /ready, which `ready()` copies into
  `handle.load_seconds`.
- Children die with their parent: the child sets PR_SET_PDEATHSIG(SIGKILL) between fork and
  exec. The kernel sends that signal when the *thread* that forked exits, not the process, so
  `start` must be called from the event-loop thread (which lives as long as the process) and
  never from a thread pool. The replica also checks `--parent-pid` itself in case its parent
  died before the prctl ran.
  A forked replica has PR_SET_PDEATHSIG towards its fork server, which has it towards this
  process' event-loop thread: killing the platform kills both.
- `ready`/`healthy` probe GET /ready and GET /health with a short timeout; `poll` returns the exit
  code (for a forked replica, as reported by the fork server that reaps it); `stop` sends
  SIGTERM, then SIGKILL after the grace, and waits until the process is reaped; `tail` reads the
  end of the log for error messages. `aclose` also ends the fork servers (any forked replica still
  running dies with them).
- Logs are rotated by copy-truncate (`serving.logfiles`: why, and the file names): `poll`, which
  the controller calls every tick, checks the size of every replica and fork-server log at most
  once per `ROTATE_CHECK_S` and rotates those over `log_max_bytes`, keeping `log_backups`
  generations.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx

from serving import logfiles
from serving.forkserver import ForkServer, ForkUnavailable
from serving.package_env import package_interpreter
from serving.runtime import ReplicaHandle
from serving.spec import ReplicaSpec

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PROBE_TIMEOUT_S = 1.0
MAX_FORK_SERVER_LAUNCHES = 3
ROTATE_CHECK_S = 1.0
REQUESTED_AT_ENV = "PLINTH_START_REQUESTED_AT"  # read by serving.replica.spawn_seconds
# Read by torch, transformers, huggingface_hub, tokenizers or OpenMP when they are imported: a
# fork server imported them under its own values, so a replica needing others must be spawned.
# (Variables read lazily, like TORCHINDUCTOR_*, reach a forked replica through its environment.)
IMPORT_TIME_ENV_PREFIXES = (
    "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "SAFETENSORS_", "TORCH_", "PYTORCH_",
    "CUDA_", "OMP_", "KMP_", "MKL_", "OPENBLAS_", "XDG_", "HOME", "PYTHON", "LD_", "USE_",
)  # fmt: skip


def import_time_env(env: Mapping[str, str]) -> dict[str, str]:
    """The part of an environment that libraries freeze when they are imported."""
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_ENV_PREFIXES)}


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (another process may take it before the replica binds;
    the replica then exits and the controller replaces it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def pdeathsig_preexec() -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive SIGKILL when the spawning thread exits."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolve libc and prctl in the parent: after fork only async-signal-safe work is wise.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)

    return set_pdeathsig


class LocalProcessRuntime:
    """Runs each replica as a child process of this one (see the module docstring)."""

    def __init__(
        self,
        log_dir: Path,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        *,
        fork_server: bool = True,
        log_max_bytes: int = logfiles.MAX_BYTES,
        log_backups: int = logfiles.BACKUPS,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.log_max_bytes = log_max_bytes
        self.log_backups = log_backups
        self._rotated_at = float("-inf")
        self.python = python
        self.env = dict(env or {})
        self.fork_server = fork_server
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._forked: dict[str, tuple[ForkServer, int]] = {}
        self._servers: dict[str, ForkServer] = {}
        self._launches: dict[str, int] = {}
        self._retired: list[ForkServer] = []
        self._said: set[str] = set()
        self._logs: dict[str, Path] = {}
        self._client: httpx.AsyncClient | None = None
        self._preexec = pdeathsig_preexec()

    def command(self, spec: ReplicaSpec, port: int) -> list[str]:
        python = self.python
        if spec.engine == "custom":  # the package's own environment (serving.package_env)
            python = package_interpreter(Path(spec.model_path), default=self.python)
        batching: list[str] = []
        if spec.max_batch_size is not None:
            batching += ["--max-batch-size", str(spec.max_batch_size)]
        if spec.max_batch_wait_ms is not None:
            batching += ["--max-batch-wait-ms", repr(spec.max_batch_wait_ms)]
        return [
            python,
            "-m",
            "serving.replica",
            "--replica-id",
            spec.replica_id,
            "--deployment-id",
            spec.deployment_id,
            "--model-name",
            spec.model_name,
            "--model-path",
            spec.model_path,
            "--task",
            spec.task,
            "--engine",
            spec.engine,
            "--max-concurrency",
            str(spec.max_concurrency),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--parent-pid",
            str(os.getpid()),
            *batching,
        ]

    def log_path(self, spec: ReplicaSpec) -> Path:
        return self.log_dir / spec.model_name / f"{spec.replica_id}.log"

    def replica_env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}

    def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        requested_at = time.monotonic()
        port = free_port()
        log_path = self.log_path(spec)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**self.replica_env(), **spec.env}  # the deployment's secrets, never logged
        self._logs[spec.replica_id] = log_path
        # A custom package runs in its own interpreter: never forked from the platform's.
        server = None if spec.engine == "custom" else self._usable_fork_server(spec, env)
        if server is not None:
            try:
                pid = server.fork(
                    argv=self.command(spec, port)[3:],
                    env=env,
                    log_path=log_path,
                    requested_at=requested_at,
                    model=_model(spec),
                )
            except ForkUnavailable as error:
                self._say(f"fork server for {spec.engine} could not fork: {error.reason}")
            else:
                self._forked[spec.replica_id] = (server, pid)
                return self._handle(spec, port, pid, "fork")
        env[REQUESTED_AT_ENV] = repr(requested_at)
        with open(log_path, "ab") as log_file:
            # Popen directly in the calling (event-loop) thread: see the module docstring.
            proc = subprocess.Popen(
                self.command(spec, port),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=False,
                preexec_fn=self._preexec,  # only prctl, resolved before the fork
            )
        self._procs[spec.replica_id] = proc
        return self._handle(spec, port, proc.pid, "spawn")

    @staticmethod
    def _handle(spec: ReplicaSpec, port: int, pid: int, method: str) -> ReplicaHandle:
        return ReplicaHandle(
            replica_id=spec.replica_id,
            base_url=f"http://127.0.0.1:{port}",
            pid=pid,
            port=port,
            start_method=method,
        )

    # -- fork servers --------------------------------------------------------------------------

    async def prewarm(
        self,
        specs: Iterable[ReplicaSpec] = (),
        *,
        engines: Iterable[str] = ("transformers",),
        timeout_s: float = 120.0,
    ) -> bool:
        """Start the fork servers now and preload the models of `specs`, so that the next
        replicas are forked; True once every fork server asked for is ready."""
        specs = list(specs)
        wanted = dict.fromkeys([*engines, *(spec.engine for spec in specs)])
        wanted.pop("custom", None)  # custom replicas are always spawned
        if not self.fork_server or not self._fork_supported():
            return False
        for engine in wanted:
            self._server_for(engine, self.replica_env())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            servers = [self._servers.get(engine) for engine in wanted]
            for server in servers:
                if server is not None:
                    server.pump()
            if all(server is None or server.state != "starting" for server in servers):
                break
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        for spec in specs:
            server = self._servers.get(spec.engine)
            if server is not None:
                server.learn(_model(spec))
        return all(server is not None and server.state == "ready" for server in servers)

    def _fork_supported(self) -> bool:
        if type(self).command is not LocalProcessRuntime.command:
            self._say("command() is overridden; replicas are spawned with it")
            return False
        if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
            self._say("fork servers need Linux with pidfd_open; replicas are spawned")
            return False
        return True

    def _usable_fork_server(self, spec: ReplicaSpec, env: dict[str, str]) -> ForkServer | None:
        if not self.fork_server or not self._fork_supported():
            return None
        server = self._server_for(spec.engine, env)
        if server is None:
            return None
        server.pump()
        if server.state == "starting":
            self._say(f"fork server for {spec.engine} is still importing; spawning meanwhile")
            return None
        if server.state != "ready":
            self._say(f"fork server for {spec.engine} unusable ({server.reason}); spawning")
            return None
        before, now = import_time_env(server.env), import_time_env(env)
        if before != now:
            changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
            self._say(
                f"{', '.join(changed)} changed since the {spec.engine} fork server started "
                "(libraries read them at import); spawning"
            )
            return None
        return server

    def _server_for(self, engine: str, env: Mapping[str, str]) -> ForkServer | None:
        """The engine's fork server, launched (or relaunched after a loss) when needed."""
        server = self._servers.get(engine)
        if server is not None:
            server.pump()
            if server.state != "lost":
                return server
            self._say(f"fork server for {engine} was lost: {server.reason}", once=False)
            self._retired.append(self._servers.pop(engine))
        launches = self._launches.get(engine, 0)
        if launches >= MAX_FORK_SERVER_LAUNCHES:
            self._say(f"fork server for {engine} lost {launches} times; replicas are spawned")
            return None
        self._launches[engine] = launches + 1
        try:
            server = ForkServer.launch(
                engine=engine,
                python=self.python,
                env=env,
                log_path=self.log_dir / "_forkserver" / f"{engine}.log",
                preexec_fn=self._preexec,
            )
        except OSError as error:
            self._say(f"could not start the fork server for {engine}: {error}", once=False)
            return None
        log.info("started fork server for %s (pid %s)", engine, server.process.pid)
        self._servers[engine] = server
        return server

    def _say(self, message: str, *, once: bool = True) -> None:
        if not once or message not in self._said:
            self._said.add(message)
            log.warning("%s", message)

    def fork_server_pid(self, engine: str = "transformers") -> int | None:
        """The pid of the engine's fork server process, if one was started."""
        server = self._servers.get(engine)
        return None if server is None else server.process.pid

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=_PROBE_TIMEOUT_S, trust_env=False)
        return self._client

    async def _get(self, handle: ReplicaHandle, path: str) -> httpx.Response | None:
        try:
            return await self._http().get(handle.base_url + path)
        except httpx.HTTPError:
            return None

    async def ready(self, handle: ReplicaHandle) -> bool:
        resp = await self._get(handle, "/ready")
        if resp is None or resp.status_code != 200:
            return False
        try:
            data = resp.json()
        except ValueError:
            return False
        if not isinstance(data, dict) or data.get("ready") is not True:
            return False
        phases = data.get("load_seconds")
        if isinstance(phases, dict):
            handle.load_seconds = {
                str(k): float(v) for k, v in phases.items() if isinstance(v, int | float)
            }
        return True

    async def healthy(self, handle: ReplicaHandle) -> bool:
        resp = await self._get(handle, "/health")
        return resp is not None and resp.status_code == 200

    def rotate_logs(self) -> None:
        """Rotate every log this runtime writes that has outgrown `log_max_bytes`."""
        self._rotated_at = time.monotonic()
        forkserver_logs = (self.log_dir / "_forkserver").glob("*.log")
        for path in [*self._logs.values(), *forkserver_logs]:
            try:
                logfiles.rotate(path, self.log_max_bytes, self.log_backups)
            except OSError as error:  # a full disk must not stop the controller
                self._say(f"could not rotate {path}: {error}", once=False)

    def poll(self, handle: ReplicaHandle) -> int | None:
        if time.monotonic() - self._rotated_at >= ROTATE_CHECK_S:
            self.rotate_logs()
        self._retired = [server for server in self._retired if not server.reaped()]
        forked = self._forked.get(handle.replica_id)
        if forked is not None:
            server, pid = forked
            return server.exit_code(pid)
        proc = self._procs.get(handle.replica_id)
        return None if proc is None else proc.poll()

    async def stop(self, handle: ReplicaHandle, grace_s: float = 10.0) -> None:
        if handle.replica_id not in self._forked and handle.replica_id not in self._procs:
            return
        if self.poll(handle) is None:
            self._signal(handle, signal.SIGTERM)
            if not await self._wait_exit(handle, grace_s):
                self._signal(handle, signal.SIGKILL)
                await self._wait_exit(handle, None)  # reaped; SIGKILL cannot be ignored

    def _signal(self, handle: ReplicaHandle, signum: int) -> None:
        forked = self._forked.get(handle.replica_id)
        if forked is not None:
            server, pid = forked
            server.send_signal(pid, signum)
            return
        with contextlib.suppress(ProcessLookupError):
            self._procs[handle.replica_id].send_signal(signum)

    async def _wait_exit(self, handle: ReplicaHandle, timeout_s: float | None) -> bool:
        """Wait until the replica has exited and been reaped; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        # Neither Popen nor the fork server's report is awaitable: poll gently.
        while self.poll(handle) is None:
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def tail(self, handle: ReplicaHandle, n: int = 20) -> str:
        path = self._logs.get(handle.replica_id)
        if path is None:
            return ""
        try:
            return "\n".join(logfiles.tail_lines(path, n, self.log_backups))
        except OSError:
            return ""

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._retired.extend(self._servers.values())
        self._servers.clear()
        for server in self._retired:
            server.close()  # it exits on end-of-file
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while any(not server.reaped() for server in self._retired):
            if loop.time() >= deadline:
                for server in self._retired:
                    server.kill("did not exit after its socket closed")
                deadline = loop.time() + 5.0
            await asyncio.sleep(0.02)
        self._retired.clear()


def _model(spec: ReplicaSpec) -> dict[str, str]:
    return {"engine": spec.engine, "task": spec.task, "path": spec.model_path}
