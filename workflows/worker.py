"""The Temporal worker: registers every workflow and activity on the platform's task queue.

`plinth up` runs it inside the platform process (so activities can wake the controller at once);
`plinth worker` runs it on its own against the same database and Temporal server.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from serving.plane import DataPlane
from workflows.deploy.activities import DeployActivities
from workflows.deploy.workflows import DeployModel
from workflows.lifecycle.activities import LifecycleActivities
from workflows.lifecycle.workflows import PromoteDeployment, StartCanary


def build_worker(
    client: Client,
    *,
    task_queue: str,
    session_factory: sessionmaker[Session],
    wake: Callable[[], None] | None = None,
    plane: DataPlane | None = None,  # the gateway's data plane: canary watches read it
) -> Worker:
    activities = DeployActivities(session_factory, wake)
    lifecycle = LifecycleActivities(session_factory, wake, plane)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[DeployModel, PromoteDeployment, StartCanary],
        activities=[*activities.all(), *lifecycle.all()],
    )
