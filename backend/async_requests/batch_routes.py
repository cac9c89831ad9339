"""REST routes of batch jobs.

- `POST /v1/models/{name}/batch`: the inputs as JSONL (`Content-Type: application/jsonl` or
  `application/x-ndjson`, one `{"inputs", "parameters"?}` object per line; `?concurrency=N`)
  or JSON `{"items": [...], "concurrency"?: N}`. Stores the job and its items, starts the
  `BatchJob` workflow, answers 202 with the job (`services.batch.describe_job`). Bad input is
  422 naming the field (`items[i]`, or `line N` for JSONL); an unknown model is 404. Access:
  INVOKE on the model.
- `GET /v1/batch/{job_id}`: progress (`total`, `completed`, `failed`, `status`).
- `GET /v1/batch/{job_id}/output`: the outputs as JSONL in input order; 409 until the job
  SUCCEEDED. Both need INVOKE on the job's model, decided from the stored job like
  `/v1/async/{id}` (see `backend.async_requests.routes`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from backend import services
from backend.async_requests.routes import forbidden, may_invoke_some_model, principal_of
from backend.auth.scopes import Access
from backend.db import models as orm
from backend.db.session import session_scope
from backend.errors import ValidationFailed
from backend.interfaces import BatchStarter
from backend.rest import ModelName, error_response, error_responses
from backend.services import batch
from backend.settings import Settings

log = logging.getLogger("plinth.batch")

JobId = Annotated[str, Path(max_length=64, description="batch job id")]
JSONL_TYPES = ("application/jsonl", "application/x-ndjson", "application/x-jsonlines")


def _parse_items(request: Request, raw: bytes) -> tuple[list[Any], int | None] | JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in JSONL_TYPES:
        items: list[Any] = []
        for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                field = f"line {number}"
                return error_response(
                    422, "invalid_request", f"{field}: not valid JSON ({exc})", field=field
                )
        concurrency = request.query_params.get("concurrency")
        if concurrency is None:
            return items, None
        try:
            return items, int(concurrency)
        except ValueError:
            return error_response(
                422, "invalid_request", "concurrency: must be an integer", field="concurrency"
            )
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return error_response(422, "invalid_request", f"body: not valid JSON ({exc})", field="body")
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return error_response(
            422,
            "invalid_request",
            'items: send {"items": [{"inputs": ...}, ...]} or JSONL (application/jsonl)',
            field="items",
        )
    concurrency = body.get("concurrency")
    return body["items"], concurrency


def create_batch_router(
    *, sessions: sessionmaker[Session], settings: Settings, starter: BatchStarter | None
) -> APIRouter:
    router = APIRouter()

    def in_transaction(fn: Callable[[Session], Any]) -> Any:
        with session_scope(sessions) as session:
            return fn(session)

    @router.post(
        "/v1/models/{name}/batch",
        status_code=202,
        responses={
            202: {"description": "the job, stored and started"},
            **error_responses(404, 422, 503),
        },
        response_class=JSONResponse,
    )
    async def create_batch(name: ModelName, request: Request) -> Response:
        parsed = _parse_items(request, await request.body())
        if isinstance(parsed, JSONResponse):
            return parsed
        items, concurrency = parsed
        principal = principal_of(request)
        key_id = None if principal is None else principal.key_id
        if concurrency is None:
            concurrency = settings.batch_concurrency
        try:
            batch.prepare_items(items, concurrency)
        except ValidationFailed as exc:
            return error_response(422, "invalid_request", exc.message, field=exc.field)
        if starter is None:
            return error_response(
                503, "unavailable", "batch jobs need the platform's Temporal worker (plinth up)"
            )

        def write(session: Session) -> dict[str, Any] | None:
            if services.get_model(session=session, name=name) is None:
                return None
            job = batch.create_job(
                session,
                model=name,
                items=items,
                concurrency=concurrency,
                key_id=key_id,
            )
            return batch.describe_job(session, job)

        try:
            job = await asyncio.to_thread(in_transaction, write)
        except ValidationFailed as exc:
            return error_response(422, "invalid_request", exc.message, field=exc.field)
        if job is None:
            return error_response(
                404, "not_found", f"model '{name}' not found; see `plinth models`"
            )
        try:
            await starter.start_batch(job["id"])
        except Exception as exc:
            log.exception("starting batch job %s failed", job["id"])
            reason = f"could not start the batch workflow: {exc}"
            job = await asyncio.to_thread(
                in_transaction,
                lambda s: batch.describe_job(
                    s,
                    batch.set_status(s, job_id=job["id"], status=batch.FAILED, error=reason),  # type: ignore[arg-type]
                ),
            )
        return JSONResponse(job, status_code=202, headers={"Location": f"/v1/batch/{job['id']}"})

    async def load(request: Request, job_id: str) -> dict[str, Any] | JSONResponse:
        principal = principal_of(request)
        if principal is None or not may_invoke_some_model(principal):
            return forbidden(principal, None)

        def read(session: Session) -> dict[str, Any] | None:
            job = session.get(orm.BatchJob, job_id)
            return None if job is None else batch.describe_job(session, job)

        found = await asyncio.to_thread(in_transaction, read)
        if found is None:
            return error_response(404, "not_found", f"batch job '{job_id}' not found")
        if not principal.allows(Access.INVOKE, found["model"]):
            return forbidden(principal, found["model"])
        return dict(found)

    @router.get(
        "/v1/batch/{job_id}",
        responses={200: {"description": "the job's progress"}, **error_responses(404)},
    )
    async def get_batch(job_id: JobId, request: Request) -> Response:
        found = await load(request, job_id)
        return found if isinstance(found, JSONResponse) else JSONResponse(found)

    @router.get(
        "/v1/batch/{job_id}/output",
        responses={
            200: {
                "description": "JSONL, one line per input in input order",
                "content": {"application/jsonl": {}},
            },
            **error_responses(404, 409),
        },
        response_class=StreamingResponse,
    )
    async def batch_output(job_id: JobId, request: Request) -> Response:
        found = await load(request, job_id)
        if isinstance(found, JSONResponse):
            return found
        if found["status"] != batch.SUCCEEDED:
            return error_response(
                409,
                "conflict",
                f"batch job '{job_id}' is {found['status']} "
                f"({found['completed']}/{found['total']}); "
                "its output is ready once it SUCCEEDED",
                status=found["status"],
            )
        return StreamingResponse(
            batch.output_lines(sessions, job_id), media_type="application/jsonl"
        )

    return router
