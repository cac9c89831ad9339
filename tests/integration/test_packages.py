"""Custom model packages end to end: `plinth up` as a real process, the real `plinth` CLI, real
pip and virtualenvs, real replica processes.

The extra requirement is a tiny distribution this test builds itself into a wheel (no
registry), so it is certainly not in the platform's environment and must come from the
package's virtualenv.
"""

from __future__ import annotations

import importlib.metadata
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plinth.package import build_archive
from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHOUT_DIST = "plinth-test-shout"
PLINTH = str(Path(sys.executable).parent / "plinth")

MODELS = """
query { models { name deployments { id version status engine revision
  events { kind message } replicas { state } } } }
"""


@pytest.fixture(scope="module")
def shout_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of `plinth-test-shout` (module `plinth_test_shout`), built offline."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version(SHOUT_DIST)  # the point: the platform does not have it
    src = tmp_path_factory.mktemp("shout-src")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{SHOUT_DIST}"\nversion = "0.1.0"\n'
    )
    (src / "plinth_test_shout").mkdir()
    (src / "plinth_test_shout" / "__init__.py").write_text(
        "def shout(text):\n    return text.upper() + '!'\n"
    )
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out), str(src)],
        check=True,
    )  # fmt: skip
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[PlatformProcess]:
    """`plinth up` with an empty Hugging Face cache: packages need none."""
    proc = PlatformProcess(tmp_path / "plinth", tmp_path / "hf").start()
    try:
        yield proc
    finally:
        proc.stop()


def write_package(path: Path, *, config: str, model: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "plinth.yaml").write_text(config)
    (path / "model.py").write_text(model)
    return path


def plinth_cli(
    platform: PlatformProcess, *args: str, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLINTH, *args],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def predict(
    platform: PlatformProcess, name: str, inputs: Any, environment: str = "production"
) -> httpx.Response:
    return httpx.post(
        f"{platform.url}/v1/models/{name}/environments/{environment}/predict",
        json={"inputs": inputs},
        headers=platform.headers,
        timeout=60,
    )


