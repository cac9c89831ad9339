"""Prometheus metrics of the data plane, in one registry per platform (never the global default).

Contract: `ServingMetrics()` owns a `prometheus_client.CollectorRegistry`; `render()` returns the
Prometheus text exposition of it (`CONTENT_TYPE` is its media type). The controller asks for a
`DeploymentMetrics` when it makes a router (`deployment(model, deployment_id)`), reports replica
starts (`replica_ready`), drops a deleted deployment's series (`forget`) and hands over a view of
its deployments (`watch`) from which the gauges are read at scrape time.

Series (labels `model`, `deployment`; `code` is the status class 2xx/4xx/5xx):

    plinth_requests_total{code}             counter    requests a router answered or failed
    plinth_request_duration_seconds         histogram  arrival at the router to its answer
    plinth_queue_wait_seconds               histogram  time waiting for a slot, per attempt
    plinth_cold_start_requests_total        counter    requests that waited for a replica start
    plinth_cold_start_wait_seconds          histogram  how long those requests waited
    plinth_replica_starts_total             counter    replicas that became ready
    plinth_replica_start_seconds{phase}     histogram  start to ready ("total") and its phases
    plinth_requests_in_flight               gauge      sent to a replica, not yet answered
    plinth_requests_queued                  gauge      waiting for a slot
    plinth_replicas{state}                  gauge      starting / ready / draining
    plinth_unrouted_requests_total{code}    counter    404/503 answered before any router (labels
                                                       `model` only; "" for unknown names)

Why it is cheap on the predict path: the router holds labelled children resolved once when it is
made, so a request costs a counter increment and two or three histogram observations (no label
lookup, no allocation of label tuples, no lock of ours). The gauges cost the request path nothing
at all: a custom collector reads the routers' counts and the replica states when Prometheus
scrapes. A request that never reached a router (no ACTIVE deployment: 404/503) is counted by
the gateway in `plinth_unrouted_requests_total` (an unknown model name counts under model "", so
that callers cannot grow the registry); one cancelled by its client is not counted (no status).
`DeploymentMetrics.throttled` counts 429 answers apart from the 4xx class, for the console's
time series (`backend.metrics_store`), which reads every series here with `collect()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from plinth.types import ReplicaState

if TYPE_CHECKING:
    from serving.deployment_state import DeploymentState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LABELS = ("model", "deployment")
CODE_CLASSES = ("2xx", "4xx", "5xx")  # what a router answers: 200, 422/429, 502/504
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
START_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
REPLICA_STATES = {
    ReplicaState.STARTING: "starting",
    ReplicaState.READY: "ready",
    ReplicaState.STOPPING: "draining",
}


class DeploymentMetrics:
    """One deployment's pre-resolved series: what a router touches per request."""

    __slots__ = (
        "_client",
        "_cold_starts",
        "_cold_wait",
        "_ok",
        "_server",
        "duration",
        "queue_wait",
        "throttled",
    )

    def __init__(self, metrics: ServingMetrics, model: str, deployment: str) -> None:
        m = metrics
        # Resolved here, so each class exists at 0 from the start (rate() needs a first sample).
        self._ok, self._client, self._server = (
            m.requests.labels(model, deployment, code) for code in CODE_CLASSES
        )
        self.duration = m.duration.labels(model, deployment)
        self.queue_wait = m.queue_wait.labels(model, deployment)
        self._cold_starts = m.cold_starts.labels(model, deployment)
        self._cold_wait = m.cold_wait.labels(model, deployment)
        self.throttled = 0  # 429 answers (also in the 4xx class)

    def request_done(self, status: int, seconds: float) -> None:
        """Count one answered request (`status` is its HTTP status) and observe its latency."""
        (self._ok if status < 400 else self._client if status < 500 else self._server).inc()
        if status == 429:
            self.throttled += 1
        self.duration.observe(seconds)

    def cold_start(self, waited_s: float) -> None:
        self._cold_starts.inc()
        self._cold_wait.observe(waited_s)


