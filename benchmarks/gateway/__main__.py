"""Gateway overhead: Plinth's full predict path vs a bare echo server vs Ray Serve, same load.

    python -m benchmarks.gateway [--rounds 3] [--duration 8] [--out docs/benchmarks/gateway.md]

Each target serves POST /v1/models/noop/predict with a no-op model (the JSON body's "inputs"
answered back) and is driven by the same load generator, wrk (Debian package `wrk`), with the
Lua script `post.lua` (a 25-byte JSON body, plus the bearer key for Plinth): a warm-up, then
`--duration` seconds at 32 connections and at 1 connection. The machine is small and shared, so
the echo server and Plinth are measured in alternating rounds (`--rounds`; each row is the
median over rounds, and the throughput ratio is also given per round); Ray Serve, whose idle
processes would slow the others, runs alone afterwards:

- echo: a bare single-process Starlette/uvicorn app (`echo_server.py`), the ceiling;
- plinth: `plinth up` (tests/support/platform.py) with a temporary PLINTH_HOME, auth on and a
  real key with only the `invoke:noop` scope, metrics on, and model `noop` deployed through
  GraphQL with engine "noop" at minReplicas = maxReplicas = 1 (a real replica process);
- ray: Ray Serve with one no-op replica (`ray_app.py`), when a separate environment has Ray
  (`--ray-python`, default `.venv-ray/bin/python`; see README.md); otherwise skipped, and
  the ratio uses the issue's reference measurement of Ray Serve on this machine (179 req/s).

It writes a Markdown table with the ratios and which targets are met to `--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform as host
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from serving.runtime_local import free_port
from tests.support.platform import PlatformProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LUA = HERE / "post.lua"
PATH = "/v1/models/noop/predict"
RAY_REFERENCE_RPS = 179.0  # the issue: Ray Serve 2.60 `serve run`, 32 connections, this machine
RAY_REFERENCE_P50_1_MS = 9.0
TARGET_VS_RAY = 20.0
TARGET_VS_ECHO = 0.35
TARGET_ADDED_P50_MS = 1.0
CONNECTIONS = (32, 1)

CREATE_KEY = """
mutation Key($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { __typename ... on CreatedApiKey { key } }
}"""


@dataclass
class Run:
    target: str
    connections: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    requests: int


def wrk(url: str, connections: int, seconds: float, token: str | None) -> Run:
    env = dict(os.environ, PLINTH_BENCH_TOKEN=token or "")
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    data: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(
        data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx")
    )
    return Run(
        target="",
        connections=connections,
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        requests=data["requests"],
    )


def check_answer(name: str, url: str, token: str | None) -> None:
    check = httpx.post(
        url,
        json={"inputs": "hello world"},
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=30,
    )
    if check.status_code != 200 or check.json() != "hello world":
        raise RuntimeError(f"{name}: unexpected answer {check.status_code} {check.text[:300]}")


def drive(name: str, url: str, token: str | None, duration: float, warmup: float) -> list[Run]:
    check_answer(name, url, token)
    wrk(url, 32, warmup, token)
    runs = []
    for connections in CONNECTIONS:
        run = wrk(url, connections, duration, token)
        run.target = name
        print(
            f"{name:7} c={connections:<3} {run.rps:9.0f} req/s  p50 {run.p50_ms:7.3f} ms  "
            f"p90 {run.p90_ms:7.3f}  p99 {run.p99_ms:7.3f}  errors {run.errors}",
            flush=True,
        )
        runs.append(run)
    return runs


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.post(url, json={"inputs": "x"}, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.gateway.echo_server", str(port)],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}{PATH}"
        wait_http(url, proc)
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def plinth(work: Path) -> Iterator[tuple[str, str]]:
    """`plinth up` with the no-op model deployed; yields (predict URL, invoke key)."""
    platform = PlatformProcess(work / "plinth", work / "hf").start(timeout_s=180)
    try:
        platform.deploy(
            name="noop",
            huggingFaceRepo="plinth/noop",
            engine="noop",
            scaling={"minReplicas": 1, "maxReplicas": 1, "maxConcurrency": 32},
        )
        done = platform.wait_deployment(
            "noop", lambda d: d["status"] in ("ACTIVE", "FAILED"), "the deploy", 180
        )
        if done["status"] != "ACTIVE":
            raise RuntimeError(f"deploy of the no-op model failed: {done}")
        created = platform.graphql(
            CREATE_KEY, input={"name": "gateway-bench", "scopes": ["invoke:noop"]}
        )["createApiKey"]
        yield f"{platform.url}{PATH}", str(created["key"])
    finally:
        platform.stop()


def rounds(
    targets: dict[str, tuple[str, str | None]], n: int, duration: float, warmup: float
) -> list[list[Run]]:
    """`n` rounds; in each, every target in turn: warm-up, then each connection count."""
    for name, (url, token) in targets.items():
        check_answer(name, url, token)
    result = []
    for index in range(n):
        print(f"round {index + 1}/{n}", flush=True)
        one: list[Run] = []
        for name, (url, token) in targets.items():
            one += drive(name, url, token, duration, warmup)
        result.append(one)
    return result


def median_runs(all_rounds: list[list[Run]]) -> list[Run]:
    keys = [(r.target, r.connections) for r in all_rounds[0]]
    merged = []
    for target, connections in keys:
        same = [
            r
            for one in all_rounds
            for r in one
            if (r.target, r.connections) == (target, connections)
        ]
        merged.append(
            Run(
                target=target,
                connections=connections,
                rps=statistics.median(r.rps for r in same),
                p50_ms=statistics.median(r.p50_ms for r in same),
                p90_ms=statistics.median(r.p90_ms for r in same),
                p99_ms=statistics.median(r.p99_ms for r in same),
                errors=sum(r.errors for r in same),
                requests=sum(r.requests for r in same),
            )
        )
    return merged


def run_ray(ray_python: Path, duration: float, warmup: float) -> list[Run] | str:
    if not ray_python.exists():
        return f"no Ray environment at {ray_python} (see benchmarks/gateway/README.md)"
    probe = subprocess.run(
        [str(ray_python), "-c", "import ray, ray.serve; print(ray.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"{ray_python} cannot import ray.serve: {probe.stderr.strip()[-300:]}"
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="ray-bench-")) / "ray.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(ray_python), str(HERE / "ray_app.py"), str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while b"RAY_READY" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-1500:]
                return f"Ray Serve did not start:\n{tail}"
            time.sleep(0.5)
        runs = drive("ray", f"http://127.0.0.1:{port}{PATH}", None, duration, warmup)
        return runs
    finally:
        stop(proc)
        ray = Path(ray_python).parent / "ray"
        if ray.exists():
            subprocess.run([str(ray), "stop", "--force"], capture_output=True)


def report(
    all_rounds: list[list[Run]],
    ray_runs: list[Run],
    ray_note: str | None,
    args: argparse.Namespace,
    history: str | None,
) -> str:
    runs = median_runs(all_rounds) + ray_runs
    by = {(r.target, r.connections): r for r in runs}
    per_round = []
    for one in all_rounds:
        at = {(r.target, r.connections): r for r in one}
        per_round.append(at[("plinth", 32)].rps / at[("echo", 32)].rps)
    echo32, echo1 = by[("echo", 32)], by[("echo", 1)]
    pl32, pl1 = by[("plinth", 32)], by[("plinth", 1)]
    ray32 = by.get(("ray", 32))
    ray_rps = ray32.rps if ray32 is not None else RAY_REFERENCE_RPS
    vs_ray = pl32.rps / ray_rps
    vs_echo = pl32.rps / echo32.rps
    added = pl1.p50_ms - echo1.p50_ms
    load = os.getloadavg()
    lines = [
        "# Gateway overhead: Plinth vs a bare echo server vs Ray Serve",
        "",
        f"Measured by `python -m benchmarks.gateway --rounds {args.rounds} "
        f"--duration {args.duration:g}` "
        f"on {host.machine()} with {os.cpu_count()} CPUs (shared with wrk and with other work: "
        f"load average {load[0]:.1f} at the end of the run). Each target serves "
        f"`POST {PATH}` with a no-op model (the body's `inputs` answered back) and is driven "
        f"by `wrk -t1` with `benchmarks/gateway/post.lua` (a 25-byte JSON body) for "
        f"{args.duration:g} s per row after a {args.warmup:g} s warm-up. Echo and Plinth are "
        f"measured in {len(all_rounds)} alternating rounds (rows: the median over rounds); "
        "Ray Serve runs alone after them. Plinth runs the full "
        "path: `plinth up`, auth on with a real key scoped `invoke:noop`, Prometheus metrics on, "
        "routing and concurrency accounting, the model deployed through GraphQL with engine "
        '"noop" at minReplicas = maxReplicas = 1 (a replica in its own process).',
        "",
        "| target | connections | req/s | p50 (ms) | p90 (ms) | p99 (ms) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.target} | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.3f} | {r.p90_ms:.3f} "
            f"| {r.p99_ms:.3f} | {r.errors} |"
        )
    if ray32 is None:
        lines += [
            f"| ray (reference from the issue, not this run) | 32 | {RAY_REFERENCE_RPS:,.0f} "
            "| 169 | - | - | - |",
            f"| ray (reference from the issue, not this run) | 1 | - "
            f"| {RAY_REFERENCE_P50_1_MS:g} | - | - | - |",
        ]
    ray_source = (
        "Ray Serve measured in this run"
        if ray32 is not None
        else f"Ray Serve's {RAY_REFERENCE_RPS:.0f} req/s from the issue (Ray was not run: "
        f"{ray_note})"
    )

    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    lines += [
        "",
        "| target | measured | goal | |",
        "|---|---:|---:|---|",
        f"| Plinth / Ray Serve throughput, 32 connections ({ray_source}) | {vs_ray:.1f}x "
        f"| >= {TARGET_VS_RAY:g}x | {met(vs_ray >= TARGET_VS_RAY)} |",
        f"| Plinth / echo ceiling throughput, 32 connections (per round: "
        f"{', '.join(f'{x:.0%}' for x in per_round)}) | {vs_echo:.0%} "
        f"| >= {TARGET_VS_ECHO:.0%} | {met(vs_echo >= TARGET_VS_ECHO)} |",
        f"| added p50 at 1 connection (Plinth p50 - echo p50) | {added:.3f} ms "
        f"| < {TARGET_ADDED_P50_MS:g} ms | {met(added < TARGET_ADDED_P50_MS)} |",
        "",
    ]
    if history:
        lines += [history.rstrip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured row")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating echo/Plinth rounds")
    parser.add_argument("--ray-python", type=Path, default=ROOT / ".venv-ray" / "bin" / "python")
    parser.add_argument("--targets", default="echo,plinth,ray")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "gateway.md")
    parser.add_argument(
        "--history",
        type=Path,
        default=HERE / "history.md",
        help="Markdown appended to the report (the before/after record of optimisations)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    targets = args.targets.split(",")
    all_rounds: list[list[Run]] = []
    ray_runs: list[Run] = []
    ray_note: str | None = "not asked for (--targets)"
    with tempfile.TemporaryDirectory(prefix="plinth-gateway-bench-") as tmp:
        with contextlib.ExitStack() as stack:
            servers: dict[str, tuple[str, str | None]] = {}
            if "echo" in targets:
                servers["echo"] = (stack.enter_context(echo_server()), None)
            if "plinth" in targets:
                servers["plinth"] = stack.enter_context(plinth(Path(tmp)))
            all_rounds = rounds(servers, args.rounds, args.duration, args.warmup)
        if "ray" in targets:
            ray = run_ray(args.ray_python, args.duration, args.warmup)
            if isinstance(ray, str):
                ray_note = ray
                print(f"ray     skipped: {ray}", flush=True)
            else:
                ray_runs, ray_note = ray, None
    if not {"echo", "plinth"} <= set(targets):
        return 0
    history = args.history.read_text() if args.history.exists() else None
    text = report(all_rounds, ray_runs, ray_note, args, history)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
