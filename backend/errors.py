"""Errors of the control plane, raised by `backend.services` and mapped to GraphQL/HTTP at the edge.

    PlinthServerError           base of every expected control-plane failure
     ├── ValidationFailed       a value breaks the contract; `.field` names it (camelCase)
     ├── NotFound               the named resource does not exist
     └── Conflict               the change clashes with existing state (e.g. a duplicate name)

Services raise these; they never know about HTTP status codes or GraphQL union members.
"""

from __future__ import annotations


class PlinthServerError(Exception):
    """Base of expected control-plane failures; `message` is fit to show a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(PlinthServerError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(PlinthServerError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the argument that named the missing thing, when one did


class Conflict(PlinthServerError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
