"""The data plane's entry point for the gateway: predict by model name.

Contract: `DataPlane.predict(model_name, payload, timeout_s=...)` returns the replica's JSON bytes
unchanged or raises a `serving.errors.ServingError`. When the request waited for a replica to start
(none was ready), the bytes are a `ColdStartAnswer` whose `cold_start_s` says how long; the REST
layer returns it in the `X-Plinth-Cold-Start-Ms` header. It reads only the in-memory routing table
(model name -> router of its ACTIVE deployment) that the controller keeps current; no database,
no Temporal. `routable(name)` says whether the table has the model (the REST layer looks the model
up in the database only on a miss, to choose between 404 and 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from serving.errors import ModelNotRoutable, RequestTimeout
from serving.router import ColdStartAnswer, ReplicaStream, Router, RouterClosed

__all__ = ["ColdStartAnswer", "DataPlane", "ReplicaStream"]


class DataPlane:
    def __init__(self, routes: Mapping[str, Router]) -> None:
        # A live view: the controller mutates this mapping in place.
        self._routes = routes

    def routable(self, model_name: str) -> bool:
        return model_name in self._routes

    def router(self, model_name: str) -> Router | None:
        return self._routes.get(model_name)

    async def predict(self, model_name: str, payload: bytes, *, timeout_s: float = 60.0) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            router = self._routes.get(model_name)
            if router is None:
                raise ModelNotRoutable(model_name)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RequestTimeout(model_name, timeout_s)
            try:
                return await router.forward(payload, timeout_s=remaining)
            except RequestTimeout:
                raise RequestTimeout(model_name, timeout_s) from None
            except RouterClosed:
                # Its deployment was retired while the request waited (a new version took over):
                # route again to whatever the table points at now.
                if self._routes.get(model_name) is router:
                    raise ModelNotRoutable(model_name) from None
                continue

    async def open_stream(
        self, model_name: str, payload: bytes, *, timeout_s: float = 60.0
    ) -> ReplicaStream:
        """A streamed generation on the model's ACTIVE deployment (`Router.open_stream`); the
        caller must `aclose()` it. Re-routes like `predict` when the deployment is retired while
        the request waits for a slot."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            router = self._routes.get(model_name)
            if router is None:
                raise ModelNotRoutable(model_name)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RequestTimeout(model_name, timeout_s)
            try:
                return await router.open_stream(payload, timeout_s=remaining)
            except RequestTimeout:
                raise RequestTimeout(model_name, timeout_s) from None
            except RouterClosed:
                if self._routes.get(model_name) is router:
                    raise ModelNotRoutable(model_name) from None
                continue
