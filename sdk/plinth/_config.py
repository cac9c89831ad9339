"""Where the SDK finds the platform, and with which key.

Base URL, first match wins:
1. the explicit argument (`Client(base_url=...)`, `plinth --url`);
2. `PLINTH_URL`;
3. `http://{PLINTH_HOST or 127.0.0.1}:{PLINTH_PORT or 8000}`; a wildcard bind address
   (`0.0.0.0`, `::`) means "this machine", so the client connects to 127.0.0.1.

API key: the explicit argument, else `PLINTH_API_KEY`, else none. It is sent as
`Authorization: Bearer <key>`. Empty environment variables count as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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


def resolve_api_key(
    explicit: str | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """The API key to send, if any."""
    env = os.environ if env is None else env
    return explicit or _env(env, "PLINTH_API_KEY")


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
