"""Batch jobs through a real `plinth up` (Temporal, replicas): a job killed halfway with a
SIGKILL of the platform resumes and writes every output exactly once, in input order; the SDK
and the CLI run a job end to end."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import plinth
from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 300
BATCH_JOB = """query Job($id: ID!) { batchJob(id: $id) { id status total completed failed } }"""


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


def deploy_embedder(platform: PlatformProcess) -> None:
    platform.deploy(
        name="emb",
        huggingFaceRepo="plinth-test/tiny-embedder",
        task="feature-extraction",
        scaling={"minReplicas": 1, "maxReplicas": 1},
    )
    done = platform.wait_deployment(
        "emb", lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy", 180
    )
    assert done["status"] == "ACTIVE", done


def stored_outputs(home: Path, job_id: str) -> int:
    with sqlite3.connect(f"file:{home / 'plinth.db'}?mode=ro", uri=True, timeout=30) as conn:
        found = conn.execute(
            "SELECT count(*) FROM batch_items WHERE job_id = ? AND output IS NOT NULL", (job_id,)
        ).fetchone()
    return int(found[0])


def test_a_batch_job_killed_halfway_resumes_without_redoing_items(
    tmp_path: Path, tiny_hf_home: Path
) -> None:
    home = tmp_path / "plinth"
    platform = PlatformProcess(home, tiny_hf_home).start()
    lines = "".join(json.dumps({"inputs": [f"sentence {i}"]}) + "\n" for i in range(N))
    try:
        deploy_embedder(platform)
        resp = httpx.post(
            f"{platform.url}/v1/models/emb/batch?concurrency=2",
            content=lines.encode(),
            headers={**platform.headers, "Content-Type": "application/jsonl"},
            timeout=30,
        )
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["id"]
        assert resp.json()["total"] == N
        wait_for(lambda: stored_outputs(home, job_id) >= N // 5, 120, "a fifth of the items")
    finally:
        platform.stop(signal.SIGKILL)
    done_before = stored_outputs(home, job_id)
    assert done_before < N, "the kill came too late to test the resume"
    with sqlite3.connect(home / "plinth.db") as conn:
        before = dict(
            conn.execute(
                "SELECT idx, output FROM batch_items WHERE job_id = ? AND output IS NOT NULL",
                (job_id,),
            ).fetchall()
        )

    restarted = PlatformProcess(home, tiny_hf_home).start()
    try:
        job = wait_for(
            lambda: (
                (j := restarted.graphql(BATCH_JOB, id=job_id)["batchJob"])["status"]
                in ("SUCCEEDED", "FAILED")
                and j
            ),
            240,
            "the job to finish after the restart",
        )
        assert job == {"id": job_id, "status": "SUCCEEDED", "total": N, "completed": N, "failed": 0}
        out = httpx.get(
            f"{restarted.url}/v1/batch/{job_id}/output", headers=restarted.headers, timeout=60
        )
        assert out.status_code == 200
        assert out.headers["content-type"].startswith("application/jsonl")
        rows = [json.loads(line) for line in out.text.splitlines()]
        assert [r["index"] for r in rows] == list(range(N))  # every item once, in order
        assert all(len(r["output"]["embeddings"]) == 1 for r in rows)
        # Items finished before the kill were not run again: their stored lines are unchanged.
        with sqlite3.connect(home / "plinth.db") as conn:
            after = dict(
                conn.execute(
                    "SELECT idx, output FROM batch_items WHERE job_id = ?", (job_id,)
                ).fetchall()
            )
        assert all(after[i] == line for i, line in before.items())
        # Same inputs give the same embeddings as a direct predict.
        direct = httpx.post(
            f"{restarted.url}/v1/models/emb/predict",
            json={"inputs": ["sentence 7"]},
            headers=restarted.headers,
            timeout=30,
        ).json()
        assert rows[7]["output"]["embeddings"][0] == pytest.approx(
            direct["embeddings"][0], abs=1e-5
        )
    finally:
        restarted.stop()


def test_sdk_and_cli_run_a_batch_job(tmp_path: Path, tiny_hf_home: Path) -> None:
    platform = PlatformProcess(tmp_path / "plinth", tiny_hf_home).start()
    try:
        deploy_embedder(platform)
        inputs = tmp_path / "in.jsonl"
        inputs.write_text("".join(json.dumps({"inputs": [f"s{i}"]}) + "\n" for i in range(12)))
        with plinth.Client(platform.url, api_key=platform.api_key) as client:
            seen: list[int] = []
            job = client.batch.run(
                "emb",
                inputs,
                concurrency=3,
                wait=True,
                timeout=120,
                on_progress=lambda j: seen.append(j.completed),
                poll_interval=0.2,
            )
            assert (job.status, job.completed, job.total) == ("SUCCEEDED", 12, 12)
            assert seen == sorted(seen) and seen[-1] == 12
            output = client.batch.output(job.id)
            assert [row["index"] for row in output] == list(range(12))
            assert client.batch.get(job.id).status == "SUCCEEDED"
            with pytest.raises(plinth.ValidationError) as caught:
                client.batch.run("emb", [{"no_inputs": 1}])
            assert caught.value.field == "items[0]"
            with pytest.raises(plinth.NotFoundError):
                client.batch.run("nope", inputs)

        out = tmp_path / "out.jsonl"
        cli = subprocess.run(
            [
                str(Path(sys.executable).parent / "plinth"),
                "batch",
                "run",
                "emb",
                str(inputs),
                "-o",
                str(out),
                "--concurrency",
                "2",
            ],
            env=platform.env | {"PLINTH_API_KEY": platform.api_key or ""},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert cli.returncode == 0, cli.stderr + cli.stdout
        written = [json.loads(line) for line in out.read_text().splitlines()]
        assert [row["index"] for row in written] == list(range(12))
        assert "12/12" in cli.stdout + cli.stderr
    finally:
        platform.stop()
