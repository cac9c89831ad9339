"""`plinth push DIR` and `plinth package ...`: custom model packages from the command line.

- `plinth push DIR [--name N] [--env ENV] [--watch] [scaling options]`: validates the package
  locally (every problem printed as `DIR/FILE:LINE: message`, exit 2, nothing uploaded), uploads
  it, deploys it as a new version and follows the deployment until ACTIVE (exit 0) or FAILED
  (exit 1), like `plinth deploy`.
- `--watch` (development mode) then keeps watching DIR (polling modification times) and, on
  each change, validates and uploads again: when the requirements are unchanged it hot-reloads
  the running deployment (`reloadDeployment`: no new version, no restart; a failure keeps the
  old code serving and prints the file and line); when they changed it says so and deploys a
  new version. Ctrl-C stops watching (exit 0); the deployment keeps running.
- `plinth package schema` prints the JSON schema of plinth.yaml; `plinth package check DIR`
  validates a package and prints its digest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plinth._cli_output import DeployProgress, how_to_call
from plinth._exceptions import PlinthError
from plinth.package import (
    PackageError,
    load_package,
    package_files,
    package_schema,
    requirements_digest,
)

if TYPE_CHECKING:
    from plinth._client import Client
    from plinth.types import Deployment

PUSH_COMMANDS = frozenset({"push", "package"})
SubParsers = Any


def add_push_commands(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    from plinth._cli_commands import _add_scaling_options

    push = subparsers.add_parser(
        "push",
        parents=[common],
        help="package a model directory (plinth.yaml + model.py) and deploy it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    push.add_argument("directory", metavar="DIR", help="the package directory")
    push.add_argument("--name", help="model name (default: `name` in plinth.yaml)")
    push.add_argument("--env", default=None, help="environment to push to (e.g. development)")
    push.add_argument(
        "--watch", action="store_true", help="then hot-reload the deployment on every change"
    )
    _add_scaling_options(push)
    push.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (900)")
    push.add_argument("--poll-interval", type=float, default=0.5, help=argparse.SUPPRESS)
    push.add_argument("--watch-interval", type=float, default=0.5, help=argparse.SUPPRESS)
    push.set_defaults(func=run_push)

    package = subparsers.add_parser(
        "package", parents=[common], help="model package tools (schema, check)"
    )
    package_sub = package.add_subparsers(dest="package_command", metavar="SUBCOMMAND")
    schema = package_sub.add_parser("schema", help="print the JSON schema of plinth.yaml")
    schema.set_defaults(func=run_schema)
    check = package_sub.add_parser("check", help="validate a package directory")
    check.add_argument("directory", metavar="DIR")
    check.set_defaults(func=run_check)
    package.set_defaults(func=lambda args: package.print_help(sys.stderr) or 2)


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(package_schema(), indent=2))
    return 0


def _print_problems(directory: Path, error: PackageError) -> None:
    for problem in error.problems:
        where = directory / problem.file if problem.file not in ("", ".") else directory
        line = f":{problem.line}" if problem.line else ""
        field = f" {problem.field}:" if problem.field else ""
        print(f"{where}{line}:{field} {problem.message}", file=sys.stderr)


def run_check(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    try:
        package = load_package(directory)
    except PackageError as exc:
        _print_problems(directory, exc)
        return 2
    print(f"{package.config.name}: class {package.model_class}, {package.digest}")
    return 0


def _deploy(client: Client, args: argparse.Namespace, directory: Path) -> Deployment | None:
    """Upload and deploy a new version, following it; None when the package is invalid."""
    from plinth._cli_commands import _scaling_from

    try:
        stored = client.packages.upload(directory)
    except PackageError as exc:
        _print_problems(directory, exc)
        return None
    deployment = client.packages.deploy(
        stored.digest, name=args.name, environment=args.env, scaling=_scaling_from(args)
    )
    print(
        f"Deploying package {stored.name} ({stored.digest[:19]}) as model "
        f"'{deployment.model_name}' (version {deployment.version}, deployment {deployment.id})",
        flush=True,
    )
    with DeployProgress(sys.stdout) as progress:
        final = client.models.wait_for_deployment(
            deployment.id,
            timeout=args.timeout,
            on_event=progress.event,
            poll_interval=args.poll_interval,
        )
    print(
        f"Model '{final.model_name}' is {final.status.value} "
        f"(version {final.version}) after {progress.elapsed():.1f}s.",
        flush=True,
    )
    return final


def run_push(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    try:
        package = load_package(directory)
    except PackageError as exc:
        _print_problems(directory, exc)
        return 2
    with args.make_client() as client:
        deployment = _deploy(client, args, directory)
        if deployment is None:
            return 2
        if not args.watch:
            print(how_to_call(deployment, client.base_url, with_api_key=client.api_key is not None))
            return 0
        try:
            _watch(
                client,
                args,
                directory,
                deployment,
                requirements_digest(package.config.requirements),
            )
        except KeyboardInterrupt:
            print("Stopped watching; the deployment keeps running.", flush=True)
    return 0


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    try:
        for rel in package_files(directory):
            info = (directory / rel).stat()
            found[rel] = (info.st_mtime_ns, info.st_size)
    except (OSError, PackageError):
        pass  # mid-save or briefly invalid: the next poll sees the settled state
    return found


def _watch(
    client: Client,
    args: argparse.Namespace,
    directory: Path,
    deployment: Deployment,
    requirements: str,
) -> None:
    from plinth._packages import ReloadFailedError

    print(f"Watching {directory} for changes (Ctrl-C to stop)...", flush=True)
    seen = _snapshot(directory)
    while True:
        time.sleep(args.watch_interval)
        now = _snapshot(directory)
        if now == seen:
            continue
        time.sleep(args.watch_interval / 2)  # let an editor finish writing
        seen = _snapshot(directory)
        try:
            package = load_package(directory)
        except PackageError as exc:
            _print_problems(directory, exc)
            continue
        wanted = requirements_digest(package.config.requirements)
        if wanted != requirements:
            print("Requirements changed: deploying a new version.", flush=True)
            try:
                new = _deploy(client, args, directory)
            except Exception as exc:  # keep watching: the user fixes and saves again
                print(f"error: {exc}", file=sys.stderr, flush=True)
                continue
            if new is not None:
                deployment, requirements = new, wanted
            continue
        started = time.monotonic()
        try:
            stored = client.packages.upload(directory)
            client.packages.reload(deployment.id, stored.digest)
        except PackageError as exc:
            _print_problems(directory, exc)
            continue
        except ReloadFailedError as exc:
            print(f"reload failed, the previous code keeps serving: {exc}", file=sys.stderr)
            continue
        except PlinthError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            continue
        print(
            f"Reloaded {stored.digest[:19]} on '{deployment.model_name}' "
            f"(version {deployment.version}) in {time.monotonic() - started:.1f}s.",
            flush=True,
        )
