"""`create_app`: the FastAPI application of the control plane and gateway.

Mounts `/graphql` (strawberry; subscriptions over graphql-transport-ws) and the REST routes, and
installs the JSON error handlers. Everything it uses is passed in: no module-level app, settings
or engine, so tests and `plinth up` build one each with their own database and data plane.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from backend.graphql.context import Context
from backend.graphql.schema import build_schema
from backend.interfaces import DeployStarter, PredictPlane, Wake
from backend.rest import create_rest_router, install_error_handlers
from backend.settings import Settings


def create_app(
    *,
    settings: Settings,
    sessionmaker: sessionmaker[Session],
    plane: PredictPlane,
    deploy_starter: DeployStarter,
    wake: Wake,
) -> FastAPI:
    app = FastAPI(title="Plinth", version="0.1.0")
    sessions = sessionmaker

    def get_context() -> Context:
        return Context(sessions=sessions, deploy_starter=deploy_starter, wake=wake)

    graphql: GraphQLRouter[Context, None] = GraphQLRouter(
        build_schema(),
        context_getter=get_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    app.include_router(graphql, prefix="/graphql")
    app.include_router(
        create_rest_router(
            plane=plane, sessions=sessions, predict_timeout_s=settings.predict_timeout_s
        )
    )
    install_error_handlers(app)
    return app
