"""Start-up security: refuse unsafe binds, and create the first admin key.

`check_bind(settings)` raises `UnsafeConfiguration` when the server would be reachable from
other machines without protection: a non-loopback bind with `PLINTH_AUTH=disabled`. (A
non-loopback bind without `PLINTH_SECRET_KEY` is refused by `backend.secrets.load_secret_box`.)

`ensure_admin_key(settings, sessions)`: when auth is on and the database holds no API key at all,
create an admin key named "bootstrap", write `{"api_key", "url"}` to `$PLINTH_HOME/credentials`
(mode 0600, replaced atomically) for the local CLI and SDK, and return the key so `plinth up`
prints it once. Otherwise return None and touch nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.auth.scopes import ADMIN
from backend.db.session import session_scope
from backend.settings import Settings

BOOTSTRAP_KEY_NAME = "bootstrap"


class UnsafeConfiguration(Exception):
    """The platform must not start as configured; the message says why and what to change."""


def check_bind(settings: Settings) -> None:
    if not settings.auth_enabled and not settings.is_loopback:
        raise UnsafeConfiguration(
            f"refusing to bind to {settings.host} with PLINTH_AUTH=disabled: anyone who can reach "
            "this address could deploy models, read secrets and run code as admin. Bind to "
            "127.0.0.1 (PLINTH_HOST) for local experiments, or turn auth on (unset PLINTH_AUTH) "
            "and use API keys."
        )


def write_credentials(path: Path, *, api_key: str, url: str) -> None:
    """Write the credentials file with mode 0600 (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"api_key": api_key, "url": url}, f)
        f.write("\n")
    os.replace(tmp, path)


def ensure_admin_key(settings: Settings, sessions: sessionmaker[Session]) -> str | None:
    if not settings.auth_enabled:
        return None
    with session_scope(sessions) as session:
        if services.count_api_keys(session) > 0:
            return None
        _row, key = services.create_api_key(session, scopes=[ADMIN], name=BOOTSTRAP_KEY_NAME)
    write_credentials(settings.credentials_path, api_key=key, url=settings.base_url)
    return key
