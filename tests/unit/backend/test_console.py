"""The console is served at `/` without a key, its assets with long caching, nothing else."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.console import create_console_router


def client_for(dist: Path) -> TestClient:
    app = FastAPI()
    app.include_router(create_console_router(dist))
    return TestClient(app)


def test_serves_index_and_hashed_assets(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<div id=root></div>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not an asset")
    client = client_for(tmp_path)

    page = client.get("/")
    assert page.status_code == 200 and "root" in page.text
    assert page.headers["cache-control"] == "no-cache"
    asset = client.get("/assets/app-1234.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert client.get("/assets/../secret.txt").status_code == 404
    assert client.get("/assets/%2e%2e/secret.txt").status_code == 404
    assert client.get("/assets/missing.js").status_code == 404


def test_missing_build_says_how_to_build(tmp_path: Path) -> None:
    page = client_for(tmp_path / "nothing").get("/")
    assert page.status_code == 200
    assert "npm run build" in page.text
