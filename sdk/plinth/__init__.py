"""Plinth SDK: deploy and call models on a Plinth platform.

    import plinth

    with plinth.Client() as client:  # PLINTH_URL (or PLINTH_HOST/PORT), PLINTH_API_KEY
        client.models.deploy("sentence-transformers/all-MiniLM-L6-v2", name="minilm")
        client.models.predict("minilm", ["Hello world"])

Errors are `plinth.PlinthError` subclasses (see `plinth._exceptions`); public types are the
pydantic models of `plinth.types`. The `plinth` command is `plinth.cli`.
"""

from plinth._admin import ApiKey, AsyncKeys, AsyncSecrets, CreatedApiKey, Keys, Secret, Secrets
from plinth._async import (
    AsyncBatch,
    AsyncRequest,
    AsyncWebhooks,
    Batch,
    BatchJob,
    WaitTimeoutError,
    WebhookDelivery,
    Webhooks,
)
from plinth._client import AsyncClient, AsyncModels, Client, Models
from plinth._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    DeploymentFailedError,
    DeploymentTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    PlinthError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from plinth._operations import ScalingFields
from plinth._stream import AsyncTextStream, TextStream
from plinth.types import (
    NAME_PATTERN,
    TASKS,
    Canary,
    Deployment,
    DeploymentEvent,
    DeploymentStatus,
    Environment,
    FieldError,
    LogLine,
    Model,
    Replica,
    ReplicaState,
    Scaling,
    validate_name,
)

__version__ = "0.1.0"

__all__ = [
    "NAME_PATTERN",
    "TASKS",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "ApiKey",
    "AsyncBatch",
    "AsyncClient",
    "AsyncKeys",
    "AsyncModels",
    "AsyncRequest",
    "AsyncSecrets",
    "AsyncTextStream",
    "AsyncWebhooks",
    "AuthenticationError",
    "Batch",
    "BatchJob",
    "Canary",
    "Client",
    "ConflictError",
    "CreatedApiKey",
    "Deployment",
    "DeploymentEvent",
    "DeploymentFailedError",
    "DeploymentStatus",
    "DeploymentTimeoutError",
    "Environment",
    "FieldError",
    "Keys",
    "LogLine",
    "Model",
    "Models",
    "NotFoundError",
    "PermissionDeniedError",
    "PlinthError",
    "RateLimitError",
    "Replica",
    "ReplicaState",
    "Scaling",
    "ScalingFields",
    "Secret",
    "Secrets",
    "ServiceUnavailableError",
    "TextStream",
    "ValidationError",
    "WaitTimeoutError",
    "WebhookDelivery",
    "Webhooks",
    "__version__",
    "validate_name",
]
