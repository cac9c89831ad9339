"""The `plinth` command: `main(argv) -> exit status`.

Built-in commands talk HTTP to the platform through `plinth.Client` (see `_cli_commands`):
`deploy`, `models [list|get NAME]`, `scale`, `predict`, `delete`. Global options `--url` and
`--api-key` (default: `PLINTH_URL` / `PLINTH_HOST`+`PLINTH_PORT`, `PLINTH_API_KEY`) go before
or after the command. Errors print one line, `error: ...`, on stderr; exit status 2 for usage and
validation errors (the field is named), 130 when interrupted, 1 for anything else.

Plugin protocol (how server-side commands such as `plinth up` join this command)
--------------------------------------------------------------------------------
A distribution declares entry points in the group `plinth.commands`:

    [project.entry-points."plinth.commands"]
    up = "backend.cli:register_up"
    "models.import-local" = "backend.cli:register_import_local"

- The entry point's name is `[GROUP.]COMMAND`. It must register exactly the top-level command
  `COMMAND` (`up`, `import-local`): the CLI loads a plugin only when that command is asked for.
- With a `GROUP.` prefix, where GROUP is a built-in command group (`models`), the command is
  also reachable as `plinth GROUP COMMAND ...`: `plinth models import-local --hf-home X` runs
  exactly like `plinth import-local --hf-home X` (the CLI drops the group word before parsing).
- The object is a callable `register(subparsers) -> None`, where `subparsers` is the
  `argparse` sub-parsers action of the `plinth` parser. It calls
  `subparsers.add_parser(COMMAND, help=...)`, adds its options, and
  `parser.set_defaults(func=run)`, with `run(args: argparse.Namespace) -> int | None` (None
  means 0). Besides its own options, `args` holds `url` and `api_key` (None when not given) and
  `make_client()`, which returns a `plinth.Client` for them.
- `run` may raise `plinth.cli.CommandError(message, exit_code)` for a one-line error, or any
  `plinth.PlinthError`; other exceptions propagate (a traceback is a bug report).
- Keep the module that holds `register` light at import time (no torch, no server start-up):
  `plinth --help` imports every plugin to list its command; a plugin that fails to load is
  reported on stderr and skipped. A plugin cannot replace a built-in command.

Plugins are loaded lazily: `plinth predict ...` and the other built-ins never read entry points,
so they import no server code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Protocol

from plinth._cli_commands import (
    BUILTIN_COMMANDS,
    GROUP_SUBCOMMANDS,
    CommandError,
    add_builtin_commands,
)
from plinth._cli_lifecycle import LIFECYCLE_COMMANDS, add_lifecycle_commands
from plinth._cli_push import PUSH_COMMANDS, add_push_commands
from plinth._exceptions import PlinthError, ValidationError

if TYPE_CHECKING:
    from plinth._client import Client

__all__ = ["ENTRY_POINT_GROUP", "ClientFactory", "CommandError", "build_parser", "main"]

ENTRY_POINT_GROUP = "plinth.commands"
_GLOBAL_OPTIONS_WITH_VALUE = ("--url", "--api-key")


class ClientFactory(Protocol):
    """Builds the client a command uses; `plinth.Client` itself is one (the default)."""

    def __call__(self, *, base_url: str | None, api_key: str | None) -> Client: ...


def _default_client_factory(*, base_url: str | None, api_key: str | None) -> Client:
    from plinth._client import Client

    return Client(base_url=base_url, api_key=api_key)


def _global_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    parser.add_argument(
        "--url",
        default=default,
        help="platform URL (default: $PLINTH_URL, else http://$PLINTH_HOST:$PLINTH_PORT, "
        "else http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--api-key", default=default, help="API key (default: $PLINTH_API_KEY), sent as Bearer"
    )


def build_parser(plugins: Sequence[EntryPoint] = ()) -> argparse.ArgumentParser:
    """The `plinth` parser with the built-in commands and the given plugin entry points."""
    from plinth import __version__

    parser = argparse.ArgumentParser(
        prog="plinth",
        description="Deploy, scale and call models on a Plinth platform.",
    )
    _global_options(parser, default=None)
    parser.add_argument("--version", action="version", version=f"plinth {__version__}")
    # Options repeated on every built-in subcommand, so `plinth deploy X --url U` works too;
    # SUPPRESS keeps a subcommand from resetting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, default=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_builtin_commands(subparsers, common)
    add_push_commands(subparsers, common)
    add_lifecycle_commands(subparsers, common)
    for ep in plugins:
        try:
            ep.load()(subparsers)
        except Exception as exc:  # a broken plugin must not take the built-ins down with it
            print(
                f"plinth: skipping plugin command {ep.name!r} ({ep.value}): "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
    return parser


def _positionals(argv: Sequence[str], limit: int = 2) -> list[int]:
    """Indices of the first `limit` positional words, skipping global options and their values."""
    found: list[int] = []
    skip_next = False
    for i, word in enumerate(argv):
        if skip_next:
            skip_next = False
        elif word == "--":
            break
        elif word in _GLOBAL_OPTIONS_WITH_VALUE:
            skip_next = True
        elif not word.startswith("-"):
            found.append(i)
            if len(found) == limit:
                break
    return found


def _plugins_for(argv: list[str]) -> list[EntryPoint]:
    """Plugins to load for this command line; may drop a group word from `argv` (forwarding)."""
    words = _positionals(argv)
    command = argv[words[0]] if words else None
    if command in PUSH_COMMANDS:
        return []
    if command is not None and command in BUILTIN_COMMANDS | LIFECYCLE_COMMANDS:
        subcommands = GROUP_SUBCOMMANDS.get(command)
        if subcommands is None or len(words) < 2 or argv[words[1]] in subcommands:
            return []
        wanted = f"{command}.{argv[words[1]]}"
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == wanted]
        if found:
            del argv[words[0]]
        return found
    every = list(entry_points(group=ENTRY_POINT_GROUP))
    if command is None:
        return every  # help or no command: list them all
    named = [ep for ep in every if ep.name.rpartition(".")[2] == command]
    return named or every  # unknown command: argparse's message then lists every choice


def main(argv: Sequence[str] | None = None, *, client_factory: ClientFactory | None = None) -> int:
    """Run `plinth` with `argv` (default: sys.argv[1:]); returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    factory = client_factory or _default_client_factory
    parser = build_parser(_plugins_for(args_list))
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    args.make_client = lambda: factory(base_url=args.url, api_key=args.api_key)
    try:
        result = func(args)
    except ValidationError as exc:
        return _fail(str(exc), 2)
    except CommandError as exc:
        return _fail(exc.message, exc.exit_code)
    except PlinthError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    return 0 if result is None else int(result)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
