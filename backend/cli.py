"""Server-side `plinth` commands, plugged into the SDK's CLI through the `plinth.commands`
entry-point group: `plinth up`, `plinth worker`, `plinth import-local`.

Each entry point is a `register(subparsers)` callable; heavy imports happen only when a
command runs, so the SDK's own commands stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any


def _settings(args: argparse.Namespace) -> Any:
    from backend.settings import get_settings

    overrides: dict[str, Any] = {}
    for key in ("home", "host", "port"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    return get_settings(**overrides)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, default=None, help="state folder (PLINTH_HOME)")


def register_up(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up", help="start the whole platform (API, gateway, controller, worker, Temporal)"
    )
    _add_common(parser)
    parser.add_argument("--host", default=None, help="bind address (PLINTH_HOST)")
    parser.add_argument("--port", type=int, default=None, help="bind port (PLINTH_PORT)")
    parser.add_argument(
        "--standby",
        action="store_true",
        help="if another control plane runs on this database, wait and take over when it stops",
    )
    parser.set_defaults(func=_up)


def _up(args: argparse.Namespace) -> int:
    from backend.auth.bootstrap import UnsafeConfiguration
    from backend.lease import LeaseBusy, LeaseLost, database_label
    from backend.platform import serve
    from backend.secrets import SecretKeyError
    from serving.replica import event_loop_factory

    settings = _settings(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per proxied request would drown what matters; access logs come with metrics.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    def ready(url: str) -> None:
        print(
            f"Plinth is up at {url}  (GraphQL: {url}/graphql, state: {settings.home})", flush=True
        )
        print(
            f"Console: {url}/  (sign in with the admin key in {settings.home / 'credentials'})",
            flush=True,
        )
        print(
            "Deploy a model:  plinth deploy sentence-transformers/all-MiniLM-L6-v2 "
            "--name minilm --min 1 --max 3",
            flush=True,
        )

    def admin_key(key: str) -> None:
        # Shown this once: only its hash is stored. The CLI and SDK on this machine read it
        # from the credentials file.
        print(
            f"Created the first admin API key (shown once, saved to {settings.credentials_path}, "
            f"mode 0600):\n    {key}",
            flush=True,
        )

    def standby(holder: str | None) -> None:
        print(
            f"Standby: another control plane runs on this database ({holder or 'unknown'}); "
            "taking over when it stops. Ctrl-C to give up.",
            flush=True,
        )

    print(
        f"Starting Plinth (database: {database_label(settings.effective_database_url)}) ...",
        flush=True,
    )
    try:
        # uvloop: the gateway's event loop costs about half as much per request as asyncio's.
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(
                serve(
                    settings,
                    on_ready=ready,
                    on_admin_key=admin_key,
                    standby=args.standby,
                    on_standby=standby,
                )
            )
    except (UnsafeConfiguration, SecretKeyError) as err:
        print(f"plinth up: {err}", file=sys.stderr)
        return 2
    except (LeaseBusy, LeaseLost) as err:
        print(f"plinth up: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.standby:  # Ctrl-C while waiting for the lease: nothing was started
            print("Plinth standby stopped.", flush=True)
            return 0
        raise
    except OSError as err:
        print(f"plinth up: {err}", file=sys.stderr)
        return 1
    print("Plinth stopped.", flush=True)
    return 0


def register_worker(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run a Temporal worker for Plinth workflows")
    _add_common(parser)
    parser.set_defaults(func=_worker)


def _worker(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import sessionmaker

    from backend.db.session import make_engine
    from backend.platform import connect_temporal
    from workflows.worker import build_worker

    settings = _settings(args)
    if settings.temporal_address is None:
        print(
            "plinth worker: set PLINTH_TEMPORAL_ADDRESS to the Temporal server to work for",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        client = await connect_temporal(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        sessions = sessionmaker(
            make_engine(settings.effective_database_url), expire_on_commit=False
        )
        await build_worker(client, task_queue=settings.task_queue, session_factory=sessions).run()

    asyncio.run(run())
    return 0


def register_import_local(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import-local",
        help="register locally shipped model weights (all-MiniLM-L6-v2) into the HF cache",
    )
    parser.add_argument("--hf-home", type=Path, default=None, help="cache root (HF_HOME)")
    parser.set_defaults(func=_import_local)


def _import_local(args: argparse.Namespace) -> int:
    from serving.hub import import_local_minilm

    try:
        path = import_local_minilm(args.hf_home)
    except Exception as err:
        print(f"plinth import-local: {err}", file=sys.stderr)
        return 1
    print(f"sentence-transformers/all-MiniLM-L6-v2 is in the Hugging Face cache at {path}")
    return 0
