"""The typed per-request GraphQL context: database access, loaders, and the platform's hooks.

`Context.db(fn)` runs `fn(session)` in a worker thread inside its own transaction
(`session_scope`), so no Session is shared between threads or held across awaits. The
DataLoaders are built per context, i.e. per HTTP request or per WebSocket connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from strawberry.fastapi import BaseContext

from backend.db.session import session_scope
from backend.graphql.loaders import Loaders
from backend.interfaces import DeployStarter, Wake

T = TypeVar("T")


class Context(BaseContext):
    def __init__(
        self, *, sessions: sessionmaker[Session], deploy_starter: DeployStarter, wake: Wake
    ) -> None:
        super().__init__()
        self.sessions = sessions
        self.deploy_starter = deploy_starter
        self.wake = wake
        self.loaders = Loaders(self.db)

    async def db(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in a worker thread, committed if it returns, rolled back if it raises."""
        return await asyncio.to_thread(self._in_transaction, fn)

    def _in_transaction(self, fn: Callable[[Session], T]) -> T:
        with session_scope(self.sessions) as session:
            return fn(session)
