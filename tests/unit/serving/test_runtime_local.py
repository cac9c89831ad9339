"""LocalProcessRuntime with a stand-in replica (a stdlib HTTP server): spawn, probe, log, stop,
escalate to SIGKILL, and die with the parent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from serving.runtime_local import LocalProcessRuntime
from serving.spec import ReplicaSpec

STAND_IN = textwrap.dedent(
    """
    import http.server, json, signal, sys
    port = int(sys.argv[sys.argv.index("--port") + 1])
    if "--ignore-term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("stand-in replica starting", flush=True)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/ready": {"ready": True, "load_seconds": {"weights": 0.25}},
                    "/health": {"status": "ok"}}.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)

SPEC = ReplicaSpec(
    replica_id="r-1",
    deployment_id="d1",
    model_name="m",
    model_path="/nowhere",
    task="text-classification",
    engine="transformers",
    max_concurrency=2,
)


class StandInRuntime(LocalProcessRuntime):
    extra: tuple[str, ...] = ()

    def command(self, spec: ReplicaSpec, port: int) -> list[str]:
        real = super().command(spec, port)
        return [self.python, "-c", STAND_IN, *real[3:], *self.extra]


def test_command_line_follows_the_contract(tmp_path: Path) -> None:
    cmd = LocalProcessRuntime(tmp_path).command(SPEC, 5555)
    assert cmd[:3] == [sys.executable, "-m", "serving.replica"]
    args = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert args == {
        "--replica-id": "r-1",
        "--deployment-id": "d1",
        "--model-name": "m",
        "--model-path": "/nowhere",
        "--task": "text-classification",
        "--engine": "transformers",
        "--max-concurrency": "2",
        "--host": "127.0.0.1",
        "--port": "5555",
        "--parent-pid": str(os.getpid()),
    }


async def test_start_probe_tail_and_stop(tmp_path: Path) -> None:
    runtime = StandInRuntime(tmp_path)
    handle = runtime.start(SPEC)
    try:
        assert handle.base_url == f"http://127.0.0.1:{handle.port}" and handle.pid
        for _ in range(200):
            if await runtime.ready(handle):
                break
            await asyncio.sleep(0.02)
        assert await runtime.ready(handle)
        assert handle.load_seconds == {"weights": 0.25}
        assert await runtime.healthy(handle)
        assert runtime.poll(handle) is None
        assert "stand-in replica starting" in runtime.tail(handle)
        assert (tmp_path / "m" / "r-1.log").exists()
    finally:
        await runtime.stop(handle, grace_s=5)
        await runtime.aclose()
    assert runtime.poll(handle) == -15
    assert not await runtime.ready(handle)


async def test_stop_kills_a_replica_that_ignores_sigterm(tmp_path: Path) -> None:
    runtime = StandInRuntime(tmp_path)
    runtime.extra = ("--ignore-term",)
    handle = runtime.start(SPEC)
    for _ in range(200):
        if await runtime.ready(handle):
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await runtime.stop(handle, grace_s=0.3)
    await runtime.aclose()
    assert runtime.poll(handle) == -9
    assert time.monotonic() - started < 5


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may be slow or absent in containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_replica_dies_with_its_parent(tmp_path: Path) -> None:
    parent = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from serving.runtime_local import LocalProcessRuntime
        from serving.spec import ReplicaSpec

        class R(LocalProcessRuntime):
            def command(self, spec, port):
                return [self.python, "-c", "import time; time.sleep(60)"]

        spec = ReplicaSpec("r-1", "d1", "m", "/nowhere", "text-classification", "transformers", 1)
        print(R(Path({str(tmp_path)!r})).start(spec).pid, flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=60, check=True
    )
    child = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not running(child):
            return
        time.sleep(0.05)
    os.kill(child, 9)
    pytest.fail("the replica outlived its parent")
