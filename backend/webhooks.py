"""Webhooks of async requests: URL validation, signing, signing secrets, durable delivery.

Contract
- **URL validation** (`validate_webhook_url`, at submit time and again before every attempt, so
  a name that later resolves elsewhere is caught): `http` or `https` only, a host, no user
  info, at most 2048 characters. Unless the operator allows it (`webhook_allow_private`, or the
  host or one of its addresses in `webhook_allowed_hosts`: host names or CIDR networks), every
  address the host resolves to must be globally routable: loopback, private (RFC 1918, ULA),
  link-local (169.254.0.0/16 with the cloud metadata address 169.254.169.254, fe80::/10),
  shared (100.64.0.0/10), multicast, reserved and unspecified addresses are refused, also
  inside IPv4-mapped IPv6. Redirects are never followed (a 3xx is a failed attempt).
- **Signature**: `X-Plinth-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
  HMAC-SHA256(secret, f"{t}.{body}") over the exact body bytes; `X-Plinth-Request-Id` names the
  async request, `X-Plinth-Delivery-Id` the delivery (the same on every retry, a receiver may
  de-duplicate on it) and `X-Plinth-Delivery-Attempt` counts attempts from 1. Receivers verify
  with `plinth.webhooks.verify(secret, headers, body, tolerance_s=300)`.
- **Signing secrets** are per API key (`whsec_...`), created on the key's first async request
  with a webhook (or when revealed), stored encrypted with the platform's `SecretBox`. The key's
  owner may read it once (`reveal_signing_secret`; afterwards only a rotation shows a value)
  and rotate it (`rotate_signing_secret`, returned once). Requests made with auth disabled use
  the owner "-".
- **Delivery** (`WebhookSender`): rows of `webhook_deliveries` are the durable schedule. A
  sender claims due PENDING rows by moving their `next_attempt_at` forward by a lease
  (a conditional update, so two senders never send the same attempt), POSTs, and records the
  outcome: 2xx -> DELIVERED; otherwise the next attempt after `retry_delay_s(attempts)`
  (exponential from `webhook_backoff_s`, capped at `webhook_max_backoff_s`) until
  `webhook_max_attempts`, then DEAD: the dead-letter list, replayable (`replay_delivery`).
  A crash between the POST and the record re-sends the same body: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets as pysecrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db import models as orm
from backend.db.models import utcnow
from backend.db.session import session_scope
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.secrets import SecretBox
from backend.settings import Settings
from serving.aio import wake_or_timeout

log = logging.getLogger("plinth.webhooks")

SIGNATURE_HEADER = "X-Plinth-Signature"
REQUEST_ID_HEADER = "X-Plinth-Request-Id"
DELIVERY_ID_HEADER = "X-Plinth-Delivery-Id"
ATTEMPT_HEADER = "X-Plinth-Delivery-Attempt"
MAX_URL_LENGTH = 2048
AUTH_DISABLED_OWNER = "-"
SECRET_PREFIX = "whsec_"

PENDING = "PENDING"
DELIVERED = "DELIVERED"
DEAD = "DEAD"

Resolver = Callable[[str, int], list[str]]


# -- URL validation ---------------------------------------------------------------------------


def _rows(result: Result[Any]) -> int:
    """Rows an UPDATE/DELETE changed."""
    return int(cast(CursorResult[Any], result).rowcount)


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _networks(
    allowed: Iterable[str],
) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts: set[str] = set()
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return hosts, networks


def validate_webhook_url(
    url: str,
    *,
    allow_private: bool = False,
    allowed_hosts: Iterable[str] = (),
    resolve: Resolver = _resolve,
) -> str:
    """The URL if a webhook may be sent to it, else `ValidationFailed` on field `webhook_url`.

    Blocking (resolves the host): call it from a worker thread in async code."""
    field = "webhook_url"
    if not isinstance(url, str) or not url:
        raise ValidationFailed(field, "must be an http(s) URL")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(field, f"is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(field, f"is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise ValidationFailed(field, f"scheme {parts.scheme!r} is not allowed; use http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationFailed(field, "has no host")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(field, "must not carry a user name or password")
    if allow_private:
        return url
    hosts, networks = _networks(allowed_hosts)
    if host.lower() in hosts:
        return url
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = resolve(host, port or (443 if parts.scheme == "https" else 80))
        except (OSError, UnicodeError) as exc:
            raise ValidationFailed(field, f"host {host!r} does not resolve ({exc})") from exc
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise ValidationFailed(field, f"host {host!r} does not resolve") from None
    for address in addresses:
        if any(address in network for network in networks):
            continue
        if not _public(address):
            raise ValidationFailed(
                field,
                f"{host!r} is (or resolves to) the non-public address {address}; private, "
                "loopback, link-local and metadata addresses are refused unless the operator "
                "allows them (PLINTH_WEBHOOK_ALLOW_PRIVATE or PLINTH_WEBHOOK_ALLOWED_HOSTS)",
            )
    return url


def url_checker(settings: Settings) -> Callable[[str], str]:
    """`validate_webhook_url` with the operator's settings."""

    def check(url: str) -> str:
        return validate_webhook_url(
            url,
            allow_private=settings.webhook_allow_private,
            allowed_hosts=settings.webhook_allowed_hosts,
        )

    return check


