"""POST /v1/packages, deployPackage and reloadDeployment's refusals, over the real app and a
real SQLite database (the deploy itself and reloads on live replicas are integration tests)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from backend import services
from backend.db.session import session_scope
from plinth.package import build_archive, content_digest
from tests.unit.backend.support import Harness

MODEL = "class Model:\n    def load(self): ...\n    def predict(self, x):\n        return x\n"

DEPLOY = """
mutation Deploy($input: DeployPackageInput!) {
  deployPackage(input: $input) {
    __typename
    ... on Deployment { id version engine revision status task modelName }
    ... on ValidationError { field message }
    ... on NotFoundError { message }
  }
}"""

RELOAD = """
mutation Reload($id: ID!, $digest: String!) {
  reloadDeployment(deploymentId: $id, packageDigest: $digest) {
    __typename
    ... on ValidationError { field message }
    ... on NotFoundError { message }
    ... on ReloadFailed { message file line }
    ... on ReloadedDeployment { replicas deployment { revision version } }
  }
}"""

SCALING = 'query { model(name: "echo") { scaling { maxConcurrency concurrencyTarget } } }'


def package(path: Path, config: str = "name: echo\n", model: str = MODEL) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "plinth.yaml").write_text(config)
    (path / "model.py").write_text(model)
    return path


def upload(h: Harness, archive: bytes) -> Any:
    return h.client.post(
        "/v1/packages", content=archive, headers={"Content-Type": "application/gzip"}
    )


def test_upload_stores_the_package_by_digest(harness: Harness, tmp_path: Path) -> None:
    source = package(tmp_path / "src", "name: echo\nrequirements: [numpy]\n")
    response = upload(harness, build_archive(source))
    assert response.status_code == 201, response.text
    body = response.json()
    digest = content_digest(source)
    assert body == {
        "digest": digest,
        "name": "echo",
        "model_class": "Model",
        "requirements": ["numpy"],
    }
    stored = tmp_path / "packages" / digest.removeprefix("sha256:")
    assert content_digest(stored) == digest
    again = upload(harness, build_archive(source))
    assert again.status_code == 201 and again.json()["digest"] == digest
    assert [p.name for p in (tmp_path / "packages").iterdir()] == [stored.name]


def test_upload_refuses_an_invalid_package_with_file_and_line(
    harness: Harness, tmp_path: Path
) -> None:
    source = package(tmp_path / "src", "name: echo\nresources:\n  cpu: lots\n")
    response = upload(harness, build_archive(source))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_package"
    assert (error["file"], error["line"], error["field"]) == ("plinth.yaml", 3, "resources.cpu")
    assert error["problems"][0]["line"] == 3
    assert not any(p.is_dir() for p in (tmp_path / "packages").iterdir())  # nothing kept


def test_upload_refuses_unsafe_and_empty_archives(harness: Harness, tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escaped.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    response = upload(harness, raw.getvalue())
    assert response.status_code == 422
    assert "unsafe path" in response.json()["error"]["message"]
    assert not (tmp_path.parent / "escaped.py").exists()
    assert upload(harness, b"").status_code == 422
    assert upload(harness, b"not a tarball").status_code == 422


def _upload_dir(h: Harness, path: Path) -> str:
    response = upload(h, build_archive(path))
    assert response.status_code == 201, response.text
    digest: str = response.json()["digest"]
    return digest


def test_deploy_package_creates_versions_of_a_custom_model(
    harness: Harness, tmp_path: Path
) -> None:
    digest = _upload_dir(harness, package(tmp_path / "a", "name: echo\npredict_concurrency: 1\n"))
    first = harness.gql(DEPLOY, input={"packageDigest": digest})["deployPackage"]
    assert first["__typename"] == "Deployment", first
    assert (first["version"], first["engine"], first["revision"], first["modelName"]) == (
        1,
        "custom",
        digest,
        "echo",
    )
    assert first["task"] == "custom"
    assert harness.starter.started == [first["id"]]
    # predict_concurrency is the hard per-replica limit; the soft target cannot exceed it.
    scaling = harness.gql(SCALING)["model"]["scaling"]
    assert scaling == {"maxConcurrency": 1, "concurrencyTarget": 1.0}

    digest2 = _upload_dir(harness, package(tmp_path / "b", model=MODEL + "# v2\n"))
    second = harness.gql(DEPLOY, input={"packageDigest": digest2, "environment": "development"})[
        "deployPackage"
    ]
    assert (second["__typename"], second["version"]) == ("Deployment", 2)
    with session_scope(harness.sessions) as session:
        events = services.list_events_since(session, deployment_id=second["id"])
        assert "for development" in events[0].message
        row = services.require_deployment(session, deployment_id=second["id"])
        assert row.target_environment == "development"


def test_deploy_package_refusals(harness: Harness, tmp_path: Path) -> None:
    def deploy(**input_: Any) -> dict[str, Any]:
        result: dict[str, Any] = harness.gql(DEPLOY, input=input_)["deployPackage"]
        return result

    assert deploy(packageDigest="sha256:" + "0" * 64)["__typename"] == "NotFoundError"
    bad = deploy(packageDigest="md5:abc")
    assert (bad["__typename"], bad["field"]) == ("ValidationError", "packageDigest")
    digest = _upload_dir(harness, package(tmp_path / "s", "name: echo\nsecrets: [API_TOKEN]\n"))
    missing = deploy(packageDigest=digest)
    assert (missing["__typename"], missing["field"]) == ("ValidationError", "secrets")
    assert "API_TOKEN" in missing["message"]
    named = deploy(packageDigest=digest, name="Not A Name", secrets=[])
    assert (named["__typename"], named["field"]) == ("ValidationError", "name")
    assert harness.starter.started == []


def test_reload_without_running_replicas_points_the_deployment_at_the_new_package(
    harness: Harness, tmp_path: Path
) -> None:
    digest = _upload_dir(harness, package(tmp_path / "a"))
    deployment = harness.gql(DEPLOY, input={"packageDigest": digest})["deployPackage"]
    with session_scope(harness.sessions) as session:
        services.activate_deployment(session, deployment_id=deployment["id"])
    new = _upload_dir(harness, package(tmp_path / "b", model=MODEL + "# edited\n"))
    result = harness.gql(RELOAD, id=deployment["id"], digest=new)["reloadDeployment"]
    assert result == {
        "__typename": "ReloadedDeployment",
        "replicas": 0,
        "deployment": {"revision": new, "version": 1},
    }
    # Replicas started from now on run the new package, with the same interpreter.
    assert (tmp_path / "packages" / (new.removeprefix("sha256:") + ".python")).exists()


def test_reload_refuses_changed_requirements_and_other_engines(
    harness: Harness, tmp_path: Path
) -> None:
    digest = _upload_dir(harness, package(tmp_path / "a"))
    deployment = harness.gql(DEPLOY, input={"packageDigest": digest})["deployPackage"]
    with session_scope(harness.sessions) as session:
        services.activate_deployment(session, deployment_id=deployment["id"])
    changed = _upload_dir(harness, package(tmp_path / "b", "name: echo\nrequirements: [numpy]\n"))
    refused = harness.gql(RELOAD, id=deployment["id"], digest=changed)["reloadDeployment"]
    assert (refused["__typename"], refused["field"]) == ("ValidationError", "packageDigest")
    assert "requirements changed" in refused["message"]

    with session_scope(harness.sessions) as session:
        hf = services.create_deployment(session, name="hf", hf_repo="org/model").id
    other = harness.gql(RELOAD, id=hf, digest=digest)["reloadDeployment"]
    assert (other["__typename"], other["field"]) == ("ValidationError", "deploymentId")
    gone = harness.gql(RELOAD, id="nope", digest=digest)["reloadDeployment"]
    assert gone["__typename"] == "NotFoundError"
