"""API key format and hashing: `pl_<prefix>_<secret>`, stored only as SHA-256 plus the prefix.

- `prefix`: 8 lowercase letters/digits, shown in lists and the audit log to tell keys apart;
- `secret`: `secrets.token_urlsafe(32)` (43 characters, 256 bits of randomness).
The whole key is shown once, at creation; the database keeps `hash_key(key)` (hex SHA-256 of the
whole key) and the prefix. A fast unsalted hash is right here: keys are random and long, so
there is nothing to brute-force, and the hot path hashes once per request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass

KEY_PREFIX = "pl_"
PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_MIN_SECRET = 32


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once
    prefix: str
    key_hash: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> NewKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(key=key, prefix=prefix, key_hash=hash_key(key))


_WELL_FORMED = re.compile(
    rf"{KEY_PREFIX}([a-z0-9]{{{PREFIX_LENGTH}}})_.{{{_MIN_SECRET},}}", re.ASCII | re.DOTALL
)


def key_prefix(key: str) -> str | None:
    """The visible prefix of a well-formed key, else None (then it cannot be a key of ours).
    One compiled regular expression: this runs on every authenticated request."""
    found = _WELL_FORMED.fullmatch(key)
    return None if found is None else found.group(1)


def display(prefix: str) -> str:
    """How a key is named to people: `pl_<prefix>_...`."""
    return f"{KEY_PREFIX}{prefix}_..."
