"""Token streaming for generation engines: a transformers streamer that emits decoded text.

`TokenStreamer` follows transformers' streamer protocol (`put(token_ids)`, `end()`): `generate`
hands it the prompt first (skipped), then each new token. It decodes the tokens generated so far
and emits only the new text, holding back a piece that ends in an incomplete UTF-8 sequence
(byte-level tokenizers split characters across tokens). When its `stop` event is set (the client
went away) the next `put` raises `StreamCancelled`, which ends `generate` within one token.

`StreamJob` is a validated streaming request (see `TextGenerationEngine.prepare_stream`):
`run(emit, stop)` generates in the calling thread and returns the finish reason and token usage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class StreamCancelled(Exception):
    """The stream's consumer asked generation to stop."""


class TokenStreamer:
    def __init__(
        self, decode: Callable[[list[int]], str], emit: Callable[[str], None], stop: threading.Event
    ) -> None:
        self._decode = decode
        self._emit = emit
        self._stop = stop
        self._prompt_seen = False
        self._ids: list[int] = []
        self._sent = ""
        self.completion_tokens = 0

    def put(self, value: Any) -> None:
        if self._stop.is_set():
            raise StreamCancelled()
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        ids = [int(token) for token in value.reshape(-1).tolist()]
        self._ids.extend(ids)
        self.completion_tokens += len(ids)
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def _flush(self, *, final: bool) -> None:
        text = self._decode(self._ids)
        if not final and text.endswith("\ufffd"):
            return  # an incomplete character: wait for its next bytes
        if text.startswith(self._sent) and len(text) > len(self._sent):
            self._emit(text[len(self._sent) :])
            self._sent = text


class Generator(Protocol):
    def generate_stream(
        self, encoded: dict[str, torch.Tensor], options: dict[str, Any], streamer: TokenStreamer
    ) -> None: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass
class StreamJob:
    engine: Generator
    encoded: dict[str, torch.Tensor]
    options: dict[str, Any]
    max_new_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return int(self.encoded["attention_mask"].sum().item())

    def run(self, emit: Callable[[str], None], stop: threading.Event) -> dict[str, Any]:
        """Generate, emitting text pieces; the finish reason and usage. Raises StreamCancelled."""
        streamer = TokenStreamer(self.engine.decode, emit, stop)
        self.engine.generate_stream(self.encoded, self.options, streamer)
        completion = streamer.completion_tokens
        prompt = self.prompt_tokens
        return {
            "finish_reason": "length" if completion >= self.max_new_tokens else "stop",
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
