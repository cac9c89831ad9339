"""Service functions for secrets: set (create or replace), list names, delete, resolve for
replicas. Values are encrypted with a `backend.secrets.SecretBox` before they reach the session
and decrypted only by `resolve_secrets` (for the controller's replica environment).

Names are environment-variable names (`HF_TOKEN`): a letter or '_', then letters, digits and
'_', at most 128 characters, because replicas receive each secret under its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import models as orm
from backend.errors import NotFound, ValidationFailed
from backend.secrets import SecretBox

SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_SECRET_BYTES = 64 * 1024


def validate_secret_name(name: str, *, field: str = "name") -> str:
    if not SECRET_NAME_RE.match(name):
        raise ValidationFailed(
            field,
            f"{name!r} is not a valid secret name: use letters, digits and '_' (not starting "
            "with a digit), at most 128 characters, e.g. HF_TOKEN",
        )
    return name


def set_secret(session: Session, *, box: SecretBox, name: str, value: str) -> orm.Secret:
    validate_secret_name(name)
    if not value:
        raise ValidationFailed("value", "must not be empty")
    if len(value.encode("utf-8")) > MAX_SECRET_BYTES:
        raise ValidationFailed("value", f"is longer than {MAX_SECRET_BYTES} bytes")
    row = session.get(orm.Secret, name)
    if row is None:
        row = orm.Secret(name=name, ciphertext=box.encrypt(value))
        session.add(row)
    else:
        row.ciphertext = box.encrypt(value)
    session.flush()
    return row


def list_secrets(session: Session) -> Sequence[orm.Secret]:
    return session.scalars(select(orm.Secret).order_by(orm.Secret.name)).all()


def delete_secret(session: Session, *, name: str) -> None:
    row = session.get(orm.Secret, name)
    if row is None:
        raise NotFound(f"secret {name!r} not found")
    session.delete(row)
    session.flush()


def check_secrets_exist(
    session: Session, *, names: Iterable[str], field: str = "secrets"
) -> list[str]:
    """The names, de-duplicated in order; ValidationFailed if one is malformed or unknown."""
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        validate_secret_name(name, field=field)
    if not wanted:
        return []
    found = set(session.scalars(select(orm.Secret.name).where(orm.Secret.name.in_(wanted))))
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ValidationFailed(
            field,
            f"unknown secret(s): {', '.join(missing)}; create them first with "
            f"`plinth secrets set {missing[0]}`",
        )
    return wanted


def resolve_secrets(session: Session, *, box: SecretBox, names: Sequence[str]) -> dict[str, str]:
    """Decrypted values of the named secrets that exist (a deleted one is simply absent)."""
    if not names:
        return {}
    rows = session.scalars(select(orm.Secret).where(orm.Secret.name.in_(list(names))))
    return {row.name: box.decrypt(row.ciphertext) for row in rows}
