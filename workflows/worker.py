"""The Temporal worker: registers every workflow and activity on the platform's task queue.

`plinth up` runs it inside the platform process (so activities can wake the controller at once);
`plinth worker` runs it on its own against the same database and Temporal server. Batch jobs
run on their own task queue (`build_batch_worker`), served only inside `plinth up`, where their
activities reach the in-process data plane.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from backend.interfaces import PredictPlane
from serving.plane import DataPlane
from workflows.batch.activities import BatchActivities
from workflows.batch.workflows import BatchJob
from workflows.deploy.activities import DeployActivities
from workflows.deploy.workflows import DeployModel
from workflows.lifecycle.activities import LifecycleActivities
from workflows.lifecycle.workflows import PromoteDeployment, StartCanary
from workflows.names import batch_task_queue


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


def build_batch_worker(
    client: Client,
    *,
    task_queue: str,
    session_factory: sessionmaker[Session],
    plane: PredictPlane,
    predict_timeout_s: float = 60.0,
) -> Worker:
    """The BatchJob worker: its activities call the data plane, so it runs inside `plinth up`
    on its own task queue (`workflows.names.batch_task_queue`)."""
    activities = BatchActivities(session_factory, plane, predict_timeout_s=predict_timeout_s)
    return Worker(
        client,
        task_queue=batch_task_queue(task_queue),
        workflows=[BatchJob],
        activities=activities.all(),
    )
