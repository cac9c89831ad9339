"""Import directions from DESIGN.md, checked on the source: a forbidden import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"plinth", "backend", "serving", "workflows", "feature_store", "ui_builder"}

# package -> packages of ours it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "plinth": set(),
    "serving": {"plinth"},
    "workflows": {"plinth", "serving", "backend"},
    "backend": {"plinth", "serving", "feature_store", "ui_builder", "workflows"},
}
# The composition root that runs the worker inside `plinth up`; every other backend module may
# import only workflow names and input types.
BACKEND_MAY_IMPORT_WORKFLOWS = {"workflows.names"}
COMPOSITION_ROOTS = {"backend/platform.py", "backend/cli.py"}
# Workflows use backend services and the database, never its API layer.
BACKEND_API = ("backend.app", "backend.graphql", "backend.rest", "backend.api")


def package_dirs() -> dict[str, Path]:
    return {
        "plinth": ROOT / "sdk" / "plinth",
        "serving": ROOT / "serving",
        "workflows": ROOT / "workflows",
        "backend": ROOT / "backend",
    }


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_import_directions() -> None:
    violations: list[str] = []
    for package, folder in package_dirs().items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            for name in imports_of(path):
                top = name.split(".")[0]
                if top not in OURS or top == package:
                    continue
                if top not in ALLOWED[package]:
                    violations.append(f"{rel} imports {name}")
                elif (
                    package == "backend"
                    and top == "workflows"
                    and name not in BACKEND_MAY_IMPORT_WORKFLOWS
                    and rel not in COMPOSITION_ROOTS
                ):
                    violations.append(f"{rel} imports {name} (only workflows.names is allowed)")
                elif package == "workflows" and name.startswith(BACKEND_API):
                    violations.append(f"{rel} imports the API layer {name}")
    assert violations == []
