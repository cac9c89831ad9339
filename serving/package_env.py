"""Python environments of custom model packages: a virtualenv per set of requirements.

Contract:
- `unsatisfied(requirements)` lists the requirements the platform's own environment does not
  already satisfy (installed distribution, version inside the specifier, markers evaluated;
  a requirement with extras or a URL counts as unsatisfied: the platform cannot tell whether
  what it has installed came from that source or brought those extras).
- `ensure_environment(requirements, venvs_root, on_progress=...)` returns the interpreter a
  package's replicas run with: the platform's own when nothing is missing, else
  `venvs_root/<key>/bin/python`, where key = sha256 of the normalized requirements and the
  Python version, so packages (and versions of one package) with the same requirements share
  one environment. It is built once: `python -m venv --without-pip --system-site-packages`
  from the platform's interpreter, plus a `.pth` that adds the platform's site-packages when
  the platform itself runs in a virtualenv (so torch, transformers and `serving` are shared,
  never reinstalled), then `pip --python <venv> install` of the missing requirements with a
  constraints file pinning torch to the platform's version (and `PIP_CONSTRAINT`, which pip
  reads itself). A file lock (`<key>.lock`) makes concurrent builds of one key wait for each
  other; a `.plinth-ready` marker makes a half-built environment (crash, pip failure) be
  rebuilt from scratch. Progress lines ("building environment", "installed X") go to
  `on_progress`; a failure raises `EnvironmentBuildError` with pip's last lines.
- `record_interpreter(package_dir, python)` / `package_interpreter(package_dir)`: the
  interpreter chosen for a stored package, kept next to it (`<digest>.python`) so the local
  runtime can spawn the package's replicas with it.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

READY_MARKER = ".plinth-ready"
SHARED_PINS = ("torch",)  # never let pip replace these with another build


class EnvironmentBuildError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _satisfied(requirement: Requirement) -> bool:
    if requirement.marker is not None and not requirement.marker.evaluate():
        return True  # not meant for this platform
    try:
        installed = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    if requirement.url is not None or requirement.extras:
        return False  # cannot tell whether it is the same source / has the extras' deps
    try:
        return requirement.specifier.contains(Version(installed), prereleases=True)
    except InvalidVersion:
        return False


def unsatisfied(requirements: Sequence[str]) -> list[str]:
    """The requirements the running interpreter's environment does not satisfy, in order."""
    return [r for r in requirements if not _satisfied(Requirement(r))]


def environment_key(requirements: Sequence[str]) -> str:
    normalized = sorted({str(Requirement(r)) for r in requirements})
    python = f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"
    return hashlib.sha256("\n".join([python, *normalized]).encode()).hexdigest()[:32]


def ensure_environment(
    requirements: Sequence[str],
    venvs_root: Path,
    *,
    on_progress: Callable[[str], None] = lambda message: None,
    python: str = sys.executable,
) -> str:
    """The interpreter for a package with these requirements (see the module docstring)."""
    missing = unsatisfied(requirements)
    if not missing:
        return python
    key = environment_key(requirements)
    venvs_root.mkdir(parents=True, exist_ok=True)
    venv = venvs_root / key
    venv_python = venv / "bin" / "python"
    with open(venvs_root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build of the same key waits here
        if (venv / READY_MARKER).exists():
            on_progress(f"reusing environment {key[:12]} ({', '.join(missing)})")
            return str(venv_python)
        if venv.exists():
            shutil.rmtree(venv)  # half-built by a crashed or failed build
        on_progress(f"building environment {key[:12]} for {', '.join(missing)}")
        _run(
            [python, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
            on_progress,
        )
        _share_platform_packages(venv_python)
        constraints = venv / "plinth-constraints.txt"
        constraints.write_text("".join(f"{pin}\n" for pin in _pins()))
        _run(
            [
                python, "-m", "pip", "--python", str(venv_python), "install",
                "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
                "-c", str(constraints), *missing,
            ],
            on_progress,
        )  # fmt: skip
        (venv / READY_MARKER).write_text(key)
        on_progress(f"environment {key[:12]} ready")
    return str(venv_python)


def _pins() -> list[str]:
    pins = []
    for name in SHARED_PINS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def _share_platform_packages(venv_python: Path) -> None:
    """When the platform runs in a virtualenv, `--system-site-packages` reaches only the base
    interpreter's packages: add the platform's site-packages (with their .pth files, which
    carry editable installs) after the venv's own."""
    if sys.prefix == sys.base_prefix:
        return
    out = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    purelib = Path(out.stdout.strip())
    dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs)
    (purelib / "_plinth_platform.pth").write_text(lines)


def _run(argv: list[str], on_progress: Callable[[str], None]) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PIP_NO_WARN_SCRIPT_LOCATION": "1"}
    tail: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            tail = [*tail[-19:], line]
            if line.startswith("Successfully installed "):
                for dist in line.removeprefix("Successfully installed ").split():
                    on_progress(f"installed {dist}")
            elif line.startswith(("Collecting ", "Processing ")):
                on_progress(line)
        code = proc.wait()
    if code != 0:
        raise EnvironmentBuildError(
            f"{Path(argv[0]).name} {' '.join(argv[1:3])} failed (exit {code}):\n"
            + "\n".join(tail[-12:])
        )


def interpreter_file(package_dir: Path) -> Path:
    return package_dir.parent / f"{package_dir.name}.python"


def record_interpreter(package_dir: Path, python: str) -> None:
    path = interpreter_file(package_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(python)
    tmp.replace(path)


def package_interpreter(package_dir: Path, default: str = sys.executable) -> str:
    """The interpreter recorded for a stored package, else `default`."""
    try:
        recorded = interpreter_file(package_dir).read_text().strip()
    except OSError:
        return default
    return recorded if recorded and Path(recorded).exists() else default
