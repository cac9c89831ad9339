"""Replicas as local child processes: `python -m serving.replica ...`, one per replica.

Contract:
- `start(spec)` picks a free 127.0.0.1 port, spawns the replica with the contract's command line
  plus `--parent-pid`, appends its stdout and stderr to `log_dir/<model_name>/<replica_id>.log`,
  and returns at once (the replica loads its model in the background).
- Children die with their parent: the child sets PR_SET_PDEATHSIG(SIGKILL) between fork and
  exec. The kernel sends that signal when the *thread* that forked exits, not the process, so
  `start` must be called from the event-loop thread (which lives as long as the process) and
  never from a thread pool. The replica also checks `--parent-pid` itself in case its parent
  died before the prctl ran.
- `ready`/`healthy` probe GET /ready and GET /health with a short timeout; `poll` returns the exit
  code; `stop` sends SIGTERM, then SIGKILL after the grace, and reaps the process; `tail` reads the
  end of the log for error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from serving.runtime import ReplicaHandle
from serving.spec import ReplicaSpec

_PR_SET_PDEATHSIG = 1
_PROBE_TIMEOUT_S = 1.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (another process may take it before the replica binds;
    the replica then exits and the controller replaces it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float | None) -> bool:
    """Wait until the process has exited (and is reaped); False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    # Popen has no awaitable wait and a blocking wait would stall the loop: poll gently.
    while proc.poll() is None:
        if deadline is not None and loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _pdeathsig_preexec() -> Callable[[], None] | None:
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
    ) -> None:
        self.log_dir = Path(log_dir)
        self.python = python
        self.env = dict(env or {})
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Path] = {}
        self._client: httpx.AsyncClient | None = None
        self._preexec = _pdeathsig_preexec()

    def command(self, spec: ReplicaSpec, port: int) -> list[str]:
        return [
            self.python,
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
        ]

    def log_path(self, spec: ReplicaSpec) -> Path:
        return self.log_dir / spec.model_name / f"{spec.replica_id}.log"

    def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        port = free_port()
        log_path = self.log_path(spec)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with open(log_path, "ab") as log:
            # Popen directly in the calling (event-loop) thread: see the module docstring.
            proc = subprocess.Popen(
                self.command(spec, port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=False,
                preexec_fn=self._preexec,  # only prctl, resolved before the fork
            )
        self._procs[spec.replica_id] = proc
        self._logs[spec.replica_id] = log_path
        return ReplicaHandle(
            replica_id=spec.replica_id,
            base_url=f"http://127.0.0.1:{port}",
            pid=proc.pid,
            port=port,
        )

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

    def poll(self, handle: ReplicaHandle) -> int | None:
        proc = self._procs.get(handle.replica_id)
        return None if proc is None else proc.poll()

    async def stop(self, handle: ReplicaHandle, grace_s: float = 10.0) -> None:
        proc = self._procs.get(handle.replica_id)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            if not await _wait_exit(proc, grace_s):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await _wait_exit(proc, None)  # reap; SIGKILL cannot be ignored

    def tail(self, handle: ReplicaHandle, n: int = 20) -> str:
        path = self._logs.get(handle.replica_id)
        if path is None:
            return ""
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 64 * 1024))
                data = f.read()
        except OSError:
            return ""
        lines = data.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-n:])

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
