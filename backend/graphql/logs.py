"""Replica logs over GraphQL: `Query.replicaLogs` and `Subscription.replicaLogs`.

`replicaLogs(model, tail = 200)` returns the last `tail` lines (0..10000) of each of the model's
replicas, as `backend.logs.tail` orders them; `at` is null since the lines carry no time.
The subscription follows new lines of every replica of the model (`backend.logs.LogFollower`),
polling the files in a worker thread every `LOG_POLL_INTERVAL_S`, with `at` the time each line
was read; it runs until the client stops it. A model that does not exist is a GraphQL error
"model not found" (a model without replicas yet simply has no lines). Both need
the `read` scope (`backend.auth.registry`). Replica environments (the deployment's secrets)
are never written to these files by the platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime
from pathlib import Path

import strawberry
from graphql import GraphQLError

from backend import logs, services
from backend.graphql.context import Context

LOG_POLL_INTERVAL_S = 0.5

Info = strawberry.Info[Context]


@strawberry.type
class LogLine:
    replica_id: str
    at: datetime | None
    line: str


def _line(entry: logs.LogEntry) -> LogLine:
    return LogLine(replica_id=entry.replica_id, at=entry.at, line=entry.line)


async def _root(info: Info, model: str) -> Path:
    root = info.context.replica_log_root
    if root is None:
        raise GraphQLError("replica logs are not available on this server")
    found = await info.context.db(lambda session: services.get_model(session=session, name=model))
    if found is None:
        raise GraphQLError("model not found")
    return root


@strawberry.type
class LogsQuery:
    @strawberry.field
    async def replica_logs(self, info: Info, model: str, tail: int = 200) -> list[LogLine]:
        if not 0 <= tail <= logs.MAX_TAIL:
            raise GraphQLError(f"tail must be between 0 and {logs.MAX_TAIL}")
        entries = await asyncio.to_thread(logs.tail, await _root(info, model), model, tail)
        return [_line(entry) for entry in entries]


@strawberry.type
class LogsSubscription:
    @strawberry.subscription
    async def replica_logs(self, info: Info, model: str) -> AsyncGenerator[LogLine, None]:
        follower = logs.LogFollower(await _root(info, model), model)
        while True:
            for entry in await asyncio.to_thread(follower.poll):
                yield _line(entry)
            await asyncio.sleep(LOG_POLL_INTERVAL_S)
