"""API keys and secrets from the SDK: `client.keys` and `client.secrets` (scope `admin`).

    created = client.keys.create(["invoke:minilm"], name="web", expires_in=timedelta(days=30))
    created.key                      # pl_...: shown this once; store it now
    client.keys.list()               # [ApiKey(prefix="pl_ab12cd34", scopes=[...], ...)]
    client.keys.revoke(created.api_key.id)
    client.secrets.set("HF_TOKEN", "hf_...")   # write-only: no call returns a value
    client.secrets.list(); client.secrets.delete("HF_TOKEN")

Scopes: `admin`, `deploy`, `invoke`, `invoke:MODEL`, `read` (the platform's README has the
table). Refused inputs raise `ValidationError` (with `.field`), unknown ids and names
`NotFoundError`, a key without the admin scope `PermissionDeniedError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from plinth._graphql import unwrap_union
from plinth._operations import Call, graphql

if TYPE_CHECKING:
    from plinth._client import AsyncClient, Client


class ApiKey(BaseModel):
    id: str
    name: str | None = None
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class CreatedApiKey(BaseModel):
    api_key: ApiKey
    key: str  # the key itself, shown once


class Secret(BaseModel):
    name: str
    created_at: datetime
    updated_at: datetime


_KEY = "id name prefix scopes createdAt expiresAt lastUsedAt revokedAt"
_SECRET = "name createdAt updatedAt"

LIST_KEYS = f"query ApiKeys {{ apiKeys {{ {_KEY} }} }}"
CREATE_KEY = f"""
mutation CreateApiKey($input: CreateApiKeyInput!) {{
  createApiKey(input: $input) {{
    __typename
    ... on CreatedApiKey {{ key apiKey {{ {_KEY} }} }}
    ... on ValidationError {{ field message }}
  }}
}}"""
REVOKE_KEY = f"""
mutation RevokeApiKey($id: ID!) {{
  revokeApiKey(id: $id) {{
    __typename
    ... on ApiKey {{ {_KEY} }}
    ... on NotFoundError {{ message }}
  }}
}}"""
LIST_SECRETS = f"query Secrets {{ secrets {{ {_SECRET} }} }}"
SET_SECRET = f"""
mutation SetSecret($name: String!, $value: String!) {{
  setSecret(name: $name, value: $value) {{
    __typename
    ... on Secret {{ {_SECRET} }}
    ... on ValidationError {{ field message }}
  }}
}}"""
DELETE_SECRET = """
mutation DeleteSecret($name: String!) {
  deleteSecret(name: $name) {
    __typename
    ... on DeletedSecret { name }
    ... on NotFoundError { message }
  }
}"""


def _key(data: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=data["id"],
        name=data.get("name"),
        prefix=data["prefix"],
        scopes=list(data["scopes"]),
        created_at=data["createdAt"],
        expires_at=data.get("expiresAt"),
        last_used_at=data.get("lastUsedAt"),
        revoked_at=data.get("revokedAt"),
    )


def _secret(data: Mapping[str, Any]) -> Secret:
    return Secret(name=data["name"], created_at=data["createdAt"], updated_at=data["updatedAt"])


def _seconds(expires_in: timedelta | float | None) -> int | None:
    if expires_in is None:
        return None
    seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
    return max(1, round(seconds))


def create_key_call(
    scopes: Sequence[str], name: str | None, expires_in: timedelta | float | None
) -> Call[CreatedApiKey]:
    if isinstance(scopes, str):
        scopes = [scopes]
    payload: dict[str, Any] = {"scopes": list(scopes)}
    if name is not None:
        payload["name"] = name
    seconds = _seconds(expires_in)
    if seconds is not None:
        payload["expiresInSeconds"] = seconds

    def extract(data: Mapping[str, Any]) -> CreatedApiKey:
        created = unwrap_union(data["createApiKey"], "CreatedApiKey")
        return CreatedApiKey(api_key=_key(created["apiKey"]), key=created["key"])

    return graphql(CREATE_KEY, {"input": payload}, extract)


def list_keys_call() -> Call[list[ApiKey]]:
    return graphql(LIST_KEYS, {}, lambda data: [_key(k) for k in data["apiKeys"]])


def revoke_key_call(key_id: str) -> Call[ApiKey]:
    return graphql(
        REVOKE_KEY, {"id": key_id}, lambda data: _key(unwrap_union(data["revokeApiKey"], "ApiKey"))
    )


def set_secret_call(name: str, value: str) -> Call[Secret]:
    return graphql(
        SET_SECRET,
        {"name": name, "value": value},
        lambda data: _secret(unwrap_union(data["setSecret"], "Secret")),
    )


def list_secrets_call() -> Call[list[Secret]]:
    return graphql(LIST_SECRETS, {}, lambda data: [_secret(s) for s in data["secrets"]])


def delete_secret_call(name: str) -> Call[str]:
    return graphql(
        DELETE_SECRET,
        {"name": name},
        lambda data: str(unwrap_union(data["deleteSecret"], "DeletedSecret")["name"]),
    )


class Keys:
    """`client.keys`: create (the key is returned once), list and revoke API keys."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        scopes: Sequence[str],
        *,
        name: str | None = None,
        expires_in: timedelta | float | None = None,
    ) -> CreatedApiKey:
        """A new key with `scopes`; `expires_in` is a timedelta or seconds (None: never)."""
        return self._client.send(create_key_call(scopes, name, expires_in))

    def list(self) -> list[ApiKey]:
        return self._client.send(list_keys_call())

    def revoke(self, key_id: str) -> ApiKey:
        return self._client.send(revoke_key_call(key_id))


class AsyncKeys:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        scopes: Sequence[str],
        *,
        name: str | None = None,
        expires_in: timedelta | float | None = None,
    ) -> CreatedApiKey:
        return await self._client.send(create_key_call(scopes, name, expires_in))

    async def list(self) -> list[ApiKey]:
        return await self._client.send(list_keys_call())

    async def revoke(self, key_id: str) -> ApiKey:
        return await self._client.send(revoke_key_call(key_id))


class Secrets:
    """`client.secrets`: set, list (names only) and delete platform secrets."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def set(self, name: str, value: str) -> Secret:
        return self._client.send(set_secret_call(name, value))

    def list(self) -> list[Secret]:
        return self._client.send(list_secrets_call())

    def delete(self, name: str) -> None:
        self._client.send(delete_secret_call(name))


class AsyncSecrets:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def set(self, name: str, value: str) -> Secret:
        return await self._client.send(set_secret_call(name, value))

    async def list(self) -> list[Secret]:
        return await self._client.send(list_secrets_call())

    async def delete(self, name: str) -> None:
        await self._client.send(delete_secret_call(name))
