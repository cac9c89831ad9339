"""`plinth up`: the whole platform in one process on its embedded default.

One asyncio loop runs the HTTP gateway and GraphQL API (uvicorn), the replica controller, and a
Temporal worker; the Temporal dev server and the replicas are child processes that die with it
(PR_SET_PDEATHSIG), so even a SIGKILL leaves no orphan. On start the database is migrated and the
controller reconciles: every ACTIVE deployment comes back to its minimum. The async dispatcher
and the webhook sender (`backend.async_requests`, `backend.webhooks`) and the batch worker run
in the same loop; their work is in the database, so a restart picks it up.

One control plane per database (`backend.lease`): before it touches the database `plinth up`
takes the control-plane lease, and a second one on the same database stops at once saying who
holds it, or with `standby=True` (`plinth up --standby`) waits and takes over when the holder
stops or dies. A PostgreSQL lease that another process took over stops the platform.

Security at start (`backend.auth.bootstrap`): an unsafe bind (non-loopback with auth disabled,
or without PLINTH_SECRET_KEY) refuses to start before anything runs; on a database with no API
key an admin key is created, written to `$PLINTH_HOME/credentials` and handed to `on_admin_key`
(`plinth up` prints it once). Replicas receive the decrypted secrets their deployment names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Generator

import uvicorn
from sqlalchemy.orm import sessionmaker
from temporalio.client import Client

from backend.app import create_app
from backend.async_requests.dispatcher import AsyncDispatcher
from backend.async_requests.routes import AsyncHooks
from backend.auth.bootstrap import check_bind, ensure_admin_key
from backend.control_store import SqlControlStore
from backend.db.migrate import upgrade_database
from backend.db.session import make_engine
from backend.lease import Lease, LeaseBusy, LeaseLost, acquire_lease, holder_description
from backend.logs import replica_log_root
from backend.metrics_store import MetricsSampler, MetricsStore
from backend.secrets import SecretBox, load_secret_box
from backend.settings import Settings
from backend.temporal_server import TemporalDevServer
from backend.webhooks import WebhookSender
from serving.controller import Controller
from serving.metrics import ServingMetrics
from serving.runtime_local import LocalProcessRuntime
from workflows.names import (
    BATCH_JOB_WORKFLOW,
    DEPLOY_MODEL_WORKFLOW,
    PROMOTE_DEPLOYMENT_WORKFLOW,
    START_CANARY_WORKFLOW,
    BatchJobInput,
    CanaryInput,
    DeployModelInput,
    PromoteInput,
    batch_task_queue,
    batch_workflow_id,
    canary_workflow_id,
    deploy_workflow_id,
    promote_workflow_id,
)
from workflows.worker import build_batch_worker, build_worker

log = logging.getLogger("plinth.platform")


class TemporalDeployStarter:
    """Starts the DeployModel workflow by name; the API never imports workflow code."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def start_deploy(self, deployment_id: str) -> None:
        await self._client.start_workflow(
            DEPLOY_MODEL_WORKFLOW,
            DeployModelInput(deployment_id),
            id=deploy_workflow_id(deployment_id),
            task_queue=self._task_queue,
        )

    async def start_promote(self, inp: PromoteInput) -> None:
        await self._client.start_workflow(
            PROMOTE_DEPLOYMENT_WORKFLOW,
            inp,
            id=promote_workflow_id(inp.deployment_id),
            task_queue=self._task_queue,
        )

    async def start_canary(self, inp: CanaryInput) -> None:
        await self._client.start_workflow(
            START_CANARY_WORKFLOW,
            inp,
            id=canary_workflow_id(inp.deployment_id),
            task_queue=self._task_queue,
        )


