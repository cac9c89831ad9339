"""Streamed predictions on the Plinth REST route: `POST /v1/models/{name}/predict` as server-sent
events.

A predict request streams when its body has `"stream": true` or its `Accept` header asks for
`text/event-stream`; only text-generation models stream (others answer 422 with `field`
"stream"). The body goes to the replica's `POST /predict_stream` unchanged (`"inputs"` is one
prompt string, `"parameters"` as for predict) and the replica's events come back unchanged
(format: `serving.sse`). Errors before the first event are ordinary JSON errors with their
status, exactly as for predict. The request holds a concurrency slot on its replica for as long
as the stream runs; a client that disconnects closes the stream, which frees the slot and stops
the generation on the replica (`serving.router.ReplicaStream`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.datastructures import Headers

from backend.interfaces import PredictPlane, StreamingPlane
from serving import sse
from serving.errors import ModelNotRoutable, ServingError
from serving.router import ReplicaStream


def wants_stream(headers: Headers, payload: bytes) -> bool:
    """Whether a predict request asks for a stream (cheap unless the body mentions "stream")."""
    if sse.MEDIA_TYPE in headers.get("accept", ""):
        return True
    if b'"stream"' not in payload:
        return False
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("stream") is True


def relay(stream: ReplicaStream) -> StreamingResponse:
    """The replica's events, unchanged; the stream is closed however the response ends."""

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in stream.chunks():
            yield chunk

    return StreamingResponse(
        chunks(),
        media_type=sse.MEDIA_TYPE,
        headers=sse.STREAM_HEADERS,
        background=BackgroundTask(stream.aclose),  # also runs when the client disconnected
    )


async def stream_predict(
    plane: PredictPlane,
    name: str,
    payload: bytes,
    *,
    timeout_s: float,
    not_routable: Callable[[], Awaitable[Response]],
    environment: str = "production",
    key: str | None = None,
) -> Response:
    if not isinstance(plane, StreamingPlane):
        return JSONResponse(
            {"error": {"type": "not_implemented", "message": "this server cannot stream"}},
            status_code=501,
        )
    try:
        stream = await plane.open_stream(
            name, payload, timeout_s=timeout_s, environment=environment, key=key
        )
    except ModelNotRoutable:
        return await not_routable()
    except ServingError as exc:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
    return relay(stream)
