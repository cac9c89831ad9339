"""Run `plinth up` as a real child process for integration and end-to-end tests.

Once healthy, `api_key` is the bootstrap admin key `plinth up` wrote to
`$PLINTH_HOME/credentials`, and `headers` carries it; the CLI and SDK started with `env` find
the same file by themselves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from serving.runtime_local import free_port

DEPLOY = """
mutation Deploy($input: DeployModelInput!) {
  deployModel(input: $input) {
    __typename
    ... on Deployment { id status }
    ... on ValidationError { field message }
  }
}"""

LATEST_DEPLOYMENT = """
query Model($name: String!) {
  model(name: $name) { deployments { id status error task replicas { id state pid port } } }
}"""


class PlatformProcess:
    def __init__(
        self,
        home: Path,
        hf_home: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        log_name: str = "plinth-up.log",
    ) -> None:
        self.home = home
        self.args = list(args)
        self.hf_home = hf_home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            PLINTH_HOME=str(home),
            PLINTH_PORT=str(self.port),
            PLINTH_HOST="127.0.0.1",
            PLINTH_URL=self.url,
            HF_HOME=str(hf_home),
            HF_HUB_OFFLINE="1",
            PLINTH_TORCH_THREADS="1",
            **(env or {}),
        )
        for inherited in ("PLINTH_DATABASE_URL", "PLINTH_TEMPORAL_ADDRESS", "PLINTH_API_KEY"):
            if inherited not in (env or {}):
                self.env.pop(inherited, None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_key: str | None = None
        self.log_path = home / log_name

    def start(self, timeout_s: float = 60.0) -> PlatformProcess:
        return self.launch().wait_healthy(timeout_s)

    def launch(self) -> PlatformProcess:
        """Start `plinth up` without waiting for it (a standby, say, is not healthy yet)."""
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "plinth"), "up", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_healthy(self, timeout_s: float = 60.0) -> PlatformProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"plinth up exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    self.api_key = self.read_api_key()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"plinth up did not become healthy:\n{self.logs()}")

    def read_api_key(self) -> str | None:
        path = self.home / "credentials"
        if not path.exists():
            return None
        key: str = json.loads(path.read_text())["api_key"]
        return key

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        resp = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers=self.headers,
            timeout=30,
        )
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    def deploy(self, **input_: Any) -> dict[str, Any]:
        """deployModel with this input; the result must be a Deployment."""
        result: dict[str, Any] = self.graphql(DEPLOY, input=input_)["deployModel"]
        if result["__typename"] != "Deployment":
            raise AssertionError(f"deployModel refused: {result}")
        return result

    def deployment(self, name: str) -> dict[str, Any]:
        """The model's latest deployment with its replicas."""
        model = self.graphql(LATEST_DEPLOYMENT, name=name)["model"]
        if model is None:
            raise AssertionError(f"model {name!r} not found")
        latest: dict[str, Any] = model["deployments"][0]
        return latest

    def wait_deployment(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 120
    ) -> dict[str, Any]:
        """Poll the latest deployment until `check` holds; the last one seen is returned."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.deployment(name)
            if check(last):
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last: {last}\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
