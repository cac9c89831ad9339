"""`create_app`: the FastAPI application of the control plane and gateway.

Mounts `/graphql` (strawberry; subscriptions over graphql-transport-ws) and the REST routes,
installs the JSON error handlers, and puts `SecurityMiddleware` (body size limit, API key
authentication, per-route scopes from `backend.auth.registry`) in front of everything.
Everything it uses is passed in, or built from `settings` (the key cache over `sessionmaker`,
the secret box from `PLINTH_SECRET_KEY` / `$PLINTH_HOME/secret.key`): no module-level app,
settings or engine. It refuses to build an app with a route that declares no access.
Its lifespan loads the key cache before the first request and keeps it fresh
(`KeyCache.run`); with `PLINTH_AUTH=disabled` it logs a loud warning at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import cast

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from backend.async_requests.batch_routes import create_batch_router
from backend.async_requests.routes import AsyncHooks, create_async_router
from backend.auth.cache import KeyCache, Unauthenticated
from backend.auth.http import SecurityMiddleware
from backend.auth.openapi import secure_openapi
from backend.auth.routes import route_table, undeclared
from backend.console import create_console_router
from backend.fastpath import PredictFastPath
from backend.graphql.context import Context
from backend.graphql.schema import build_schema
from backend.interfaces import BatchStarter, DeployStarter, PredictPlane, Wake
from backend.logs import replica_log_root
from backend.metrics_route import create_metrics_router
from backend.metrics_store import MetricsSampler
from backend.openai_api import create_openai_router
from backend.packages import create_packages_router
from backend.rest import create_rest_router, install_error_handlers
from backend.secrets import SecretBox, load_secret_box
from backend.services.packages import PackageStore
from backend.settings import Settings
from serving.metrics import ServingMetrics

log = logging.getLogger("plinth.app")

AUTH_DISABLED_WARNING = (
    "!!! PLINTH_AUTH=disabled: every request acts as admin, with no API key. "
    "Use this for local experiments only, never on a shared machine or network. !!!"
)


_ACK = cast(UnsetType, UNSET)  # a plain connection_ack


class _GraphQL(GraphQLRouter[Context, None]):
    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        # Browsers cannot set headers on a WebSocket: accept the key in connection_init.
        if context.principal is not None:
            return _ACK
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        raw = params.get("Authorization") or params.get("authorization") or ""
        token = str(raw).removeprefix("Bearer ").removeprefix("bearer ").strip() or None
        try:
            context.set_principal(context.keys.authenticate(token))
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.message}) from exc
        return _ACK


def create_app(
    *,
    settings: Settings,
    sessionmaker: sessionmaker[Session],
    plane: PredictPlane,
    deploy_starter: DeployStarter,
    wake: Wake,
    keys: KeyCache | None = None,
    secret_box: SecretBox | None = None,
    metrics: ServingMetrics | None = None,  # the controller's; an empty registry if none
    metrics_sampler: MetricsSampler | None = None,  # latest replica CPU/memory for GraphQL
    async_hooks: AsyncHooks | None = None,  # the async dispatcher's; no-ops if none
    batch_starter: BatchStarter | None = None,  # starts BatchJob workflows; None: 503
) -> FastAPI:
    sessions = sessionmaker
    metrics = metrics if metrics is not None else ServingMetrics()
    key_cache = keys if keys is not None else KeyCache(sessions, refresh_s=settings.key_refresh_s)
    box = secret_box if secret_box is not None else load_secret_box(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not settings.auth_enabled:
            log.warning(AUTH_DISABLED_WARNING)
        await asyncio.to_thread(key_cache.load)
        refresher = asyncio.create_task(key_cache.run(), name="key-cache")
        try:
            yield
        finally:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)

    # FastAPI's native OpenTelemetry support asks the global OTel providers on every request
    # whether anything is configured (about a tenth of the gateway's time per predict); Plinth
    # reports through Prometheus (/metrics) and configures no OTel provider, so it is off.
    app = FastAPI(
        title="Plinth",
        version="0.1.0",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    def get_context() -> Context:
        return Context(
            sessions=sessions,
            deploy_starter=deploy_starter,
            wake=wake,
            keys=key_cache,
            secret_box=box,
            auth_enabled=settings.auth_enabled,
            replica_log_root=replica_log_root(settings.log_dir),
            metrics_sampler=metrics_sampler,
        )

    graphql = _GraphQL(
        build_schema(
            max_depth=settings.graphql_max_depth,
            max_tokens=settings.graphql_max_tokens,
            max_aliases=settings.graphql_max_aliases,
        ),
        context_getter=get_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    app.include_router(graphql, prefix="/graphql", include_in_schema=False)
    app.include_router(
        create_rest_router(
            plane=plane,
            sessions=sessions,
            predict_timeout_s=settings.predict_timeout_s,
            metrics=metrics,
        )
    )
    app.include_router(
        create_async_router(
            sessions=sessions, settings=settings, box=box, hooks=async_hooks or AsyncHooks()
        )
    )
    app.include_router(
        create_batch_router(sessions=sessions, settings=settings, starter=batch_starter)
    )
    app.include_router(
        create_openai_router(
            plane=plane, sessions=sessions, predict_timeout_s=settings.predict_timeout_s
        )
    )
    app.include_router(create_metrics_router(metrics))
    app.state.plinth_packages = PackageStore(settings.home)  # read by backend.graphql.packages
    app.include_router(create_packages_router(app.state.plinth_packages))
    app.include_router(create_console_router(settings.console_dir))
    install_error_handlers(app)
    routes = route_table(app.routes)
    missing = undeclared(routes)
    if missing:
        raise RuntimeError(
            "routes without a declared access in backend.auth.registry: " + ", ".join(missing)
        )
    app.add_middleware(
        SecurityMiddleware,
        routes=routes,
        keys=key_cache,
        auth_enabled=settings.auth_enabled,
        max_body_bytes=settings.max_body_bytes,
    )
    # Outermost: answers the predict route's common case without the layers above (same code
    # decides the answer; anything else goes on to SecurityMiddleware). See backend.fastpath.
    app.add_middleware(
        PredictFastPath,
        plane=plane,
        sessions=sessions,
        keys=key_cache,
        auth_enabled=settings.auth_enabled,
        max_body_bytes=settings.max_body_bytes,
        predict_timeout_s=settings.predict_timeout_s,
        metrics=metrics,
    )
    secure_openapi(app)
    return app
