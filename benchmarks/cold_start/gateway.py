"""Cold start through the gateway: from zero replicas to the first REST answer, vs a warm replica,
for the naive path and Plinth's fast path in the same run.

Two platforms run one after the other, identical but for how replicas start:
- "spawn (naive)": `PLINTH_FORK_SERVER=false`, every replica a new `python -m serving.replica`
  process that imports torch and transformers, loads the weights and warms up;
- "fork (Plinth)": the default, replicas forked from the pre-warmed fork server.

Each starts the real platform (`plinth up` as a child process, tests/support/platform.py) with a
temporary PLINTH_HOME and HF_HOME (HF_HUB_OFFLINE=1) holding the tiny GPT-2 of tests/support and
MiniLM imported from its PyPI package. Each model is deployed with minReplicas 0, maxReplicas 1
and a 1 s scaleDownDelaySeconds. A cycle waits until the model has no replica, sends
POST /v1/models/{name}/predict and times it to the answer (reading `X-Plinth-Cold-Start-Ms`), then
sends `WARM_REQUESTS` more to the now-warm replica. The ratio is cold first response / warm median,
both measured in the same run.

Plinth's autoscaler keeps or pre-warms a replica when the deployment's idle gaps say a request is
due (predictive pre-warm), which would hide the cold start this measures: each cycle waits longer
than any earlier gap before its request, so the history never predicts it. The first cold start
of each model after its deploy (the fork server learns the model then) is run but not counted.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from serving.hub import import_local_minilm
from tests.support import tiny_models
from tests.support.platform import PlatformProcess

SCALE_DOWN_DELAY_S = 1.0
GAP_MARGIN_S = 0.5  # each cycle's idle gap exceeds every earlier one by this much
WARM_REQUESTS = 5
TARGETS_S = {"tiny-gpt2": 0.5, "all-MiniLM-L6-v2": 1.0}
COLD_START_HEADER = "x-plinth-cold-start-ms"


@dataclass
class GatewayModel:
    name: str  # the Plinth model name, also the row label
    repo: str
    task: str
    payload: dict[str, Any]


@dataclass
class GatewaySamples:
    cold_s: list[float] = field(default_factory=list)  # client: request sent -> answer
    header_ms: list[int] = field(default_factory=list)  # X-Plinth-Cold-Start-Ms
    warm_s: list[float] = field(default_factory=list)
    missing_header: int = 0  # cycles whose first request found a replica (not a cold start)


PATHS = {"spawn (naive)": {"PLINTH_FORK_SERVER": "false"}, "fork (Plinth)": {}}
FAST_PATH = "fork (Plinth)"


@dataclass
class GatewayResults:
    samples: dict[tuple[str, str], GatewaySamples] = field(default_factory=dict)  # (path, model)
    platform_start_s: dict[str, float] = field(default_factory=dict)


def build_hf_home(hf_home: Path) -> list[GatewayModel]:
    tiny_models.build_tiny_gpt2(hf_home, "plinth-bench/tiny-gpt2")
    import_local_minilm(hf_home)
    generate = {"inputs": "hello world", "parameters": {"max_new_tokens": 8}}
    return [
        GatewayModel("tiny-gpt2", "plinth-bench/tiny-gpt2", "text-generation", generate),
        GatewayModel(
            "all-MiniLM-L6-v2",
            "sentence-transformers/all-MiniLM-L6-v2",
            "feature-extraction",
            {"inputs": "hello world"},
        ),
    ]


class _Driver:
    """Drives one platform; remembers when each model last got a request (its idle gaps)."""

    def __init__(self, platform: PlatformProcess, client: httpx.Client) -> None:
        self.platform = platform
        self.client = client
        self.last_sent: dict[str, float] = {}
        self.longest_gap: dict[str, float] = {}

    def deploy(self, model: GatewayModel) -> None:
        scaling = {
            "minReplicas": 0,
            "maxReplicas": 1,
            "scaleDownDelaySeconds": SCALE_DOWN_DELAY_S,
        }
        self.platform.deploy(
            name=_slug(model.name), huggingFaceRepo=model.repo, task=model.task, scaling=scaling
        )
        done = self.platform.wait_deployment(
            _slug(model.name), lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy", 300
        )
        if done["status"] != "ACTIVE":
            raise RuntimeError(f"deploy of {model.name} failed: {done}")

    def wait_for_zero(self, model: GatewayModel) -> None:
        self.platform.wait_deployment(
            _slug(model.name), lambda d: not d["replicas"], "scale to zero", 120
        )
        # Outlast every earlier gap so that the autoscaler's history predicts nothing.
        last = self.last_sent.get(model.name)
        if last is not None:
            due = last + self.longest_gap.get(model.name, 0.0) + GAP_MARGIN_S
            time.sleep(max(0.0, due - time.monotonic()))

    def predict(self, model: GatewayModel) -> tuple[float, int | None]:
        now = time.monotonic()
        last = self.last_sent.get(model.name)
        if last is not None:
            gap = now - last
            self.longest_gap[model.name] = max(self.longest_gap.get(model.name, 0.0), gap)
        self.last_sent[model.name] = now
        resp = self.client.post(
            f"{self.platform.url}/v1/models/{_slug(model.name)}/predict",
            json=model.payload,
            headers=self.platform.headers,
        )
        elapsed = time.monotonic() - now
        if resp.status_code != 200:
            raise RuntimeError(f"predict {model.name}: HTTP {resp.status_code} {resp.text}")
        header = resp.headers.get(COLD_START_HEADER)
        return elapsed, None if header is None else int(header)


def _slug(name: str) -> str:
    return name.lower()


def run_gateway(repetitions: int, work: Path) -> GatewayResults:
    models = build_hf_home(work / "hf")
    results = GatewayResults()
    for path, env in PATHS.items():
        home = work / ("plinth-" + path.split()[0])
        began = time.monotonic()
        platform = PlatformProcess(home, work / "hf", env=env).start(timeout_s=180)
        results.platform_start_s[path] = time.monotonic() - began
        try:
            with httpx.Client(timeout=120, trust_env=False) as client:
                driver = _Driver(platform, client)
                for model in models:
                    _cycles(driver, model, path, repetitions, results)
        finally:
            platform.stop()
    return results


def _cycles(
    driver: _Driver, model: GatewayModel, path: str, repetitions: int, results: GatewayResults
) -> None:
    driver.deploy(model)
    samples = results.samples.setdefault((path, model.name), GatewaySamples())
    for n in range(repetitions + 1):
        driver.wait_for_zero(model)
        cold_s, header = driver.predict(model)
        warm = [driver.predict(model)[0] for _ in range(WARM_REQUESTS)]
        label = "first (not counted)" if n == 0 else f"#{n}"
        print(
            f"gateway {path:13} {model.name:18} {label:19} cold {cold_s * 1000:7.1f} ms "
            f"(header {header}), warm median {statistics.median(warm) * 1000:6.1f} ms",
            flush=True,
        )
        if n == 0:
            continue
        if header is None:
            samples.missing_header += 1
            continue
        samples.cold_s.append(cold_s)
        samples.header_ms.append(header)
        samples.warm_s.extend(warm)


def gateway_table(results: GatewayResults, repetitions: int) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f}"

    lines = [
        "## Through the gateway: zero replicas to the first REST answer",
        "",
        f"Measured by `.venv/bin/python -m benchmarks.cold_start --repetitions {repetitions}` "
        "(the gateway part: `benchmarks/cold_start/gateway.py`). The real platform (`plinth up`), "
        "run twice in the same run: once with `PLINTH_FORK_SERVER=false`, every replica spawned "
        "as a new process that imports torch and transformers (the naive path), and once with "
        "Plinth's fork server (the fast path, the default); healthy "
        + ", ".join(f"{t:.1f} s ({p})" for p, t in results.platform_start_s.items())
        + " after launch. Each model at minReplicas 0 and scaleDownDelaySeconds "
        f"{SCALE_DOWN_DELAY_S:g}; once it has no replica, POST /v1/models/{{name}}/predict is "
        "timed by the client from sending to "
        f"the answer (cold), then {WARM_REQUESTS} more requests go to the now-warm replica (warm). "
        "Header = `X-Plinth-Cold-Start-Ms`, the time the request waited for the replica to "
        "start. Replicas use 1 torch thread (as in the integration tests); the first cold start "
        "after each deploy is not counted.",
        "",
        "| model | replica start | cold first response median (ms) | min-max (ms) "
        "| header median (ms) | warm median (ms) | cold / warm | target (ms) | met | runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for (path, model), s in sorted(results.samples.items(), key=lambda kv: kv[0][1]):
        if not s.cold_s:
            lines.append(f"| {model} | {path} | - | - | - | - | - | - | no | 0 |")
            continue
        cold = statistics.median(s.cold_s)
        warm = statistics.median(s.warm_s)
        target = TARGETS_S[model]
        runs = f"{len(s.cold_s)}" + (
            f" (+{s.missing_header} without a cold start)" if s.missing_header else ""
        )
        met = ("yes" if cold < target else "no") if path == FAST_PATH else "-"
        lines.append(
            f"| {model} | {path} | {ms(cold)} | {ms(min(s.cold_s))}-{ms(max(s.cold_s))} "
            f"| {statistics.median(s.header_ms):.0f} | {warm * 1000:.1f} | {cold / warm:.0f}x "
            f"| {ms(target)} | {met} | {runs} |"
        )
    ratios = []
    for model in TARGETS_S:
        naive = results.samples.get(("spawn (naive)", model))
        fast = results.samples.get((FAST_PATH, model))
        if naive and fast and naive.cold_s and fast.cold_s:
            speedup = statistics.median(naive.cold_s) / statistics.median(fast.cold_s)
            ratios.append(f"{model} {speedup:.1f}x")
    if ratios:
        lines += [
            "",
            "Naive / fast cold first response (medians, same run): " + ", ".join(ratios) + ". "
            "The targets apply to Plinth's path; the naive rows are the baseline. Load average "
            f"at the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the "
            "naive path, which imports torch and transformers in a new process, suffers most "
            "from a busy machine).",
        ]
    return "\n".join(lines) + "\n"
