"""The OpenAPI document tells the truth about auth, and no route escapes the registry.

`secure_openapi(app)` generates the document once, then: declares the `bearer` security scheme,
marks every non-public operation (per `backend.auth.registry`) with it, and adds the answers
the security middleware can give: 401 and 403 on protected operations, 413 on operations with
a request body, all in the contract's error shape (`backend.rest.ErrorResponse`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from backend.auth.registry import route_access
from backend.auth.scopes import Access
from backend.rest import ErrorResponse

_REF = "#/components/schemas/ErrorResponse"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF}}}}


def secure_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A Plinth API key (pl_...): `plinth keys create`",
        }
        schemas = components.setdefault("schemas", {})
        error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(error_schema.pop("$defs", {}))
        schemas.setdefault("ErrorResponse", error_schema)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                access = route_access(method.upper(), path)
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    responses.setdefault("413", _error("the request body is too large"))
                if access is None or access is Access.PUBLIC:
                    continue
                operation["security"] = [{"bearer": []}]
                responses.setdefault(
                    "401", _error("no, malformed, unknown, revoked or expired API key")
                )
                responses.setdefault("403", _error("the API key lacks `required_scope`"))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
