"""Request traces for the simulator: CSV replay (the Azure LLM traces or any file with a
timestamp column) and synthetic generators, each deterministic for a given seed.

Contract: every loader returns a `Trace`: arrival times in seconds from 0 (sorted), one service
time per request (seconds a request holds a replica slot), and a description with its source.

Service-time model for token traces (documented once, used for every policy alike): a request
holds a slot for `0.05 s + context_tokens / 20 000 + generated_tokens / 100` seconds (prefill
at 20k tokens/s, decode at 100 tokens/s per sequence, as a 7B-class model on one GPU roughly
does), unless the CSV has no token columns, then `default_service_s`.

The Azure traces: Azure Public Dataset, `AzureLLMInferenceTrace_{code,conv}.csv`, CC-BY 4.0,
from Patel et al., "Splitwise: Efficient generative LLM inference using phase splitting",
ISCA 2024. Anything derived from them keeps this attribution.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

AZURE_ATTRIBUTION = (
    "Azure LLM inference trace 2023 (Azure Public Dataset, CC-BY 4.0): Patel, Choukse, Zhang, "
    "Shah, Goiri, Maleki, Bianchini, 'Splitwise: Efficient generative LLM inference using "
    "phase splitting', ISCA 2024"
)


@dataclass(frozen=True)
class Trace:
    name: str
    arrivals: tuple[float, ...]
    service_s: tuple[float, ...]
    source: str

    @property
    def duration_s(self) -> float:
        return self.arrivals[-1] if self.arrivals else 0.0

    def __len__(self) -> int:
        return len(self.arrivals)


def token_service_s(context_tokens: int, generated_tokens: int) -> float:
    return 0.05 + context_tokens / 20_000 + generated_tokens / 100


def _timestamp(text: str) -> float:
    # "2023-11-16 18:17:03.9799600": seven fractional digits, more than strptime's %f takes.
    base, _, frac = text.strip().partition(".")
    seconds = datetime.strptime(base, "%Y-%m-%d %H:%M:%S").timestamp()
    return seconds + (float("0." + frac) if frac else 0.0)


def load_csv(
    path: Path,
    *,
    name: str | None = None,
    timestamp_column: str = "TIMESTAMP",
    default_service_s: float = 0.5,
    source: str = "",
    max_duration_s: float | None = None,
) -> Trace:
    """Replay a CSV trace; `max_duration_s` keeps only its first seconds (said in `source`)."""
    rows: list[tuple[float, float]] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            at = _timestamp(row[timestamp_column])
            if "ContextTokens" in row and "GeneratedTokens" in row:
                service = token_service_s(int(row["ContextTokens"]), int(row["GeneratedTokens"]))
            else:
                service = default_service_s
            rows.append((at, service))
    rows.sort()
    start = rows[0][0] if rows else 0.0
    kept = [(at - start, s) for at, s in rows]
    if max_duration_s is not None:
        kept = [(at, s) for at, s in kept if at <= max_duration_s]
        source = f"{source} (first {max_duration_s:g} s)".strip()
    return Trace(name or path.stem, tuple(a for a, _ in kept), tuple(s for _, s in kept), source)


def _lognormal_service(rng: random.Random, mean_s: float, sigma: float) -> float:
    mu = math.log(mean_s) - sigma**2 / 2
    return rng.lognormvariate(mu, sigma)


def poisson_with_rate(
    name: str,
    rate: Callable[[float], float],
    duration_s: float,
    peak_rate: float,
    *,
    seed: int,
    mean_service_s: float = 0.5,
    source: str = "synthetic",
) -> Trace:
    """Non-homogeneous Poisson arrivals by thinning (Lewis and Shedler) under `peak_rate`."""
    rng = random.Random(seed)
    arrivals: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak_rate)
        if t > duration_s:
            break
        if rng.random() * peak_rate <= rate(t):
            arrivals.append(t)
    services = tuple(_lognormal_service(rng, mean_service_s, 0.5) for _ in arrivals)
    return Trace(name, tuple(arrivals), services, source)


def step_spike(seed: int = 1) -> Trace:
    """1 req/s for 120 s, 100 req/s for 120 s, back to 1 req/s for 360 s."""

    def rate(t: float) -> float:
        return 100.0 if 120 <= t < 240 else 1.0

    return poisson_with_rate(
        "spike", rate, 600, 100, seed=seed, source="synthetic step 1 -> 100 -> 1 req/s"
    )


def on_off(seed: int = 2) -> Trace:
    """5 req/s for 60 s, then 600 s of silence, four times: long idle gaps."""

    def rate(t: float) -> float:
        return 5.0 if t % 660 < 60 else 0.0

    return poisson_with_rate(
        "on_off", rate, 4 * 660, 5, seed=seed, source="synthetic 60 s on at 5 req/s, 600 s off"
    )


def gamma_bursty(seed: int = 3, rate: float = 5.0, cv: float = 4.0) -> Trace:
    """Gamma inter-arrival times with mean 1/rate and coefficient of variation `cv`."""
    rng = random.Random(seed)
    shape = 1 / cv**2
    scale = 1 / (rate * shape)
    arrivals: list[float] = []
    t = rng.gammavariate(shape, scale)
    while t < 1200:
        arrivals.append(t)
        t += rng.gammavariate(shape, scale)
    services = tuple(_lognormal_service(rng, 0.5, 0.5) for _ in arrivals)
    source = f"synthetic gamma arrivals, {rate:g} req/s, CV {cv:g}"
    return Trace("gamma", tuple(arrivals), services, source)


def diurnal(seed: int = 4, period_s: float = 1800.0) -> Trace:
    """A day compressed into `period_s`: 1 req/s at night to 20 req/s at noon (cosine)."""

    def rate(t: float) -> float:
        return 1 + 19 * (1 - math.cos(2 * math.pi * t / period_s)) / 2

    return poisson_with_rate(
        "diurnal", rate, period_s, 20, seed=seed, source="synthetic diurnal 1-20 req/s"
    )


def synthetic() -> list[Trace]:
    return [step_spike(), on_off(), gamma_bursty(), diurnal()]