# -- signatures -------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Plinth-Signature` value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_delay_s(attempts: int, *, base_s: float, cap_s: float) -> float:
    """Delay before the next attempt after `attempts` failed ones: base * 2^(attempts-1), capped."""
    return float(min(cap_s, base_s * (2 ** max(0, attempts - 1))))


# -- signing secrets --------------------------------------------------------------------------


def owner_of(key_id: str | None) -> str:
    return key_id or AUTH_DISABLED_OWNER


def _new_secret() -> str:
    return SECRET_PREFIX + pysecrets.token_urlsafe(32)


def ensure_signing_secret(session: Session, *, box: SecretBox, owner: str) -> None:
    """Create the owner's signing secret if it has none (on its first webhook)."""
    if session.get(orm.WebhookSecret, owner) is None:
        session.add(orm.WebhookSecret(owner=owner, ciphertext=box.encrypt(_new_secret())))
        session.flush()


def signing_secret(session: Session, *, box: SecretBox, owner: str) -> str:
    row = session.get(orm.WebhookSecret, owner)
    if row is None:
        raise NotFound(f"no webhook signing secret for {owner}")
    return box.decrypt(row.ciphertext)


def reveal_signing_secret(session: Session, *, box: SecretBox, owner: str) -> str:
    """The owner's secret, once (created if needed); `Conflict` once it has been shown."""
    row = session.get(orm.WebhookSecret, owner)
    if row is None:
        row = orm.WebhookSecret(owner=owner, ciphertext=box.encrypt(_new_secret()))
        session.add(row)
    elif row.revealed_at is not None:
        raise Conflict(
            "the webhook signing secret of this key was already shown; rotate it to get a new one"
        )
    row.revealed_at = utcnow()
    session.flush()
    return box.decrypt(row.ciphertext)


def rotate_signing_secret(session: Session, *, box: SecretBox, owner: str) -> str:
    """A new secret for the owner (returned, and marked shown); the old one stops signing."""
    secret = _new_secret()
    row = session.get(orm.WebhookSecret, owner)
    if row is None:
        row = orm.WebhookSecret(owner=owner, ciphertext=box.encrypt(secret))
        session.add(row)
    else:
        row.ciphertext = box.encrypt(secret)
        row.created_at = utcnow()
    row.revealed_at = utcnow()
    session.flush()
    return secret


# -- dead letters -----------------------------------------------------------------------------


def dead_letters(session: Session, *, limit: int = 100) -> list[orm.WebhookDelivery]:
    rows = session.scalars(
        select(orm.WebhookDelivery)
        .where(orm.WebhookDelivery.status == DEAD)
        .order_by(orm.WebhookDelivery.created_at.desc())
        .limit(limit)
    )
    return list(rows)


