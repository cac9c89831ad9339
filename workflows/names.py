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
