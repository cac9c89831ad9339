"""`SqlControlStore`: the controller's `serving.spec.ControlStore` over the control-plane database.

Each method runs one short transaction in a worker thread (`asyncio.to_thread`), so the
controller's event loop never blocks on the database. Desired state follows the status -> phase
mapping of `backend.services.replicas.desired_specs`, with each spec's `env` filled with the
decrypted secrets its deployment names when a `SecretBox` is given; observations replace a
deployment's replica rows (ignored when the deployment was deleted meanwhile); `reset_observed`
forgets all replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.db.session import session_scope
from backend.errors import NotFound
from backend.secrets import SecretBox
from serving.spec import DeploymentSpec, ReplicaObservation


class SqlControlStore:
    def __init__(
        self, sessions: sessionmaker[Session], secret_box: SecretBox | None = None
    ) -> None:
        self._sessions = sessions
        self._box = secret_box

    async def load_desired(self) -> list[DeploymentSpec]:
        return await asyncio.to_thread(self._load_desired)

    async def save_replicas(
        self, deployment_id: str, replicas: Sequence[ReplicaObservation]
    ) -> None:
        await asyncio.to_thread(self._save_replicas, deployment_id, list(replicas))

    async def record_event(self, deployment_id: str, kind: str, message: str) -> None:
        await asyncio.to_thread(self._record_event, deployment_id, kind, message)

    async def reset_observed(self) -> None:
        await asyncio.to_thread(self._reset_observed)

    def _load_desired(self) -> list[DeploymentSpec]:
        with session_scope(self._sessions) as session:
            return services.desired_specs(session=session, box=self._box)

    def _save_replicas(self, deployment_id: str, replicas: list[ReplicaObservation]) -> None:
        with session_scope(self._sessions) as session:
            services.replace_replicas(
                session=session, deployment_id=deployment_id, replicas=replicas
            )

    def _record_event(self, deployment_id: str, kind: str, message: str) -> None:
        try:
            with session_scope(self._sessions) as session:
                services.record_event(
                    session=session, deployment_id=deployment_id, kind=kind, message=message
                )
        except NotFound:
            pass  # the model was deleted while its replicas were being stopped

    def _reset_observed(self) -> None:
        with session_scope(self._sessions) as session:
            services.clear_replicas(session=session)
