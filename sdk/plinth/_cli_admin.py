"""`plinth keys ...` and `plinth secrets ...`: API keys and secrets from the command line.

    plinth keys create --scope invoke --model minilm --expires-in 30d --name web
    plinth keys create --scope deploy --scope read
    plinth keys list
    plinth keys revoke ID
    plinth secrets set HF_TOKEN                 # prompts (no echo) on a terminal
    echo "$TOKEN" | plinth secrets set HF_TOKEN --value-from-stdin
    plinth secrets list
    plinth secrets delete HF_TOKEN

`--model NAME` narrows every `invoke` scope given to that model (`invoke:NAME`). A new key is
printed once, alone on its own line, so `KEY=$(plinth keys create ... --quiet)` works. Secret
values are read from stdin or a no-echo prompt, never from the command line (shell history).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from plinth._cli_commands import CommandError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Add = Callable[..., argparse.ArgumentParser]


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `45m`, `90s` or plain seconds."""
    found = _DURATION.match(text.lower())
    if found is None or float(found.group(1)) <= 0:
        raise CommandError(f"--expires-in: {text!r} is not a duration like 30d, 12h, 45m", 2)
    return timedelta(seconds=float(found.group(1)) * _UNIT_S[found.group(2)])


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def add_admin_commands(subparsers: Any, add: Add) -> None:
    keys = add(subparsers, "keys", "create, list and revoke API keys (admin)")
    keys.set_defaults(func=run_keys_list)
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    create = add(keys_sub, "create", "create an API key and print it (shown once)")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        help="admin, deploy, invoke, invoke:MODEL or read (repeat for several)",
    )
    create.add_argument("--model", action="append", help="limit invoke to this model (repeat)")
    create.add_argument("--name", help="a label for the key (lowercase letters, digits, -)")
    create.add_argument("--expires-in", help="e.g. 30d, 12h (default: never)")
    create.add_argument("--quiet", "-q", action="store_true", help="print only the key")
    create.set_defaults(func=run_keys_create)
    add(keys_sub, "list", "list API keys (prefixes only)").set_defaults(func=run_keys_list)
    revoke = add(keys_sub, "revoke", "revoke an API key")
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(func=run_keys_revoke)

    secrets = add(subparsers, "secrets", "set, list and delete secrets (admin)")
    secrets.set_defaults(func=run_secrets_list)
    secrets_sub = secrets.add_subparsers(dest="secrets_command", metavar="SUBCOMMAND")
    set_ = add(secrets_sub, "set", "create or replace a secret (value from stdin or a prompt)")
    set_.add_argument("name", metavar="NAME")
    set_.add_argument("--value-from-stdin", action="store_true", help="read the value from stdin")
    set_.set_defaults(func=run_secrets_set)
    add(secrets_sub, "list", "list secret names").set_defaults(func=run_secrets_list)
    delete = add(secrets_sub, "delete", "delete a secret")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(func=run_secrets_delete)


def _scopes(args: argparse.Namespace) -> list[str]:
    scopes: list[str] = list(args.scope)
    if args.model:
        if "invoke" not in scopes:
            raise CommandError("--model narrows an invoke scope: add --scope invoke", 2)
        scopes.remove("invoke")
        scopes.extend(f"invoke:{model}" for model in args.model)
    return scopes


def run_keys_create(args: argparse.Namespace) -> int:
    expires_in = None if args.expires_in is None else parse_duration(args.expires_in)
    with args.make_client() as client:
        created = client.keys.create(_scopes(args), name=args.name, expires_in=expires_in)
    if args.quiet:
        print(created.key)
        return 0
    key = created.api_key
    print(f"Created API key {key.prefix}_... ({', '.join(key.scopes)}), id {key.id}")
    if key.expires_at is not None:
        print(f"It expires at {key.expires_at.isoformat()}.")
    print("The key is shown this once; store it now:")
    print(created.key)
    return 0


def run_keys_list(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        keys = client.keys.list()
    if not keys:
        print("No API keys.")
        return 0
    rows = [("ID", "PREFIX", "NAME", "SCOPES", "EXPIRES", "LAST USED", "STATUS")]
    for k in keys:
        status = "revoked" if k.revoked_at is not None else "active"
        rows.append(
            (
                k.id,
                k.prefix,
                k.name or "-",
                ",".join(k.scopes),
                _when(k.expires_at),
                _when(k.last_used_at),
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def run_keys_revoke(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        key = client.keys.revoke(args.key_id)
    print(f"Revoked API key {key.prefix}_... ({key.id}).")
    return 0


def _secret_value(args: argparse.Namespace) -> str:
    if args.value_from_stdin or not sys.stdin.isatty():
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
    else:
        value = getpass.getpass(f"Value of {args.name}: ")
    if not value:
        raise CommandError("the secret value is empty", 2)
    return value


def run_secrets_set(args: argparse.Namespace) -> int:
    value = _secret_value(args)
    with args.make_client() as client:
        secret = client.secrets.set(args.name, value)
    print(f"Secret {secret.name} is set.")
    return 0


def run_secrets_list(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        secrets = client.secrets.list()
    if not secrets:
        print("No secrets. Set one: plinth secrets set NAME")
    for secret in secrets:
        print(f"{secret.name}  (updated {_when(secret.updated_at)})")
    return 0


def run_secrets_delete(args: argparse.Namespace) -> int:
    with args.make_client() as client:
        client.secrets.delete(args.name)
    print(f"Deleted secret {args.name}.")
    return 0
