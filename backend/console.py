"""The console's built assets (frontend/dist), served at `/` and `/assets/...`.

The page and its scripts hold no secrets (the console signs in with an API key that it sends to
`/graphql` like any client), so these routes are public. The console uses hash routes, so no SPA
fallback is needed. When the assets are missing, `/` says how to build them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

_IMMUTABLE = "public, max-age=31536000, immutable"
DEFAULT_DIST = Path(__file__).resolve().parent.parent / "frontend" / "dist"

_NOT_BUILT = """<!doctype html><html><head><title>Plinth</title></head>
<body style="font-family: system-ui; max-width: 40rem; margin: 4rem auto">
<h1>Plinth is running</h1>
<p>The console has not been built. Run <code>make up</code> (it builds the console when it is
missing), or <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload.</p>
<p>The API is available: GraphQL at <code>/graphql</code>, REST under <code>/v1</code>.</p>
</body></html>"""


def create_console_router(dist: Path | None = None) -> APIRouter:
    root = (dist or DEFAULT_DIST).resolve()
    assets = (root / "assets").resolve()
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def index() -> Response:
        page = root / "index.html"
        if not page.is_file():
            return HTMLResponse(_NOT_BUILT)
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    @router.get("/assets/{path:path}")
    async def asset(path: str) -> Response:
        target = (assets / path).resolve()
        if not target.is_relative_to(assets) or not target.is_file():
            raise HTTPException(status_code=404, detail=f"no console asset {path!r}")
        # File names carry a content hash: safe to cache for a long time.
        return FileResponse(
            target, headers={"Cache-Control": "public, max-age=31536000, immutable"}
        )

    return router
