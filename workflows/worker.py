"""The Temporal worker: registers every workflow and activity on the platform's task queue.

`plinth up` runs it inside the platform process (so activities can wake the controller at once);
`plinth worker` runs it on its own against the same database and Temporal server.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from workflows.deploy.activities import DeployActivities
from workflows.deploy.workflows import DeployModel


def build_worker(
    client: Client,
    *,
    task_queue: str,
    session_factory: sessionmaker[Session],
    wake: Callable[[], None] | None = None,
) -> Worker:
    activities = DeployActivities(session_factory, wake)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[DeployModel],
        activities=activities.all(),
    )
