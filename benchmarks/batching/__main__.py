"""Dynamic batching: MiniLM embedding throughput through the gateway, batching on vs off, against
the physical ceiling, all in one run.

    .venv/bin/python -m benchmarks.batching [--clients 32] [--seconds 20] [--torch-threads 1]
        [--output docs/benchmarks/batching.md]

Three measurements of sentences per second, one sentence per request:

1. ceiling: this process loads MiniLM with the replica's own engine
   (`serving.engines.transformers_engine.FeatureExtractionEngine`, the same torch thread count
   as the replica) and calls it on full batches of `--clients` sentences (the largest batch
   `--clients` concurrent one-sentence requests can form), with no server at all;
2. batching on: the real platform (`plinth up` as a child process, tests/support/platform.py,
   temporary PLINTH_HOME and HF_HOME with MiniLM from `plinth import-local`), MiniLM deployed
   with one replica, maxConcurrency = maxQueue = `--clients`, its default batching (64 items,
   5 ms); `--clients` closed-loop clients (wrk with a Lua script, else a raw asyncio client)
   POST /v1/models/minilm/predict for `--seconds` after a warm-up;
3. batching off: the same with PLINTH_MAX_BATCH_SIZE=1 in the platform's environment.

The table (rates, the ratio to the ceiling, the mean batch size the replica reports at /health,
and the CPU milliseconds per sentence of the process running the model and of the gateway, which
stay meaningful when other work shares the machine and the rates do not) is printed and written
to --output between `<!-- results -->` markers (the analysis around them is kept), with the load
average around the run. The target is batching on >= 80% of the ceiling.
"""

from __future__ import annotations

import argparse
import os
import platform as host
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.batching.load import LoadResult, bodies_for, run_load
from serving.hub import MINILM_REPO_ID, import_local_minilm
from tests.support.platform import PlatformProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET = 0.8
WARMUP_S = 3.0
_VOCABULARY = (
    "the a model replica serves fast embeddings of every sentence that users send to "
    "platform through gateway batch request answer quickly while many clients wait for "
    "their vectors search engine finds similar documents in large collections today"
)
_WORDS = _VOCABULARY.split()


