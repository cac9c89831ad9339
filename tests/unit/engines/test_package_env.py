"""Which requirements a package's virtualenv must install, and how environments are keyed."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from serving.package_env import (
    ensure_environment,
    environment_key,
    package_interpreter,
    record_interpreter,
    unsatisfied,
)

PYDANTIC = importlib.metadata.version("pydantic")


def test_requirements_the_platform_satisfies_are_not_installed() -> None:
    assert unsatisfied(["pydantic", f"pydantic=={PYDANTIC}", "PyYAML>=5"]) == []
    assert unsatisfied(["pydantic>=999"]) == ["pydantic>=999"]
    assert unsatisfied(["plinth-surely-not-installed-dist"]) == ["plinth-surely-not-installed-dist"]
    # Markers that do not apply here need nothing; extras and URLs cannot be vouched for.
    assert unsatisfied(['plinth-surely-not-installed-dist; python_version < "3"']) == []
    assert unsatisfied(["pydantic[email]"]) == ["pydantic[email]"]
    assert unsatisfied(["pydantic @ file:///tmp/pydantic.whl"]) == [
        "pydantic @ file:///tmp/pydantic.whl"
    ]


def test_environment_key_ignores_order_and_spacing() -> None:
    assert environment_key(["b>=1", "a"]) == environment_key(["a", "b >= 1"])
    assert environment_key(["a"]) != environment_key(["a>=1"])


def test_satisfied_requirements_use_the_platform_interpreter(tmp_path: Path) -> None:
    python = ensure_environment(["pydantic"], tmp_path / "venvs")
    assert python == sys.executable
    assert not (tmp_path / "venvs").exists()  # nothing built


def test_recorded_interpreter_is_used_only_while_it_exists(tmp_path: Path) -> None:
    package = tmp_path / "packages" / "abc"
    package.mkdir(parents=True)
    assert package_interpreter(package, default="/usr/bin/default") == "/usr/bin/default"
    record_interpreter(package, sys.executable)
    assert package_interpreter(package, default="x") == sys.executable
    record_interpreter(package, str(tmp_path / "gone" / "python"))
    assert package_interpreter(package, default="x") == "x"
