"""Every autoscaling policy on every trace, same seeds, one run: table and plots.

    .venv/bin/python -m benchmarks.autoscaling [--processes 2] [--output-dir docs/benchmarks]
        [--traces-dir ../shared/data/traces] [--max-duration-s S]
        [--trace NAME ...] [--policy LABEL ...]

`--trace`/`--policy` (repeatable) run a subset for a quick look: the table is printed, and
written (with plots) only when --output-dir is given explicitly, so a partial run never
overwrites the committed results.

Each run replays one trace through `serving.simulator.simulate`: the real Controller, Router and
policy in virtual time, with simulated replicas (cold start 10 s, 4 slots each). Policies:
Plinth's default ("plinth"), the three baselines ("ray_serve", "knative_kpa", "k8s_hpa"), Plinth
with a short delay and window ("plinth-60/30": scale_down_delay_s 60, autoscaling_window_s 30),
and "static-max" (max_replicas always running: the latency upper bound). "oracle" is the
zero-wait cost bound of `serving.simulator.oracle`. Every policy gets the same Scaling (the product
defaults: min 0, scale_down_delay_s 300, autoscaling_window_s 60, concurrency_target 2,
max_concurrency 4; plus max_replicas 32 and max_queue 256); the baselines use their own
published constants for everything the Scaling does not name.

A request meets the SLO when it is served within its service time + 2 s; rejects (429) and
timeouts (60 s) are misses. Latency percentiles are over served requests. Replica-seconds count
starting and draining replicas. Writes docs/benchmarks/autoscaling.md and PNG plots next to it.
The Azure traces are read from --traces-dir (skipped, with a message, when absent) and keep
their CC-BY 4.0 attribution in the table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from plinth.types import Scaling
from serving.simulator import SimConfig, SimResult, simulate
from serving.simulator.oracle import oracle_replica_seconds
from serving.simulator.traces import AZURE_ATTRIBUTION, Trace, load_csv, synthetic

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRACES = REPO_ROOT.parent / "shared" / "data" / "traces"
AZURE = {"azure_code": "azure_llm_2023_code.csv", "azure_conv": "azure_llm_2023_conv.csv"}
SCALING = Scaling(min_replicas=0, max_replicas=32, max_queue=256)  # product defaults otherwise
CONFIG = SimConfig(cold_start_s=10.0)
SLO_SLACK_S = 2.0
BASELINES = ("ray_serve", "knative_kpa", "k8s_hpa")
TARGET_TRACES = ("spike", "azure_code")


@dataclass(frozen=True)
class Run:
    label: str
    policy: str
    scaling: Scaling


RUNS = (
    Run("plinth", "plinth", SCALING),
    Run("plinth-60/30", "plinth", SCALING.merged(scale_down_delay_s=60, autoscaling_window_s=30)),
    *(Run(name, name, SCALING) for name in BASELINES),
    Run("static-max", "plinth", SCALING.merged(min_replicas=SCALING.max_replicas)),
)


def load_traces(traces_dir: Path, max_duration_s: float | None) -> list[Trace]:
    traces = synthetic()
    for name, file in AZURE.items():
        path = traces_dir / file
        if not path.exists():
            print(f"skipping {name}: {path} not found (see ../shared/data/traces/README.md)")
            continue
        traces.append(
            load_csv(path, name=name, source=AZURE_ATTRIBUTION, max_duration_s=max_duration_s)
        )
    return traces


_TRACES: dict[str, Trace] = {}


def _init(traces_dir: Path, max_duration_s: float | None) -> None:
    _TRACES.update({t.name: t for t in load_traces(traces_dir, max_duration_s)})


def _run(job: tuple[str, Run]) -> tuple[str, str, SimResult, float]:
    trace_name, run = job
    start = time.perf_counter()
    result = simulate(_TRACES[trace_name], policy=run.policy, scaling=run.scaling, config=CONFIG)
    return trace_name, run.label, result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.autoscaling")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--traces-dir", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--max-duration-s", type=float, default=None)
    parser.add_argument("--trace", action="append", default=[], help="only this trace")
    parser.add_argument("--policy", action="append", default=[], help="only this run label")
    args = parser.parse_args(argv)
    labels = {run.label for run in RUNS}
    unknown = set(args.policy) - labels
    if unknown:
        parser.error(f"unknown --policy {sorted(unknown)} (known: {sorted(labels)})")
    partial = bool(args.trace or args.policy)
    out_dir: Path | None = args.output_dir
    if out_dir is None and not partial:
        out_dir = REPO_ROOT / "docs" / "benchmarks"

    from benchmarks.autoscaling.report import Row, plot, row_of, table

    started = time.perf_counter()
    traces = load_traces(args.traces_dir, args.max_duration_s)
    if args.trace:
        traces = [t for t in traces if t.name in args.trace]
    runs = [r for r in RUNS if not args.policy or r.label in args.policy]
    jobs = [(t.name, run) for t in traces for run in runs]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.processes, _init, (args.traces_dir, args.max_duration_s)) as pool:
        done = pool.map(_run, jobs, chunksize=1)
    results: dict[str, dict[str, SimResult]] = {}
    for trace_name, label, result, seconds in done:
        results.setdefault(trace_name, {})[label] = result
        print(f"{trace_name:11} {label:13} simulated in {seconds:5.1f} s", file=sys.stderr)
    rows: dict[str, list[Row]] = {}
    for trace in traces:
        oracle = oracle_replica_seconds(
            trace,
            max_concurrency=SCALING.max_concurrency,
            cold_start_s=CONFIG.cold_start_s,
            max_replicas=SCALING.max_replicas,
        )
        rows[trace.name] = [
            row_of(label, results[trace.name][label], oracle, SLO_SLACK_S)
            for label in results[trace.name]
        ]
        rows[trace.name].append(Row.oracle(len(trace), oracle))
    text = table(
        traces,
        rows,
        baselines=BASELINES,
        targets=TARGET_TRACES,
        config=CONFIG,
        scaling=SCALING,
        slack_s=SLO_SLACK_S,
        wall_s=time.perf_counter() - started,
    )
    print(text)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        plot(traces, results, rows, out_dir)
        (out_dir / "autoscaling.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