class ServingMetrics:
    """The platform's metrics registry and its series (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "plinth_requests", "Predict requests by status class", [*LABELS, "code"], registry=r
        )
        self.duration = Histogram(
            "plinth_request_duration_seconds",
            "Predict latency at the router",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "plinth_queue_wait_seconds",
            "Time a request waited for a replica slot (per routing attempt)",
            LABELS,
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.cold_starts = Counter(
            "plinth_cold_start_requests",
            "Requests that waited for a replica start",
            LABELS,
            registry=r,
        )
        self.cold_wait = Histogram(
            "plinth_cold_start_wait_seconds",
            "How long a request waited for a replica to start",
            LABELS,
            buckets=START_BUCKETS,
            registry=r,
        )
        self.replica_starts = Counter(
            "plinth_replica_starts", "Replicas that became ready", LABELS, registry=r
        )
        self.replica_start = Histogram(
            "plinth_replica_start_seconds",
            "Replica start to ready ('total') and its load phases",
            [*LABELS, "phase"],
            buckets=START_BUCKETS,
            registry=r,
        )
        self.unrouted = Counter(
            "plinth_unrouted_requests",
            "Predict requests answered 404/503 before reaching a deployment",
            ["model", "code"],
            registry=r,
        )
        self._throttled: dict[tuple[str, str], DeploymentMetrics] = {}
        self._source: Callable[[], Iterable[DeploymentState]] = tuple
        r.register(_LiveCollector(self))

    def deployment(self, model: str, deployment: str) -> DeploymentMetrics:
        made = DeploymentMetrics(self, model, deployment)
        self._throttled[(model, deployment)] = made
        return made

    def throttled(self) -> dict[tuple[str, str], int]:
        """429 answers so far per (model, deployment) (the last router made for each)."""
        return {key: m.throttled for key, m in list(self._throttled.items())}

    def not_routed(self, model: str, status: int) -> None:
        """Count a 404/503 answered before any router; pass model "" for an unknown name."""
        self.unrouted.labels(model, str(status)).inc()

    def watch(self, source: Callable[[], Iterable[DeploymentState]]) -> None:
        """Read the in-flight, queued and replica gauges from `source()` at each scrape."""
        self._source = source

    def replica_ready(
        self, model: str, deployment: str, seconds: float, phases: Mapping[str, float]
    ) -> None:
        self.replica_starts.labels(model, deployment).inc()
        self.replica_start.labels(model, deployment, "total").observe(seconds)
        for phase, phase_s in phases.items():
            self.replica_start.labels(model, deployment, phase).observe(phase_s)

    def forget(self, model: str, deployment: str) -> None:
        """Drop a deleted deployment's series, so that the registry does not grow forever."""
        labels = {"model": model, "deployment": deployment}
        self._throttled.pop((model, deployment), None)
        for metric in (
            self.requests,
            self.duration,
            self.queue_wait,
            self.cold_starts,
            self.cold_wait,
            self.replica_starts,
            self.replica_start,
        ):
            metric.remove_by_labels(labels)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def live(self) -> Iterable[DeploymentState]:
        return self._source()


class _LiveCollector(Collector):
    """The gauges, read from the controller's deployments when Prometheus scrapes."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        return self._families(self._metrics.live())

    def _families(self, deployments: Iterable[DeploymentState] = ()) -> Iterator[Metric]:
        in_flight = GaugeMetricFamily(
            "plinth_requests_in_flight",
            "Requests sent to a replica, not yet answered",
            labels=LABELS,
        )
        queued = GaugeMetricFamily(
            "plinth_requests_queued", "Requests waiting for a replica slot", labels=LABELS
        )
        replicas = GaugeMetricFamily(
            "plinth_replicas", "Replicas by state", labels=[*LABELS, "state"]
        )
        for dep in list(deployments):
            labels = [dep.spec.model_name, dep.spec.deployment_id]
            in_flight.add_metric(labels, dep.router.in_flight)
            queued.add_metric(labels, dep.router.queued)
            counts = dict.fromkeys(REPLICA_STATES.values(), 0)
            for rec in list(dep.replicas.values()):
                state = REPLICA_STATES.get(rec.obs.state)
                if state is not None:
                    counts[state] += 1
            for state, n in counts.items():
                replicas.add_metric([*labels, state], n)
        yield from (in_flight, queued, replicas)
