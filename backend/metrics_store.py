"""The console's time series: 10-second buckets per deployment, kept in the database, pruned by age.

Why a table and not in-memory ring buffers: the history must survive a restart of `plinth up`
(a chart that empties on every restart is useless for "what happened last night"), and rows of
one deployment are bounded by retention anyway (8,640 a day). A ring buffer would also bound
memory but lose exactly the history one looks for after a crash. See docs/decisions.md.

Contract:
- `MetricsSampler.sample(now)` reads the data plane's cumulative series (`ServingMetrics`, via
  the public `collect()`) and the controller's deployments (gauges, replica states, new cold
  starts, each replica's CPU and memory through psutil) and returns one `MetricRow` per
  deployment for the 10-second bucket that just ended: counter *deltas* since the previous
  sample (a counter that went backwards, e.g. a new router, counts from zero), latency
  histogram bucket deltas, and the gauges as seen at the sample. A model's requests answered
  404/503 before any deployment get a row with deployment_id "" when there were some.
  `run()` samples at each 10-second boundary, writes the rows and prunes rows older than
  `retention_s` (default 25 h, so 24 h are always there) once a minute. `latest_usage` holds the
  last CPU/memory reading of each live replica (for `Replica.cpuPercent` / `memoryBytes`).
- `MetricsStore(sessions).write(rows)` upserts (a bucket written twice, e.g. around a restart,
  is the sum of both), `prune(now)` deletes old rows, `rows(...)` and `cold_starts(...)` read.
- `aggregate(rows, start, end, step)` merges rows into one `Point` per `step` seconds: counts
  add up, latency percentiles come from the merged histogram buckets (interpolated within a
  bucket like Prometheus' histogram_quantile, never averages of percentiles), gauges are the
  mean of the 10-second samples, queue time is total queue seconds over waits.

Memory and disk stay bounded: one row per live deployment per 10 s, deleted after retention;
the sampler's own state is one entry per deployment and replica that exists now.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db import models as orm
from backend.db.session import session_scope
from plinth.types import ReplicaState
from serving.deployment_state import DeploymentState
from serving.metrics import LATENCY_BUCKETS, REPLICA_STATES, ServingMetrics

log = logging.getLogger("plinth.metrics")

BUCKET_S = 10
RETENTION_S = 25 * 3600
PRUNE_EVERY_S = 60.0
MAX_POINTS = 10_000  # 24 h at 10 s is 8,640
PERCENTILES = (0.5, 0.9, 0.95, 0.99)
N_LATENCY = len(LATENCY_BUCKETS) + 1  # the last one is +Inf


@dataclass
class MetricRow:
    """One deployment over one bucket. Counts are deltas; gauges are sums over `samples`."""

    model_name: str
    deployment_id: str
    bucket: int  # Unix seconds of the bucket's start, a multiple of BUCKET_S
    samples: int = 1
    requests_2xx: int = 0
    requests_4xx: int = 0  # includes 429 and 404
    requests_429: int = 0
    requests_5xx: int = 0  # includes 503 answered before any deployment
    not_routed: int = 0  # 404/503 answered before any deployment
    latency: list[int] = field(default_factory=lambda: [0] * N_LATENCY)
    latency_sum: float = 0.0
    queue_count: int = 0
    queue_sum: float = 0.0
    in_flight: float = 0.0
    queued: float = 0.0
    starting: float = 0.0
    ready: float = 0.0
    draining: float = 0.0
    cpu_percent: float = 0.0  # all replicas together, percent of one core
    memory_bytes: float = 0.0  # all replicas' resident memory
    usage_samples: int = 0  # samples that had a CPU/memory reading
    cold_starts: list[dict[str, Any]] = field(default_factory=list)
    replicas: dict[str, list[float]] = field(default_factory=dict)  # id -> [cpu %, rss bytes]

    @property
    def requests(self) -> int:
        return self.requests_2xx + self.requests_4xx + self.requests_5xx

    def add(self, other: MetricRow) -> None:
        """Merge another row of the same series into this one (sums; the later replica wins)."""
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]
        self.cold_starts = [*self.cold_starts, *other.cold_starts]
        self.replicas = {**self.replicas, **other.replicas}

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _SUMMED}
        data.update(latency=self.latency, cold_starts=self.cold_starts, replicas=self.replicas)
        return data

    @classmethod
    def from_data(
        cls, model_name: str, deployment_id: str, bucket: int, data: Mapping[str, Any]
    ) -> MetricRow:
        row = cls(model_name, deployment_id, bucket)
        for name in _SUMMED:
            if name in data:
                setattr(row, name, type(getattr(row, name))(data[name]))
        latency = [int(v) for v in data.get("latency") or []]
        if len(latency) == N_LATENCY:  # a different bucket layout is not merged into this one
            row.latency = latency
        row.cold_starts = list(data.get("cold_starts") or [])
        row.replicas = {
            str(k): [float(x) for x in v] for k, v in (data.get("replicas") or {}).items()
        }
        return row


_SUMMED = (
    "samples",
    "requests_2xx",
    "requests_4xx",
    "requests_429",
    "requests_5xx",
    "not_routed",
    "latency_sum",
    "queue_count",
    "queue_sum",
    "in_flight",
    "queued",
    "starting",
    "ready",
    "draining",
    "cpu_percent",
    "memory_bytes",
    "usage_samples",
)


# -- aggregation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """The series over [time, time + step)."""

    time: int
    samples: int  # 10-second buckets with data (0: the platform was not sampling)
    requests: int
    requests_per_second: float
    requests_2xx: int
    requests_4xx: int
    requests_429: int
    requests_5xx: int
    not_routed: int
    latency_p50: float | None  # seconds; None without requests
    latency_p90: float | None
    latency_p95: float | None
    latency_p99: float | None
    queue_time_mean: float | None  # seconds per wait for a slot; None without waits
    in_flight: float | None  # gauges: mean of the samples; None without samples
    queued: float | None
    replicas_starting: float | None
    replicas_ready: float | None
    replicas_draining: float | None
    cold_starts: int
    cold_start_mean: float | None
    cold_start_max: float | None
    cpu_percent: float | None
    memory_bytes: float | None
    replica_usage: dict[str, list[float]]  # the last reading in the window per replica


def histogram_quantile(q: float, counts: Sequence[int], bounds: Sequence[float]) -> float | None:
    """The q-quantile of a histogram (per-bucket counts; `bounds` are the finite upper bounds,
    the last count is +Inf), linearly interpolated within its bucket as Prometheus does."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i >= len(bounds):
                return float(bounds[-1])  # in +Inf: the highest finite bound is all we know
            lower = 0.0 if i == 0 else float(bounds[i - 1])
            return lower + (float(bounds[i]) - lower) * (rank - seen) / count
        seen += count
    return float(bounds[-1])