def sentences(n: int, seed: int = 7) -> list[str]:
    """Deterministic sentences of 8 to 16 words (typical short search queries and titles)."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(_WORDS, k=rng.randint(8, 16))) + "." for _ in range(n)]


@dataclass
class Run:
    label: str
    rate: float  # sentences per second
    detail: str = ""
    batching: dict[str, Any] | None = None
    model_cpu_ms: float = 0.0  # CPU ms per sentence of the process running the model
    gateway_cpu_ms: float | None = None  # CPU ms per sentence of `plinth up` (gateway)


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure_ceiling(snapshot: Path, texts: list[str], batch: int, seconds: float) -> Run:
    from serving.engines.transformers_engine import FeatureExtractionEngine

    engine = FeatureExtractionEngine(snapshot)
    engine.load()
    batches = [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)]
    for chunk in batches[:3]:
        engine.predict({"inputs": chunk})
    done = 0
    began = time.perf_counter()
    cpu_began = time.process_time()
    while time.perf_counter() - began < seconds:
        for chunk in batches:
            engine.predict({"inputs": chunk})
            done += len(chunk)
            if time.perf_counter() - began >= seconds:
                break
    elapsed = time.perf_counter() - began
    cpu_ms = (time.process_time() - cpu_began) * 1000 / done
    label = "ceiling (engine on full batches, no server)"
    return Run(label, done / elapsed, f"batch {batch}", model_cpu_ms=cpu_ms)


def measure_platform(
    work: Path, hf_home: Path, texts: list[str], *, clients: int, seconds: float, batching: bool
) -> Run:
    proc = PlatformProcess(work, hf_home, env={} if batching else {"PLINTH_MAX_BATCH_SIZE": "1"})
    proc.env["PLINTH_TORCH_THREADS"] = os.environ["PLINTH_TORCH_THREADS"]
    proc.start(timeout_s=180)
    try:
        scaling = {
            "minReplicas": 1,
            "maxReplicas": 1,
            "maxConcurrency": clients,
            "concurrencyTarget": clients,
            "maxQueue": clients,
        }
        proc.deploy(
            name="minilm",
            huggingFaceRepo=MINILM_REPO_ID,
            task="feature-extraction",
            scaling=scaling,
        )
        done = proc.wait_deployment(
            "minilm", lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy", 300
        )
        if done["status"] != "ACTIVE":
            raise RuntimeError(f"deploy failed: {done}\n{proc.logs()}")
        url = f"{proc.url}/v1/models/minilm/predict"
        auth = proc.headers.get("Authorization", "")
        bodies = bodies_for(texts)
        run_load(url, bodies, auth, clients, WARMUP_S)
        replica = proc.deployment("minilm")["replicas"][0]
        port, pid = replica["port"], replica["pid"]
        assert proc.proc is not None
        before = _batching(port)
        cpu_before = _cpu_s(pid), _cpu_s(proc.proc.pid)
        result: LoadResult = run_load(url, bodies, auth, clients, seconds)
        cpu_after = _cpu_s(pid), _cpu_s(proc.proc.pid)
        after = _batching(port)
        if result.errors:
            raise RuntimeError(f"{result.errors} requests failed\n{proc.logs()}")
        stats = {k: after.get(k, 0) - before.get(k, 0) for k in ("batches", "items")}
        label = "gateway, batching on" if batching else "gateway, batching off"
        detail = f"{result.requests} requests in {result.seconds:.1f} s ({result.tool})"
        n = max(result.requests, 1)
        return Run(
            label,
            result.rate,
            detail,
            stats if batching else None,
            model_cpu_ms=(cpu_after[0] - cpu_before[0]) * 1000 / n,
            gateway_cpu_ms=(cpu_after[1] - cpu_before[1]) * 1000 / n,
        )
    finally:
        proc.stop()


def _batching(port: int) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
    return dict(body["batching"])


def table(runs: list[Run], ceiling: Run, args: argparse.Namespace) -> str:
    on = next(r for r in runs if r.label.endswith("on"))
    off = next(r for r in runs if r.label.endswith("off"))
    met = on.rate >= TARGET * ceiling.rate
    lines = [
        "Generated by `python -m benchmarks.batching` "
        f"(--clients {args.clients} --seconds {args.seconds:g} "
        f"--torch-threads {args.torch_threads}); {os.cpu_count()} CPUs, {host.machine()}, "
        f"Python {host.python_version()}; load average {args.load_before:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} after.",
        "",
        "| run | sentences/s | vs ceiling | mean batch | model process CPU ms/sentence "
        "| gateway CPU ms/sentence | detail |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in [ceiling, *runs]:
        mean = ""
        if run.batching and run.batching.get("batches"):
            mean = f"{run.batching['items'] / run.batching['batches']:.1f}"
        gateway = "" if run.gateway_cpu_ms is None else f"{run.gateway_cpu_ms:.2f}"
        lines.append(
            f"| {run.label} | {run.rate:.0f} | {run.rate / ceiling.rate:.0%} | {mean} "
            f"| {run.model_cpu_ms:.2f} | {gateway} | {run.detail} |"
        )
    lines += [
        "",
        f"Batching on / off: **{on.rate / off.rate:.2f}x**. Target (batching on >= "
        f"{TARGET:.0%} of the ceiling): **{'met' if met else 'NOT met'}** "
        f"({on.rate / ceiling.rate:.0%}).",
    ]
    return "\n".join(lines) + "\n"


def replace_results(doc: str, text: str) -> str:
    """`doc` with its generated part (between HTML comment markers) set to `text`; the hand
    written analysis around it is kept."""
    begin, end = "<!-- results -->", "<!-- /results -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return (doc.rstrip() + "\n\n" if doc.strip() else "") + block + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batching")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs/benchmarks/batching.md")
    args = parser.parse_args()
    os.environ["PLINTH_TORCH_THREADS"] = str(args.torch_threads)
    os.environ["HF_HUB_OFFLINE"] = "1"
    args.load_before = os.getloadavg()[0]
    texts = sentences(512)
    with tempfile.TemporaryDirectory(prefix="plinth-batching-") as tmp:
        work = Path(tmp)
        hf_home = work / "hf"
        snapshot = import_local_minilm(hf_home)
        ceiling = measure_ceiling(snapshot, texts, args.clients, args.seconds)
        print(f"{ceiling.label}: {ceiling.rate:.0f} sentences/s", flush=True)
        runs = []
        for batching in (True, False):
            run = measure_platform(
                work / f"plinth-{batching}",
                hf_home,
                texts,
                clients=args.clients,
                seconds=args.seconds,
                batching=batching,
            )
            print(f"{run.label}: {run.rate:.0f} sentences/s ({run.detail})", flush=True)
            runs.append(run)
    text = table(runs, ceiling, args)
    print(text)
    doc = args.output.read_text() if args.output.exists() else ""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(replace_results(doc, text))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
