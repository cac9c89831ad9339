"""Verify Plinth webhooks in a receiver.

    from plinth.webhooks import verify, WebhookVerificationError

    def handle(request):                      # any framework: headers + the raw body bytes
        try:
            event = verify(SECRET, request.headers, request.body)   # the parsed JSON body
        except WebhookVerificationError:
            return 400

Plinth signs every delivery with the API key's signing secret (`whsec_...`; get it once with
`client.webhooks.reveal_secret()`, replace it with `rotate_secret()`):
`X-Plinth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
`verify` recomputes it over the exact body bytes, compares in constant time, and refuses a
timestamp more than `tolerance_s` away from now (a replayed old delivery). Several `v1=`
values are accepted (any one matching), so a sender may sign with an old and a new secret.
Other headers: `X-Plinth-Request-Id` (the async request), `X-Plinth-Delivery-Id` (stable across
retries: de-duplicate on it), `X-Plinth-Delivery-Attempt`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from plinth._exceptions import PlinthError

SIGNATURE_HEADER = "X-Plinth-Signature"
REQUEST_ID_HEADER = "X-Plinth-Request-Id"
DELIVERY_ID_HEADER = "X-Plinth-Delivery-Id"

__all__ = [
    "DELIVERY_ID_HEADER",
    "REQUEST_ID_HEADER",
    "SIGNATURE_HEADER",
    "WebhookVerificationError",
    "sign",
    "verify",
]


class WebhookVerificationError(PlinthError):
    """The webhook's signature is missing, malformed, wrong or too old."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value Plinth sends for `body` at `timestamp` (for tests)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> Any:
    """The parsed JSON body if the signature is valid; else `WebhookVerificationError`."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookVerificationError(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookVerificationError(f"bad timestamp in {SIGNATURE_HEADER}") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookVerificationError(f"{SIGNATURE_HEADER} needs t=... and v1=...")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError(
            f"signature timestamp is {abs(current - timestamp):.0f} s away from now "
            f"(tolerance {tolerance_s:g} s)"
        )
    expected = sign(secret, raw, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise WebhookVerificationError("signature does not match the body and secret")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise WebhookVerificationError(f"body is not JSON: {exc}") from exc
