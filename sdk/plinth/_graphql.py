"""The GraphQL documents the SDK sends, and the mapping of their camelCase results onto
`plinth.types` (snake_case).

Each `*_FIELDS` table maps a contract GraphQL field to its `plinth.types` attribute; the
selection sets are generated from the same tables, so what is asked for is exactly what is
parsed. Expected failures arrive as union members (`ValidationError`, `NotFoundError`) and are
raised here as the SDK's exceptions of the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plinth._exceptions import APIError, NotFoundError, ValidationError
from plinth.types import (
    Canary,
    Deployment,
    DeploymentEvent,
    Environment,
    LogLine,
    Model,
    Scaling,
)

SCALING_FIELDS: Mapping[str, str] = {
    "minReplicas": "min_replicas",
    "maxReplicas": "max_replicas",
    "concurrencyTarget": "concurrency_target",
    "maxConcurrency": "max_concurrency",
    "scaleDownDelaySeconds": "scale_down_delay_s",
    "autoscalingWindowSeconds": "autoscaling_window_s",
    "maxQueue": "max_queue",
    "autoscalingPolicy": "autoscaling_policy",
}
SCALING_INPUT_NAMES: Mapping[str, str] = {snake: camel for camel, snake in SCALING_FIELDS.items()}

REPLICA_FIELDS: Mapping[str, str] = {
    "id": "id",
    "state": "state",
    "pid": "pid",
    "port": "port",
    "startedAt": "started_at",
    "readyAt": "ready_at",
    "error": "error",
}

EVENT_FIELDS: Mapping[str, str] = {
    "id": "id",
    "deploymentId": "deployment_id",
    "at": "at",
    "kind": "kind",
    "status": "status",
    "message": "message",
}

DEPLOYMENT_FIELDS: Mapping[str, str] = {
    "id": "id",
    "modelName": "model_name",
    "version": "version",
    "huggingFaceRepo": "hugging_face_repo",
    "revision": "revision",
    "resolvedRevision": "resolved_revision",
    "task": "task",
    "engine": "engine",
    "status": "status",
    "error": "error",
    "createdAt": "created_at",
    "environment": "environment",
    "targetEnvironment": "target_environment",
    "createdBy": "created_by",
}

BATCHING_FIELDS: Mapping[str, str] = {
    "maxBatchSize": "max_batch_size",
    "maxWaitMs": "max_batch_wait_ms",
}

MODEL_FIELDS: Mapping[str, str] = {"name": "name", "createdAt": "created_at"}


def _select(fields: Mapping[str, str]) -> str:
    return " ".join(fields)


# GraphQL rejects a document that defines a fragment it does not use, so each document
# appends exactly the fragments it needs.
DEPLOYMENT_FRAGMENT = f"""
fragment DeploymentParts on Deployment {{
  {_select(DEPLOYMENT_FIELDS)}
  replicas {{ {_select(REPLICA_FIELDS)} }}
  batching {{ {_select(BATCHING_FIELDS)} }}
}}
"""
MODEL_FRAGMENTS = (
    f"""