def models(platform: PlatformProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = platform.graphql(MODELS)["models"]
    return found


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


SHOUT_MODEL = """
import plinth_test_shout


class Shouter:
    def __init__(self, config):
        self.prefix = config.get("prefix", "")

    def load(self):
        self.shout = plinth_test_shout.shout

    def predict(self, inputs):
        return {"text": self.prefix + self.shout(inputs)}
"""


@pytest.mark.timeout(900)
def test_package_with_an_extra_requirement_deploys_serves_and_reuses_its_environment(
    platform: PlatformProcess, shout_wheel: Path, tmp_path: Path
) -> None:
    config = (
        "name: shouter\n"
        f"requirements:\n  - {SHOUT_DIST} @ {shout_wheel.as_uri()}\n"
        "engine:\n  config: {prefix: '> '}\n"
        "predict_concurrency: 2\n"
    )
    package = write_package(tmp_path / "shouter", config=config, model=SHOUT_MODEL)
    pushed = plinth_cli(platform, "push", str(package), "--min", "1")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr + platform.logs()
    assert "building environment" in pushed.stdout
    assert f"installed {SHOUT_DIST}-0.1.0" in pushed.stdout
    assert "is ACTIVE (version 1)" in pushed.stdout

    answer = predict(platform, "shouter", "hello")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"text": "> HELLO!"}
    venvs = list((platform.home / "venvs").glob("*/bin/python"))
    assert len(venvs) == 1

    # A new version with the same requirements reuses the environment: nothing is installed.
    (package / "model.py").write_text(SHOUT_MODEL.replace("self.prefix +", "'v2 ' +"))
    again = plinth_cli(platform, "push", str(package), "--min", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reusing environment" in again.stdout
    assert "installed" not in again.stdout.replace("reusing", "")
    assert predict(platform, "shouter", "again").json() == {"text": "v2 AGAIN!"}
    (model,) = models(platform)
    assert [(d["version"], d["status"], d["engine"]) for d in model["deployments"]] == [
        (2, "ACTIVE", "custom"),
        (1, "SUPERSEDED", "custom"),
    ]
    assert list((platform.home / "venvs").glob("*/bin/python")) == venvs


def test_invalid_packages_are_refused_with_file_and_line_before_any_deploy(
    platform: PlatformProcess, tmp_path: Path
) -> None:
    broken_model = write_package(
        tmp_path / "syntax",
        config="name: broken\n",
        model="class Model:\n    def load(self):\n        pass\n    def predict(self, x)\n",
    )
    result = plinth_cli(platform, "push", str(broken_model))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{broken_model / 'model.py'}:4:" in result.stderr
    assert "syntax error" in result.stderr

    bad_config = write_package(
        tmp_path / "config",
        config="name: broken\nrequirements:\n  - numpy\npredict_concurrency: many\n",
        model="class Model:\n    def load(self): ...\n    def predict(self, x): ...\n",
    )
    result = plinth_cli(platform, "push", str(bad_config))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{bad_config / 'plinth.yaml'}:4: predict_concurrency:" in result.stderr

    no_class = write_package(tmp_path / "noclass", config="name: broken\n", model="X = 1\n")
    result = plinth_cli(platform, "push", str(no_class))
    assert result.returncode == 2
    assert "model.py:1: no class with load() and predict()" in result.stderr
    assert models(platform) == []  # nothing was deployed
    assert not (platform.home / "packages").exists() or not any(
        (platform.home / "packages").iterdir()
    )  # nothing was even uploaded

    # The platform validates uploads itself too (a client that skips the local check).
    upload = httpx.post(
        f"{platform.url}/v1/packages",
        content=build_archive(bad_config),
        headers={**platform.headers, "Content-Type": "application/gzip"},
        timeout=30,
    )
    assert upload.status_code == 422, upload.text
    error = upload.json()["error"]
    assert (error["type"], error["file"], error["line"], error["field"]) == (
        "invalid_package",
        "plinth.yaml",
        4,
        "predict_concurrency",
    )
    assert models(platform) == []


VERSIONED = """
class Model:
    def load(self):
        self.version = {version!r}

    def predict(self, inputs):
        return {{"version": self.version, "echo": inputs}}
"""


ENV_MODEL = """
import os


class Model:
    def load(self):
        self.version = "v3-" + os.environ["MODE"]

    def predict(self, inputs):
        return {"version": self.version, "echo": inputs}
"""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.timeout(900)
def test_push_watch_hot_reloads_without_a_new_version(
    platform: PlatformProcess, tmp_path: Path
) -> None:
    package = write_package(
        tmp_path / "dev", config="name: devmodel\n", model=VERSIONED.format(version="v1")
    )
    watcher = subprocess.Popen(
        [PLINTH, "push", str(package), "--env", "development", "--watch", "--min", "1",
         "--watch-interval", "0.3"],
        env=platform.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C must reach it even when this run was started in the background, which
        # ignores SIGINT for its children (and Python then installs no KeyboardInterrupt).
        preexec_fn=_default_sigint,
    )  # fmt: skip
    output: list[str] = []
    assert watcher.stdout is not None
    stdout = watcher.stdout

    def read() -> None:
        for line in stdout:
            output.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: "Watching" in "".join(output) or watcher.poll() is not None,
            400,
            "the first deploy",
        )
        assert watcher.poll() is None, "".join(output)
        assert predict(platform, "devmodel", "a", "development").json() == {
            "version": "v1",
            "echo": "a",
        }

        (package / "model.py").write_text(VERSIONED.format(version="v2"))
        wait_for(
            lambda: predict(platform, "devmodel", "b", "development").json().get("version") == "v2",
            120,
            f"the hot reload; output: {''.join(output)}",
        )
        (model,) = models(platform)
        (deployment,) = model["deployments"]  # still one version: reloaded, not redeployed
        assert deployment["version"] == 1 and deployment["status"] == "ACTIVE"
        assert any(e["kind"] == "reloaded" for e in deployment["events"])
        assert [r["state"] for r in deployment["replicas"]] == ["READY"]

        # A load() that fails keeps the previous code serving and names the line.
        broken = "class Model:\n    def load(self):\n        raise RuntimeError('bad weights')\n"
        (package / "model.py").write_text(broken + "    def predict(self, inputs):\n        pass\n")
        wait_for(lambda: "reload failed" in "".join(output), 120, "the failed reload")
        assert "model.py:3: RuntimeError: bad weights" in "".join(output)
        assert predict(platform, "devmodel", "c", "development").json() == {
            "version": "v2",
            "echo": "c",
        }

        # plinth.yaml changes without new requirements reload too (here: the environment).
        (package / "plinth.yaml").write_text(
            "name: devmodel\nenvironment_variables: {MODE: yaml}\n"
        )
        (package / "model.py").write_text(ENV_MODEL)
        wait_for(
            lambda: (
                predict(platform, "devmodel", "d", "development").json().get("version") == "v3-yaml"
            ),
            120,
            "the reload of plinth.yaml",
        )
        assert len(models(platform)[0]["deployments"]) == 1

        # New requirements cannot be hot-loaded: the watcher says so and deploys version 2.
        (package / "plinth.yaml").write_text(
            "name: devmodel\nenvironment_variables: {MODE: yaml}\nrequirements: [pydantic]\n"
        )
        wait_for(
            lambda: (
                [(d["version"], d["status"]) for d in models(platform)[0]["deployments"]]
                == [(2, "ACTIVE"), (1, "SUPERSEDED")]
            ),
            300,
            "the new version",
        )
        assert "Requirements changed: deploying a new version." in "".join(output)
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            code = watcher.wait(30)
        except subprocess.TimeoutExpired:
            watcher.kill()
            code = watcher.wait()
        reader.join(5)
        stdout.close()
        print("plinth push --watch said:\n" + "".join(output))  # shown when the test fails
    assert code == 0, "".join(output)
    assert "Stopped watching" in "".join(output)


