"""Workflow names and input types: all that `backend/` may import from `workflows/`.

The API process starts workflows by name with these inputs, so it never imports workflow or
activity code (and the modules never import in a cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

DEPLOY_MODEL_WORKFLOW = "DeployModel"


@dataclass(frozen=True)
class DeployModelInput:
    deployment_id: str


def deploy_workflow_id(deployment_id: str) -> str:
    return f"deploy-{deployment_id}"


BATCH_JOB_WORKFLOW = "BatchJob"


@dataclass(frozen=True)
class BatchJobInput:
    job_id: str


def batch_workflow_id(job_id: str) -> str:
    return f"batch-{job_id}"


def batch_task_queue(task_queue: str) -> str:
    """Batch jobs' task queue: served by the worker inside `plinth up` (it has the data plane)."""
    return f"{task_queue}-batch"


PROMOTE_DEPLOYMENT_WORKFLOW = "PromoteDeployment"
START_CANARY_WORKFLOW = "StartCanary"


@dataclass(frozen=True)
class PromoteInput:
    """Roll a deployment (already DEPLOYING into `environment`) out and shift traffic to it;
    `rollback` says that it is the environment's previous deployment coming back."""

    deployment_id: str
    environment: str
    rollback: bool = False


@dataclass(frozen=True)
class CanaryInput:
    """Start a deployment (already DEPLOYING into `environment`) as the environment's canary
    with `percent` of its traffic; watch it when a bound is set."""

    deployment_id: str
    environment: str
    percent: float
    max_error_rate: float | None = None
    max_p95_ms: float | None = None
    window_s: float = 60.0


def promote_workflow_id(deployment_id: str) -> str:
    return f"promote-{deployment_id}"


def canary_workflow_id(deployment_id: str) -> str:
    return f"canary-{deployment_id}"
