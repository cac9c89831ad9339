"""The fork server ("zygote") process: imports an engine's libraries once, then forks replicas.

    python -m serving.forkserver.server --engine transformers --parent-pid PID --control-fd FD

Started by `serving.forkserver.client.ForkServer` with one end of a SOCK_SEQPACKET pair as
`--control-fd` (see `serving.forkserver.protocol` for the messages).

1. Dies with the platform: PR_SET_PDEATHSIG(SIGKILL), then checks that --parent-pid is still its
   parent. Ignores SIGINT (a Ctrl-C reaches the whole process group; the platform decides).
2. Imports the engine's libraries and `serving.replica` (uvicorn, starlette), with
   OPENBLAS_NUM_THREADS=1 because numpy's OpenBLAS otherwise starts its thread pool at import.
   Nothing runs a torch operation here. Then sends "ready" (or "failed" and exits 3).
3. Loops, single-threaded, on the control socket and a SIGCHLD wake-up pipe:
   - "fork": refuses unless this process has exactly one thread (threading.active_count() and
     /proc/self/task agree), forks, sends "forked" with a pidfd of the child, then preloads
     that model's modules so the next fork of the same kind of model starts even faster;
   - "learn": preloads a model's modules and asks the kernel to read its weights ahead;
   - SIGCHLD: reaps every exited child and sends "exited" with its code (negative: signal);
   - end-of-file on the control socket: the platform closed it or died; exit 0, and every
     replica still running gets SIGKILL from its own PR_SET_PDEATHSIG.
4. In a forked child, before anything else: drop the server's descriptors and signal handlers,
   PR_SET_PDEATHSIG(SIGKILL) towards this server, name the process, point stdin at /dev/null
   and stdout/stderr at the replica's log, take the replica's environment and working
   directory, reseed the random generators the server's memory image shares with every sibling,
   then run `serving.replica.main` (which sizes torch's thread pool, loads the weights, serves).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from serving.forkserver import protocol

EXIT_PRELOAD_FAILED = 3
_PR_SET_NAME = 15
_REPLICA_NAME = b"plinth-replica"


def log(message: str) -> None:
    print(f"plinth-forkserver[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def thread_count() -> int:
    """Threads of this process as the kernel sees them (native threads included)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux: only Python's view is available
        return threading.active_count()


def fork_refusal() -> str | None:
    """Why forking now would be unsafe, or None: a fork copies only the calling thread."""
    python_threads, native_threads = threading.active_count(), thread_count()
    if python_threads != 1 or native_threads != 1:
        return (
            f"the fork server has {python_threads} Python and {native_threads} native threads; "
            "forking a multi-threaded process can deadlock the child"
        )
    return None


