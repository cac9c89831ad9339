"""The built-in `plinth` commands: argparse definitions and what each one does.

Each command is `run(args) -> int` (the plugin protocol of `plinth.cli`), using
`args.make_client()` for a `plinth.Client`. Output goes to stdout, one-line errors are raised
(`CommandError`, `plinth.PlinthError`) and printed by `plinth.cli.main`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from plinth._cli_output import DeployProgress, how_to_call, model_details, models_table
from plinth.types import TASKS, LogLine

BUILTIN_COMMANDS = frozenset(
    {"deploy", "models", "scale", "predict", "delete", "logs", "keys", "secrets", "async", "batch"}
)
# Built-in command groups and their own subcommands; any other word after a group name may be
# a plugin command registered as "GROUP.COMMAND" (see plinth.cli).
GROUP_SUBCOMMANDS: dict[str, frozenset[str]] = {
    "models": frozenset({"list", "get"}),
    "keys": frozenset({"create", "list", "revoke"}),
    "secrets": frozenset({"set", "list", "delete"}),
    "async": frozenset({"get", "wait", "cancel"}),
    "batch": frozenset({"run", "get", "output"}),
}

SubParsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser]: private in typeshed

# (flag, Scaling field, type, help)
_SCALING_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("--min", "min_replicas", int, "minimum replicas (0 = scale to zero)"),
    ("--max", "max_replicas", int, "maximum replicas"),
    (
        "--concurrency-target",
        "concurrency_target",
        float,
        "in-flight requests per replica to aim for",
    ),
    ("--max-concurrency", "max_concurrency", int, "hard limit of in-flight requests per replica"),
    ("--scale-down-delay", "scale_down_delay_s", float, "seconds of low load before scaling down"),
    (
        "--autoscaling-window",
        "autoscaling_window_s",
        float,
        "seconds of load the autoscaler averages",
    ),
    ("--max-queue", "max_queue", int, "requests queued per deployment before 429"),
    (
        "--autoscaling-policy",
        "autoscaling_policy",
        str,
        "plinth (default), ray_serve, knative_kpa or k8s_hpa",
    ),
)


class CommandError(Exception):
    """A one-line error for the user; `exit_code` 2 means a usage error."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _add_scaling_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scaling")
    for flag, field, kind, help_text in _SCALING_OPTIONS:
        group.add_argument(flag, dest=field, type=kind, default=None, metavar="N", help=help_text)


def _scaling_from(args: argparse.Namespace) -> dict[str, Any]:
    fields = (field for _, field, _, _ in _SCALING_OPTIONS)
    return {f: getattr(args, f) for f in fields if getattr(args, f) is not None}


