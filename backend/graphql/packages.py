"""GraphQL for custom model packages: `deployPackage` and `reloadDeployment` (development mode).

- `deployPackage(input: {name, packageDigest, environment, scaling, secrets})`: deploys a
  package uploaded with `POST /v1/packages` as a new version of the model (the model is created
  on first push), engine "custom", through the same `DeployModel` workflow as a Hugging Face
  model; its resolve step builds the package's environment (events "building").
- `reloadDeployment(deploymentId, packageDigest)`: hot-reloads a running custom deployment with
  another package of the same requirements: every READY replica re-imports model.py from the
  new package and calls `load()` again (`POST /-/reload` on the replica, see
  `serving.engines.custom`), then the deployment records the new digest, so replicas started
  later run it too. No new version, no restart. Requirements that differ are a
  ValidationError on `packageDigest` (deploy a new version instead). A replica that fails to
  load the new code keeps the old one and the answer is a `ReloadFailed` with file and line.
  Replicas are reached at 127.0.0.1:<port> as the local runtime records them.

The package store comes from the app (`request.app.state.plinth_packages`, set by
`backend.app.create_app`).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import httpx
import strawberry
from sqlalchemy.orm import Session

from backend import services
from backend.errors import NotFound, ValidationFailed
from backend.graphql import types as t
from backend.graphql.context import Context
from backend.graphql.lifecycle import caller_prefix
from backend.services.packages import (
    PackageStore,
    create_package_deployment,
    set_package_resolution,
)
from plinth.package import Package, PackageError, requirements_digest
from plinth.types import DeploymentStatus, FieldError, ReplicaState, validate_name
from serving.package_env import package_interpreter, record_interpreter

log = logging.getLogger("plinth.graphql.packages")

Info = strawberry.Info[Context]
RELOAD_TIMEOUT_S = 600.0


@strawberry.input
class DeployPackageInput:
    package_digest: str = strawberry.field(description="From POST /v1/packages: sha256:<hex>.")
    name: str | None = strawberry.field(
        default=None, description="Model name; default: the package's `name`."
    )
    environment: str | None = strawberry.field(
        default=None, description="Environment the push targets (e.g. development)."
    )
    scaling: t.ScalingInput | None = None
    secrets: list[str] | None = strawberry.field(
        default=None, description="Secret names; default: those plinth.yaml lists."
    )


@strawberry.type
class ReloadedDeployment:
    deployment: t.Deployment
    replicas: int = strawberry.field(description="Replicas that now run the new code.")


@strawberry.type
class ReloadFailed:
    message: str
    file: str
    line: int | None
    replica_id: str | None


DeployPackageResult = Annotated[
    t.Deployment | t.ValidationError | t.NotFoundError, strawberry.union("DeployPackageResult")
]
ReloadDeploymentResult = Annotated[
    ReloadedDeployment | ReloadFailed | t.ValidationError | t.NotFoundError,
    strawberry.union("ReloadDeploymentResult"),
]


def _store(info: Info) -> PackageStore:
    request = info.context.request
    store = None if request is None else getattr(request.app.state, "plinth_packages", None)
    if not isinstance(store, PackageStore):
        raise RuntimeError("this app has no package store")
    return store


def _package_problem(exc: PackageError) -> t.ValidationError:
    return t.ValidationError(field="packageDigest", message=str(exc))


def _deployment_of(session: Session, deployment_id: str) -> t.Deployment:
    row = services.require_deployment(session, deployment_id=deployment_id)
    return t.deployment_from_row(row, row.model.name)


@strawberry.type
class PackagesMutation:
    @strawberry.mutation
    async def deploy_package(
        self,
        info: Info,
        deploy: Annotated[DeployPackageInput, strawberry.argument(name="input")],
    ) -> DeployPackageResult:
        context = info.context
        try:
            package = await asyncio.to_thread(_store(info).get, deploy.package_digest)
            if deploy.environment is not None:
                validate_name(deploy.environment, field="environment")
        except ValidationFailed as exc:
            return t.ValidationError(field=exc.field, message=exc.message)
        except FieldError as exc:
            return t.ValidationError(field=exc.field, message=exc.message)
        except NotFound as exc:
            return t.NotFoundError(message=exc.message)
        except PackageError as exc:
            return _package_problem(exc)
        name = deploy.name or package.config.name
        changes = deploy.scaling.changes() if deploy.scaling is not None else {}

        def create(session: Session) -> t.Deployment:
            row = create_package_deployment(
                session,
                name=name,
                package=package,
                scaling=changes,
                secret_names=deploy.secrets,
                environment=deploy.environment,
                created_by=caller_prefix(context),
            )
            return t.deployment_from_row(row, name)

        try:
            deployment = await context.db(create)
        except ValidationFailed as exc:
            return t.ValidationError(field=exc.field, message=exc.message)
        deployment_id = str(deployment.id)
        try:
            await context.deploy_starter.start_deploy(deployment_id)
        except Exception as exc:
            log.exception("starting the deploy of %s failed", deployment_id)
            reason = f"could not start the deploy: {type(exc).__name__}: {exc}"

            def fail(session: Session) -> t.Deployment:
                services.set_deployment_status(
                    session,
                    deployment_id=deployment_id,
                    status=DeploymentStatus.FAILED,
                    error=reason,
                )
                return _deployment_of(session, deployment_id)

            return await context.db(fail)
        return deployment

    @strawberry.mutation
    async def reload_deployment(
        self, info: Info, deployment_id: strawberry.ID, package_digest: str
    ) -> ReloadDeploymentResult:
        context = info.context
        store = _store(info)
        try:
            package = await asyncio.to_thread(store.get, package_digest)
        except ValidationFailed as exc:
            return t.ValidationError(field=exc.field, message=exc.message)
        except NotFound as exc:
            return t.NotFoundError(message=exc.message)
        except PackageError as exc:
            return _package_problem(exc)

        def prepare(session: Session) -> tuple[Path, list[tuple[str, int]]]:
            row = services.require_deployment(session, deployment_id=str(deployment_id))
            if row.engine != "custom" or not row.model_path:
                raise ValidationFailed("deploymentId", "only custom package deployments reload")
            if row.status not in (DeploymentStatus.DEPLOYING, DeploymentStatus.ACTIVE):
                raise ValidationFailed(
                    "deploymentId", f"the deployment is {row.status.value}; deploy a new version"
                )
            ready = [
                (r.id, r.port)
                for r in row.replicas
                if r.state == ReplicaState.READY and r.port is not None
            ]
            return Path(row.model_path), ready

        try:
            old_path, replicas = await context.db(prepare)
            old = await asyncio.to_thread(store.get, "sha256:" + old_path.name)
        except ValidationFailed as exc:
            return t.ValidationError(field=exc.field, message=exc.message)
        except NotFound as exc:
            return t.NotFoundError(message=exc.message)
        except PackageError as exc:
            return _package_problem(exc)
        if requirements_digest(old.config.requirements) != requirements_digest(
            package.config.requirements
        ):
            return t.ValidationError(
                field="packageDigest",
                message="the requirements changed: a hot reload cannot install them; "
                "deploy a new version (deployPackage)",
            )
        await asyncio.to_thread(record_interpreter, package.path, package_interpreter(old.path))
        failed = await _reload_replicas(replicas, package)
        if failed is not None:
            where = f"{failed.file}:{failed.line}" if failed.line else failed.file
            await context.db(
                lambda session: services.record_event(
                    session,
                    deployment_id=str(deployment_id),
                    kind="reload_failed",
                    message=f"hot reload of {package.digest[:19]} failed, the previous code "
                    f"keeps serving: {where}: {failed.message}",
                )
            )
            return failed

        def record(session: Session) -> t.Deployment:
            set_package_resolution(
                session,
                deployment_id=str(deployment_id),
                digest=package.digest,
                model_path=str(package.path),
                kind="reloaded",
                message=f"hot-reloaded package {package.digest[:19]} on {len(replicas)} replica(s)",
            )
            return _deployment_of(session, str(deployment_id))

        deployment = await context.db(record)
        return ReloadedDeployment(deployment=deployment, replicas=len(replicas))


async def _reload_replicas(
    replicas: list[tuple[str, int]], package: Package
) -> ReloadFailed | None:
    """POST /-/reload to every replica; the first failure, or None."""
    async with httpx.AsyncClient(timeout=RELOAD_TIMEOUT_S, trust_env=False) as client:
        for replica_id, port in replicas:
            try:
                resp = await client.post(
                    f"http://127.0.0.1:{port}/-/reload", json={"path": str(package.path)}
                )
            except httpx.HTTPError as exc:
                return ReloadFailed(
                    message=f"replica unreachable: {exc}",
                    file="",
                    line=None,
                    replica_id=replica_id,
                )
            if resp.status_code != 200:
                try:
                    error = resp.json()["error"]
                    message, file, line = error["message"], error.get("file"), error.get("line")
                except (ValueError, KeyError, TypeError):
                    message, file, line = resp.text[:500], None, None
                return ReloadFailed(
                    message=str(message),
                    file=str(file or ""),
                    line=line if isinstance(line, int) else None,
                    replica_id=replica_id,
                )
    return None


__all__ = ["PackagesMutation"]
