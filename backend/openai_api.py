"""The OpenAI-compatible API: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
`/v1/models`, so that the official `openai` client works with `base_url=<plinth>/v1` and a Plinth
API key.

Routing: the body's `model` is a Plinth model name; the request goes through the same data plane
as predict (concurrency slots, queue, cold start). Authorization reads that field too
(`Access.INVOKE_BODY`, see `backend.auth.http`), so an `invoke:NAME` key calls NAME only.
`GET /v1/models` lists the models the key may invoke (every model for `invoke`, `read`, `deploy`,
`admin`; NAME only for `invoke:NAME`).

Mapping:
- chat completions send `messages` to the replica, which renders them with the model's own chat
  template (`tokenizer.apply_chat_template`; a model without one answers 400). Completions send
  `prompt` (one string). Both always run as a replica stream (`/predict_stream`), which reports
  the finish reason and token usage; without `stream: true` the pieces are joined into one answer.
- `max_tokens` / `max_completion_tokens` -> `max_new_tokens` (the engine's default, 20, when
  absent); `temperature` 0 or absent -> greedy decoding, above 0 -> sampling with it; `top_p`
  applies when sampling; `stop` (up to 4 strings) ends the generation in the engine, and the
  stop string is cut from the answer (`finish_reason` "stop"). `n` must be 1; other OpenAI
  fields (user, seed, logit_bias, ...) are accepted and ignored.
- `stream: true` answers OpenAI's server-sent events: `data: {chunk}` per piece, a last chunk with
  `finish_reason`, a usage chunk (empty `choices`) when `stream_options.include_usage`, then
  `data: [DONE]`. A client that disconnects stops the generation and frees the slot.
- embeddings run predict with `return_token_counts` (usage.prompt_tokens); `encoding_format`
  "float" or "base64" (little-endian float32, what the `openai` client asks for by default);
  `dimensions` is refused unless it equals the model's size.

Request parsing and the error type live in `backend.openai_schema`. Errors use OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`, which is also
Plinth's (`type`, `message`) plus `param` and `code`: 400 `invalid_request_error` for bad bodies
and for models that cannot do the operation, 404 `model_not_found`, and the data plane's own
status otherwise (429 with Retry-After, 503, 504, 502).
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask

from backend import services
from backend.auth.scopes import Access, Principal
from backend.db.session import session_scope
from backend.interfaces import PredictPlane, StreamingPlane
from backend.openai_schema import (
    OpenAIError,
    OpenAIErrorBody,
    chat_messages,
    embedding_inputs,
    generation_parameters,
    parse_body,
    prompt_text,
)
from serving import sse
from serving.errors import InvalidInput, ModelNotRoutable, ServingError
from serving.router import ReplicaStream

_REQUEST_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody, "description": description}
    for status, description in {
        400: "the body is invalid, or the model cannot do this operation (`param` names it)",
        404: "no model of that name (`code` model_not_found)",
        429: "the model's queue is full (see Retry-After)",
        501: "this server cannot generate",
        502: "the replica failed on this request",
        503: "the model exists but serves nothing yet",
        504: "no answer within the deadline",
    }.items()
}
_JSON_OK: dict[int | str, dict[str, Any]] = {
    200: {"description": "OpenAI's answer", "content": {"application/json": {"schema": {}}}}
}
_STREAM_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "OpenAI's answer; server-sent events when the body has `stream: true`",
        "content": {
            "application/json": {"schema": {}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }
}


def _from_serving(exc: ServingError, *, operation: str) -> OpenAIError:
    """A data-plane error in OpenAI's shape; a replica's 422 becomes a 400 naming the param."""
    if isinstance(exc, InvalidInput):
        field = exc.field
        if field in ("stream", "parameters.return_token_counts"):
            return OpenAIError(
                400, f"this model cannot serve {operation}: {exc.message}", param="model"
            )
        base = field.split("[")[0].removeprefix("parameters.")
        prompt = {"embeddings": "input", "completions": "prompt"}.get(operation, "messages")
        param = {"inputs": prompt, "max_new_tokens": "max_tokens"}.get(base, base)
        return OpenAIError(400, exc.message, param=param)
    kind = "rate_limit_error" if exc.status == 429 else exc.type
    return OpenAIError(exc.status, exc.message, error_type=kind, headers=exc.headers or None)


class _StopTrimmer:
    """Removes the stop sequence that ended a generation from the text sent to the client.

    The engine stops right after generating a stop string, which it leaves in the text. Pieces
    pass through with the last `longest stop - 1` characters held back, so a stop string that
    arrives split over several pieces is never sent in part."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.buffer = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        if not self.stops:
            return piece
        self.buffer += piece
        found = [i for i in (self.buffer.find(s) for s in self.stops) if i >= 0]
        if found:
            self.stopped = True
            out, self.buffer = self.buffer[: min(found)], ""
            return out
        cut = len(self.buffer) - self.hold
        if cut <= 0:
            return ""
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return out

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