def add_builtin_commands(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add the built-in commands; `common` carries the global options for each of them."""

    def add(sub: SubParsers, name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_text, description=help_text, **kwargs
        )
        return parser

    deploy = add(subparsers, "deploy", "deploy a Hugging Face model and follow it until it is up")
    deploy.add_argument(
        "hf_repo", metavar="HF_REPO", help="e.g. sentence-transformers/all-MiniLM-L6-v2"
    )
    deploy.add_argument("--name", required=True, help="model name (lowercase letters, digits, -)")
    deploy.add_argument("--revision", help="branch, tag or commit (default: main)")
    deploy.add_argument("--task", help=f"one of {', '.join(TASKS)} (default: inferred)")
    deploy.add_argument("--engine", default="transformers", help="serving engine")
    deploy.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME",
        help="a platform secret the replicas get as an environment variable (repeat)",
    )
    deploy.add_argument(
        "--env", default=None, help="environment the new version serves once up (production)"
    )
    _add_scaling_options(deploy)
    deploy.add_argument(
        "--max-batch-size",
        type=int,
        default=None,
        metavar="N",
        help="items per forward pass on a replica, 1 turns dynamic batching off (task default)",
    )
    deploy.add_argument(
        "--max-batch-wait-ms",
        type=float,
        default=None,
        metavar="MS",
        help="milliseconds a batch waits to fill (task default: 5)",
    )
    deploy.add_argument("--no-wait", action="store_true", help="return once the deploy started")
    deploy.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    deploy.add_argument("--poll-interval", type=float, default=0.5, help=argparse.SUPPRESS)
    deploy.set_defaults(func=run_deploy)

    models = add(subparsers, "models", "list models (or: models get NAME)")
    models.set_defaults(func=run_models_list)
    models_sub = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    add(models_sub, "list", "list models").set_defaults(func=run_models_list)
    get = add(models_sub, "get", "show a model, its scaling and deployments as JSON")
    get.add_argument("name", metavar="NAME")
    get.set_defaults(func=run_models_get)

    scale = add(subparsers, "scale", "change a model's scaling (options left out stay as they are)")
    scale.add_argument("name", metavar="NAME")
    _add_scaling_options(scale)
    scale.set_defaults(func=run_scale)

    predict = add(subparsers, "predict", "call a model and print its JSON answer")
    predict.add_argument("name", metavar="NAME")
    predict.add_argument(
        "--data",
        "-d",
        required=True,
        help='JSON: {"inputs": ..., "parameters": {...}} or just the inputs; @FILE reads a '
        "file, - reads stdin",
    )
    predict.add_argument("--pretty", action="store_true", help="indent the JSON answer")
    predict.add_argument("--timeout", type=float, default=None, help="seconds to wait for it")
    predict.set_defaults(func=run_predict)

    delete = add(subparsers, "delete", "delete a model with its deployments and replicas")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(func=run_delete)

    logs = add(subparsers, "logs", "print the last lines of a model's replica logs")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("-n", "--tail", type=int, default=200, help="lines per replica (200)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    logs.set_defaults(func=run_logs)

    from plinth._cli_admin import add_admin_commands  # it imports CommandError from here

    add_admin_commands(subparsers, add)

    from plinth._cli_async import add_async_commands  # it imports CommandError from here

    add_async_commands(subparsers, add, predict, run_predict)


def run_deploy(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        deployment = client.models.deploy(
            args.hf_repo,
            name=args.name,
            revision=args.revision,
            task=args.task,
            engine=args.engine,
            wait=False,
            secrets=args.secret,
            environment=args.env,
            max_batch_size=args.max_batch_size,
            max_batch_wait_ms=args.max_batch_wait_ms,
            **_scaling_from(args),
        )
        repo = args.hf_repo + (f"@{args.revision}" if args.revision else "")
        print(
            f"Deploying {repo} as model '{deployment.model_name}' "
            f"(version {deployment.version}, deployment {deployment.id})",
            flush=True,
        )
        if args.no_wait:
            print(f"Not waiting; follow it with `plinth models get {deployment.model_name}`.")
            return 0
        try:
            with DeployProgress(sys.stdout) as progress:
                final = client.models.wait_for_deployment(
                    deployment.id,
                    timeout=args.timeout,
                    on_event=progress.event,
                    poll_interval=args.poll_interval,
                )
        except KeyboardInterrupt:
            raise CommandError(
                f"stopped following deployment {deployment.id}; it carries on on the platform "
                f"(`plinth models get {deployment.model_name}`)",
                130,
            ) from None
        print(
            f"Model '{final.model_name}' is {final.status.value} "
            f"(version {final.version}) after {progress.elapsed():.1f}s."
        )
        print(how_to_call(final, client.base_url, with_api_key=client.api_key is not None))
    return 0


def run_models_list(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        models = client.models.list()
    if not models:
        print("No models yet. Deploy one: plinth deploy HF_REPO --name NAME")
    else:
        print(models_table(models))
    return 0


def run_models_get(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        print(model_details(client.models.get(args.name)))
    return 0


def run_scale(args: argparse.Namespace) -> int:
    fields = _scaling_from(args)
    if not fields:
        flags = ", ".join(flag for flag, *_ in _SCALING_OPTIONS)
        raise CommandError(f"nothing to change: give at least one of {flags}", 2)
    with args.make_client() as client:
        model = client.models.update_scaling(args.name, **fields)
    s = model.scaling
    print(
        f"Scaling of '{model.name}': replicas {s.min_replicas}-{s.max_replicas}, "
        f"concurrency target {s.concurrency_target:g}, max concurrency {s.max_concurrency}, "
        f"scale-down delay {s.scale_down_delay_s:g}s, autoscaling window "
        f"{s.autoscaling_window_s:g}s, max queue {s.max_queue}, policy {s.autoscaling_policy}"
    )
    return 0


def _read_data(data: str) -> Any:
    if data == "-":
        text = sys.stdin.read()
    elif data.startswith("@"):
        try:
            with open(data[1:], encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise CommandError(f"--data: cannot read {data[1:]}: {exc.strerror}", 2) from exc
    else:
        text = data
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--data is not valid JSON: {exc}", 2) from exc


def _predict_body(value: Any) -> tuple[Any, dict[str, Any] | None]:
    """(inputs, parameters) from `--data`: a request body, or bare inputs."""
    if not (isinstance(value, dict) and "inputs" in value):
        return value, None
    unknown = set(value) - {"inputs", "parameters"}
    if unknown:
        raise CommandError(f"--data: unexpected key(s) {', '.join(sorted(unknown))}", 2)
    parameters = value.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise CommandError("--data: `parameters` must be a JSON object", 2)
    return value["inputs"], parameters


def run_predict(args: argparse.Namespace) -> int:
    inputs, parameters = _predict_body(_read_data(args.data))
    with args.make_client() as client:
        result = client.models.predict(args.name, inputs, parameters, timeout=args.timeout)
    print(json.dumps(result, indent=2 if args.pretty else None))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        client.models.delete(args.name)
    print(f"Deleted model '{args.name}'.")
    return 0


def run_logs(args: argparse.Namespace) -> int:
    """Print the tail; with -f, poll `replicaLogs` every second and print what is new.

    Polling (not the WebSocket subscription) keeps the SDK free of a WebSocket client. New lines
    are found per replica as what follows the longest overlap between the previous and the
    current tail, so more than `-n` lines written in one interval leave a gap, and a replica
    repeating one identical line may look idle.
    """
    if args.tail < 0:
        raise CommandError("-n must be 0 or more", 2)
    with args.make_client() as client:
        lines = client.models.logs(args.name, tail=args.tail)
        _print_log_lines(lines)
        if not args.follow:
            return 0
        seen = _by_replica(lines)
        try:
            while True:
                time.sleep(args.poll_interval)
                current = _by_replica(client.models.logs(args.name, tail=max(args.tail, 200)))
                for replica, now in current.items():
                    new = _after_overlap(seen.get(replica, []), now)
                    _print_log_lines([LogLine(replica_id=replica, line=line) for line in new])
                seen = current
        except KeyboardInterrupt:
            return 0


def _print_log_lines(lines: list[LogLine]) -> None:
    for entry in lines:
        print(f"[{entry.replica_id}] {entry.line}", flush=True)


def _by_replica(lines: list[LogLine]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for entry in lines:
        grouped.setdefault(entry.replica_id, []).append(entry.line)
    return grouped


def _after_overlap(before: list[str], now: list[str]) -> list[str]:
    """The lines of `now` after the longest suffix of `before` that starts `now`."""
    for k in range(min(len(before), len(now)), 0, -1):
        if before[-k:] == now[:k]:
            return now[k:]
    return now
