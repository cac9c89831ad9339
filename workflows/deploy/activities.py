"""Activities of DeployModel: all I/O (database, Hugging Face cache) happens here.

Dependencies come through the `DeployActivities` constructor so tests can give their own. The
activities never hold a process handle: they change desired state in the database and wait for
the controller's observations of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from backend import services
from backend.db import models as orm
from plinth.types import TASKS, DeploymentStatus, ReplicaState
from serving import hub
from serving.engines import needs_snapshot
from workflows.deploy.packages import resolve_package
from workflows.names import DeployModelInput

POLL_S = 0.3


@dataclass(frozen=True)
class _Target:
    ready: int
    live: int
    total: int
    wanted: int
    failed_error: str | None
    status: str | None


class DeployActivities:
    def __init__(
        self, session_factory: sessionmaker[Session], wake: Callable[[], None] | None = None
    ) -> None:
        self._sessions = session_factory
        self._wake = wake or (lambda: None)

    # -- helpers -------------------------------------------------------------------------------

    def _load(self, deployment_id: str) -> orm.Deployment:
        with self._sessions() as session:
            dep = session.get(orm.Deployment, deployment_id)
            if dep is None:
                raise ApplicationError(
                    f"deployment {deployment_id} no longer exists (its model was deleted)",
                    non_retryable=True,
                )
            session.expunge(dep)
            return dep

    def _observe(self, deployment_id: str) -> _Target | None:
        with self._sessions() as session:
            dep = session.get(orm.Deployment, deployment_id)
            if dep is None:
                return None
            replicas = list(dep.replicas)
            failed = [r for r in replicas if r.state == ReplicaState.FAILED.value]
            return _Target(
                ready=sum(1 for r in replicas if r.state == ReplicaState.READY.value),
                live=sum(1 for r in replicas if r.state != ReplicaState.FAILED.value),
                total=len(replicas),
                wanted=max(self._rollout_min(session, dep), 1),
                failed_error=failed[0].error if failed else None,
                status=dep.status,
            )

    @staticmethod
    def _rollout_min(session: Session, dep: orm.Deployment) -> int:
        # A rollout starts at the minimum of the environment it goes into.
        env = services.get_environment(session, model_id=dep.model_id, name=dep.target_environment)
        return env.min_replicas if env is not None else dep.model.min_replicas

    # -- activities ----------------------------------------------------------------------------

    @activity.defn(name="resolve_deployment")
    async def resolve_deployment(self, inp: DeployModelInput) -> None:
        dep = await asyncio.to_thread(self._load, inp.deployment_id)
        if dep.engine == "custom":  # a model package: its directory and environment
            await resolve_package(self._sessions, dep, self._wake)
            return
        await asyncio.to_thread(
            self._set_status,
            inp.deployment_id,
            DeploymentStatus.PENDING,
            None,
            f"resolving {dep.hf_repo}@{dep.revision or 'main'} in the Hugging Face cache",
        )
        try:
            snap = await asyncio.to_thread(
                hub.resolve_for_engine, dep.engine, dep.hf_repo, dep.revision
            )
            task = dep.task or await asyncio.to_thread(hub.infer_task, snap.path)
            if task is None and not needs_snapshot(dep.engine):
                task = TASKS[0]  # an engine without model files serves any task
            if task is None:
                raise hub.ModelValidationError(
                    f"cannot infer the task of {dep.hf_repo}: pass one explicitly "
                    "(feature-extraction, text-classification or text-generation)"
                )
            await asyncio.to_thread(hub.validate_snapshot, snap.path, task, dep.engine)
        except (hub.ModelResolutionError, hub.ModelValidationError) as err:
            raise ApplicationError(str(err), non_retryable=True) from err

        def record() -> None:
            with self._sessions.begin() as session:
                services.set_resolution(
                    session,
                    deployment_id=inp.deployment_id,
                    resolved_revision=snap.revision,
                    model_path=snap.path,
                    task=task,
                )
                services.set_deployment_status(
                    session,
                    deployment_id=inp.deployment_id,
                    status=DeploymentStatus.DEPLOYING,
                    message=f"resolved revision {snap.revision[:12]} for {task}; starting replicas",
                )

        await asyncio.to_thread(record)
        self._wake()

    @activity.defn(name="wait_replicas_ready")
    async def wait_replicas_ready(self, inp: DeployModelInput) -> None:
        while True:
            seen = await asyncio.to_thread(self._observe, inp.deployment_id)
            if seen is None:
                raise ApplicationError(
                    "the model was deleted during its deploy", non_retryable=True
                )
            if seen.failed_error is not None:
                raise ApplicationError(
                    f"replica failed to start: {seen.failed_error}", non_retryable=True
                )
            if seen.ready >= seen.wanted:
                return
            activity.heartbeat(f"{seen.ready}/{seen.wanted} replicas ready")
            await asyncio.sleep(POLL_S)

    @activity.defn(name="activate_deployment")
    async def activate_deployment(self, inp: DeployModelInput) -> None:
        def run() -> None:
            with self._sessions.begin() as session:
                services.activate_deployment(session, deployment_id=inp.deployment_id)

        await asyncio.to_thread(run)
        self._wake()

    @activity.defn(name="fail_deployment")
    async def fail_deployment(self, inp: DeployModelInput, reason: str) -> None:
        exists = await asyncio.to_thread(
            self._set_status, inp.deployment_id, DeploymentStatus.FAILED, reason, reason
        )
        self._wake()
        if not exists:
            return
        # FAILED deployments are no longer desired: wait until the controller stopped every
        # replica, so a failed deploy leaves nothing running.
        while True:
            seen = await asyncio.to_thread(self._observe, inp.deployment_id)
            if seen is None or seen.live == 0:
                return
            activity.heartbeat("waiting for replicas to stop")
            await asyncio.sleep(POLL_S)

    def _set_status(
        self, deployment_id: str, status: DeploymentStatus, error: str | None, message: str
    ) -> bool:
        with self._sessions.begin() as session:
            if session.get(orm.Deployment, deployment_id) is None:
                return False
            services.set_deployment_status(
                session,
                deployment_id=deployment_id,
                status=status,
                error=error,
                message=message,
                kind="failed" if status is DeploymentStatus.FAILED else "status",
            )
            return True

    def all(self) -> list[Callable[..., object]]:
        return [
            self.resolve_deployment,
            self.wait_replicas_ready,
            self.activate_deployment,
            self.fail_deployment,
        ]
