"""Every error the SDK raises derives from `PlinthError`.

    PlinthError
    ├── APIError                    the platform answered with an error
    │   │                               (.status .type .message .field)
    │   ├── AuthenticationError         401  missing or wrong API key
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404, or a GraphQL `NotFoundError` result
    │   ├── ConflictError               409
    │   ├── ValidationError             422, or a GraphQL `ValidationError` result  (.field)
    │   ├── RateLimitError              429  (.retry_after seconds, from Retry-After)
    │   └── ServiceUnavailableError     503  e.g. the model has no ACTIVE deployment yet
    ├── APIConnectionError          the platform could not be reached
    │   └── APITimeoutError             no answer within the client's timeout
    ├── DeploymentFailedError       a deployment ended FAILED  (.deployment, .reason)
    └── DeploymentTimeoutError      a deployment was still in progress when waiting gave up

Any other error status (400, 500, 502, 504, ...) is a plain `APIError` carrying that status.
`error_for_status` is the one place that maps a status to a class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from plinth.types import Deployment

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ConflictError",
    "DeploymentFailedError",
    "DeploymentTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlinthError",
    "RateLimitError",
    "ServiceUnavailableError",
    "ValidationError",
    "error_for_status",
]


class PlinthError(Exception):
    """Base class of every error raised by the Plinth SDK."""


class APIError(PlinthError):
    """The platform answered, and the answer is an error.

    `status` is the HTTP status (or the status the GraphQL result stands for), `type` the
    machine-readable error type from `{"error": {"type": ...}}`, `field` the input field at
    fault when the platform names one.
    """

    default_status: ClassVar[int] = 500
    default_type: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.default_status if status is None else status
        self.type = self.default_type if type is None else type
        self.field = field

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, type={self.type!r}, "
            f"message={self.message!r}, field={self.field!r})"
        )


class AuthenticationError(APIError):
    default_status = 401
    default_type = "unauthenticated"


class PermissionDeniedError(APIError):
    default_status = 403
    default_type = "forbidden"


class NotFoundError(APIError):
    default_status = 404
    default_type = "not_found"


class ConflictError(APIError):
    default_status = 409
    default_type = "conflict"


class ValidationError(APIError):
    """An input the platform refused; `field` names it (contract camelCase, e.g. `minReplicas`)."""

    default_status = 422
    default_type = "validation_error"

    def __str__(self) -> str:
        return f"invalid {self.field}: {self.message}" if self.field else self.message


class RateLimitError(APIError):
    """Too many requests queued; retry after `retry_after` seconds (None when not given)."""

    default_status = 429
    default_type = "queue_full"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, type=type, field=field)
        self.retry_after = retry_after


class ServiceUnavailableError(APIError):
    default_status = 503
    default_type = "unavailable"


_BY_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_for_status(
    status: int,
    message: str,
    *,
    type: str | None = None,
    field: str | None = None,
    retry_after: float | None = None,
) -> APIError:
    """The typed error for an HTTP error status."""
    cls = _BY_STATUS.get(status, APIError)
    if cls is RateLimitError:
        return RateLimitError(
            message, status=status, type=type, field=field, retry_after=retry_after
        )
    return cls(message, status=status, type=type, field=field)


class APIConnectionError(PlinthError):
    """The platform could not be reached at `url`."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    @classmethod
    def unreachable(cls, url: str, detail: str = "") -> APIConnectionError:
        suffix = f" ({detail})" if detail else ""
        return cls(
            f"cannot reach the Plinth platform at {url}{suffix}: "
            f"is `make up` / `plinth up` running at {url}? "
            "Set PLINTH_URL (or pass --url / base_url=) if it runs elsewhere.",
            url=url,
        )


class APITimeoutError(APIConnectionError):
    """The platform did not answer within the client's timeout."""

    @classmethod
    def after(cls, url: str, timeout: float | None) -> APITimeoutError:
        within = f" within {timeout:g} s" if timeout is not None else ""
        return cls(
            f"the Plinth platform at {url} did not answer{within}; "
            "raise the client's timeout= if the request is expected to take longer",
            url=url,
        )


class DeploymentFailedError(PlinthError):
    """A deployment ended FAILED (or was superseded before it became ACTIVE).

    `deployment` is its final state; `reason` is `deployment.error`.
    """

    def __init__(self, deployment: Deployment, reason: str | None = None) -> None:
        self.deployment = deployment
        self.reason = reason or deployment.error or "no reason given"
        super().__init__(
            f"deployment {deployment.id} (version {deployment.version}) of model "
            f"'{deployment.model_name}' failed: {self.reason}"
        )


class DeploymentTimeoutError(PlinthError):
    """Waiting for a deployment gave up; the deployment itself carries on on the platform."""

    def __init__(self, deployment: Deployment, timeout: float) -> None:
        self.deployment = deployment
        self.timeout = timeout
        super().__init__(
            f"deployment {deployment.id} of model '{deployment.model_name}' is still "
            f"{deployment.status.value} after {timeout:g} s; it carries on on the platform "
            f"(check it with `plinth models get {deployment.model_name}`)"
        )
