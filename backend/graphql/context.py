"""The typed per-request GraphQL context: database access, loaders, and the platform's hooks.

`Context.db(fn)` runs `fn(session)` in a worker thread inside its own transaction
(`session_scope`), so no Session is shared between threads or held across awaits. The
DataLoaders are built per context, i.e. per HTTP request or per WebSocket connection.
`Context.principal` is who is calling: the principal the security middleware authenticated
(`request.state.principal`), the one a WebSocket authenticated in its `connection_init` payload
(`set_principal`), admin when auth is disabled, else None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from strawberry.fastapi import BaseContext

from backend.auth.cache import KeyCache
from backend.auth.http import PRINCIPAL
from backend.auth.scopes import Principal
from backend.db.session import session_scope
from backend.graphql.loaders import Loaders
from backend.interfaces import DeployStarter, Wake
from backend.secrets import SecretBox

if TYPE_CHECKING:
    from backend.metrics_store import MetricsSampler

T = TypeVar("T")


class Context(BaseContext):
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        deploy_starter: DeployStarter,
        wake: Wake,
        keys: KeyCache,
        secret_box: SecretBox,
        auth_enabled: bool = True,
        replica_log_root: Path | None = None,
        metrics_sampler: MetricsSampler | None = None,
    ) -> None:
        super().__init__()
        self.sessions = sessions
        self.deploy_starter = deploy_starter
        self.wake = wake
        self.keys = keys
        self.secret_box = secret_box
        self.auth_enabled = auth_enabled
        self.replica_log_root = replica_log_root  # see backend.logs; None: no logs to read
        self.metrics_sampler = metrics_sampler  # latest replica CPU/memory; None: not sampled
        self.loaders = Loaders(self.db)
        self._principal: Principal | None = None

    @property
    def principal(self) -> Principal | None:
        if self._principal is not None:
            return self._principal
        if not self.auth_enabled:
            return Principal.auth_disabled()
        if self.request is None:
            return None
        found = self.request.scope.get("state", {}).get(PRINCIPAL)
        return found if isinstance(found, Principal) else None

    def set_principal(self, principal: Principal) -> None:
        self._principal = principal

    async def db(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in a worker thread, committed if it returns, rolled back if it raises."""
        return await asyncio.to_thread(self._in_transaction, fn)

    def _in_transaction(self, fn: Callable[[Session], T]) -> T:
        with session_scope(self.sessions) as session:
            return fn(session)