def aggregate(rows: Iterable[MetricRow], start: int, end: int, step: int) -> list[Point]:
    """One Point per `step` seconds from `start` (aligned down to a multiple of step) to `end`."""
    if step < BUCKET_S or step % BUCKET_S:
        raise ValueError(f"step must be a multiple of {BUCKET_S} seconds")
    first = start - start % step
    n = max(0, math.ceil((end - first) / step))
    if n > MAX_POINTS:
        raise ValueError(f"{n} points asked; at most {MAX_POINTS}: use a larger step")
    merged: dict[int, MetricRow] = {}
    for row in sorted(rows, key=lambda r: r.bucket):
        if not first <= row.bucket < first + n * step:
            continue
        slot = row.bucket - (row.bucket - first) % step
        target = merged.get(slot)
        if target is None:
            target = merged[slot] = MetricRow(row.model_name, "", slot, samples=0)
        target.add(row)
    return [_point(first + i * step, merged.get(first + i * step), step) for i in range(n)]


def _point(at: int, row: MetricRow | None, step: int) -> Point:
    if row is None:
        row = MetricRow("", "", at, samples=0)
    samples = row.samples
    pct = [histogram_quantile(q, row.latency, LATENCY_BUCKETS) for q in PERCENTILES]
    seconds = samples * BUCKET_S if samples else step
    durations = [float(c.get("seconds", 0.0)) for c in row.cold_starts]

    def mean(total: float) -> float | None:
        return total / samples if samples else None

    usage = row.usage_samples
    return Point(
        time=at,
        samples=samples,
        requests=row.requests,
        requests_per_second=row.requests / seconds,
        requests_2xx=row.requests_2xx,
        requests_4xx=row.requests_4xx,
        requests_429=row.requests_429,
        requests_5xx=row.requests_5xx,
        not_routed=row.not_routed,
        latency_p50=pct[0],
        latency_p90=pct[1],
        latency_p95=pct[2],
        latency_p99=pct[3],
        queue_time_mean=row.queue_sum / row.queue_count if row.queue_count else None,
        in_flight=mean(row.in_flight),
        queued=mean(row.queued),
        replicas_starting=mean(row.starting),
        replicas_ready=mean(row.ready),
        replicas_draining=mean(row.draining),
        cold_starts=len(durations),
        cold_start_mean=sum(durations) / len(durations) if durations else None,
        cold_start_max=max(durations) if durations else None,
        cpu_percent=row.cpu_percent / usage if usage else None,
        memory_bytes=row.memory_bytes / usage if usage else None,
        replica_usage=row.replicas,
    )


