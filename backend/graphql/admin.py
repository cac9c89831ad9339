"""Admin part of the /graphql schema: API keys, secrets and the audit log (all scope `admin`).

    type Query    { apiKeys: [ApiKey!]!  secrets: [Secret!]!
                    auditLog(limit: Int = 50, offset: Int = 0): [AuditEntry!]! }
    type Mutation { createApiKey(input: CreateApiKeyInput!): CreateApiKeyResult!
                    revokeApiKey(id: ID!): RevokeApiKeyResult!
                    setSecret(name: String!, value: String!): SetSecretResult!
                    deleteSecret(name: String!): DeleteSecretResult! }

`createApiKey` answers the key itself once (`CreatedApiKey.key`); afterwards only its prefix
is ever shown. A created or revoked key takes effect in this process at once (the key cache is
told) and in other processes within `PLINTH_KEY_REFRESH_S`. Secrets are write-only: no field
returns a value. `auditLog` is newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import strawberry
from sqlalchemy.orm import Session

from backend import audit, services
from backend.db import models as orm
from backend.errors import NotFound, ValidationFailed
from backend.graphql.context import Context
from backend.graphql.types import NotFoundError, ValidationError

Info = strawberry.Info[Context]
MAX_EXPIRY_S = 10 * 365 * 24 * 3600


@strawberry.type
class ApiKey:
    id: strawberry.ID
    name: str | None
    prefix: str = strawberry.field(description="The visible start of the key, e.g. pl_ab12cd34")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@strawberry.type
class CreatedApiKey:
    api_key: ApiKey
    key: str = strawberry.field(description="The key itself: shown this once, never again.")


@strawberry.input
class CreateApiKeyInput:
    scopes: list[str]
    name: str | None = None
    expires_in_seconds: int | None = None


@strawberry.type
class Secret:
    name: str
    created_at: datetime
    updated_at: datetime


@strawberry.type
class DeletedSecret:
    name: str


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    at: datetime
    key_id: strawberry.ID | None
    key_prefix: str | None
    action: str
    target: str | None
    outcome: str
    detail: str | None


CreateApiKeyResult = Annotated[
    CreatedApiKey | ValidationError, strawberry.union("CreateApiKeyResult")
]
RevokeApiKeyResult = Annotated[ApiKey | NotFoundError, strawberry.union("RevokeApiKeyResult")]
SetSecretResult = Annotated[Secret | ValidationError, strawberry.union("SetSecretResult")]
DeleteSecretResult = Annotated[
    DeletedSecret | NotFoundError, strawberry.union("DeleteSecretResult")
]


def api_key_from_row(row: orm.ApiKey) -> ApiKey:
    return ApiKey(
        id=strawberry.ID(row.id),
        name=row.name,
        prefix=f"pl_{row.prefix}",
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def secret_from_row(row: orm.Secret) -> Secret:
    return Secret(name=row.name, created_at=row.created_at, updated_at=row.updated_at)


def audit_from_row(row: orm.AuditEntry) -> AuditEntry:
    return AuditEntry(
        id=strawberry.ID(str(row.id)),
        at=row.at,
        key_id=None if row.key_id is None else strawberry.ID(row.key_id),
        key_prefix=None if row.key_prefix is None else f"pl_{row.key_prefix}",
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        detail=row.detail,
    )


@strawberry.type
class AdminQuery:
    @strawberry.field
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return await info.context.db(
            lambda s: [api_key_from_row(r) for r in services.list_api_keys(s)]
        )

    @strawberry.field
    async def secrets(self, info: Info) -> list[Secret]:
        return await info.context.db(
            lambda s: [secret_from_row(r) for r in services.list_secrets(s)]
        )

    @strawberry.field
    async def audit_log(self, info: Info, limit: int = 50, offset: int = 0) -> list[AuditEntry]:
        return await info.context.db(
            lambda s: [audit_from_row(r) for r in audit.list_entries(s, limit=limit, offset=offset)]
        )


@strawberry.type
class AdminMutation:
    @strawberry.mutation
    async def create_api_key(
        self, info: Info, key: Annotated[CreateApiKeyInput, strawberry.argument(name="input")]
    ) -> CreateApiKeyResult:
        context = info.context
        principal = context.principal
        seconds = key.expires_in_seconds
        if seconds is not None and not 0 < seconds <= MAX_EXPIRY_S:
            return ValidationError(
                field="expiresInSeconds", message=f"must be between 1 and {MAX_EXPIRY_S}"
            )
        expires_at = None if seconds is None else datetime.now(UTC) + timedelta(seconds=seconds)

        def create(session: Session) -> tuple[orm.ApiKey, str]:
            return services.create_api_key(
                session,
                scopes=key.scopes,
                name=key.name,
                expires_at=expires_at,
                created_by=None if principal is None else principal.key_id,
            )

        try:
            row, secret = await context.db(create)
        except ValidationFailed as exc:
            return ValidationError(field=exc.field, message=exc.message)
        context.keys.added(row)
        return CreatedApiKey(api_key=api_key_from_row(row), key=secret)

    @strawberry.mutation
    async def revoke_api_key(
        self, info: Info, key_id: Annotated[strawberry.ID, strawberry.argument(name="id")]
    ) -> RevokeApiKeyResult:
        try:
            row = await info.context.db(lambda s: services.revoke_api_key(s, key_id=str(key_id)))
        except NotFound as exc:
            return NotFoundError(message=exc.message)
        info.context.keys.revoked(row)
        return api_key_from_row(row)

    @strawberry.mutation
    async def set_secret(self, info: Info, name: str, value: str) -> SetSecretResult:
        box = info.context.secret_box
        try:
            row = await info.context.db(
                lambda s: services.set_secret(s, box=box, name=name, value=value)
            )
        except ValidationFailed as exc:
            return ValidationError(field=exc.field, message=exc.message)
        return secret_from_row(row)

    @strawberry.mutation
    async def delete_secret(self, info: Info, name: str) -> DeleteSecretResult:
        try:
            await info.context.db(lambda s: services.delete_secret(s, name=name))
        except NotFound as exc:
            return NotFoundError(message=exc.message)
        return DeletedSecret(name=name)
