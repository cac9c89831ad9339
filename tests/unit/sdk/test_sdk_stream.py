"""`client.models.stream`: server-sent events in, text pieces out (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from plinth import APIError, AsyncClient, Client, ValidationError

EVENTS = (
    b'data: {"text":"Hel"}\n\n'
    b'data: {"text":"lo \\u00e9"}\n\n'
    b'data: {"done":true,"finish_reason":"length",'
    b'"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}\n\n'
)


def _handler(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert request.url.path == "/v1/models/tiny/predict"
    assert body == {"inputs": "hi", "stream": True, "parameters": {"max_new_tokens": 3}}
    assert request.headers["accept"] == "text/event-stream"
    # Split the events across chunks anywhere, as a network would.
    chunks = [EVENTS[i : i + 7] for i in range(0, len(EVENTS), 7)]
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        stream=httpx.ByteStream(b"".join(chunks)),
    )


def test_stream_yields_pieces_then_records_usage() -> None:
    with Client("http://plinth.test", api_key="k", transport=httpx.MockTransport(_handler)) as c:
        stream = c.models.stream("tiny", "hi", {"max_new_tokens": 3})
        assert list(stream) == ["Hel", "lo é"]
        assert stream.finish_reason == "length"
        assert stream.usage == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


async def test_async_stream_yields_the_same() -> None:
    transport = httpx.MockTransport(_handler)
    async with AsyncClient("http://plinth.test", api_key="k", transport=transport) as c:
        stream = c.models.stream("tiny", "hi", {"max_new_tokens": 3})
        assert [piece async for piece in stream] == ["Hel", "lo é"]
        assert stream.usage is not None and stream.usage["total_tokens"] == 5


def test_an_error_before_the_stream_raises_the_typed_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        error = {"type": "invalid_input", "message": "does not stream", "field": "stream"}
        return httpx.Response(422, json={"error": error})

    with Client("http://plinth.test", api_key="k", transport=httpx.MockTransport(refuse)) as c:
        with pytest.raises(ValidationError) as caught:
            list(c.models.stream("tiny", "hi"))
        assert caught.value.field == "stream"


def test_an_error_event_mid_stream_raises_api_error() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        events = (
            b'data: {"text":"a"}\n\ndata: {"error":{"type":"engine_error","message":"boom"}}\n\n'
        )
        return httpx.Response(200, stream=httpx.ByteStream(events))

    with Client("http://plinth.test", api_key="k", transport=httpx.MockTransport(fail)) as c:
        pieces: list[str] = []
        with pytest.raises(APIError, match="boom"):
            for piece in c.models.stream("tiny", "hi"):
                pieces.append(piece)
        assert pieces == ["a"]