# -- storage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColdStart:
    deployment_id: str
    replica_id: str
    ready_at: float  # Unix seconds
    seconds: float  # start to ready
    phases: dict[str, float]


class MetricsStore:
    """Rows of `metric_buckets` (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], *, retention_s: float = RETENTION_S):
        self._sessions = sessions
        self.retention_s = retention_s

    def write(self, rows: Sequence[MetricRow]) -> None:
        if not rows:
            return
        with session_scope(self._sessions) as session:
            for row in rows:
                key = (row.model_name, row.deployment_id, row.bucket)
                found = session.get(orm.MetricBucket, key)
                if found is not None:
                    old = MetricRow.from_data(*key, found.data)
                    old.add(row)
                    row = old
                    session.delete(found)
                    session.flush()
                session.add(
                    orm.MetricBucket(
                        model_name=row.model_name,
                        deployment_id=row.deployment_id,
                        bucket=row.bucket,
                        cold_starts=len(row.cold_starts),
                        data=row.to_data(),
                    )
                )

    def prune(self, now: float) -> int:
        """Delete rows older than the retention; returns how many."""
        cutoff = int(now - self.retention_s)
        with session_scope(self._sessions) as session:
            result = session.execute(
                delete(orm.MetricBucket).where(orm.MetricBucket.bucket < cutoff)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def rows(
        self, model_name: str, deployment_ids: Sequence[str], start: int, end: int
    ) -> list[MetricRow]:
        with session_scope(self._sessions) as session:
            found = session.scalars(
                select(orm.MetricBucket).where(
                    orm.MetricBucket.model_name == model_name,
                    orm.MetricBucket.deployment_id.in_(list(deployment_ids)),
                    orm.MetricBucket.bucket >= start,
                    orm.MetricBucket.bucket < end,
                )
            ).all()
            return [
                MetricRow.from_data(r.model_name, r.deployment_id, r.bucket, r.data) for r in found
            ]

    def cold_starts(self, model_name: str, limit: int) -> list[ColdStart]:
        """The model's most recent replica starts within retention, newest first."""
        out: list[ColdStart] = []
        with session_scope(self._sessions) as session:
            found = session.scalars(
                select(orm.MetricBucket)
                .where(orm.MetricBucket.model_name == model_name, orm.MetricBucket.cold_starts > 0)
                .order_by(orm.MetricBucket.bucket.desc())
                .limit(limit)
            ).all()
            for r in found:
                for c in (r.data or {}).get("cold_starts") or []:
                    out.append(
                        ColdStart(
                            deployment_id=r.deployment_id,
                            replica_id=str(c.get("replica_id", "")),
                            ready_at=float(c.get("ready_at", r.bucket)),
                            seconds=float(c.get("seconds", 0.0)),
                            phases={
                                str(k): float(v)
                                for k, v in (c.get("phases") or {}).items()
                                if k != "total"  # the replica's own sum, not a phase
                            },
                        )
                    )
        out.sort(key=lambda c: c.ready_at, reverse=True)
        return out[:limit]