class TemporalBatchStarter:
    """Starts the BatchJob workflow by name on the batch task queue."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = batch_task_queue(task_queue)

    async def start_batch(self, job_id: str) -> None:
        await self._client.start_workflow(
            BATCH_JOB_WORKFLOW,
            BatchJobInput(job_id),
            id=batch_workflow_id(job_id),
            task_queue=self._task_queue,
        )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the platform shuts down its parts in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(
    settings: Settings,
    *,
    on_ready: Callable[[str], None] | None = None,
    on_admin_key: Callable[[str], None] | None = None,
    standby: bool = False,
    on_standby: Callable[[str | None], None] | None = None,
) -> None:
    """Run the platform until SIGINT/SIGTERM, then stop replicas, worker and Temporal in order.

    Raises `UnsafeConfiguration` / `SecretKeyError` before starting anything if the settings
    are unsafe (see the module docstring), and `LeaseBusy` if another control plane runs on
    the database (unless `standby`: then `on_standby(holder)` is told once, and it waits).
    """
    check_bind(settings)
    secret_box = load_secret_box(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    lease = await _take_lease(settings, standby=standby, on_standby=on_standby)
    try:
        await _serve(settings, lease, secret_box, on_ready=on_ready, on_admin_key=on_admin_key)
    finally:
        await asyncio.to_thread(lease.release)


LEASE_CHECK_S = 5.0


async def _take_lease(
    settings: Settings, *, standby: bool, on_standby: Callable[[str | None], None] | None
) -> Lease:
    holder = holder_description(settings.base_url)
    told = False
    while True:
        try:
            return await asyncio.to_thread(
                acquire_lease, settings.effective_database_url, holder=holder
            )
        except LeaseBusy as busy:
            if not standby:
                raise
            if not told and on_standby is not None:
                on_standby(busy.holder)
                told = True
        await asyncio.sleep(1.0)


async def _keep_lease(lease: Lease) -> None:
    """Returns never while the lease holds; raises `LeaseLost` (the platform stops) otherwise."""
    while True:
        await asyncio.sleep(LEASE_CHECK_S)
        if not await asyncio.to_thread(lease.check):
            raise LeaseLost(
                "lost the control-plane lease (the database connection broke and another "
                "control plane took it meanwhile): stopping so that only one controller acts"
            )


async def _serve(
    settings: Settings,
    lease: Lease,
    secret_box: SecretBox,
    *,
    on_ready: Callable[[str], None] | None,
    on_admin_key: Callable[[str], None] | None,
) -> None:
    url = settings.effective_database_url
    await asyncio.to_thread(upgrade_database, url)
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    admin_key = await asyncio.to_thread(ensure_admin_key, settings, sessions)
    if admin_key is not None and on_admin_key is not None:
        on_admin_key(admin_key)

    dev_server: TemporalDevServer | None = None
    address = settings.temporal_address
    if address is None:
        dev_server = TemporalDevServer(settings.home)
        address = await dev_server.start()
    runtime = LocalProcessRuntime(
        replica_log_root(settings.log_dir), fork_server=settings.fork_server
    )
    metrics = ServingMetrics()  # one registry shared by the routers and GET /metrics
    controller = Controller(SqlControlStore(sessions, secret_box), runtime, metrics=metrics)
    # The console's time series: 10-second buckets in the database (backend.metrics_store).
    sampler = MetricsSampler(
        metrics, lambda: controller.deployments.values(), MetricsStore(sessions)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    try:
        client = await connect_temporal(address, namespace=settings.temporal_namespace)
        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            session_factory=sessions,
            wake=controller.wake,
            plane=controller.plane,
        )
        batch_worker = build_batch_worker(
            client,
            task_queue=settings.task_queue,
            session_factory=sessions,
            plane=controller.plane,
            predict_timeout_s=settings.predict_timeout_s,
        )
        sender = WebhookSender(sessions, secret_box, settings)
        dispatcher = AsyncDispatcher(
            sessions, controller.plane, settings, on_webhooks=sender.notify
        )
        app = create_app(
            settings=settings,
            sessionmaker=sessions,
            plane=controller.plane,
            deploy_starter=TemporalDeployStarter(client, settings.task_queue),
            wake=controller.wake,
            secret_box=secret_box,
            metrics=metrics,
            metrics_sampler=sampler,
            async_hooks=AsyncHooks(notify=dispatcher.notify, cancel=dispatcher.cancel),
            batch_starter=TemporalBatchStarter(client, settings.task_queue),
        )
        server = _Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=10,
            )
        )
        tasks = [
            asyncio.create_task(controller.run(), name="controller"),
            asyncio.create_task(worker.run(), name="worker"),
            asyncio.create_task(server.serve(), name="http"),
            asyncio.create_task(batch_worker.run(), name="batch-worker"),
            asyncio.create_task(dispatcher.run(), name="async-dispatcher"),
            asyncio.create_task(sender.run(), name="webhook-sender"),
            asyncio.create_task(_keep_lease(lease), name="control-plane-lease"),
        ]
        # Import the engines' libraries in a fork server now, so the first replicas fork in
        # well under a second instead of paying seconds of imports (docs/benchmarks/cold_start.md).
        prewarm = asyncio.create_task(runtime.prewarm(), name="prewarm")
        sampling = asyncio.create_task(sampler.run(), name="metrics-sampler")
        waiter = asyncio.create_task(stop.wait())
        while not server.started:
            done = [t for t in tasks if t.done()]
            if done:
                break
            await asyncio.sleep(0.05)
        else:
            if on_ready is not None:
                on_ready(settings.base_url)
        await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error(
                    "platform component %s failed", task.get_name(), exc_info=task.exception()
                )
        waiter.cancel()
        prewarm.cancel()
        sampling.cancel()
        server.should_exit = True
        await _wait(tasks[2], 15)
        for temporal_worker in (worker, batch_worker):
            if temporal_worker.is_running:
                await temporal_worker.shutdown()
        await controller.shutdown()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        failed = [t for t in tasks if not t.cancelled() and t.exception() is not None]
        for task in failed:
            if isinstance(lost := task.exception(), LeaseLost):
                raise lost
        if failed and not stop.is_set():
            raise RuntimeError(f"platform component {failed[0].get_name()} failed") from (
                failed[0].exception()
            )
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await controller.shutdown()
        if dev_server is not None:
            await dev_server.stop()
        engine.dispose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def connect_temporal(address: str, *, namespace: str, timeout_s: float = 60.0) -> Client:
    """Connect, retrying while the server comes up: a dev server accepts TCP connections a moment
    before its frontend is healthy, and a loaded machine stretches that moment."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            return await Client.connect(address, namespace=namespace)
        except RuntimeError as err:
            if loop.time() >= deadline:
                raise RuntimeError(
                    f"could not connect to Temporal at {address} within {timeout_s:.0f} s: {err}"
                ) from err
            await asyncio.sleep(0.25)


async def _wait(task: asyncio.Task[None], timeout_s: float) -> None:
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(asyncio.shield(task), timeout_s)
