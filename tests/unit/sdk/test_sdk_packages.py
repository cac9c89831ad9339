"""`client.packages` and `client.models.push` against a scripted platform (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from plinth import AsyncClient, Client
from plinth._packages import ReloadFailedError
from plinth.cli import main
from plinth.package import PackageError, build_archive, content_digest

BASE_URL = "http://plinth.test"
MODEL = "class Model:\n    def load(self): ...\n    def predict(self, x): ...\n"


def package(path: Path, config: str = "name: echo\n", model: str = MODEL) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "plinth.yaml").write_text(config)
    (path / "model.py").write_text(model)
    return path


def deployment(digest: str) -> dict[str, Any]:
    return {
        "__typename": "Deployment",
        "id": "dep-1",
        "modelName": "echo",
        "version": 3,
        "huggingFaceRepo": "package",
        "revision": digest,
        "resolvedRevision": None,
        "task": "custom",
        "engine": "custom",
        "status": "PENDING",
        "error": None,
        "createdAt": "2026-01-01T00:00:00+00:00",
        "replicas": [],
    }


class Platform:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.upload_answer: tuple[int, dict[str, Any]] | None = None
        self.reload_answer: dict[str, Any] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/packages":
            if self.upload_answer is not None:
                return httpx.Response(self.upload_answer[0], json=self.upload_answer[1])
            with_dir = {"digest": "sha256:" + "a" * 64, "name": "echo", "model_class": "Model"}
            return httpx.Response(201, json={**with_dir, "requirements": []})
        body = json.loads(request.content)
        if "deployPackage" in body["query"]:
            digest = body["variables"]["input"]["packageDigest"]
            return httpx.Response(200, json={"data": {"deployPackage": deployment(digest)}})
        if "reloadDeployment" in body["query"]:
            return httpx.Response(200, json={"data": {"reloadDeployment": self.reload_answer}})
        raise AssertionError(f"unexpected request {request.url}")


def test_push_uploads_the_archive_then_deploys_it(tmp_path: Path) -> None:
    source = package(tmp_path / "p")
    platform = Platform()
    with Client(BASE_URL, transport=httpx.MockTransport(platform.handle)) as client:
        result = client.models.push(source, environment="development", wait=False, max_replicas=2)
    upload, deploy = platform.requests
    assert upload.headers["Content-Type"] == "application/gzip"
    assert upload.content == build_archive(source)
    variables = json.loads(deploy.content)["variables"]["input"]
    assert variables["packageDigest"] == "sha256:" + "a" * 64
    assert variables["environment"] == "development"
    assert variables["scaling"] == {"maxReplicas": 2}
    assert (result.version, result.engine) == (3, "custom")


def test_an_invalid_package_is_refused_before_any_request(tmp_path: Path) -> None:
    source = package(tmp_path / "p", "name: echo\nbogus: 1\n")
    platform = Platform()
    with (
        Client(BASE_URL, transport=httpx.MockTransport(platform.handle)) as client,
        pytest.raises(PackageError) as caught,
    ):
        client.packages.upload(source)
    assert str(caught.value.first) == "plinth.yaml:2: bogus: Extra inputs are not permitted"
    assert platform.requests == []


def test_a_server_side_refusal_is_a_package_error(tmp_path: Path) -> None:
    platform = Platform()
    problem = {"file": "model.py", "line": 7, "field": None, "message": "syntax error"}
    error = {"type": "invalid_package", "message": "x", "problems": [problem], **problem}
    platform.upload_answer = (422, {"error": error})
    with (
        Client(BASE_URL, transport=httpx.MockTransport(platform.handle)) as client,
        pytest.raises(PackageError) as caught,
    ):
        client.packages.upload(package(tmp_path / "p"))
    assert str(caught.value.first) == "model.py:7: syntax error"


def test_a_failed_reload_names_file_and_line() -> None:
    platform = Platform()
    platform.reload_answer = {
        "__typename": "ReloadFailed",
        "message": "RuntimeError: boom",
        "file": "model.py",
        "line": 3,
        "replicaId": "r1",
    }
    with (
        Client(BASE_URL, transport=httpx.MockTransport(platform.handle)) as client,
        pytest.raises(ReloadFailedError) as caught,
    ):
        client.packages.reload("dep-1", "sha256:" + "b" * 64)
    assert (caught.value.file, caught.value.line) == ("model.py", 3)
    assert str(caught.value) == "model.py:3: RuntimeError: boom"


def test_async_push(tmp_path: Path) -> None:
    source = package(tmp_path / "p")
    platform = Platform()

    async def push() -> Any:
        async with AsyncClient(BASE_URL, transport=httpx.MockTransport(platform.handle)) as client:
            return await client.models.push(source, wait=False)

    result = asyncio.run(push())
    assert result.revision == "sha256:" + "a" * 64
    assert platform.requests[0].content == build_archive(source)


def test_cli_push_of_a_bad_package_exits_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = package(tmp_path / "p", model="class Model:\n    def load(self)\n")

    def no_client(**kwargs: Any) -> Client:
        raise AssertionError("a bad package must not reach the platform")

    assert main(["push", str(source)], client_factory=no_client) == 2
    err = capsys.readouterr().err
    assert f"{source / 'model.py'}:2: syntax error" in err


def test_cli_package_schema_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "plinth.yaml"
    source = package(tmp_path / "p")
    assert main(["package", "check", str(source)]) == 0
    assert content_digest(source) in capsys.readouterr().out
