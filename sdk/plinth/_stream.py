"""Streamed generation: `client.models.stream(name, inputs, parameters)`.

    for piece in client.models.stream("tiny-gpt2", "Once upon a time", {"max_new_tokens": 64}):
        print(piece, end="", flush=True)

`stream` returns a `TextStream` (an `AsyncTextStream` from `AsyncClient`): iterating it sends
`POST /v1/models/{name}/predict` with `"stream": true` and yields the generated text piece by
piece as the platform's server-sent events arrive. Once the iteration has ended, `finish_reason`
("length" or "stop") and `usage` (`prompt_tokens`, `completion_tokens`, `total_tokens`) are set.
Leaving the loop early (`break`, an exception) closes the connection, which stops the generation
on the platform. Errors before the first piece raise the SDK's typed errors like `predict`; an
error after it raises `APIError` with the platform's message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from plinth._exceptions import APIError
from plinth._operations import _json_or_none, raise_for_error

__all__ = ["AsyncTextStream", "TextStream"]

_HEADERS = {"Accept": "text/event-stream"}


def stream_request(
    name: str, inputs: Any, parameters: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {"inputs": inputs, "stream": True}
    if parameters is not None:
        body["parameters"] = dict(parameters)
    return f"/v1/models/{quote(name, safe='')}/predict", body


def _events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            parsed = json.loads("".join(data))
            data = []
            if isinstance(parsed, dict):
                yield parsed


class _StreamState:
    finish_reason: str | None = None
    usage: dict[str, int] | None = None

    def _handle(self, event: dict[str, Any]) -> str | None:
        """The event's text piece; None for the end (state recorded) or unknown events."""
        if "text" in event:
            return str(event["text"])
        if event.get("done"):
            self.finish_reason = str(event.get("finish_reason"))
            self.usage = {k: int(v) for k, v in dict(event.get("usage") or {}).items()}
            return None
        error = event.get("error")
        if isinstance(error, Mapping):
            raise APIError(
                str(error.get("message", "the stream failed")),
                status=502,
                type=str(error.get("type", "stream_error")),
            )
        return None


class TextStream(_StreamState):
    def __init__(
        self, http: httpx.Client, path: str, body: dict[str, Any], timeout: float | None
    ) -> None:
        self._http = http
        self._path = path
        self._body = body
        self._timeout = timeout

    def __iter__(self) -> Iterator[str]:
        timeout = httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout
        with self._http.stream(
            "POST", self._path, json=self._body, headers=_HEADERS, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_error(response, _json_or_none(response))
            for event in _events(response.iter_lines()):
                piece = self._handle(event)
                if piece is not None:
                    yield piece
                elif self.finish_reason is not None:
                    return

    def text(self) -> str:
        """Consume the whole stream and return the generated text."""
        return "".join(self)


class AsyncTextStream(_StreamState):
    def __init__(
        self, http: httpx.AsyncClient, path: str, body: dict[str, Any], timeout: float | None
    ) -> None:
        self._http = http
        self._path = path
        self._body = body
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[str]:
        timeout = httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout
        async with self._http.stream(
            "POST", self._path, json=self._body, headers=_HEADERS, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for_error(response, _json_or_none(response))
            lines: list[str] = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line:
                    continue
                for event in _events(lines):
                    piece = self._handle(event)
                    if piece is not None:
                        yield piece
                    elif self.finish_reason is not None:
                        return
                lines = []

    async def text(self) -> str:
        return "".join([piece async for piece in self])
