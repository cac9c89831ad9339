"""Activities of PromoteDeployment and StartCanary: database changes, waits on observations, and
the canary watch over the data plane's traffic statistics.

Dependencies come through the `LifecycleActivities` constructor: the session factory, the
controller's `wake`, and the `DataPlane` whose per-deployment `TrafficStats` the canary watch
reads. The plane lives in the gateway process; in `plinth up` the worker shares that process, so
the watch reads it directly (docs/decisions.md). A worker without a plane cannot watch canaries
and says so (the canary keeps serving; abort or promote it by hand).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from backend import services
from backend.db import models as orm
from plinth.types import ReplicaState
from serving.plane import DataPlane
from workflows.names import CanaryInput, PromoteInput

POLL_S = 0.3
WATCH_POLL_S = 0.5
MIN_REQUESTS = 5  # a window with fewer requests says nothing about the canary yet


class LifecycleActivities:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        wake: Callable[[], None] | None = None,
        plane: DataPlane | None = None,
    ) -> None:
        self._sessions = session_factory
        self._wake = wake or (lambda: None)
        self._plane = plane

    @activity.defn(name="shift_traffic")
    async def shift_traffic(self, inp: PromoteInput) -> str | None:
        """Point the environment at the deployment; the id of the one it replaced, if any."""

        def run() -> str | None:
            with self._sessions.begin() as session:
                dep = session.get(orm.Deployment, inp.deployment_id)
                if dep is None:
                    raise ApplicationError(
                        "the model was deleted during the promotion", non_retryable=True
                    )
                env = services.require_environment(
                    session, model=dep.model, name=dep.target_environment
                )
                if env.deployment_id == dep.id:  # a retry after the shift committed
                    return env.previous_deployment_id
                replaced = env.deployment_id
                services.shift_traffic(session, deployment_id=dep.id)
                if inp.rollback:
                    services.record_rollback(
                        session, deployment_id=dep.id, environment=inp.environment
                    )
                return replaced

        replaced = await asyncio.to_thread(run)
        self._wake()
        return replaced

    @activity.defn(name="wait_stopped")
    async def wait_stopped(self, deployment_id: str) -> None:
        """Wait until the controller has drained and stopped every replica of the deployment
        (or it serves again: a rollback brought it back meanwhile)."""
        while True:
            if await asyncio.to_thread(self._stopped_or_serving, deployment_id):
                return
            activity.heartbeat("waiting for the replaced replicas to drain and stop")
            await asyncio.sleep(POLL_S)

    def _stopped_or_serving(self, deployment_id: str) -> bool:
        with self._sessions() as session:
            dep = session.get(orm.Deployment, deployment_id)
            if dep is None:
                return True
            if services.serving_environment(session, deployment_id=dep.id) is not None:
                return True
            return all(r.state == ReplicaState.FAILED.value for r in dep.replicas)

    @activity.defn(name="set_canary")
    async def set_canary(self, inp: CanaryInput) -> None:
        def run() -> None:
            with self._sessions.begin() as session:
                services.set_canary(
                    session,
                    deployment_id=inp.deployment_id,
                    percent=inp.percent,
                    bounds=_bounds(inp),
                )

        await asyncio.to_thread(run)
        self._wake()

    @activity.defn(name="watch_canary")
    async def watch_canary(self, inp: CanaryInput) -> str | None:
        """Poll the canary's traffic over the window: the reason to roll it back when a bound is
        crossed, None once it is no longer the environment's canary."""
        plane = self._plane
        if plane is None:
            raise ApplicationError(
                "this worker has no data plane to watch the canary: run the worker inside the "
                "gateway process (plinth up)",
                non_retryable=True,
            )
        while True:
            if not await asyncio.to_thread(self._still_canary, inp):
                return None
            window = plane.stats(inp.deployment_id).window(inp.window_s)
            reason = _crossed(inp, window.requests, window.error_rate, window.p95_ms)
            if reason is not None:
                return reason
            activity.heartbeat(f"{window.requests} requests in the window")
            await asyncio.sleep(WATCH_POLL_S)

    def _still_canary(self, inp: CanaryInput) -> bool:
        with self._sessions() as session:
            dep = session.get(orm.Deployment, inp.deployment_id)
            if dep is None:
                return False
            env = services.get_environment(session, model_id=dep.model_id, name=inp.environment)
            return env is not None and env.canary_deployment_id == dep.id

    @activity.defn(name="roll_back_canary")
    async def roll_back_canary(self, inp: CanaryInput, reason: str) -> bool:
        def run() -> bool:
            with self._sessions.begin() as session:
                dep = session.get(orm.Deployment, inp.deployment_id)
                if dep is None:
                    return False
                ended = services.end_canary(
                    session,
                    model_name=dep.model.name,
                    environment=inp.environment,
                    reason=reason,
                    deployment_id=dep.id,
                )
                return ended is not None

        rolled_back = await asyncio.to_thread(run)
        self._wake()
        return rolled_back

    def all(self) -> list[Callable[..., object]]:
        return [
            self.shift_traffic,
            self.wait_stopped,
            self.set_canary,
            self.watch_canary,
            self.roll_back_canary,
        ]


def _bounds(inp: CanaryInput) -> services.CanaryBounds:
    return services.CanaryBounds(
        max_error_rate=inp.max_error_rate, max_p95_ms=inp.max_p95_ms, window_s=inp.window_s
    )


def _crossed(
    inp: CanaryInput, requests: int, error_rate: float, p95_ms: float | None
) -> str | None:
    """Why the canary must go, or None. Pure, so that unit tests pin the rule."""
    if requests < MIN_REQUESTS:
        return None
    window = f"over the last {inp.window_s:g} s ({requests} requests)"
    if inp.max_error_rate is not None and error_rate > inp.max_error_rate:
        return f"error rate {error_rate:.1%} above {inp.max_error_rate:.1%} {window}"
    if inp.max_p95_ms is not None and p95_ms is not None and p95_ms > inp.max_p95_ms:
        return f"p95 latency {p95_ms:.0f} ms above {inp.max_p95_ms:g} ms {window}"
    return None
