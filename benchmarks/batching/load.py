"""Closed-loop load: N clients, each sending one request as soon as its previous one answered.

`wrk` (C, one thread, epoll) drives the load when it is installed, with a Lua script that
rotates the request bodies; otherwise a raw asyncio HTTP/1.1 client over keep-alive connections
(no HTTP library: about 50 us of CPU per request, so the load generator takes little of the CPU
the platform needs). Both count only 200 answers; anything else fails the run.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    tool: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


_LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "%s", {["Content-Type"] = "application/json",
    ["Authorization"] = "%s"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  local bad = e.status + e.connect + e.read + e.write + e.timeout
  io.write(string.format("PLINTH %%d %%d %%d\\n", summary.requests, summary.duration, bad))
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(url: str, bodies: list[bytes], auth: str, clients: int, seconds: float) -> LoadResult:
    parts = urlsplit(url)
    script = _LUA % (
        ", ".join(_lua_string(b.decode()) for b in bodies),
        parts.path,
        auth,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = Path(handle.name)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(path),
             f"{parts.scheme}://{parts.netloc}"],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        path.unlink()
    found = re.search(r"PLINTH (\d+) (\d+) (\d+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    requests, micros, bad = (int(g) for g in found.groups())
    return LoadResult(requests - bad, micros / 1e6, bad, "wrk")


async def _raw_client(
    host: str, port: int, requests: list[bytes], stop_at: float, counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.monotonic() < stop_at:
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            counts[0 if status == 200 else 1] += 1
    finally:
        writer.close()


def run_raw(url: str, bodies: list[bytes], auth: str, clients: int, seconds: float) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [
        (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]

    async def main() -> LoadResult:
        counts = [0, 0]
        began = time.monotonic()
        stop_at = began + seconds
        await asyncio.gather(
            *(_raw_client(host, port, requests[k:] + requests[:k], stop_at, counts)
              for k in range(clients))
        )  # fmt: skip
        return LoadResult(counts[0], time.monotonic() - began, counts[1], "asyncio")

    return asyncio.run(main())


def run_load(url: str, bodies: list[bytes], auth: str, clients: int, seconds: float) -> LoadResult:
    if shutil.which("wrk"):
        return run_wrk(url, bodies, auth, clients, seconds)
    return run_raw(url, bodies, auth, clients, seconds)


def bodies_for(sentences: list[str]) -> list[bytes]:
    return [json.dumps({"inputs": s}).encode() for s in sentences]
