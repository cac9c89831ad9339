"""Where the SDK finds the platform, and with which key.

Base URL, first match wins:
1. the explicit argument (`Client(base_url=...)`, `plinth --url`);
2. `PLINTH_URL`;
3. `http://{PLINTH_HOST or 127.0.0.1}:{PLINTH_PORT or 8000}`; a wildcard bind address
   (`0.0.0.0`, `::`) means "this machine", so the client connects to 127.0.0.1.

API key: the explicit argument, else `PLINTH_API_KEY`, else the key `plinth up` saved in
`$PLINTH_HOME/credentials` (default `~/.plinth/credentials`, JSON `{"api_key", "url"}`), but only
when the client talks to the server that file belongs to (same scheme, host and port; localhost,
127.0.0.1 and ::1 count as the same host), so a local admin key is never sent elsewhere. Else
none. It is sent as `Authorization: Bearer <key>`. Empty environment variables count as unset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]"})


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def resolve_base_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The platform's base URL, without a trailing slash."""
    env = os.environ if env is None else env
    url = explicit or _env(env, "PLINTH_URL")
    if url is None:
        host = _env(env, "PLINTH_HOST") or DEFAULT_HOST
        if host in _WILDCARD_HOSTS:
            host = DEFAULT_HOST
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        port = _env(env, "PLINTH_PORT") or str(DEFAULT_PORT)
        url = f"http://{host}:{port}"
    elif "://" not in url:
        url = f"http://{url}"
    return url.rstrip("/")


def credentials_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    home = _env(env, "PLINTH_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".plinth") / "credentials"


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _server(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        host = "loopback"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    return parts.scheme, host, port


def read_credentials(base_url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The saved key, if the credentials file exists and belongs to the server at `base_url`."""
    try:
        data = json.loads(credentials_path(env).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    key, url = data.get("api_key"), data.get("url")
    if not isinstance(key, str) or not key or not isinstance(url, str):
        return None
    return key if _server(url) == _server(base_url) else None


def resolve_api_key(
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    base_url: str | None = None,
) -> str | None:
    """The API key to send, if any; the credentials file is consulted only given `base_url`."""
    env = os.environ if env is None else env
    key = explicit or _env(env, "PLINTH_API_KEY")
    if key is None and base_url is not None:
        key = read_credentials(base_url, env)
    return key


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
