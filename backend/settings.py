"""Typed server configuration, read from `PLINTH_*` environment variables.

Contract: `get_settings()` builds a fresh `Settings` each call (nothing is read at import time).
Fields: `home` (PLINTH_HOME, default ~/.plinth), `database_url` (PLINTH_DATABASE_URL; None means
the SQLite file `{home}/plinth.db`), `temporal_address` (None = start the embedded dev server),
`temporal_namespace`, `task_queue`, `redis_url`, `host`/`port` (server bind),
`predict_timeout_s` (default deadline of one predict request). Security: `auth` ("enabled" or
"disabled": PLINTH_AUTH=disabled makes every request act as admin, local experiments only),
`secret_key` (PLINTH_SECRET_KEY, the Fernet key that encrypts stored secrets; None = generated
once into `{home}/secret.key` on a loopback bind), `max_body_bytes` (request body limit, 413),
`graphql_max_depth` / `graphql_max_tokens` / `graphql_max_aliases` (GraphQL document limits),
`key_refresh_s` (how often a process reloads API keys created or revoked by another process),
`fork_server` (PLINTH_FORK_SERVER=false spawns every replica instead of forking it).
Async predict, webhooks, batch: `async_result_ttl_s` (PLINTH_ASYNC_RESULT_TTL_S, default 24 h),
`async_lease_s`, `async_max_attempts`, `async_concurrency_per_model`, `webhook_max_attempts`,
`webhook_backoff_s` / `webhook_max_backoff_s`, `webhook_timeout_s`, `webhook_allow_private`
(PLINTH_WEBHOOK_ALLOW_PRIVATE) and `webhook_allowed_hosts` (PLINTH_WEBHOOK_ALLOWED_HOSTS: hosts or
CIDRs allowed even when private), `batch_concurrency`.
Derived: `effective_database_url`, `log_dir` (`{home}/logs`), `base_url` (where clients on this
machine reach the server), `is_loopback` (the bind address is this machine only),
`credentials_path`, `secret_key_path`.
Directories are created on demand by `ensure_dirs()`, never as a side effect of reading a field.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


class Settings(BaseSettings):
    """Server settings; every field can be set with the environment variable PLINTH_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="PLINTH_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".plinth",
        description="Platform state: SQLite database, Temporal state, logs.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (sqlite:///... or postgresql://...); None = SQLite in home.",
    )
    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal cluster; None = embedded dev server."
    )
    temporal_namespace: str = "default"
    task_queue: str = "plinth"
    redis_url: str | None = Field(default=None, description="Redis for shared gateway state.")
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the HTTP server binds to.")
    predict_timeout_s: float = Field(
        default=60.0, gt=0, description="Deadline of one predict request, queueing included."
    )

    auth: Literal["enabled", "disabled"] = Field(
        default="enabled",
        description="'disabled' lets every request act as admin: local experiments only.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key encrypting stored secrets; None = generated into home (loopback).",
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest accepted request body (413 above)."
    )
    graphql_max_depth: int = Field(default=12, ge=2, description="Deepest GraphQL selection.")
    graphql_max_tokens: int = Field(default=4000, ge=100, description="Most tokens per document.")
    graphql_max_aliases: int = Field(default=30, ge=1, description="Most aliases per document.")
    key_refresh_s: float = Field(
        default=2.0, gt=0, description="Seconds between reloads of the API key cache."
    )
    console_dir: Path | None = Field(
        default=None, description="Built console assets; None = frontend/dist of this checkout."
    )
    fork_server: bool = Field(
        default=True,
        description="Fork replicas from a pre-warmed fork server (false: spawn each one, the "
        "naive path that benchmarks/cold_start compares against).",
    )
    # Async predict, webhooks and batch jobs (backend.async_requests, backend.webhooks).
    async_result_ttl_s: float = Field(
        default=24 * 3600.0, gt=0, description="How long async results are kept, then purged."
    )
    async_lease_s: float = Field(
        default=30.0, gt=0, description="Lease of a running async request (renewed while alive)."
    )
    async_max_attempts: int = Field(
        default=5, ge=1, description="Attempts of an async request before it FAILED."
    )
    async_concurrency_per_model: int = Field(
        default=4, ge=1, description="Async requests in flight per model and platform process."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Delivery attempts of a webhook before its dead letter."
    )
    webhook_backoff_s: float = Field(
        default=1.0, gt=0, description="First webhook retry delay; doubles per attempt."
    )
    webhook_max_backoff_s: float = Field(
        default=300.0, gt=0, description="Longest delay between two webhook attempts."
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Deadline of one delivery.")
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhooks to private, loopback, link-local and metadata addresses.",
    )
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts or CIDR networks allowed even when private (JSON list or commas).",
    )
    batch_concurrency: int = Field(
        default=4, ge=1, le=64, description="Default items in flight per batch job."
    )

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url", "temporal_address", "redis_url", "secret_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `PLINTH_DATABASE_URL=` in a shell or .env file means "not set", not "empty URL".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{self.home / 'plinth.db'}"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def auth_enabled(self) -> bool:
        return self.auth == "enabled"

    @property
    def is_loopback(self) -> bool:
        """True when the bind address is reachable from this machine only."""
        host = self.host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # a host name other than localhost may resolve anywhere

    @property
    def credentials_path(self) -> Path:
        """Where `plinth up` writes the bootstrap admin key for the local CLI and SDK."""
        return self.home / "credentials"

    @property
    def secret_key_path(self) -> Path:
        return self.home / "secret.key"

    def ensure_dirs(self) -> None:
        """Create `home` and `log_dir` if they do not exist."""
        self.log_dir.mkdir(parents=True, exist_ok=True)


def get_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment now; keyword `overrides` win (CLI options)."""
    return Settings(**overrides)
