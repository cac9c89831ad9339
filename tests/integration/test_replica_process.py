"""The replica as a real process: readiness, predict, errors, overload, SIGTERM, parent death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.runtime_local import free_port
from tests.support import tiny_models

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0


def _env(hf_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PLINTH_TORCH_THREADS="1")
    return env


def _command(model_path: Path, task: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-W", "error", "-m", "serving.replica",
        "--replica-id", "r-1", "--deployment-id", "d-1", "--model-name", "tiny",
        "--model-path", str(model_path), "--task", task, "--engine", "transformers",
        "--max-concurrency", "1", "--host", "127.0.0.1", "--port", str(port), *extra,
    ]  # fmt: skip


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_ready(url: str, is_running: Any) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert is_running(), "replica exited before becoming ready"
        try:
            response = httpx.get(f"{url}/ready", timeout=1.0)
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("replica not ready in time")


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-home")


@pytest.fixture(scope="module")
def gpt2(hf_home: Path) -> Path:
    return tiny_models.build_tiny_gpt2(hf_home)


def _start(hf_home: Path, model_path: Path, task: str, log: Path, *extra: str) -> Replica:
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            _command(model_path, task, port, *extra),
            cwd=REPO_ROOT,
            env=_env(hf_home),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Replica(process, f"http://127.0.0.1:{port}", log)


def _running(hf_home: Path, gpt2: Path, log: Path) -> Iterator[Replica]:
    started = _start(hf_home, gpt2, "text-generation", log)
    try:
        _wait_ready(started.url, lambda: started.process.poll() is None)
        yield started
    finally:
        if started.process.poll() is None:
            started.process.kill()
        started.process.wait(10)


@pytest.fixture(scope="module")
def shared(hf_home: Path, gpt2: Path) -> Iterator[Replica]:
    """One replica for the tests that leave it running."""
    yield from _running(hf_home, gpt2, hf_home.parent / "shared-replica.log")


@pytest.fixture
def replica(hf_home: Path, gpt2: Path, tmp_path: Path) -> Iterator[Replica]:
    """A replica of the test's own, for tests that stop it."""
    yield from _running(hf_home, gpt2, tmp_path / "replica.log")


def test_serves_predictions_and_reports_load_phases(shared: Replica) -> None:
    ready = httpx.get(f"{shared.url}/ready").json()
    assert ready["ready"] is True
    assert {"spawn", "imports", "weights", "warmup", "bind", "total"} <= set(ready["load_seconds"])
    assert ready["start_method"] == "spawn"
    assert httpx.get(f"{shared.url}/health").json()["status"] == "ok"
    response = httpx.post(
        f"{shared.url}/predict",
        json={"inputs": "hello world", "parameters": {"max_new_tokens": 3}},
    )
    assert response.status_code == 200
    [item] = response.json()
    assert item["generated_text"].startswith("hello world")


def test_bad_input_is_422_with_the_field(shared: Replica) -> None:
    response = httpx.post(f"{shared.url}/predict", json={"inputs": ["ok", 3]})
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_input"
    assert response.json()["error"]["field"] == "inputs[1]"
    not_json = httpx.post(f"{shared.url}/predict", content=b"{nope")
    assert not_json.status_code == 422
    assert not_json.json()["error"]["field"] == "body"


def _slow_request(url: str, results: list[httpx.Response]) -> threading.Thread:
    # 256 prompts x 50 new tokens keeps even the tiny model busy for a while.
    payload = {"inputs": ["the cat sat on the mat"] * 256, "parameters": {"max_new_tokens": 50}}

    def send() -> None:
        results.append(httpx.post(f"{url}/predict", json=payload, timeout=60.0))

    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/health").json()["in_flight"] < 1:
        assert time.monotonic() < deadline, "slow request never started"
        time.sleep(0.005)
    return thread


def test_requests_beyond_max_concurrency_get_429(shared: Replica) -> None:
    results: list[httpx.Response] = []
    thread = _slow_request(shared.url, results)
    overflow = httpx.post(f"{shared.url}/predict", json={"inputs": "hi"})
    thread.join()
    assert overflow.status_code == 429
    assert overflow.json()["error"]["type"] == "overloaded"
    assert results[0].status_code == 200
    assert len(results[0].json()) == 256


def test_sigterm_finishes_in_flight_work_then_exits_0(replica: Replica) -> None:
    results: list[httpx.Response] = []
    thread = _slow_request(replica.url, results)
    replica.process.send_signal(signal.SIGTERM)
    thread.join()
    assert replica.process.wait(15) == 0
    assert results[0].status_code == 200
    assert replica.stderr().rstrip().endswith("plinth-replica: stopped")


def test_unloadable_model_exits_3_with_a_clear_last_line(hf_home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"]}')
    started = _start(hf_home, broken, "text-generation", tmp_path / "broken.log")
    assert started.process.wait(60) == 3
    last_line = started.stderr().strip().splitlines()[-1]
    assert last_line.startswith("plinth-replica: failed to load model: ")
    assert "no weights" in last_line


def test_replica_exits_when_parent_pid_is_not_its_parent(
    hf_home: Path, gpt2: Path, tmp_path: Path
) -> None:
    started = _start(hf_home, gpt2, "text-generation", tmp_path / "orphan.log", "--parent-pid", "1")
    assert started.process.wait(30) == 5
    assert "parent process 1 is gone" in started.stderr()


_PARENT = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[1:] + ["--parent-pid", str(__import__("os").getpid())])
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


def test_replica_dies_when_its_parent_is_killed(hf_home: Path, gpt2: Path) -> None:
    port = free_port()
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, *_command(gpt2, "text-generation", port)],
        cwd=REPO_ROOT,
        env=_env(hf_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert parent.stdout is not None
    replica_pid = int(parent.stdout.readline())
    try:
        _wait_ready(f"http://127.0.0.1:{port}", lambda: _alive(replica_pid))
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 5
        while _alive(replica_pid):
            assert time.monotonic() < deadline, "replica outlived its parent"
            time.sleep(0.05)
    finally:
        if _alive(replica_pid):
            os.kill(replica_pid, signal.SIGKILL)
        parent.stdout.close()
