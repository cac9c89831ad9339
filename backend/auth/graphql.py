"""`RootFieldGuard`: authorization (and auditing of mutations) for every GraphQL root field.

`guard_root_fields(Query, Mutation, Subscription)` attaches one guard to each root field, so no
field can be born unguarded. Before the resolver runs, the guard reads the field's access from
`backend.auth.registry` (missing: denied to everyone) and the caller's principal from the
context (`Context.principal`). Errors carry `extensions.code`: UNAUTHENTICATED when there is no
principal (a WebSocket that sent no key), FORBIDDEN (with `requiredScope`) when the key lacks
the scope. Every mutation, allowed or denied, then appends an audit entry (`backend.audit`):
key id and prefix, action (the field name), target (the name or id it acts on), outcome.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver, SyncExtensionResolver
from strawberry.types import Info

from backend import audit
from backend.auth.registry import field_access
from backend.auth.scopes import Principal, required_scope

log = logging.getLogger("plinth.audit")

_OUTCOME_BY_TYPE = {"ValidationError": "invalid", "NotFoundError": "not_found"}
_TARGET_ARGS = ("name", "model", "key_id", "deployment_id")


def _target(kwargs: dict[str, Any], result: Any = None) -> str | None:
    created = getattr(result, "api_key", None)
    if created is not None:
        return f"key {created.id}"
    for arg in _TARGET_ARGS:
        value = kwargs.get(arg)
        if value is not None:
            return str(value)
    for value in kwargs.values():
        name = getattr(value, "name", None)
        if isinstance(name, str):
            return name
    return None


class RootFieldGuard(FieldExtension):
    def __init__(self, root: str) -> None:
        self.root = root

    def _check(self, info: Info[Any, Any]) -> Principal:
        principal: Principal | None = info.context.principal
        if principal is None:
            raise GraphQLError(
                "no API key: send `Authorization: Bearer <key>`, or on a WebSocket put "
                '{"Authorization": "Bearer <key>"} in the connection_init payload',
                extensions={"code": "UNAUTHENTICATED"},
            )
        access = field_access(self.root, info.field_name)
        if access is None:
            raise GraphQLError(
                f"{self.root}.{info.field_name} declares no access; denied",
                extensions={"code": "FORBIDDEN"},
            )
        if not principal.allows(access):
            raise GraphQLError(
                principal.denial(access),
                extensions={"code": "FORBIDDEN", "requiredScope": required_scope(access)},
            )
        return principal

    def resolve(
        self, next_: SyncExtensionResolver, source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        if self.root == "Mutation":  # auditing needs the database, i.e. an async resolver
            raise GraphQLError("synchronous mutations are not supported")
        self._check(info)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        if self.root != "Mutation":
            self._check(info)
            result = next_(source, info, **kwargs)
            return await result if inspect.isawaitable(result) else result
        try:
            principal = self._check(info)
        except GraphQLError as exc:
            await self._audit(info, info.context.principal, kwargs, None, "denied", exc.message)
            raise
        try:
            result = await next_(source, info, **kwargs)
        except Exception as exc:
            await self._audit(info, principal, kwargs, None, "error", type(exc).__name__)
            raise
        outcome = _OUTCOME_BY_TYPE.get(type(result).__name__, "ok")
        await self._audit(info, principal, kwargs, result, outcome, None)
        return result

    async def _audit(
        self,
        info: Info[Any, Any],
        principal: Principal | None,
        kwargs: dict[str, Any],
        result: Any,
        outcome: str,
        detail: str | None,
    ) -> None:
        target = _target(kwargs, result)

        def write(session: Any) -> None:
            audit.record(
                session,
                key_id=None if principal is None else principal.key_id,
                key_prefix=None if principal is None else principal.prefix,
                action=info.field_name,
                target=target,
                outcome=outcome,
                detail=detail,
            )

        try:
            await info.context.db(write)
        except Exception:  # the change itself is committed; a lost entry is logged loudly
            log.exception("writing the audit entry of %s on %s failed", info.field_name, target)


def guard_root_fields(*roots: type) -> None:
    """Attach a `RootFieldGuard` to every field of the given root types (idempotent)."""
    for root in roots:
        definition = root.__strawberry_definition__  # type: ignore[attr-defined]
        for field in definition.fields:
            if not any(isinstance(e, RootFieldGuard) for e in field.extensions):
                field.extensions.append(RootFieldGuard(definition.name))
