"""Encryption of stored secrets, and where the platform's encryption key comes from.

`SecretBox(key)` encrypts and decrypts secret values with Fernet (AES-128-CBC + HMAC-SHA256,
from the `cryptography` package); a value encrypted under another key fails to decrypt
(`SecretKeyMismatch`) instead of yielding garbage. `load_secret_box(settings)` picks the key:
1. `PLINTH_SECRET_KEY` (a Fernet key: 32 url-safe base64-encoded bytes), when set;
2. else, on a loopback bind only, `$PLINTH_HOME/secret.key`, generated once with mode 0600;
3. else it refuses (`SecretKeyError`): a server reachable from other machines must not encrypt
   with a key generated next to the database it protects without the operator choosing so.
Secret values never appear in reprs, logs or API answers; only names do.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from backend.settings import Settings


class SecretKeyError(Exception):
    """The platform cannot get an encryption key; the message says what to set."""


class SecretKeyMismatch(Exception):
    """A stored secret was encrypted under another key than the current one."""


class SecretBox:
    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "PLINTH_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken as exc:
            raise SecretKeyMismatch(
                "a stored secret does not decrypt with the current PLINTH_SECRET_KEY; "
                "restore the key it was written with, or set the secret again"
            ) from exc

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def _read_or_create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for this platform's secrets (see the module docstring for where the key is from)."""
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value().strip())
    if not settings.is_loopback:
        raise SecretKeyError(
            f"refusing to start on {settings.host}: PLINTH_SECRET_KEY is not set. A platform "
            "reachable from other machines needs an explicit key to encrypt its secrets; "
            "generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    return SecretBox(_read_or_create_key(settings.secret_key_path))
