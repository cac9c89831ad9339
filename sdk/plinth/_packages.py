"""`client.packages`: upload, deploy and hot-reload custom model packages (`plinth.package`).

    with plinth.Client() as client:
        stored = client.packages.upload("my-model/")     # validated here first, then uploaded
        deployment = client.packages.deploy(stored.digest, environment="development")
        client.packages.reload(deployment.id, client.packages.upload("my-model/").digest)

`upload` validates the directory locally with `load_package` and raises `PackageError` (file
and line of each problem) before sending anything; the platform validates again and answers a
bad package with the same `PackageError`. `deploy` and `reload` raise the SDK's usual
`ValidationError` / `NotFoundError`; a reload that fails on a replica raises `ReloadFailedError`
with the file and line at fault (the previous code keeps serving).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from plinth import _graphql as gql
from plinth import _operations as ops
from plinth._exceptions import PlinthError
from plinth.package import (
    PackageError,
    PackageProblem,
    build_archive,
    load_package,
)
from plinth.types import Deployment

if TYPE_CHECKING:
    from plinth._client import AsyncClient, Client

__all__ = ["AsyncPackages", "Packages", "ReloadFailedError", "StoredPackage"]

DEPLOY_PACKAGE = (
    """
mutation DeployPackage($input: DeployPackageInput!) {
  deployPackage(input: $input) {
    __typename
    ... on Deployment { ...DeploymentParts }
    ... on ValidationError { field message }
    ... on NotFoundError { message }
  }
}
"""
    + gql.DEPLOYMENT_FRAGMENT
)

RELOAD_DEPLOYMENT = (
    """
mutation ReloadDeployment($id: ID!, $digest: String!) {
  reloadDeployment(deploymentId: $id, packageDigest: $digest) {
    __typename
    ... on ReloadedDeployment { replicas deployment { ...DeploymentParts } }
    ... on ReloadFailed { message file line replicaId }
    ... on ValidationError { field message }
    ... on NotFoundError { message }
  }
}
"""
    + gql.DEPLOYMENT_FRAGMENT
)


@dataclass(frozen=True)
class StoredPackage:
    digest: str
    name: str
    model_class: str
    requirements: list[str]


class ReloadFailedError(PlinthError):
    """A replica could not load the new code; it keeps serving the previous one."""

    def __init__(self, message: str, file: str, line: int | None) -> None:
        where = f"{file}:{line}" if file and line else file
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.line = line


def _parse_upload(response: httpx.Response) -> StoredPackage:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    problems = error.get("problems") if isinstance(error, Mapping) else None
    if response.status_code == 422 and isinstance(problems, list):
        raise PackageError(
            [
                PackageProblem(
                    file=str(p.get("file") or ""),
                    line=int(p.get("line") or 0),
                    message=str(p.get("message") or ""),
                    field=p.get("field"),
                )
                for p in problems
                if isinstance(p, Mapping)
            ]
        )
    ops.raise_for_error(response, body)
    if not isinstance(body, Mapping):
        raise PlinthError(f"unexpected answer to the upload: {response.text[:200]}")
    return StoredPackage(
        digest=str(body["digest"]),
        name=str(body["name"]),
        model_class=str(body["model_class"]),
        requirements=[str(r) for r in body.get("requirements", [])],
    )


def deploy_package_call(
    digest: str,
    *,
    name: str | None,
    environment: str | None,
    scaling: Mapping[str, Any],
    secrets: Sequence[str] | None,
) -> ops.Call[Deployment]:
    payload: dict[str, Any] = {"packageDigest": digest}
    if name is not None:
        payload["name"] = name
    if environment is not None:
        payload["environment"] = environment
    if scaling:
        payload["scaling"] = gql.scaling_input(scaling)
    if secrets is not None:
        payload["secrets"] = list(secrets)
    return ops.graphql(
        DEPLOY_PACKAGE,
        {"input": payload},
        lambda data: gql.parse_deployment(gql.unwrap_union(data["deployPackage"], "Deployment")),
    )


def _reloaded(data: Mapping[str, Any]) -> Deployment:
    result = data["reloadDeployment"]
    if isinstance(result, Mapping) and result.get("__typename") == "ReloadFailed":
        raise ReloadFailedError(str(result["message"]), str(result["file"]), result.get("line"))
    member = gql.unwrap_union(result, "ReloadedDeployment")
    return gql.parse_deployment(member["deployment"])


def reload_call(deployment_id: str, digest: str) -> ops.Call[Deployment]:
    return ops.graphql(RELOAD_DEPLOYMENT, {"id": deployment_id, "digest": digest}, _reloaded)


_GZIP = {"Content-Type": "application/gzip"}


def _archive(directory: str | Path) -> bytes:
    load_package(directory)  # PackageError with file:line before anything is sent
    return build_archive(directory)


class Packages:
    """`client.packages` (see the module docstring)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(self, directory: str | Path) -> StoredPackage:
        archive = _archive(directory)
        client = self._client
        try:
            response = client._http.post("/v1/packages", content=archive, headers=_GZIP)
        except httpx.TransportError as exc:
            raise ops.transport_error(exc, client.base_url, client.timeout) from exc
        return _parse_upload(response)

    def deploy(
        self,
        digest: str,
        *,
        name: str | None = None,
        environment: str | None = None,
        scaling: Mapping[str, Any] | None = None,
        secrets: Sequence[str] | None = None,
    ) -> Deployment:
        """A new (PENDING) version of the model running this package; wait for it with
        `client.models.wait_for_deployment`."""
        call = deploy_package_call(
            digest, name=name, environment=environment, scaling=scaling or {}, secrets=secrets
        )
        return self._client.send(call)

    def reload(self, deployment_id: str, digest: str) -> Deployment:
        """Hot-reload a running custom deployment with an uploaded package of the same
        requirements (development mode)."""
        return self._client.send(reload_call(deployment_id, digest))


class AsyncPackages:
    """`async_client.packages`: the same operations as `Packages`, awaitable."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def upload(self, directory: str | Path) -> StoredPackage:
        archive = _archive(directory)  # small and local: not worth a thread
        client = self._client
        try:
            response = await client._http.post("/v1/packages", content=archive, headers=_GZIP)
        except httpx.TransportError as exc:
            raise ops.transport_error(exc, client.base_url, client.timeout) from exc
        return _parse_upload(response)

    async def deploy(
        self,
        digest: str,
        *,
        name: str | None = None,
        environment: str | None = None,
        scaling: Mapping[str, Any] | None = None,
        secrets: Sequence[str] | None = None,
    ) -> Deployment:
        call = deploy_package_call(
            digest, name=name, environment=environment, scaling=scaling or {}, secrets=secrets
        )
        return await self._client.send(call)

    async def reload(self, deployment_id: str, digest: str) -> Deployment:
        return await self._client.send(reload_call(deployment_id, digest))