def _set_process_name(name: bytes) -> None:
    from serving.replica import libc

    if sys.platform.startswith("linux"):
        libc().prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serving.forkserver.server")
    parser.add_argument("--engine", required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    return parser.parse_args(argv)


class Server:
    """The fork loop (see the module docstring)."""

    def __init__(self, sock: socket.socket, engine: str) -> None:
        self.sock = sock
        self.engine = engine
        self.learnt: set[tuple[str, str, str]] = set()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector = selectors.DefaultSelector()

    def serve(self) -> int:
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # the wake-up fd does the work
        signal.set_wakeup_fd(self.wake_w)
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        while True:
            for key, _ in self.selector.select():
                if key.fileobj == self.wake_r:
                    self._drain_wakeups()
                elif not self._handle_one():
                    log("control socket closed; exiting")
                    return 0
            self._reap()

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _handle_one(self) -> bool:
        message, fds = protocol.receive(self.sock)
        for fd in fds:  # the platform sends none
            os.close(fd)
        if message is None:
            return False
        op = message["op"]
        if op == "fork":
            self._fork(message)
        elif op == "learn":
            self._learn(message.get("model"))
        else:
            log(f"ignoring unknown message {op!r}")
        return True

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            protocol.send(self.sock, {"op": "exited", "pid": pid, "code": exit_code(status)})

    def _fork(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        reason = fork_refusal()
        if reason is not None:
            log(f"refusing to fork: {reason}")
            protocol.send(self.sock, {"op": "refused", "id": request_id, "reason": reason})
            return
        sys.stdout.flush()
        sys.stderr.flush()
        zygote_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the replica: never returns into this loop
            code = 1
            try:
                code = self._become_replica(message, zygote_pid)
            except SystemExit as exit_:  # argparse and friends
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pidfd = _pidfd_open(pid)
        try:
            reply = {"op": "forked", "id": request_id, "pid": pid}
            protocol.send(self.sock, reply, [pidfd] if pidfd is not None else [])
        finally:
            if pidfd is not None:
                os.close(pidfd)
        self._learn(message.get("model"))

    def _learn(self, model: Any) -> None:
        """Preload one model's modules (once per model); never fatal."""
        if not isinstance(model, dict):
            return
        key = (str(model.get("engine")), str(model.get("task")), str(model.get("path")))
        if key in self.learnt or key[0] != self.engine:
            return
        self.learnt.add(key)
        from serving.engines import get_engine

        started = time.perf_counter()
        try:
            get_engine(*key).preload()
        except Exception as error:  # a model that cannot preload still forks; it loads itself
            log(f"could not preload {key[2]}: {type(error).__name__}: {error}")
            return
        log(f"preloaded {key[1]} model {key[2]} in {time.perf_counter() - started:.3f} s")

    def _become_replica(self, message: dict[str, Any], zygote_pid: int) -> int:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        self.sock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)

        from serving import replica

        replica.set_parent_death_signal()
        if os.getppid() != zygote_pid:  # the server died before the prctl took effect
            return replica.EXIT_PARENT_GONE
        _set_process_name(_REPLICA_NAME)
        _redirect_stdio(Path(message["log"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in message["env"].items()})
        os.chdir(message["cwd"])
        _reseed()
        spawn_s = max(0.0, time.monotonic() - float(message["requested_at"]))
        replica.log(f"forked from fork server {zygote_pid} in {spawn_s * 1000:.1f} ms")
        argv = [str(arg) for arg in message["argv"]]
        if "--parent-pid" in argv:  # the replica watches its real parent: this server
            argv[argv.index("--parent-pid") + 1] = str(zygote_pid)
        sys.argv = ["serving.replica", *argv]
        return replica.main(argv, spawn_s=spawn_s)


def exit_code(status: int) -> int:
    """Like Popen.returncode: the exit status, or minus the signal that killed the process."""
    return os.waitstatus_to_exitcode(status)


def _pidfd_open(pid: int) -> int | None:
    # The child is not reaped yet, so this pid cannot have been reused: the pidfd is exact.
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError as error:
        log(f"pidfd_open({pid}) failed: {error}")
        return None


def _redirect_stdio(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null_fd)
    os.close(log_fd)


def _reseed() -> None:
    """Give this replica its own random streams (Python's `random` reseeds itself at fork)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()  # a spawned replica's torch seed is random too: keep sampling independent
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def preload(engine: str) -> float:
    """Import what a replica of `engine` needs; return the seconds it took."""
    started = time.perf_counter()
    from serving import replica
    from serving.engines import preload_libraries

    replica.quiet_libraries()
    replica.libc()  # resolved once here rather than in every child
    replica.preload_server()
    preload_libraries(engine)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from serving import replica

    replica.set_parent_death_signal()
    if os.getppid() != args.parent_pid:
        log(f"parent process {args.parent_pid} is gone; exiting")
        return replica.EXIT_PARENT_GONE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=args.control_fd)
    # numpy's OpenBLAS starts (cpus - 1) threads when it is imported: keep it to this one.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        preload_s = preload(args.engine)
    except Exception as error:
        traceback.print_exc()
        failure = f"importing the {args.engine} engine failed: {type(error).__name__}: {error}"
        protocol.send(sock, {"op": "failed", "reason": failure})
        return EXIT_PRELOAD_FAILED
    refusal = fork_refusal()
    if refusal is not None:
        protocol.send(sock, {"op": "failed", "reason": refusal})
        return EXIT_PRELOAD_FAILED
    log(f"{args.engine} engine imported in {preload_s:.2f} s; ready to fork")
    protocol.send(sock, {"op": "ready", "pid": os.getpid(), "preload_s": round(preload_s, 4)})
    return Server(sock, args.engine).serve()


if __name__ == "__main__":
    sys.exit(main())
