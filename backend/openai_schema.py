"""The OpenAI-compatible API's request and error shapes (routes: `backend.openai_api`).

`OpenAIError` is an error answer in OpenAI's shape, `{"error": {"message", "type", "param",
"code"}}`. The parsers turn an OpenAI request body into the Plinth payload sent to a replica, or
raise OpenAIError(400) naming the offending `param`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

MAX_TOKENS_CAP = 512  # serving.engines.transformers_engine.MAX_NEW_TOKENS_CAP


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""

    error: OpenAIErrorDetail


class OpenAIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


async def parse_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError as error:
        raise OpenAIError(400, f"request body is not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise OpenAIError(400, "request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise OpenAIError(400, "'model' is required: the name of a Plinth model", param="model")
    return body


def generation_parameters(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if body.get("n") not in (None, 1):
        raise OpenAIError(400, "only n=1 is supported", param="n")
    stops = stop_sequences(body)
    if stops:
        params["stop"] = stops
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise OpenAIError(400, "'max_tokens' must be an integer", param="max_tokens")
        if not 1 <= max_tokens <= MAX_TOKENS_CAP:
            raise OpenAIError(
                400, f"'max_tokens' must be between 1 and {MAX_TOKENS_CAP}", param="max_tokens"
            )
        params["max_new_tokens"] = max_tokens
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise OpenAIError(400, "'temperature' must be a number", param="temperature")
        if not 0 <= temperature <= 2:
            raise OpenAIError(400, "'temperature' must be between 0 and 2", param="temperature")
    sampling = temperature is not None and temperature > 0
    params["do_sample"] = sampling
    if sampling:
        params["temperature"] = float(temperature)  # type: ignore[arg-type]
        top_p = body.get("top_p")
        if top_p is not None:
            if isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0 < top_p <= 1:
                raise OpenAIError(400, "'top_p' must be in (0, 1]", param="top_p")
            params["top_p"] = float(top_p)
    return params


def stop_sequences(body: dict[str, Any]) -> list[str]:
    raw = body.get("stop")
    if raw is None or raw == "" or raw == []:
        return []
    stops = [raw] if isinstance(raw, str) else raw
    if (
        not isinstance(stops, list)
        or len(stops) > 4
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise OpenAIError(400, "'stop' must be a string or up to 4 strings", param="stop")
    return list(stops)


def chat_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise OpenAIError(400, "'messages' must be a non-empty list", param="messages")
    messages: list[dict[str, str]] = []
    for index, message in enumerate(raw):
        param = f"messages[{index}]"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise OpenAIError(400, "each message needs a string 'role'", param=param)
        content = message.get("content")
        if content is None:
            content = ""
        if isinstance(content, list):  # content parts: only text can be served here
            texts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text":
                    raise OpenAIError(400, "only text content parts are supported", param=param)
                texts.append(str(part.get("text", "")))
            content = "".join(texts)
        if not isinstance(content, str):
            raise OpenAIError(400, "message 'content' must be a string", param=param)
        messages.append({"role": message["role"], "content": content})
    return messages


def prompt_text(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise OpenAIError(400, "'prompt' must be one string", param="prompt")
    return prompt


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return list(raw)
    raise OpenAIError(
        400,
        "'input' must be a string or a non-empty list of strings (no token arrays)",
        param="input",
    )
