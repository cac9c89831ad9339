"""The resolve step of a custom package deployment (called by `resolve_deployment`).

Instead of a Hugging Face snapshot, a custom deployment resolves to its stored package
directory (already on the row, `model_path`) and the interpreter of its environment: the
package is validated again, the requirements the platform does not satisfy are installed into
the shared virtualenv of its requirements (`serving.package_env`; progress becomes "building"
events the user sees while `plinth push` waits), the interpreter is recorded next to the
package for the runtime, and the deployment goes DEPLOYING. Heartbeats continue while pip
runs. Invalid packages and failed builds are non-retryable: retrying would fail the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from backend import services
from backend.db import models as orm
from backend.services.packages import PackageStore, set_package_resolution
from plinth.package import PackageError, load_package
from plinth.types import DeploymentStatus
from serving.package_env import EnvironmentBuildError, ensure_environment, record_interpreter

HEARTBEAT_S = 5.0


async def resolve_package(
    sessions: sessionmaker[Session], dep: orm.Deployment, wake: Callable[[], None]
) -> None:
    deployment_id = dep.id
    package_dir = Path(dep.model_path or "")

    def event(kind: str, message: str) -> None:
        with sessions.begin() as session:
            services.record_event(session, deployment_id=deployment_id, kind=kind, message=message)

    def build() -> str:
        try:
            package = load_package(package_dir)
        except PackageError as exc:
            raise ApplicationError(f"invalid package: {exc}", non_retryable=True) from exc
        if package.digest != dep.revision:
            raise ApplicationError(
                f"package {dep.revision} changed on disk (now {package.digest})",
                non_retryable=True,
            )
        store = PackageStore.of_package_dir(package_dir)
        requirements = package.config.requirements
        event("building", f"building environment for {len(requirements)} requirement(s)")
        try:
            python = ensure_environment(
                requirements, store.venvs, on_progress=lambda line: event("building", line)
            )
        except EnvironmentBuildError as exc:
            raise ApplicationError(exc.message, non_retryable=True) from exc
        record_interpreter(package_dir, python)
        with sessions.begin() as session:
            set_package_resolution(
                session,
                deployment_id=deployment_id,
                digest=package.digest,
                model_path=str(package_dir),
                message=f"package {package.digest[:19]} (class {package.model_class}) "
                f"runs with {python}",
            )
            services.set_deployment_status(
                session,
                deployment_id=deployment_id,
                status=DeploymentStatus.DEPLOYING,
                message="environment ready; starting replicas",
            )
        return python

    task = asyncio.ensure_future(asyncio.to_thread(build))
    while not task.done():
        activity.heartbeat("building the package environment")
        await asyncio.wait({task}, timeout=HEARTBEAT_S)
    task.result()
    wake()