def replay_delivery(
    session: Session, *, delivery_id: str, now: datetime | None = None
) -> orm.WebhookDelivery:
    """Put a dead letter back on the schedule, due now, with a fresh attempt budget."""
    row = session.get(orm.WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound(f"webhook delivery '{delivery_id}' not found")
    if row.status != DEAD:
        raise Conflict(f"webhook delivery '{delivery_id}' is {row.status}, not a dead letter")
    row.status = PENDING
    row.attempts = 0
    row.next_attempt_at = now or utcnow()
    session.flush()
    return row


# -- delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    id: str
    request_id: str
    owner: str
    url: str
    body: str
    attempts: int


class WebhookSender:
    """Sends due deliveries until cancelled (`run`); see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_s: float = 0.25,
        batch: int = 32,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._settings = settings
        self._check_url = url_checker(settings)
        self._transport = transport
        self._poll_s = poll_s
        self._batch = batch
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._lease = timedelta(seconds=settings.webhook_timeout_s * 2 + 5)

    def notify(self) -> None:
        """New deliveries are due: look now instead of at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        async with httpx.AsyncClient(
            transport=self._transport,
            timeout=self._settings.webhook_timeout_s,
            follow_redirects=False,
        ) as client:
            while True:
                try:
                    sent = await self.send_due(client)
                except Exception:
                    log.exception("webhook delivery round failed; retrying")
                    sent = 0
                if sent < self._batch:
                    self._wakeup.clear()
                    await wake_or_timeout(self._wakeup, self._poll_s)

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """Claim and send one round of due deliveries; returns how many were attempted."""
        due = await asyncio.to_thread(self._claim)
        if due:
            await asyncio.gather(*(self._send(client, d) for d in due))
        return len(due)

    def _claim(self) -> list[_Due]:
        now = self._clock()
        claimed: list[_Due] = []
        with session_scope(self._sessions) as session:
            rows = session.execute(
                select(orm.WebhookDelivery)
                .where(
                    orm.WebhookDelivery.status == PENDING,
                    orm.WebhookDelivery.next_attempt_at <= now,
                )
                .order_by(orm.WebhookDelivery.next_attempt_at)
                .limit(self._batch)
            ).scalars()
            for row in list(rows):
                won = _rows(
                    session.execute(
                        update(orm.WebhookDelivery)
                        .where(
                            orm.WebhookDelivery.id == row.id,
                            orm.WebhookDelivery.status == PENDING,
                            orm.WebhookDelivery.next_attempt_at == row.next_attempt_at,
                        )
                        .values(next_attempt_at=now + self._lease)
                        .execution_options(synchronize_session=False)
                    )
                )
                if won == 1:
                    claimed.append(
                        _Due(
                            row.id,
                            row.request_id,
                            owner_of(row.key_id),
                            row.url,
                            row.body,
                            row.attempts,
                        )
                    )
        return claimed

    async def _send(self, client: httpx.AsyncClient, due: _Due) -> None:
        attempt = due.attempts + 1
        error: str | None = None
        try:
            await asyncio.to_thread(self._check_url, due.url)
            secret = await asyncio.to_thread(self._secret, due.owner)
            body = due.body.encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, body, int(time.time())),
                REQUEST_ID_HEADER: due.request_id,
                DELIVERY_ID_HEADER: due.id,
                ATTEMPT_HEADER: str(attempt),
                "User-Agent": "plinth-webhooks/1",
            }
            response = await client.post(due.url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except ValidationFailed as exc:
            error = f"refused: {exc.message}"
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # e.g. a secret that no longer decrypts
            log.exception("webhook delivery %s failed", due.id)
            error = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(self._record, due, attempt, error)

    def _secret(self, owner: str) -> str:
        with session_scope(self._sessions) as session:
            return signing_secret(session, box=self._box, owner=owner)

    def _record(self, due: _Due, attempt: int, error: str | None) -> None:
        now = self._clock()
        values: dict[str, object] = {"attempts": attempt, "last_error": error}
        if error is None:
            values.update(status=DELIVERED, delivered_at=now)
        elif attempt >= self._settings.webhook_max_attempts:
            values.update(status=DEAD)
            log.warning("webhook %s is a dead letter after %d attempts: %s", due.id, attempt, error)
        else:
            delay = retry_delay_s(
                attempt,
                base_s=self._settings.webhook_backoff_s,
                cap_s=self._settings.webhook_max_backoff_s,
            )
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        with session_scope(self._sessions) as session:
            session.execute(
                update(orm.WebhookDelivery)
                .where(
                    orm.WebhookDelivery.id == due.id,
                    orm.WebhookDelivery.status == PENDING,
                    orm.WebhookDelivery.attempts == due.attempts,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
