"""Server-sent events as Plinth streams them: one JSON object per event, `data: {...}\\n\\n`.

A generation stream (replica `POST /predict_stream`, gateway `POST /v1/models/{name}/predict`
with `"stream": true`) is a sequence of events:

    data: {"text": "Hel"}                      a decoded piece of the generated text
    data: {"text": "lo"}
    data: {"done": true, "finish_reason": "length" | "stop",
           "usage": {"prompt_tokens": n, "completion_tokens": m, "total_tokens": n + m}}

or, when the generation fails after the stream began, a last `data: {"error": {"type",
"message"}}`. Errors before the first event are ordinary JSON error answers with their status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

MEDIA_TYPE = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(data: Any) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


async def parse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of an event stream, from its raw byte chunks (split anywhere)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            data = b"".join(
                line[5:].lstrip() for line in raw.split(b"\n") if line.startswith(b"data:")
            )
            if data:
                parsed = json.loads(data)
                if isinstance(parsed, dict):
                    yield parsed
