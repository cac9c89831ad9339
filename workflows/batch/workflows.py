"""BatchJob: a deterministic workflow; the items run in one long, heartbeating activity.

Steps: `start_batch_job` (RUNNING), `run_batch_items` (every item whose output is not yet
stored, at most `concurrency` at a time; each output is committed as it arrives, so the
database is the checkpoint), `finish_batch_job` (SUCCEEDED). If the activity's worker dies
(a SIGKILL of `plinth up`), its heartbeat stops and Temporal runs it again after
`HEARTBEAT_TIMEOUT`; the new attempt skips every item already stored, so no item runs to
completion twice. A failure that outlasts the retries marks the job FAILED with the reason.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.names import BATCH_JOB_WORKFLOW, BatchJobInput

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)


def _reason(err: BaseException) -> str:
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__


@workflow.defn(name=BATCH_JOB_WORKFLOW)
class BatchJob:
    @workflow.run
    async def run(self, inp: BatchJobInput) -> str:
        try:
            await workflow.execute_activity(
                "start_batch_job",
                inp,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
            await workflow.execute_activity(
                "run_batch_items",
                inp,
                start_to_close_timeout=timedelta(hours=24),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=_RETRY,
            )
            await workflow.execute_activity(
                "finish_batch_job",
                inp,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
        except ActivityError as err:
            await workflow.execute_activity(
                "fail_batch_job",
                args=[inp, _reason(err)],
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
            return "FAILED"
        return "SUCCEEDED"