def test_concurrent_builds_of_one_environment_build_it_once(
    shout_wheel: Path, tmp_path: Path
) -> None:
    from serving.package_env import ensure_environment

    requirements = [f"{SHOUT_DIST} @ {shout_wheel.as_uri()}"]
    messages: list[str] = []
    pythons: list[str] = []

    def build() -> None:
        pythons.append(
            ensure_environment(requirements, tmp_path / "venvs", on_progress=messages.append)
        )

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(pythons) == 3 and len(set(pythons)) == 1
    assert sum(m.startswith("building environment") for m in messages) == 1, messages
    assert sum(m.startswith("reusing environment") for m in messages) == 2, messages
    shouted = subprocess.run(
        [pythons[0], "-c", "import plinth_test_shout; print(plinth_test_shout.shout('ok'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shouted.stdout.strip() == "OK!"


def test_a_requirement_pip_cannot_install_fails_the_deployment_with_pips_reason(
    platform: PlatformProcess, tmp_path: Path
) -> None:
    missing = (tmp_path / "nowhere" / "plinth_test_missing-1.0-py3-none-any.whl").as_uri()
    package = write_package(
        tmp_path / "missing",
        config=f"name: missing\nrequirements:\n  - plinth-test-missing @ {missing}\n",
        model="class Model:\n    def load(self): ...\n    def predict(self, x): ...\n",
    )
    result = plinth_cli(platform, "push", str(package))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pip" in result.stderr and "failed" in result.stderr
    (model,) = models(platform)
    (deployment,) = model["deployments"]
    assert deployment["status"] == "FAILED"
    assert deployment["replicas"] == []
