"""REST upload of custom model packages: `POST /v1/packages`.

The body is the package's tar.gz (`plinth.package.build_archive`), as application/gzip or
application/octet-stream; the request body limit of the security middleware bounds it (413),
and `plinth.package.MAX_PACKAGE_BYTES` bounds what it unpacks to. The archive is unpacked
safely (no links, no absolute or `..` paths) and re-validated with the SDK's `load_package`:
- 201 `{"digest", "name", "model_class", "requirements"}`: stored (or already there) under
  `$PLINTH_HOME/packages/<hex>/`; deploy it with the GraphQL `deployPackage`.
- 422 `{"error": {"type": "invalid_package", "message", "file", "line", "field",
  "problems": [{file, line, field, message}, ...]}}`: the first problem, then all of them.
Needs the DEPLOY scope (`backend.auth.registry`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from backend.rest import error_response, error_responses
from backend.services.packages import PackageStore
from plinth.package import PackageError


class StoredPackage(BaseModel):
    digest: str
    name: str
    model_class: str
    requirements: list[str]


_ARCHIVE_BODY = {
    "required": True,
    "content": {
        "application/gzip": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def package_error_response(error: PackageError) -> JSONResponse:
    first = error.first
    problems: list[dict[str, Any]] = [
        {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
        for p in error.problems
    ]
    return error_response(
        422,
        "invalid_package",
        str(error),
        file=first.file,
        line=first.line,
        field=first.field,
        problems=problems,
    )


def create_packages_router(store: PackageStore) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/v1/packages",
        status_code=201,
        response_model=StoredPackage,
        responses=error_responses(422),
        openapi_extra={"requestBody": _ARCHIVE_BODY},
        summary="Upload a custom model package (tar.gz)",
    )
    async def upload_package(request: Request) -> Any:
        archive = await request.body()
        if not archive:
            return error_response(
                422, "invalid_package", "the body must be the package's tar.gz", field="body"
            )
        try:
            package = await asyncio.to_thread(store.store, archive)
        except PackageError as exc:
            return package_error_response(exc)
        return JSONResponse(
            StoredPackage(
                digest=package.digest,
                name=package.config.name,
                model_class=package.model_class,
                requirements=package.config.requirements,
            ).model_dump(),
            status_code=201,
        )

    return router