# -- sampling ------------------------------------------------------------------------------------


@dataclass
class ReplicaUsage:
    cpu_percent: float | None  # None until a second reading exists
    memory_bytes: int
    at: float


def _counter(metric: Any, suffix: str, keys: Sequence[str]) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(suffix):
                key = tuple(sample.labels.get(k, "") for k in keys)
                out[key] = out.get(key, 0.0) + sample.value
    return out


def _delta(now: float, before: float) -> float:
    return now - before if now >= before else now  # went backwards: a new series from zero


class MetricsSampler:
    """Turns the live state into a `MetricRow` per deployment every 10 s (module docstring)."""

    def __init__(
        self,
        metrics: ServingMetrics,
        deployments: Callable[[], Iterable[DeploymentState]],
        store: MetricsStore | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._deployments = deployments
        self.store = store
        self._clock = clock
        self._prev: dict[tuple[str, ...], float] = {}
        self._prev_hist: dict[tuple[str, str], list[float]] = {}
        self._seen_ready: dict[str, set[str]] = {}  # deployment -> replicas already counted
        self._processes: dict[str, psutil.Process] = {}
        self._last_bucket: int | None = None
        self.latest_usage: dict[str, ReplicaUsage] = {}

    def sample(self, now: float | None = None) -> list[MetricRow]:
        """Rows for the bucket that ended at the latest 10-second boundary before `now`.
        A second call within the same bucket returns nothing (its deltas wait for the next)."""
        now = self._clock() if now is None else now
        bucket = int(now // BUCKET_S) * BUCKET_S - BUCKET_S
        if self._last_bucket is not None and bucket <= self._last_bucket:
            return []
        self._last_bucket = bucket
        m = self._metrics
        cur: dict[tuple[str, ...], float] = {}
        for (model, dep, code), v in _counter(
            m.requests, "_total", ("model", "deployment", "code")
        ).items():
            cur[("req", model, dep, code)] = v
        for (model, dep), v in _counter(m.queue_wait, "_count", ("model", "deployment")).items():
            cur[("qcount", model, dep)] = v
        for (model, dep), v in _counter(m.queue_wait, "_sum", ("model", "deployment")).items():
            cur[("qsum", model, dep)] = v
        for (model, dep), v in _counter(m.duration, "_sum", ("model", "deployment")).items():
            cur[("lsum", model, dep)] = v
        for (model, code), v in _counter(m.unrouted, "_total", ("model", "code")).items():
            cur[("unrouted", model, "", code)] = v
        for (model, dep), v in m.throttled().items():
            cur[("429", model, dep)] = float(v)
        delta = {k: _delta(v, self._prev.get(k, 0.0)) for k, v in cur.items()}
        self._prev = cur
        hists = self._histograms()
        hist_delta = {
            key: [
                _delta(v, p)
                for v, p in zip(h, self._prev_hist.get(key, [0.0] * len(h)), strict=True)
            ]
            for key, h in hists.items()
        }
        self._prev_hist = hists

        rows: dict[tuple[str, str], MetricRow] = {}

        def row(model: str, dep: str) -> MetricRow:
            found = rows.get((model, dep))
            if found is None:
                found = rows[(model, dep)] = MetricRow(model, dep, bucket, samples=0)
            return found

        for key, v in delta.items():
            kind = key[0]
            if kind == "req":
                r = row(key[1], key[2])
                setattr(r, f"requests_{key[3]}", getattr(r, f"requests_{key[3]}") + int(v))
            elif kind == "unrouted" and key[1] and v:
                r = row(key[1], "")
                r.not_routed += int(v)
                if key[3] == "404":
                    r.requests_4xx += int(v)
                else:
                    r.requests_5xx += int(v)
            elif kind == "429":
                row(key[1], key[2]).requests_429 += int(v)
            elif kind == "qcount":
                row(key[1], key[2]).queue_count += int(v)
            elif kind == "qsum":
                row(key[1], key[2]).queue_sum += v
            elif kind == "lsum":
                row(key[1], key[2]).latency_sum += v
        for (model, dep), d in hist_delta.items():
            counts = [int(d[0])] + [int(max(0.0, d[i] - d[i - 1])) for i in range(1, len(d))]
            if len(counts) == N_LATENCY:
                row(model, dep).latency = counts

        live_replicas: set[str] = set()
        for state in list(self._deployments()):
            spec = state.spec
            r = row(spec.model_name, spec.deployment_id)
            r.samples = 1
            r.in_flight = float(state.router.in_flight)
            r.queued = float(state.router.queued)
            seen = self._seen_ready.setdefault(spec.deployment_id, set())
            current = set()
            for rec in list(state.replicas.values()):
                rid = rec.spec.replica_id
                current.add(rid)
                label = REPLICA_STATES.get(rec.obs.state)
                if label is not None:
                    setattr(r, label, getattr(r, label) + 1)
                if (
                    rec.obs.state is ReplicaState.READY
                    and rec.ready_since is not None
                    and rid not in seen
                ):
                    seen.add(rid)
                    ready_at = rec.obs.ready_at.timestamp() if rec.obs.ready_at else now
                    r.cold_starts.append(
                        {
                            "replica_id": rid,
                            "ready_at": ready_at,
                            "seconds": rec.ready_since - rec.started,
                            "phases": dict(rec.obs.extra),
                        }
                    )
                pid = rec.obs.pid
                if pid is not None and rec.obs.state in REPLICA_STATES:
                    live_replicas.add(rid)
                    usage = self._usage(rid, pid, now)
                    if usage is not None:
                        r.replicas[rid] = [usage.cpu_percent or 0.0, float(usage.memory_bytes)]
            seen &= current
            if r.replicas:
                r.usage_samples = 1
                r.cpu_percent = sum(v[0] for v in r.replicas.values())
                r.memory_bytes = sum(v[1] for v in r.replicas.values())
        live_deps = {s.spec.deployment_id for s in self._deployments()}
        for dep in [d for d in self._seen_ready if d not in live_deps]:
            del self._seen_ready[dep]
        for rid in [r for r in self._processes if r not in live_replicas]:
            self._processes.pop(rid, None)
            self.latest_usage.pop(rid, None)
        # A series left in the registry by a deployment that is gone (until the controller
        # forgets it) adds a row only when something was counted.
        return [r for r in rows.values() if r.samples or r.requests or r.queue_count]

    def _histograms(self) -> dict[tuple[str, str], list[float]]:
        """Cumulative latency bucket counts per (model, deployment), in bound order."""
        out: dict[tuple[str, str], dict[float, float]] = {}
        for family in self._metrics.duration.collect():
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    key = (sample.labels["model"], sample.labels["deployment"])
                    out.setdefault(key, {})[float(sample.labels["le"])] = sample.value
        return {key: [by_le[le] for le in sorted(by_le)] for key, by_le in out.items()}

    def _usage(self, replica_id: str, pid: int, now: float) -> ReplicaUsage | None:
        proc = self._processes.get(replica_id)
        try:
            if proc is None or proc.pid != pid:
                proc = self._processes[replica_id] = psutil.Process(pid)
                proc.cpu_percent(None)  # the first call only starts the measurement
                cpu: float | None = None
            else:
                cpu = proc.cpu_percent(None)
            usage = ReplicaUsage(cpu, proc.memory_info().rss, now)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._processes.pop(replica_id, None)
            return None
        self.latest_usage[replica_id] = usage
        return usage

    async def run(self) -> None:
        """Sample at each 10-second boundary, write the rows, prune once a minute; forever."""
        last_prune = float("-inf")
        while True:
            now = self._clock()
            await asyncio.sleep(BUCKET_S - now % BUCKET_S + 0.05)
            now = self._clock()
            try:
                rows = self.sample(now)
                if self.store is not None:
                    await asyncio.to_thread(self.store.write, rows)
                    if now - last_prune >= PRUNE_EVERY_S:
                        last_prune = now
                        await asyncio.to_thread(self.store.prune, now)
            except Exception:  # a failed sample loses 10 s of history, never the platform
                log.exception("metrics sample failed")
