"""Scopes an API key carries, the access levels routes declare, and which scope grants which.

Scope strings (what `plinth keys create --scope ...` accepts):

| scope          | grants                                                                  |
|----------------|-------------------------------------------------------------------------|
| `admin`        | everything, including API keys, secrets and the audit log               |
| `deploy`       | `read`, plus deploying, scaling and deleting models                     |
| `invoke`       | predict on every model                                                  |
| `invoke:NAME`  | predict on model NAME only (NAME as `plinth.types.validate_name` says)  |
| `read`         | list and get models, deployments, replicas and events; watch deploys    |

Access levels a route or GraphQL root field declares (`backend.auth.registry`), and the scopes
that satisfy each:

| access          | satisfied by                                    | used by                    |
|-----------------|-------------------------------------------------|----------------------------|
| `PUBLIC`        | no key needed                                   | /healthz, OpenAPI docs     |
| `AUTHENTICATED` | any valid key (the operation decides further)   | the /graphql transport     |
| `READ`          | `read`, `deploy`, `admin`                       | queries, subscription      |
| `INVOKE`        | `invoke`, `invoke:NAME` (NAME: model), `admin`  | predict                    |
| `INVOKE_BODY`   | as INVOKE, NAME from the JSON body's `model`    | OpenAI-compatible routes   |
| `DEPLOY`        | `deploy`, `admin`                               | deployModel, updateScaling |
| `ADMIN`         | `admin`                                         | keys, secrets, audit log   |

`invoke` does not include `read` on purpose: a key baked into product code can call models but
not enumerate them. A denial names the scope that would have allowed the call
(`required_scope`), e.g. `invoke:minilm`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from plinth.types import FieldError, validate_name

ADMIN = "admin"
DEPLOY = "deploy"
INVOKE = "invoke"
READ = "read"
BASE_SCOPES = (ADMIN, DEPLOY, INVOKE, READ)


class Access(enum.Enum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    READ = "read"
    INVOKE = "invoke"
    INVOKE_BODY = "invoke_body"  # INVOKE on the model named by the JSON body's "model" field
    DEPLOY = "deploy"
    ADMIN = "admin"


def parse_scopes(values: Iterable[str], *, field: str = "scopes") -> tuple[str, ...]:
    """Validated, de-duplicated, sorted scope strings; FieldError naming `field` if one is bad."""
    found: set[str] = set()
    for raw in values:
        scope = raw.strip()
        base, sep, model = scope.partition(":")
        if base not in BASE_SCOPES:
            raise FieldError(
                field,
                f"unknown scope {scope!r}; use one of admin, deploy, invoke, invoke:MODEL, read",
            )
        if sep:
            if base != INVOKE:
                raise FieldError(field, f"only invoke can name a model, not {scope!r}")
            validate_name(model, field=field)
        found.add(scope)
    if not found:
        raise FieldError(field, "give at least one scope")
    return tuple(sorted(found))


def required_scope(access: Access, model: str | None = None) -> str | None:
    """The narrowest scope that satisfies `access` (named in a 403), None for PUBLIC/any key."""
    if access in (Access.INVOKE, Access.INVOKE_BODY):
        return f"{INVOKE}:{model}" if model else INVOKE
    if access in (Access.PUBLIC, Access.AUTHENTICATED):
        return None
    return str(access.value)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key (id, visible prefix, scopes), or everyone when auth is disabled."""

    key_id: str | None
    prefix: str | None
    scopes: frozenset[str]

    @classmethod
    def auth_disabled(cls) -> Principal:
        return cls(key_id=None, prefix=None, scopes=frozenset({ADMIN}))

    def allows(self, access: Access, model: str | None = None) -> bool:
        scopes = self.scopes
        if access in (Access.PUBLIC, Access.AUTHENTICATED) or ADMIN in scopes:
            return True
        if access is Access.READ:
            return READ in scopes or DEPLOY in scopes
        if access is Access.DEPLOY:
            return DEPLOY in scopes
        if access in (Access.INVOKE, Access.INVOKE_BODY):
            return INVOKE in scopes or (model is not None and f"{INVOKE}:{model}" in scopes)
        return False

    def describe(self) -> str:
        return f"API key pl_{self.prefix}_..." if self.prefix else "the caller (auth disabled)"

    def denial(self, access: Access, model: str | None = None) -> str:
        """The 403 message: who, which scope is missing, which scopes it has."""
        needed = required_scope(access, model)
        has = ", ".join(sorted(self.scopes)) or "none"
        return f"{self.describe()} lacks the scope '{needed}' (it has: {has})"
