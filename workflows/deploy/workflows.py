"""DeployModel: a deterministic workflow; every side effect lives in an activity.

Steps: resolve the Hugging Face snapshot and validate it for the task (status DEPLOYING, which
makes the controller start replicas), wait until the replicas are ready, mark ACTIVE. Any failure
marks the deployment FAILED with the activity's reason and waits until no replica is left, so a
failed deploy leaves nothing behind. A crash of the worker or the server resumes the workflow
from its last completed step.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.names import DEPLOY_MODEL_WORKFLOW, DeployModelInput

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


def _reason(err: BaseException) -> str:
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__


@workflow.defn(name=DEPLOY_MODEL_WORKFLOW)
class DeployModel:
    @workflow.run
    async def run(self, inp: DeployModelInput) -> str:
        try:
            await workflow.execute_activity(
                "resolve_deployment",
                inp,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
            await workflow.execute_activity(
                "wait_replicas_ready",
                inp,
                start_to_close_timeout=timedelta(minutes=15),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
            )
            await workflow.execute_activity(
                "activate_deployment",
                inp,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
        except ActivityError as err:
            reason = _reason(err)
            await workflow.execute_activity(
                "fail_deployment",
                args=[inp, reason],
                start_to_close_timeout=timedelta(minutes=3),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
            )
            return "FAILED"
        return "ACTIVE"
