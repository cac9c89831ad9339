"""`plinth predict --async`, `plinth async ...` and `plinth batch ...` from the command line.

    plinth predict NAME -d '["hi"]' --async [--webhook URL] [--priority 0] [--max-queue-time 60]
    plinth async get ID          # the request as JSON (status, attempts, result)
    plinth async wait ID         # polls until it finished, then prints it
    plinth async cancel ID
    plinth batch run MODEL FILE.jsonl -o OUT.jsonl [--concurrency N] [--no-wait]
    plinth batch get ID
    plinth batch output ID [-o OUT.jsonl]

`batch run` uploads the JSONL (one `{"inputs": ..., "parameters"?: ...}` per line), shows a
progress bar on a terminal (a line per change otherwise) and writes the outputs in input order:
one `{"index", "output"}` or `{"index", "error"}` per line. Exit status 1 if the job FAILED or
any item has an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from plinth._async import BatchJob
from plinth._cli_commands import CommandError

Add = Callable[..., argparse.ArgumentParser]
_BAR_WIDTH = 30


class BatchProgress:
    """`[#####.....]  120/300  40%  12.3s` redrawn in place on a terminal, else one line per
    change of the completed count."""

    def __init__(self, stream: TextIO, *, interactive: bool | None = None) -> None:
        self._stream = stream
        self._interactive = stream.isatty() if interactive is None else interactive
        self._start = time.monotonic()
        self._last: tuple[str, int] | None = None

    def update(self, job: BatchJob) -> None:
        state = (job.status, job.completed)
        if state == self._last:
            return
        self._last = state
        total = max(job.total, 1)
        filled = _BAR_WIDTH * job.completed // total
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        failed = f"  {job.failed} failed" if job.failed else ""
        line = (
            f"[{bar}] {job.completed}/{job.total} {100 * job.completed // total:3d}%  "
            f"{time.monotonic() - self._start:6.1f}s  {job.status}{failed}"
        )
        if self._interactive:
            self._stream.write("\r\x1b[K" + line)
            if job.done:
                self._stream.write("\n")
        else:
            self._stream.write(line + "\n")
        self._stream.flush()


def add_async_commands(
    subparsers: Any, add: Add, predict: argparse.ArgumentParser, run_predict: Callable[..., int]
) -> None:
    predict.add_argument(
        "--async", dest="async_", action="store_true", help="queue it; print the request id"
    )
    predict.add_argument("--webhook", help="with --async: URL that receives the signed result")
    predict.add_argument(
        "--priority", type=int, choices=(0, 1, 2), help="with --async: 0 first, 1 default, 2 last"
    )
    predict.add_argument(
        "--max-queue-time", type=float, help="with --async: seconds it may wait to start"
    )

    def predict_maybe_async(args: argparse.Namespace) -> int:
        if not args.async_:
            if args.webhook or args.priority is not None or args.max_queue_time is not None:
                raise CommandError("--webhook, --priority and --max-queue-time need --async", 2)
            return run_predict(args)
        return _run_predict_async(args)

    predict.set_defaults(func=predict_maybe_async)

    group = add(subparsers, "async", "inspect, wait for or cancel async requests")
    group_sub = group.add_subparsers(dest="async_command", metavar="SUBCOMMAND", required=True)
    for name, help_text, func in (
        ("get", "show an async request as JSON", _run_async_get),
        ("wait", "wait until an async request finished, then show it", _run_async_wait),
        ("cancel", "cancel a queued or running async request", _run_async_cancel),
    ):
        cmd = add(group_sub, name, help_text)
        cmd.add_argument("id", metavar="ID")
        if name == "wait":
            cmd.add_argument("--timeout", type=float, default=None, help="seconds to wait")
        cmd.set_defaults(func=func)

    batch = add(subparsers, "batch", "run a JSONL file of inputs over a model")
    batch_sub = batch.add_subparsers(dest="batch_command", metavar="SUBCOMMAND", required=True)
    run = add(batch_sub, "run", "start a batch job, show progress, write the outputs")
    run.add_argument("model", metavar="MODEL")
    run.add_argument("file", metavar="FILE.jsonl", type=Path)
    run.add_argument("-o", "--output", type=Path, help="write the outputs here (JSONL)")
    run.add_argument("--concurrency", type=int, default=None, help="items in flight")
    run.add_argument("--no-wait", action="store_true", help="print the job id and return")
    run.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    run.set_defaults(func=_run_batch_run)
    get = add(batch_sub, "get", "show a batch job's progress as JSON")
    get.add_argument("id", metavar="ID")
    get.set_defaults(func=_run_batch_get)
    output = add(batch_sub, "output", "print (or write) a finished job's outputs")
    output.add_argument("id", metavar="ID")
    output.add_argument("-o", "--output", type=Path, help="write them here (JSONL)")
    output.set_defaults(func=_run_batch_output)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _run_predict_async(args: argparse.Namespace) -> int:
    from plinth._cli_commands import _predict_body, _read_data

    inputs, parameters = _predict_body(_read_data(args.data))
    with args.make_client() as client:
        request = client.models.async_predict(
            args.name,
            inputs,
            parameters,
            webhook_url=args.webhook,
            priority=args.priority,
            max_time_in_queue_s=args.max_queue_time,
        )
    print(request.id)
    print(f"Queued. Follow it with: plinth async get {request.id}", file=sys.stderr)
    return 0


def _run_async_get(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        _print_json(client.models.get_async(args.id).model_dump(mode="json"))
    return 0


def _run_async_wait(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        found = client.models.wait_async(args.id, timeout=args.timeout)
    _print_json(found.model_dump(mode="json"))
    return 0 if found.status == "SUCCEEDED" else 1


def _run_async_cancel(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        found = client.models.cancel_async(args.id)
    print(
        f"{found.id}: {found.status}" + (" (cancel requested)" if found.status == "RUNNING" else "")
    )
    return 0


def _write_lines(rows: list[Any], path: Path | None) -> None:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def _run_batch_run(args: argparse.Namespace) -> int:
    try:
        from plinth._async import read_items

        items = read_items(args.file)
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}", 2) from exc
    except ValueError as exc:
        raise CommandError(str(exc), 2) from exc
    with args.make_client() as client:
        job = client.batch.run(args.model, items, concurrency=args.concurrency)
        print(f"Batch job {job.id}: {job.total} inputs on {args.model}", file=sys.stderr)
        if args.no_wait:
            print(job.id)
            return 0
        progress = BatchProgress(sys.stderr)
        job = client.batch.wait(
            job.id, on_progress=progress.update, poll_interval=args.poll_interval
        )
        if job.status != "SUCCEEDED":
            raise CommandError(
                f"batch job {job.id} {job.status}: {job.error or 'no reason given'}", 1
            )
        rows = client.batch.output(job.id)
    _write_lines(rows, args.output)
    if args.output is not None:
        print(f"Wrote {len(rows)} outputs to {args.output}", file=sys.stderr)
    return 1 if job.failed else 0


def _run_batch_get(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        _print_json(client.batch.get(args.id).model_dump(mode="json"))
    return 0


def _run_batch_output(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        rows = client.batch.output(args.id)
    _write_lines(rows, args.output)
    return 0
