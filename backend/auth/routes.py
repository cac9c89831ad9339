"""The app's routes, flattened to (method, path) pairs, and matching a request against them.

FastAPI keeps included routers as nested route objects; `route_table(routes)` flattens them
(`fastapi.routing.iter_route_contexts`) into `RouteEntry`s with the full path, so the security
middleware, the start-up check and the auth matrix test all see the same list. `match` finds
the entry for a request: `(entry, path_params)`, or None when no route has that path and
method (then the app answers 404/405 as usual). Methods: HTTP methods without HEAD (a HEAD is
matched as GET); WebSocket routes are "WEBSOCKET".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, WebSocketRoute, compile_path
from starlette.types import Scope

from backend.auth.registry import route_access
from backend.auth.scopes import Access


@dataclass(frozen=True)
class RouteEntry:
    method: str
    path: str
    regex: re.Pattern[str]

    @property
    def access(self) -> Access | None:
        return route_access(self.method, self.path)


def route_table(routes: Sequence[BaseRoute]) -> list[RouteEntry]:
    entries: list[RouteEntry] = []
    for context in iter_route_contexts(routes):
        path = context.path
        if path is None:
            entries.append(RouteEntry("ANY", repr(context.original_route), re.compile(r"(?!)")))
            continue
        regex, _format, _convertors = compile_path(path)
        if isinstance(context.original_route, WebSocketRoute):
            methods = ["WEBSOCKET"]
        else:
            methods = sorted(m for m in (context.methods or {"ANY"}) if m != "HEAD")
        entries.extend(RouteEntry(method, path, regex) for method in methods)
    return entries


def undeclared(entries: Sequence[RouteEntry]) -> list[str]:
    return [f"{e.method} {e.path}" for e in entries if e.access is None]


def match(entries: Sequence[RouteEntry], scope: Scope) -> tuple[RouteEntry, dict[str, str]] | None:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    if scope["type"] == "websocket":
        method = "WEBSOCKET"
    else:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
    for entry in entries:
        if entry.method != method:
            continue
        found = entry.regex.match(path)
        if found is not None:
            return entry, found.groupdict()
    return None
