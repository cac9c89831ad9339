"""`GET /metrics`: the platform's Prometheus metrics in the text exposition format.

Contract: `create_metrics_router(metrics)` returns a router with one route that renders
`metrics` (a `serving.metrics.ServingMetrics`, the registry the controller and its routers fill).
Access is `read` (declared in `backend.auth.registry`): Prometheus scrapes with a bearer token of
a read-only key. The handler is `async` on purpose: rendering reads the controller's in-memory
deployment tables, which only the event loop may touch (a thread pool could see them mid-change).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from serving.metrics import CONTENT_TYPE, ServingMetrics


def create_metrics_router(metrics: ServingMetrics) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(content=metrics.render(), media_type=CONTENT_TYPE)

    return router
