"""The platform's side of one fork server: launch it, ask it to fork, learn how replicas exit.

Used by `serving.runtime_local.LocalProcessRuntime` from the event-loop thread only; nothing
here starts a thread. `ForkServer.launch` returns at once (the server imports its libraries in
the background, state "starting"); `pump()` handles every message waiting on the socket without
blocking and moves the state to "ready", "failed" (it could not import, or is not
single-threaded) or "lost" (the process ended: end-of-file on the socket).

`fork()` blocks for the server's answer (a fork takes milliseconds; `timeout_s` bounds it) and
returns the replica's pid, or raises ForkUnavailable. The answer carries a pidfd of the replica,
kept here: signals go through it, so a pid reused after the replica was reaped can never be hit,
and once the server is lost the pidfd still tells when its replicas are gone.

Exit codes (`exit_code(pid)`) follow Popen.returncode: the server reaps each replica and reports
its status. Replicas of a lost server received SIGKILL from their PR_SET_PDEATHSIG: once their
pidfd says they exited, their code is -9.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from serving.forkserver import protocol

State = Literal["starting", "ready", "failed", "lost"]


class ForkUnavailable(Exception):
    """The fork server did not fork this replica; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ForkServer:
    """One running `python -m serving.forkserver.server` (see the module docstring)."""

    def __init__(
        self,
        engine: str,
        process: subprocess.Popen[bytes],
        sock: socket.socket,
        env: Mapping[str, str],
    ) -> None:
        self.engine = engine
        self.process = process
        self.env = dict(env)
        self.state: State = "starting"
        self.reason = ""
        self.preload_s = 0.0
        self._sock: socket.socket | None = sock
        self._next_id = 0
        self._replies: dict[str, protocol.Message] = {}
        self._pidfds: dict[int, int] = {}
        self._exits: dict[int, int] = {}

    @classmethod
    def launch(
        cls,
        *,
        engine: str,
        python: str,
        env: Mapping[str, str],
        log_path: Path,
        preexec_fn: Callable[[], None] | None,
    ) -> ForkServer:
        """Start the server process now; it becomes ready seconds later (see `pump`)."""
        ours, theirs = protocol.socket_pair()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_path, "ab") as log:
                command = [python, "-m", "serving.forkserver.server", "--engine", engine]
                command += ["--parent-pid", str(os.getpid()), "--control-fd", str(theirs.fileno())]
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env),
                    pass_fds=(theirs.fileno(),),
                    preexec_fn=preexec_fn,  # PR_SET_PDEATHSIG: it dies with this process
                )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        return cls(engine, process, ours, env)

    # -- messages ------------------------------------------------------------------------------

    def pump(self) -> None:
        """Handle every message already waiting; never blocks."""
        while self._sock is not None:
            try:
                message, fds = protocol.receive(self._sock)
            except (BlockingIOError, InterruptedError):
                return
            except (OSError, protocol.ProtocolError) as error:
                self._lose(f"control socket failed: {error}")
                return
            if message is None:
                self._lose("the fork server exited")
                return
            self._handle(message, fds)

    def _handle(self, message: protocol.Message, fds: list[int]) -> None:
        op = message["op"]
        if op == "forked" and isinstance(message.get("pid"), int):
            if fds:
                self._pidfds[message["pid"]] = fds.pop(0)
            self._replies[str(message.get("id"))] = message
        elif op == "refused":
            self._replies[str(message.get("id"))] = message
        elif op == "exited" and isinstance(message.get("pid"), int):
            pid = message["pid"]
            self._exits[pid] = int(message.get("code", -1))
            pidfd = self._pidfds.pop(pid, None)
            if pidfd is not None:
                os.close(pidfd)
        elif op == "ready":
            self.state = "ready"
            self.preload_s = float(message.get("preload_s", 0.0))
        elif op == "failed":
            self.state = "failed"
            self.reason = str(message.get("reason", "the fork server failed"))
        for fd in fds:
            os.close(fd)

    def _lose(self, reason: str) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        code = self.process.poll()
        if self.state != "failed":
            self.state = "lost"
            self.reason = reason if code is None else f"{reason} (code {code})"

    # -- forking -------------------------------------------------------------------------------

    def fork(
        self,
        *,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        requested_at: float,
        model: Mapping[str, str],
        timeout_s: float = 5.0,
    ) -> int:
        """Fork a replica running `serving.replica.main(argv)`; its pid."""
        self.pump()
        if self.state != "ready" or self._sock is None:
            raise ForkUnavailable(f"fork server is {self.state}: {self.reason}".rstrip(": "))
        self._next_id += 1
        request_id = str(self._next_id)
        request = {
            "op": "fork",
            "id": request_id,
            "argv": list(argv),
            "env": dict(env),
            "cwd": os.getcwd(),
            "log": str(log_path),
            "requested_at": requested_at,
            "model": dict(model),
        }
        try:
            protocol.send(self._sock, request)
            reply = self._await_reply(request_id, timeout_s)
        except (OSError, protocol.ProtocolError) as error:
            # A late answer would leave a replica nobody tracks: end the server and its children.
            self.kill(f"no answer to a fork request: {error}")
            raise ForkUnavailable(self.reason) from error
        if reply["op"] == "refused":
            raise ForkUnavailable(str(reply.get("reason", "refused")))
        pid: int = reply["pid"]
        return pid

    def _await_reply(self, request_id: str, timeout_s: float) -> protocol.Message:
        assert self._sock is not None
        self._sock.settimeout(timeout_s)  # the event loop waits: forks answer in milliseconds
        try:
            while request_id not in self._replies:
                message, fds = protocol.receive(self._sock)
                if message is None:
                    raise ConnectionResetError("the fork server exited")
                self._handle(message, fds)
        finally:
            if self._sock is not None:
                self._sock.setblocking(False)
        return self._replies.pop(request_id)

    def learn(self, model: Mapping[str, str]) -> None:
        """Ask the server to preload a model's modules and read its weights ahead."""
        if self._sock is not None and self.state in ("starting", "ready"):
            with contextlib.suppress(OSError):
                protocol.send(self._sock, {"op": "learn", "model": dict(model)})

    # -- replicas ------------------------------------------------------------------------------

    def exit_code(self, pid: int) -> int | None:
        """The replica's exit code once it has exited, else None."""
        self.pump()
        code = self._exits.get(pid)
        if code is None and self._sock is None and self._gone(pid):
            code = self._exits[pid] = -int(signal.SIGKILL)  # its PR_SET_PDEATHSIG fired
            pidfd = self._pidfds.pop(pid, None)
            if pidfd is not None:
                os.close(pidfd)
        return code

    def _gone(self, pid: int) -> bool:
        pidfd = self._pidfds.get(pid)
        if pidfd is not None:
            readable, _, _ = select.select([pidfd], [], [], 0)  # readable once it has exited
            return bool(readable)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state in ("Z", "X")

    def send_signal(self, pid: int, signum: int) -> None:
        """Signal a replica unless it has exited; through its pidfd when there is one."""
        if self.exit_code(pid) is not None:
            return
        pidfd = self._pidfds.get(pid)
        with contextlib.suppress(ProcessLookupError):
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signum)
            else:
                os.kill(pid, signum)

    # -- ending --------------------------------------------------------------------------------

    def kill(self, reason: str) -> None:
        """End the server now; its replicas get SIGKILL from their PR_SET_PDEATHSIG."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self._lose(reason)

    def close(self) -> None:
        """Close the control socket: the server exits, and any replica it still has dies."""
        if self.state == "starting":  # busy importing: it would notice only when done
            self.kill("closed by the platform while starting")
        else:
            self._lose("closed by the platform")

    def reaped(self) -> bool:
        """True once the server process has exited and been reaped."""
        return self.process.poll() is not None
