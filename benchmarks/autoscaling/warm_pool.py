"""What a burst's first cold start costs: the warm-pool trade-off on one trace.

    .venv/bin/python -m benchmarks.autoscaling.warm_pool [--trace azure_code]
        [--traces-dir ../shared/data/traces]

No policy can add capacity to the first cold start of a burst: whatever is warm when the burst
begins serves it. This prints, for a family of warm pools (one replica always, a second one
for `hold` seconds after every request), two numbers that bracket what any policy with that
pool can reach in the benchmark's model (4 slots per replica, cold start 10 s, SLO = served
within service time + 2 s, FIFO queue):

- least misses: replay every burst's first cold start with only the warm replicas, every other
  replica started the moment the burst begins (no policy starts it sooner without holding it,
  which is the warm pool) and ready one cold start later, unlimited. Requests waiting more than
  the SLO slack are misses no policy with this pool avoids; the first burst of the trace meets
  no replica at all (min_replicas 0). The SLO column is 1 - least misses / requests: an upper
  bound.
- cost: the warm pool plus every other replica scheduled with perfect foresight and zero wait
  (the benchmark's oracle, `serving.simulator.oracle`). A policy that lets requests wait within
  the slack can spend less on those other replicas, so this column is an estimate, not a bound.

On the Azure code trace (`docs/decisions.md`, 2026-12-08) the warm pool is not what keeps
Plinth's default above 1.5x the oracle: one warm replica and foresight of how many replicas
each burst needs, started at its onset, would miss at most 142 requests (SLO 0.984) for about
1.41x. What costs is not knowing that number at the onset: `--onsets` prints, per burst, the
arrivals of its first 2 and 4 seconds (what a policy has seen when it must start replicas for
the next cold start) next to the replicas the oracle needs in its second cold start.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import itertools
import statistics
from pathlib import Path

from benchmarks.autoscaling.__main__ import (
    CONFIG,
    DEFAULT_TRACES,
    SCALING,
    SLO_SLACK_S,
    load_traces,
)
from serving.simulator.oracle import needed_per_bin, oracle_replica_seconds, schedule_cost
from serving.simulator.traces import Trace

HOLDS_S = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0)


def _need(trace: Trace) -> list[int]:
    """The oracle's replicas per 1-s bin for the benchmark's Scaling."""
    return needed_per_bin(
        trace, max_concurrency=SCALING.max_concurrency, max_replicas=SCALING.max_replicas
    )


def _onsets(trace: Trace) -> list[int]:
    """Requests after a pause of at least a cold start (within shorter pauses a policy may still
    have its other replicas: the oracle keeps them)."""
    arrivals, cold = trace.arrivals, CONFIG.cold_start_s
    return [i for i in range(1, len(arrivals)) if arrivals[i] - arrivals[i - 1] >= cold]


def onset_misses(trace: Trace, first: int, warm: int) -> int:
    """Requests of the burst starting at `first` that wait past the slack in its first cold start
    with `warm` replicas ready, and every other replica ready one cold start after the onset."""
    arrivals, service = trace.arrivals, trace.service_s
    onset = arrivals[first]
    ready_at = onset + CONFIG.cold_start_s
    slots = [onset] * (warm * SCALING.max_concurrency)
    heapq.heapify(slots)
    misses = 0
    i = first
    while i < len(arrivals) and arrivals[i] < ready_at:
        if slots and slots[0] <= ready_at:  # a warm slot frees before new replicas are ready
            start = max(arrivals[i], slots[0])
            heapq.heapreplace(slots, start + service[i])
        else:
            start = max(arrivals[i], ready_at)
        if start - arrivals[i] > SLO_SLACK_S:
            misses += 1
        i += 1
    return misses


def trade_off(trace: Trace, holds: tuple[float, ...] = HOLDS_S) -> list[tuple[float, float, int]]:
    """(hold, cost, least misses) for each hold of the second warm replica."""
    need = _need(trace)
    arrivals = trace.arrivals
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    onsets = _onsets(trace)
    misses_with = {w: {i: onset_misses(trace, i, w) for i in onsets} for w in (1, 2)}
    first = onset_misses(trace, 0, 0)  # min_replicas 0: nothing is warm before the first request
    rows = []
    for hold in holds:
        pool = [max(n, 1) for n in need]
        for a, g in zip(arrivals, [*gaps, hold], strict=True):
            for b in range(int(a), min(len(pool), int(a + min(g, hold)) + 1)):
                pool[b] = max(pool[b], 2)
        misses = first + sum(misses_with[1 if gaps[i - 1] > hold else 2][i] for i in onsets)
        rows.append((hold, schedule_cost(pool, cold_start_s=CONFIG.cold_start_s), misses))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.autoscaling.warm_pool")
    parser.add_argument("--trace", default="azure_code")
    parser.add_argument("--traces-dir", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--onsets", action="store_true", help="also list every burst onset")
    args = parser.parse_args(argv)
    traces = {t.name: t for t in load_traces(args.traces_dir, None)}
    if args.trace not in traces:
        parser.error(f"unknown --trace {args.trace!r} (known: {sorted(traces)})")
    trace = traces[args.trace]
    oracle = oracle_replica_seconds(
        trace,
        max_concurrency=SCALING.max_concurrency,
        cold_start_s=CONFIG.cold_start_s,
        max_replicas=SCALING.max_replicas,
    )
    print(f"{trace.name}: {len(trace)} requests, oracle {oracle:.0f} replica-seconds")
    print("| 2nd replica held (s) | cost estimate | x oracle | least misses | SLO at most |")
    print("|---|---|---|---|---|")
    for hold, cost, misses in trade_off(trace):
        slo = 1 - misses / len(trace)
        print(f"| {hold:g} | {cost:.0f} | {cost / oracle:.2f} | {misses} | {slo:.3f} |")
    if args.onsets:
        print_onsets(trace)
    return 0


def print_onsets(trace: Trace) -> None:
    """Per burst onset: arrivals in its first 2 and 4 s, oracle replicas in its two cold starts."""
    need = _need(trace)
    arrivals, cold = trace.arrivals, CONFIG.cold_start_s
    firsts = [0, *_onsets(trace)]
    print("\n| onset (s) | arrivals in 2 s | in 4 s | replicas, 1st cold start | 2nd |")
    print("|---|---|---|---|---|")
    rows = []
    for i in firsts:
        at = arrivals[i]
        seen = [bisect.bisect_left(arrivals, at + s) - i for s in (2.0, 4.0)]
        b, c = int(at), int(cold)
        first, second = max(need[b : b + c], default=0), max(need[b + c : b + 2 * c + 1], default=0)
        print(f"| {at:.0f} | {seen[0]} | {seen[1]} | {first} | {second} |")
        rows.append((seen[1], second))
    xs, ys = [x for x, _ in rows], [y for _, y in rows]
    if len(rows) > 2 and len(set(xs)) > 1 and len(set(ys)) > 1:
        r = statistics.correlation(xs, ys)
        print(f"\ncorrelation, arrivals in 4 s vs replicas in the 2nd cold start: {r:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