fragment ScalingParts on Scaling {{ {_select(SCALING_FIELDS)} }}
fragment ModelParts on Model {{
  {_select(MODEL_FIELDS)}
  scaling {{ ...ScalingParts }}
  deployments {{ ...DeploymentParts }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)

DEPLOY_MODEL = (
    """
mutation DeployModel($input: DeployModelInput!) {
  deployModel(input: $input) {
    __typename
    ... on Deployment { ...DeploymentParts }
    ... on ValidationError { field message }
  }
}
"""
    + DEPLOYMENT_FRAGMENT
)

GET_MODEL = (
    "query GetModel($name: String!) { model(name: $name) { ...ModelParts } }" + MODEL_FRAGMENTS
)

LIST_MODELS = "query ListModels { models { ...ModelParts } }" + MODEL_FRAGMENTS

GET_DEPLOYMENT = (
    f"""
query GetDeployment($id: ID!) {{
  deployment(id: $id) {{ ...DeploymentParts events {{ {_select(EVENT_FIELDS)} }} }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)

UPDATE_SCALING = (
    """
mutation UpdateScaling($model: String!, $scaling: ScalingInput!) {
  updateScaling(model: $model, scaling: $scaling) {
    __typename
    ... on Model { ...ModelParts }
    ... on ValidationError { field message }
    ... on NotFoundError { message }
  }
}
"""
    + MODEL_FRAGMENTS
)

REPLICA_LOGS = """
query ReplicaLogs($model: String!, $tail: Int!) {
  replicaLogs(model: $model, tail: $tail) { replicaId at line }
}
"""
LOG_LINE_FIELDS: Mapping[str, str] = {"replicaId": "replica_id", "at": "at", "line": "line"}

DELETE_MODEL = """
mutation DeleteModel($name: String!) {
  deleteModel(name: $name) {
    __typename
    ... on DeletedModel { name }
    ... on NotFoundError { message }
  }
}
"""


LIFECYCLE_RESULT = """
    __typename
    ... on Deployment { ...DeploymentParts }
    ... on ValidationError { field message }
    ... on NotFoundError { field message }
"""
PROMOTE_DEPLOYMENT = (
    f"""
mutation PromoteDeployment($id: ID!, $environment: String!) {{
  promoteDeployment(deploymentId: $id, environment: $environment) {{ {LIFECYCLE_RESULT} }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)
ROLLBACK = (
    f"""
mutation Rollback($model: String!, $environment: String!) {{
  rollback(model: $model, environment: $environment) {{ {LIFECYCLE_RESULT} }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)
START_CANARY = (
    f"""
mutation StartCanary($model: String!, $id: ID!, $percent: Float!, $environment: String!,
                     $autoRollback: AutoRollbackInput) {{
  startCanary(model: $model, deploymentId: $id, percent: $percent, environment: $environment,
              autoRollback: $autoRollback) {{ {LIFECYCLE_RESULT} }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)
PROMOTE_CANARY = (
    f"""
mutation PromoteCanary($model: String!, $environment: String!) {{
  promoteCanary(model: $model, environment: $environment) {{ {LIFECYCLE_RESULT} }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)
ABORT_CANARY = (
    f"""
mutation AbortCanary($model: String!, $environment: String!) {{
  abortCanary(model: $model, environment: $environment) {{ {LIFECYCLE_RESULT} }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)
CREATE_ENVIRONMENT = (
    f"""
mutation CreateEnvironment($model: String!, $name: String!, $scaling: ScalingInput) {{
  createEnvironment(model: $model, name: $name, scaling: $scaling) {{
    __typename
    ... on Environment {{ ...EnvironmentParts }}
    ... on ValidationError {{ field message }}
    ... on NotFoundError {{ field message }}
  }}
}}
fragment ScalingParts on Scaling {{ {_select(SCALING_FIELDS)} }}
fragment EnvironmentParts on Environment {{
  name scaling {{ ...ScalingParts }} lastRollbackReason
  deployment {{ ...DeploymentParts }}
  previousDeployment {{ ...DeploymentParts }}
  canary {{
    percent deployment {{ ...DeploymentParts }}
    autoRollback {{ maxErrorRate maxP95Ms windowSeconds }}
  }}
}}
"""
    + DEPLOYMENT_FRAGMENT
)
LIST_ENVIRONMENTS = (
    "query Environments($name: String!) "
    "{ model(name: $name) { environments { ...EnvironmentParts } } }"
    + CREATE_ENVIRONMENT[CREATE_ENVIRONMENT.index("fragment ScalingParts") :]
)


def parse_environment(data: Mapping[str, Any]) -> Environment:
    def dep(value: Any) -> Deployment | None:
        return None if value is None else parse_deployment(value)

    canary = data.get("canary")
    auto = (canary or {}).get("autoRollback") or {}
    return Environment(
        name=data["name"],
        scaling=parse_scaling(data["scaling"]),
        deployment=dep(data.get("deployment")),
        previous_deployment=dep(data.get("previousDeployment")),
        canary=None
        if canary is None
        else Canary(
            deployment=parse_deployment(canary["deployment"]),
            percent=canary["percent"],
            max_error_rate=auto.get("maxErrorRate"),
            max_p95_ms=auto.get("maxP95Ms"),
            window_s=auto.get("windowSeconds"),
        ),
        last_rollback_reason=data.get("lastRollbackReason"),
    )


def _rename(data: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    return {snake: data[camel] for camel, snake in fields.items() if camel in data}


def batching_input(max_batch_size: int | None, max_batch_wait_ms: float | None) -> dict[str, Any]:
    """A GraphQL `BatchingInput`; None values are left out (the platform's default)."""
    values = {"maxBatchSize": max_batch_size, "maxWaitMs": max_batch_wait_ms}
    return {camel: value for camel, value in values.items() if value is not None}


def scaling_input(values: Mapping[str, Any]) -> dict[str, Any]:
    """A GraphQL `ScalingInput` from snake_case `Scaling` fields; None values are left out."""
    unknown = set(values) - set(SCALING_INPUT_NAMES)
    if unknown:
        raise TypeError(f"unknown scaling field(s): {', '.join(sorted(unknown))}")
    return {SCALING_INPUT_NAMES[k]: v for k, v in values.items() if v is not None}


def parse_scaling(data: Mapping[str, Any]) -> Scaling:
    return Scaling(**_rename(data, SCALING_FIELDS))


def parse_deployment(data: Mapping[str, Any]) -> Deployment:
    fields = _rename(data, DEPLOYMENT_FIELDS)
    fields["replicas"] = [_rename(r, REPLICA_FIELDS) for r in data.get("replicas") or []]
    fields.update(_rename(data.get("batching") or {}, BATCHING_FIELDS))
    return Deployment.model_validate(fields)


def parse_event(data: Mapping[str, Any]) -> DeploymentEvent:
    return DeploymentEvent.model_validate(_rename(data, EVENT_FIELDS))


def parse_log_line(data: Mapping[str, Any]) -> LogLine:
    return LogLine.model_validate(_rename(data, LOG_LINE_FIELDS))


def parse_model(data: Mapping[str, Any]) -> Model:
    fields = _rename(data, MODEL_FIELDS)
    fields["scaling"] = parse_scaling(data["scaling"])
    fields["deployments"] = [parse_deployment(d) for d in data.get("deployments") or []]
    return Model.model_validate(fields)


def unwrap_union(result: Any, expected: str) -> Mapping[str, Any]:
    """The union member if it is `expected`; raise the SDK error an expected failure stands for."""
    if not isinstance(result, Mapping):
        raise APIError(f"malformed GraphQL result: {result!r}", type="invalid_response")
    typename = result.get("__typename")
    if typename == expected:
        return result
    message = str(result.get("message", ""))
    if typename == "ValidationError":
        raise ValidationError(message, field=result.get("field"))
    if typename == "NotFoundError":
        raise NotFoundError(message)
    raise APIError(
        f"unexpected GraphQL result {typename!r} (expected {expected}): {message}",
        type="invalid_response",
    )