# -- answers ---------------------------------------------------------------------------------


def _float32_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _chunk_event(data: dict[str, Any]) -> bytes:
    return sse.event(data)


_DONE = b"data: [DONE]\n\n"


class _Completion:
    """Builds chat or text completion objects and chunks for one request."""

    def __init__(self, *, chat: bool, model: str) -> None:
        self.chat = chat
        self.model = model
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    def _envelope(self, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def chunk(self, text: str | None, finish_reason: str | None = None) -> dict[str, Any]:
        if self.chat:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return self._envelope("chat.completion.chunk", [choice])
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        return self._envelope("text_completion", [choice])

    def first_chunk(self) -> dict[str, Any]:
        chunk = self.chunk("")
        if self.chat:
            chunk["choices"][0]["delta"] = {"role": "assistant", "content": ""}
        return chunk

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._envelope(obj, []), "usage": usage}

    def whole(self, text: str, finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
        if self.chat:
            message = {"role": "assistant", "content": text}
            choice: dict[str, Any] = {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            return {**self._envelope("chat.completion", [choice]), "usage": usage}
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        return {**self._envelope("text_completion", [choice]), "usage": usage}


async def _collect(stream: ReplicaStream, trimmer: _StopTrimmer) -> tuple[str, str, dict[str, Any]]:
    """Join a replica stream: (text, finish_reason, usage); an error event raises OpenAIError."""
    pieces: list[str] = []
    try:
        async for event in sse.parse_events(stream.chunks()):
            if "text" in event:
                pieces.append(trimmer.feed(str(event["text"])))
            elif event.get("done"):
                pieces.append(trimmer.flush())
                reason = "stop" if trimmer.stopped else str(event["finish_reason"])
                return "".join(pieces), reason, dict(event["usage"])
            elif "error" in event:
                message = str(event["error"].get("message", "generation failed"))
                raise OpenAIError(502, message, error_type="replica_error")
    finally:
        await stream.aclose()
    raise OpenAIError(
        502, "the replica ended the stream without finishing", error_type="replica_error"
    )


def _stream_response(
    stream: ReplicaStream,
    completion: _Completion,
    trimmer: _StopTrimmer,
    *,
    include_usage: bool,
) -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        try:
            yield _chunk_event(completion.first_chunk())
            async for event in sse.parse_events(stream.chunks()):
                if "text" in event:
                    text = trimmer.feed(str(event["text"]))
                    if text:
                        yield _chunk_event(completion.chunk(text))
                elif event.get("done"):
                    rest = trimmer.flush()
                    if rest:
                        yield _chunk_event(completion.chunk(rest))
                    reason = "stop" if trimmer.stopped else str(event["finish_reason"])
                    yield _chunk_event(completion.chunk(None, reason))
                    if include_usage:
                        yield _chunk_event(completion.usage_chunk(dict(event["usage"])))
                    break
                elif "error" in event:
                    error = OpenAIError(
                        502,
                        str(event["error"].get("message", "generation failed")),
                        error_type="replica_error",
                    )
                    yield _chunk_event(error.body())
                    return
            yield _DONE
        finally:
            await stream.aclose()

    return StreamingResponse(
        events(),
        media_type=sse.MEDIA_TYPE,
        headers=sse.STREAM_HEADERS,
        background=BackgroundTask(stream.aclose),  # runs even when the client left early
    )


# -- the router --------------------------------------------------------------------------------


def create_openai_router(
    *, plane: PredictPlane, sessions: sessionmaker[Session], predict_timeout_s: float
) -> APIRouter:
    router = APIRouter(tags=["openai"])

    async def not_found_or_unavailable(name: str) -> OpenAIError:
        exists = await asyncio.to_thread(_model_exists, sessions, name)
        if not exists:
            return OpenAIError(
                404, f"model '{name}' not found", param="model", code="model_not_found"
            )
        return OpenAIError(
            503,
            f"model '{name}' has no active deployment serving it yet",
            error_type="unavailable",
            headers={"Retry-After": "5"},
        )

    async def generate(body: dict[str, Any], payload: dict[str, Any], *, chat: bool) -> Response:
        name = str(body["model"])
        if not isinstance(plane, StreamingPlane):
            raise OpenAIError(501, "this server cannot generate", error_type="not_implemented")
        operation = "chat completions" if chat else "completions"
        try:
            stream = await plane.open_stream(
                name, json.dumps(payload).encode(), timeout_s=predict_timeout_s
            )
        except ModelNotRoutable:
            raise await not_found_or_unavailable(name) from None
        except ServingError as exc:
            raise _from_serving(exc, operation=operation) from None
        completion = _Completion(chat=chat, model=name)
        trimmer = _StopTrimmer(list(payload["parameters"].get("stop", [])))
        if body.get("stream") is True:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            return _stream_response(stream, completion, trimmer, include_usage=include_usage)
        text, finish_reason, usage = await _collect(stream, trimmer)
        return JSONResponse(completion.whole(text, finish_reason, usage))

    @router.post(
        "/v1/chat/completions",
        openapi_extra={"requestBody": _REQUEST_BODY},
        response_class=Response,
        responses={**_STREAM_OK, **_ERRORS},
    )
    async def chat_completions(request: Request) -> Response:
        try:
            body = await parse_body(request)
            payload = {"messages": chat_messages(body), "parameters": generation_parameters(body)}
            return await generate(body, payload, chat=True)
        except OpenAIError as error:
            return error.response()

    @router.post(
        "/v1/completions",
        openapi_extra={"requestBody": _REQUEST_BODY},
        response_class=Response,
        responses={**_STREAM_OK, **_ERRORS},
    )
    async def completions(request: Request) -> Response:
        try:
            body = await parse_body(request)
            payload = {"inputs": prompt_text(body), "parameters": generation_parameters(body)}
            return await generate(body, payload, chat=False)
        except OpenAIError as error:
            return error.response()

    @router.post(
        "/v1/embeddings",
        openapi_extra={"requestBody": _REQUEST_BODY},
        response_class=Response,
        responses={**_JSON_OK, **_ERRORS},
    )
    async def embeddings(request: Request) -> Response:
        try:
            body = await parse_body(request)
            return await embed(body)
        except OpenAIError as error:
            return error.response()

    async def embed(body: dict[str, Any]) -> Response:
        name = str(body["model"])
        texts = embedding_inputs(body)
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise OpenAIError(
                400, "'encoding_format' must be 'float' or 'base64'", param="encoding_format"
            )
        payload = {"inputs": texts, "parameters": {"return_token_counts": True}}
        try:
            answer = await plane.predict(
                name, json.dumps(payload).encode(), timeout_s=predict_timeout_s
            )
        except ModelNotRoutable:
            raise await not_found_or_unavailable(name) from None
        except ServingError as exc:
            raise _from_serving(exc, operation="embeddings") from None
        result = json.loads(answer)
        vectors = result.get("embeddings") if isinstance(result, dict) else None
        if not isinstance(vectors, list):
            raise OpenAIError(
                502, f"model '{name}' answered no embeddings", error_type="replica_error"
            )
        dimensions = body.get("dimensions")
        if dimensions is not None and vectors and dimensions != len(vectors[0]):
            raise OpenAIError(
                400,
                f"model '{name}' makes {len(vectors[0])}-dimensional embeddings; "
                "'dimensions' cannot change that",
                param="dimensions",
            )
        encode: Callable[[list[float]], Any] = _float32_base64 if encoding == "base64" else list
        tokens = sum(int(n) for n in result.get("token_counts", []))
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": encode(vector)}
                    for i, vector in enumerate(vectors)
                ],
                "model": name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    @router.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        principal: Principal = request.state.principal
        models = await asyncio.to_thread(_models, sessions)
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": created, "owned_by": "plinth"}
                for name, created in models
                if principal.allows(Access.INVOKE, name)
            ],
        }

    return router


def _model_exists(sessions: sessionmaker[Session], name: str) -> bool:
    with session_scope(sessions) as session:
        return services.get_model(session=session, name=name) is not None


def _models(sessions: sessionmaker[Session]) -> list[tuple[str, int]]:
    with session_scope(sessions) as session:
        return [
            (model.name, int(model.created_at.timestamp()))
            for model in services.list_models(session=session)
        ]
