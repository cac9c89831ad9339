"""`plinth` commands of the model lifecycle: versions, environments, promote, rollback, canary.

    plinth versions NAME                      every version: status, environment, source, who
    plinth environments NAME [--create ENV]   what serves each environment (and its canary)
    plinth promote NAME --version N --env ENV shift ENV to version N without downtime
    plinth rollback NAME --env ENV            shift ENV back to its previous version
    plinth canary NAME --version N --percent P [--max-error-rate R] [--max-p95-ms MS]
    plinth canary NAME --promote | --abort

Same conventions as `plinth._cli_commands`: `run(args) -> int`, `args.make_client()`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from plinth._cli_commands import CommandError
from plinth.types import Deployment, DeploymentStatus, Environment

LIFECYCLE_COMMANDS = frozenset({"versions", "environments", "promote", "rollback", "canary"})


def add_lifecycle_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        parser.add_argument("name", metavar="NAME", help="model name")
        return parser

    versions = add("versions", "list a model's versions (newest first)")
    versions.set_defaults(func=run_versions)

    envs = add("environments", "show what serves each environment of a model")
    envs.add_argument("--create", metavar="ENV", help="create this environment first")
    envs.set_defaults(func=run_environments)

    promote = add("promote", "promote a version into an environment without downtime")
    promote.add_argument("--version", type=int, required=True, help="the version to promote")
    _env_and_wait(promote)
    promote.set_defaults(func=run_promote)

    rollback = add("rollback", "point an environment back at its previous version")
    _env_and_wait(rollback)
    rollback.set_defaults(func=run_rollback)

    canary = add("canary", "send a share of an environment's traffic to a version")
    canary.add_argument("--version", type=int, help="the version to start as the canary")
    canary.add_argument("--percent", type=float, help="its share of the traffic (0-100)")
    canary.add_argument("--max-error-rate", type=float, help="roll back above this (0-1)")
    canary.add_argument("--max-p95-ms", type=float, help="roll back above this p95 latency")
    canary.add_argument("--window", type=float, default=60.0, help="seconds watched (60)")
    action = canary.add_mutually_exclusive_group()
    action.add_argument("--promote", action="store_true", help="make the canary the primary")
    action.add_argument("--abort", action="store_true", help="take the canary out")
    _env_and_wait(canary)
    canary.set_defaults(func=run_canary)


def _env_and_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="production", help="environment (production)")
    parser.add_argument("--no-wait", action="store_true", help="return once it started")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")


def _describe(dep: Deployment) -> str:
    return f"version {dep.version} ({dep.hugging_face_repo}, {dep.status.value})"


def run_versions(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        model = client.models.get(args.name)
    rows: list[tuple[str, ...]] = [
        ("VERSION", "STATUS", "SERVES", "SOURCE", "REVISION", "BY", "CREATED")
    ]
    for dep in model.deployments:
        rows.append(
            (
                str(dep.version),
                dep.status.value,
                dep.environment or "-",
                dep.hugging_face_repo + (f"@{dep.revision}" if dep.revision else ""),
                (dep.resolved_revision or "-")[:12],
                dep.created_by or "-",
                dep.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
        )
    _table(rows)
    return 0


def run_environments(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        if args.create:
            client.models.create_environment(args.name, args.create)
            print(f"Created environment '{args.create}' of model '{args.name}'.")
        envs = client.models.environments(args.name)
    rows: list[tuple[str, ...]] = [
        ("ENVIRONMENT", "VERSION", "PREVIOUS", "CANARY", "REPLICAS", "LAST ROLLBACK")
    ]
    for env in envs:
        rows.append(_env_row(env))
    _table(rows)
    return 0


def _env_row(env: Environment) -> tuple[str, ...]:
    canary = "-"
    if env.canary is not None:
        canary = f"v{env.canary.deployment.version} at {env.canary.percent:g}%"
    scaling = env.scaling
    return (
        env.name,
        f"v{env.deployment.version}" if env.deployment else "-",
        f"v{env.previous_deployment.version}" if env.previous_deployment else "-",
        canary,
        f"{scaling.min_replicas}-{scaling.max_replicas}",
        env.last_rollback_reason or "-",
    )


def run_promote(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        dep = client.models.promote(
            args.name,
            version=args.version,
            environment=args.env,
            wait=not args.no_wait,
            timeout=args.timeout,
        )
    _report(dep, args.env, "serves")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        dep = client.models.rollback(
            args.name, environment=args.env, wait=not args.no_wait, timeout=args.timeout
        )
    _report(dep, args.env, "serves")
    return 0


def run_canary(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        if args.promote:
            dep = client.models.promote_canary(args.name, environment=args.env)
            _report(dep, args.env, "serves")
            return 0
        if args.abort:
            dep = client.models.abort_canary(args.name, environment=args.env)
            print(f"Canary {_describe(dep)} taken out of {args.env}.")
            return 0
        if args.version is None or args.percent is None:
            raise CommandError("give --version and --percent (or --promote / --abort)", 2)
        dep = client.models.start_canary(
            args.name,
            version=args.version,
            percent=args.percent,
            environment=args.env,
            max_error_rate=args.max_error_rate,
            max_p95_ms=args.max_p95_ms,
            window_s=args.window,
            wait=not args.no_wait,
            timeout=args.timeout,
        )
    _report(dep, args.env, f"gets {args.percent:g}% of")
    return 0


def _report(dep: Deployment, env: str, verb: str) -> None:
    if dep.status is DeploymentStatus.ACTIVE:
        print(f"Version {dep.version} of '{dep.model_name}' {verb} {env}.")
    else:
        print(
            f"Rolling out version {dep.version} of '{dep.model_name}' into {env} "
            f"({dep.status.value}); follow it with `plinth environments {dep.model_name}`."
        )


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
