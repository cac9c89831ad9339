"""PromoteDeployment and StartCanary: deterministic workflows; every side effect is an activity.

PromoteDeployment (promote and rollback; the API already put the deployment in DEPLOYING into
the environment, so the controller starts it at the environment's minimum, at least one replica,
without traffic): wait until its replicas are ready, shift the environment's traffic to it (the
routing table flips in memory; requests queued on the old router route again), then wait until
the replaced deployment's replicas have drained their in-flight requests and stopped.

StartCanary: wait until ready, make it the environment's canary with its percent; when a bound
is set, watch the canary's error rate and p95 over the window and take it out (FAILED, with the
reason on the environment and as a `canary_rolled_back` event) when one is crossed. The watch
ends when the canary is promoted, aborted or replaced.

Activities are referenced by name (see workflows/deploy). Any failure marks the deployment FAILED
with the reason (a `failed` event) and waits until its replicas are gone; traffic never moved.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.names import (
        PROMOTE_DEPLOYMENT_WORKFLOW,
        START_CANARY_WORKFLOW,
        CanaryInput,
        DeployModelInput,
        PromoteInput,
    )

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


async def _wait_ready(deployment_id: str) -> None:
    await workflow.execute_activity(
        "wait_replicas_ready",
        DeployModelInput(deployment_id),
        start_to_close_timeout=timedelta(minutes=15),
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=_RETRY,
    )


async def _fail(deployment_id: str, reason: str) -> None:
    await workflow.execute_activity(
        "fail_deployment",
        args=[DeployModelInput(deployment_id), reason],
        start_to_close_timeout=timedelta(minutes=3),
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=_RETRY,
    )


@workflow.defn(name=PROMOTE_DEPLOYMENT_WORKFLOW)
class PromoteDeployment:
    @workflow.run
    async def run(self, inp: PromoteInput) -> str:
        try:
            await _wait_ready(inp.deployment_id)
            replaced: str | None = await workflow.execute_activity(
                "shift_traffic",
                inp,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
        except ActivityError as err:
            await _fail(inp.deployment_id, _reason(err))
            return "FAILED"
        if replaced is not None:
            await workflow.execute_activity(
                "wait_stopped",
                replaced,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
            )
        return "ACTIVE"


@workflow.defn(name=START_CANARY_WORKFLOW)
class StartCanary:
    @workflow.run
    async def run(self, inp: CanaryInput) -> str:
        try:
            await _wait_ready(inp.deployment_id)
            await workflow.execute_activity(
                "set_canary",
                inp,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
        except ActivityError as err:
            await _fail(inp.deployment_id, _reason(err))
            return "FAILED"
        if inp.max_error_rate is None and inp.max_p95_ms is None:
            return "CANARY"
        reason: str | None = await workflow.execute_activity(
            "watch_canary",
            inp,
            start_to_close_timeout=timedelta(days=30),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        if reason is None:
            return "ENDED"  # promoted, aborted or replaced
        rolled_back: bool = await workflow.execute_activity(
            "roll_back_canary",
            args=[inp, reason],
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=_RETRY,
        )
        if rolled_back:
            await workflow.execute_activity(
                "wait_stopped",
                inp.deployment_id,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
            )
            return "ROLLED_BACK"
        return "ENDED"
