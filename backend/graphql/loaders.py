"""DataLoaders that batch the nested lists of the schema: one query per level per request.

`deployments` (by model id, newest version first), `replicas` and `events` (by deployment id,
events oldest first), `environments` (by (model id, model name), with the deployments they
point at). Caching is off: a WebSocket connection keeps its context for its whole
life, and its later operations must see fresh rows; batching alone removes the N+1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader

from backend.db import models as orm
from backend.graphql import types as t
from backend.services.environments import environments_by_deployment

T = TypeVar("T")


class RunDb(Protocol):
    """Runs `fn(session)` off the event loop (`Context.db`)."""

    def __call__(self, fn: Callable[[Session], T], /) -> Awaitable[T]: ...


def _group(keys: Sequence[str], pairs: Sequence[tuple[str, T]]) -> list[list[T]]:
    grouped: dict[str, list[T]] = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return [grouped.get(key, []) for key in keys]


class Loaders:
    def __init__(self, db: RunDb) -> None:
        self._db = db
        self.deployments: DataLoader[str, list[t.Deployment]] = DataLoader(
            self._load_deployments, cache=False
        )
        self.replicas: DataLoader[str, list[t.Replica]] = DataLoader(
            self._load_replicas, cache=False
        )
        self.events: DataLoader[str, list[t.DeploymentEvent]] = DataLoader(
            self._load_events, cache=False
        )
        self.environments: DataLoader[tuple[str, str], list[t.Environment]] = DataLoader(
            self._load_environments, cache=False
        )

    async def _load_deployments(self, model_ids: list[str]) -> list[list[t.Deployment]]:
        def query(session: Session) -> list[tuple[str, t.Deployment]]:
            rows = session.execute(
                select(orm.Deployment, orm.Model.name)
                .join(orm.Model, orm.Deployment.model_id == orm.Model.id)
                .where(orm.Deployment.model_id.in_(set(model_ids)))
                .order_by(orm.Deployment.version.desc())
            ).all()
            serving = environments_by_deployment(
                session, deployment_ids=[row.id for row, _ in rows]
            )
            return [
                (row.model_id, t.deployment_from_row(row, name, environment=serving.get(row.id)))
                for row, name in rows
            ]

        pairs = await self._db(query)
        return _group(model_ids, pairs)

    async def _load_replicas(self, deployment_ids: list[str]) -> list[list[t.Replica]]:
        def query(session: Session) -> list[tuple[str, t.Replica]]:
            rows = session.scalars(
                select(orm.Replica)
                .where(orm.Replica.deployment_id.in_(set(deployment_ids)))
                .order_by(orm.Replica.started_at, orm.Replica.id)
            ).all()
            return [(row.deployment_id, t.replica_from_row(row)) for row in rows]

        pairs = await self._db(query)
        return _group(deployment_ids, pairs)

    async def _load_events(self, deployment_ids: list[str]) -> list[list[t.DeploymentEvent]]:
        def query(session: Session) -> list[tuple[str, t.DeploymentEvent]]:
            rows = session.scalars(
                select(orm.DeploymentEvent)
                .where(orm.DeploymentEvent.deployment_id.in_(set(deployment_ids)))
                .order_by(orm.DeploymentEvent.id)
            ).all()
            return [(row.deployment_id, t.event_from_row(row)) for row in rows]

        pairs = await self._db(query)
        return _group(deployment_ids, pairs)

    async def _load_environments(self, keys: list[tuple[str, str]]) -> list[list[t.Environment]]:
        names = dict(keys)

        def query(session: Session) -> list[tuple[str, t.Environment]]:
            rows = session.scalars(
                select(orm.Environment)
                .where(orm.Environment.model_id.in_(set(names)))
                .order_by(orm.Environment.created_at, orm.Environment.name)
            ).all()
            ids = {
                dep_id
                for row in rows
                for dep_id in (
                    row.deployment_id,
                    row.previous_deployment_id,
                    row.canary_deployment_id,
                )
                if dep_id is not None
            }
            deployments = {
                d.id: d
                for d in session.scalars(select(orm.Deployment).where(orm.Deployment.id.in_(ids)))
            }
            return [
                (row.model_id, t.environment_from_row(row, names[row.model_id], deployments))
                for row in rows
            ]

        pairs = await self._db(query)
        return _group([model_id for model_id, _ in keys], pairs)
