"""`Client` and `AsyncClient`: the platform over HTTP (GraphQL for control, REST for predict).

    with plinth.Client() as client:            # PLINTH_URL / PLINTH_API_KEY, or arguments
        client.models.deploy("sentence-transformers/all-MiniLM-L6-v2", name="minilm")
        client.models.predict("minilm", ["Hello world"])   # {"embeddings": [[...]]}

Both clients send the same `_operations.Call`s and share `_watch.DeploymentWatcher`, so the
two classes below only differ in how they wait for I/O. `transport=` takes any httpx transport
(`httpx.MockTransport(handler)` in tests).
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import httpx

from plinth import _async as aops
from plinth import _operations as ops
from plinth._admin import AsyncKeys, AsyncSecrets, Keys, Secrets
from plinth._config import auth_headers, resolve_api_key, resolve_base_url
from plinth._exceptions import NotFoundError, PlinthError
from plinth._operations import ScalingFields
from plinth._packages import AsyncPackages, Packages
from plinth._stream import AsyncTextStream, TextStream, stream_request
from plinth._watch import DeploymentWatcher
from plinth.types import (
    Deployment,
    DeploymentEvent,
    DeploymentStatus,
    Environment,
    LogLine,
    Model,
    Scaling,
)

__all__ = ["AsyncClient", "AsyncModels", "Client", "Models"]

T = TypeVar("T")
EventCallback = Callable[[DeploymentEvent], object]

DEFAULT_TIMEOUT = 60.0
DEFAULT_DEPLOY_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 0.5


class _ClientBase:
    def __init__(self, base_url: str | None, api_key: str | None, timeout: float | None) -> None:
        self.base_url = resolve_base_url(base_url)
        self.api_key = resolve_api_key(api_key, base_url=self.base_url)
        self.timeout = timeout

    def _http_options(self) -> dict[str, Any]:
        from plinth import __version__

        headers = {"User-Agent": f"plinth-python/{__version__}", **auth_headers(self.api_key)}
        return {"base_url": self.base_url, "headers": headers, "timeout": self.timeout}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class Client(_ClientBase):
    """Synchronous client. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout)
        self._http = httpx.Client(transport=transport, **self._http_options())
        self.models = Models(self)
        self.keys = Keys(self)
        self.secrets = Secrets(self)
        self.packages = Packages(self)
        self.batch = aops.Batch(self)
        self.webhooks = aops.Webhooks(self)

    def send(self, call: ops.Call[T]) -> T:
        """Send one operation; raises the SDK's typed errors."""
        try:
            response = self._http.request(
                call.method, call.path, json=call.json, timeout=call.request_timeout()
            )
        except httpx.TransportError as exc:
            raise ops.transport_error(exc, self.base_url, call.timeout or self.timeout) from exc
        return call.parse(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """Asynchronous client with the same API; use `async with`, or `await aclose()`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())
        self.models = AsyncModels(self)
        self.keys = AsyncKeys(self)
        self.secrets = AsyncSecrets(self)
        self.packages = AsyncPackages(self)
        self.batch = aops.AsyncBatch(self)
        self.webhooks = aops.AsyncWebhooks(self)

    async def send(self, call: ops.Call[T]) -> T:
        """Send one operation; raises the SDK's typed errors."""
        try:
            response = await self._http.request(
                call.method, call.path, json=call.json, timeout=call.request_timeout()
            )
        except httpx.TransportError as exc:
            raise ops.transport_error(exc, self.base_url, call.timeout or self.timeout) from exc
        return call.parse(response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _deploy_call(
    hugging_face_repo: str,
    name: str,
    revision: str | None,
    task: str | None,
    engine: str,
    scaling: Scaling | None,
    overrides: Mapping[str, Any],
    secrets: Sequence[str] = (),
    environment: str | None = None,
    max_batch_size: int | None = None,
    max_batch_wait_ms: float | None = None,
) -> ops.Call[Deployment]:
    return ops.deploy_model(
        secrets=secrets,
        environment=environment,
        max_batch_size=max_batch_size,
        max_batch_wait_ms=max_batch_wait_ms,
        name=name,
        hugging_face_repo=hugging_face_repo,
        revision=revision,
        task=task,
        engine=engine,
        scaling=ops.scaling_values(scaling, overrides),
    )


def _pick_deployment(model: Model, version: int | None, deployment_id: str | None) -> str:
    if (version is None) == (deployment_id is None):
        raise TypeError("give exactly one of version= and deployment_id=")
    if deployment_id is not None:
        return deployment_id
    for deployment in model.deployments:
        if deployment.version == version:
            return deployment.id
    raise NotFoundError(f"model '{model.name}' has no version {version}")


class Models:
    """`client.models`: deploy, inspect, scale, delete and call models."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def deploy(
        self,
        hugging_face_repo: str,
        *,
        name: str,
        revision: str | None = None,
        task: str | None = None,
        engine: str = "transformers",
        scaling: Scaling | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        on_event: EventCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        secrets: Sequence[str] = (),
        environment: str | None = None,
        max_batch_size: int | None = None,
        max_batch_wait_ms: float | None = None,
        **scaling_fields: Unpack[ScalingFields],
    ) -> Deployment:
        """Deploy a Hugging Face repo as model `name`: its first version, or the next version
        of an existing model. Once ready, the new version serves `environment` (default
        production).

        `secrets`: names of platform secrets (`client.secrets.set`) the replicas receive as
        environment variables, e.g. `["HF_TOKEN"]`.

        Scaling: `scaling` (all fields) and/or single `Scaling` fields as keywords
        (`min_replicas=1, max_replicas=3`; they win over `scaling`); what is left out takes
        the platform's defaults. With `wait` (default), polls until the deployment is
        ACTIVE and returns it, calling `on_event` for each deployment event as it arrives;
        raises `DeploymentFailedError` if it FAILED, `DeploymentTimeoutError` after `timeout`
        seconds. Without `wait`, returns the new (PENDING) deployment at once.
        Raises `ValidationError` (with `.field`) for a refused input.

        Dynamic batching of the replicas: `max_batch_size` items per forward pass (1 turns it
        off) and `max_batch_wait_ms` for a batch to fill; None keeps the task's default (on,
        64 items and 5 ms, for feature-extraction and text-classification).
        """
        call = _deploy_call(
            hugging_face_repo,
            name,
            revision,
            task,
            engine,
            scaling,
            scaling_fields,
            secrets,
            environment,
            max_batch_size,
            max_batch_wait_ms,
        )
        deployment = self._client.send(call)
        if not wait:
            return deployment
        return self.wait_for_deployment(
            deployment.id, timeout=timeout, on_event=on_event, poll_interval=poll_interval
        )

    def wait_for_deployment(
        self,
        deployment_id: str,
        *,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        on_event: EventCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Deployment:
        """Poll a deployment until it is ACTIVE (returned) or FAILED (raised); see `deploy`."""
        watcher = DeploymentWatcher(timeout=timeout, poll_interval=poll_interval)
        while True:
            try:
                deployment, events = self._client.send(ops.get_deployment(deployment_id))
            except PlinthError as exc:
                watcher.failed(exc)
            else:
                for event in watcher.update(deployment, events):
                    if on_event is not None:
                        on_event(event)
                done = watcher.outcome()
                if done is not None:
                    return done
            time.sleep(watcher.delay())

    def push(
        self,
        directory: str | Path,
        *,
        name: str | None = None,
        environment: str | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
        on_event: EventCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **scaling_fields: Unpack[ScalingFields],
    ) -> Deployment:
        """Validate, upload and deploy a custom model package (`plinth.package`) as a new
        version of model `name` (default: its plinth.yaml `name`); waits like `deploy`.
        Raises `plinth.package.PackageError` (file and line) before uploading a bad package."""
        packages = self._client.packages
        stored = packages.upload(directory)
        deployment = packages.deploy(
            stored.digest,
            name=name,
            environment=environment,
            scaling=ops.scaling_values(None, scaling_fields),
        )
        if not wait:
            return deployment
        return self.wait_for_deployment(
            deployment.id, timeout=timeout, on_event=on_event, poll_interval=poll_interval
        )

    def get_deployment(self, deployment_id: str) -> Deployment:
        """One deployment by id; `NotFoundError` if there is none."""
        return self._client.send(ops.get_deployment(deployment_id))[0]

    def events(self, deployment_id: str) -> list[DeploymentEvent]:
        """A deployment's events so far, oldest first."""
        return self._client.send(ops.get_deployment(deployment_id))[1]

    def get(self, name: str) -> Model:
        """A model with its scaling and deployments (newest first); `NotFoundError` if none."""
        return self._client.send(ops.get_model(name))

    def list(self) -> list[Model]:
        return self._client.send(ops.list_models())

    def logs(self, name: str, tail: int = 200) -> builtins.list[LogLine]:
        """The last `tail` lines (0..10000) of each of the model's replicas, oldest first."""
        return self._client.send(ops.replica_logs(name, tail))

    def update_scaling(
        self,
        name: str,
        scaling: Scaling | None = None,
        **scaling_fields: Unpack[ScalingFields],
    ) -> Model:
        """Change a model's scaling: all of `scaling` if given, then the `Scaling` fields given as
        keywords (`max_replicas=4`); fields left out keep their current values. Returns the
        updated model; `ValidationError` (with `.field`) if the result breaks a rule."""
        return self._client.send(
            ops.update_scaling(name, ops.scaling_values(scaling, scaling_fields))
        )

    def delete(self, name: str) -> None:
        """Delete a model, its deployments and replicas; `NotFoundError` if there is none."""
        self._client.send(ops.delete_model(name))

    def predict(
        self,
        name: str,
        inputs: Any,
        parameters: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        environment: str | None = None,
    ) -> Any:
        """Call a model (`POST /v1/models/{name}/predict`, or the `environment`'s route) and
        return its parsed JSON answer."""
        return self._client.send(ops.predict(name, inputs, parameters, timeout, environment))

    # -- lifecycle: versions, environments, promote, rollback, canary -------------------------

    def _deployment_id(self, name: str, version: int | None, deployment_id: str | None) -> str:
        return _pick_deployment(self.get(name), version, deployment_id)

    def environments(self, name: str) -> builtins.list[Environment]:
        """The model's environments: what serves each, the one before, canary, scaling."""
        return self._client.send(ops.list_environments(name))

    def create_environment(
        self, name: str, environment: str, **scaling_fields: Unpack[ScalingFields]
    ) -> Environment:
        """A new environment of the model (production's scaling, changed by the keywords)."""
        return self._client.send(
            ops.create_environment(name, environment, ops.scaling_values(None, scaling_fields))
        )

    def promote(
        self,
        name: str,
        *,
        version: int | None = None,
        deployment_id: str | None = None,
        environment: str = "production",
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
    ) -> Deployment:
        """Promote a version (or deployment id) into `environment` without downtime: its
        replicas start and get ready, traffic shifts, the old replicas drain and stop. A version
        that serves another environment is cloned into a new version. With `wait`, returns once
        it serves."""
        dep_id = self._deployment_id(name, version, deployment_id)
        deployment = self._client.send(ops.promote_deployment(dep_id, environment))
        return self._settle(deployment, wait, timeout)

    def rollback(
        self,
        name: str,
        *,
        environment: str = "production",
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
    ) -> Deployment:
        """Point `environment` back at its previous deployment (a promote of it)."""
        deployment = self._client.send(ops.rollback(name, environment))
        return self._settle(deployment, wait, timeout)

    def start_canary(
        self,
        name: str,
        *,
        percent: float,
        version: int | None = None,
        deployment_id: str | None = None,
        environment: str = "production",
        max_error_rate: float | None = None,
        max_p95_ms: float | None = None,
        window_s: float = 60.0,
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,
    ) -> Deployment:
        """Send `percent` of `environment`'s traffic to a version; with a bound, the platform
        rolls it back when its error rate or p95 over `window_s` crosses it."""
        dep_id = self._deployment_id(name, version, deployment_id)
        call = ops.start_canary(
            name,
            dep_id,
            percent,
            environment,
            max_error_rate=max_error_rate,
            max_p95_ms=max_p95_ms,
            window_s=window_s,
        )
        return self._settle(self._client.send(call), wait, timeout)

    def promote_canary(self, name: str, *, environment: str = "production") -> Deployment:
        return self._client.send(ops.promote_canary(name, environment))

    def abort_canary(self, name: str, *, environment: str = "production") -> Deployment:
        return self._client.send(ops.abort_canary(name, environment))

    def _settle(self, deployment: Deployment, wait: bool, timeout: float) -> Deployment:
        if not wait or deployment.status is DeploymentStatus.ACTIVE:
            return deployment
        return self.wait_for_deployment(deployment.id, timeout=timeout)

    def async_predict(
        self,
        name: str,
        inputs: Any,
        parameters: Mapping[str, Any] | None = None,
        *,
        webhook_url: str | None = None,
        priority: int | None = None,
        max_time_in_queue_s: float | None = None,
    ) -> aops.AsyncRequest:
        """Queue a durable predict (`POST /v1/models/{name}/async_predict`); returns it QUEUED.

        `priority` 0 runs first, 1 is the default, 2 last; a request still queued after
        `max_time_in_queue_s` becomes EXPIRED. `webhook_url` receives the signed result
        (`plinth.webhooks.verify`)."""
        call = aops.async_predict(
            name,
            inputs,
            parameters,
            webhook_url=webhook_url,
            priority=priority,
            max_time_in_queue_s=max_time_in_queue_s,
        )
        return self._client.send(call)

    def get_async(self, request_id: str) -> aops.AsyncRequest:
        """An async request with its status and, once SUCCEEDED, its `result`."""
        return self._client.send(aops.get_async(request_id))

    def cancel_async(self, request_id: str) -> aops.AsyncRequest:
        """Cancel a queued or running request; `ConflictError` if it already finished."""
        return self._client.send(aops.cancel_async(request_id))

    def wait_async(
        self, request_id: str, *, timeout: float | None = None, poll_interval: float = 0.5
    ) -> aops.AsyncRequest:
        """Poll until the request finished (any final status); `WaitTimeoutError` after timeout."""
        return aops.wait_async_sync(self._client, request_id, timeout, poll_interval)

    def stream(
        self,
        name: str,
        inputs: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> TextStream:
        """Stream a text-generation model's output piece by piece (see `plinth._stream`)."""
        path, body = stream_request(name, inputs, parameters)
        return TextStream(self._client._http, path, body, timeout)


class AsyncModels:
    """`async_client.models`: the same operations as `Models`, awaitable."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    # `timeout` here bounds the wait for the deployment (or one request), as in the sync API,
    # so the ASYNC109 advice (use asyncio.timeout instead) does not apply.
    async def deploy(
        self,
        hugging_face_repo: str,
        *,
        name: str,
        revision: str | None = None,
        task: str | None = None,
        engine: str = "transformers",
        scaling: Scaling | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,  # noqa: ASYNC109
        on_event: EventCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        secrets: Sequence[str] = (),
        environment: str | None = None,
        max_batch_size: int | None = None,
        max_batch_wait_ms: float | None = None,
        **scaling_fields: Unpack[ScalingFields],
    ) -> Deployment:
        """See `Models.deploy`; `on_event` may also be a coroutine function."""
        call = _deploy_call(
            hugging_face_repo,
            name,
            revision,
            task,
            engine,
            scaling,
            scaling_fields,
            secrets,
            environment,
            max_batch_size,
            max_batch_wait_ms,
        )
        deployment = await self._client.send(call)
        if not wait:
            return deployment
        return await self.wait_for_deployment(
            deployment.id, timeout=timeout, on_event=on_event, poll_interval=poll_interval
        )

    async def wait_for_deployment(
        self,
        deployment_id: str,
        *,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,  # noqa: ASYNC109
        on_event: EventCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **scaling_fields: Unpack[ScalingFields],
    ) -> Deployment:
        """See `Models.wait_for_deployment`."""
        watcher = DeploymentWatcher(timeout=timeout, poll_interval=poll_interval)
        while True:
            try:
                deployment, events = await self._client.send(ops.get_deployment(deployment_id))
            except PlinthError as exc:
                watcher.failed(exc)
            else:
                for event in watcher.update(deployment, events):
                    if on_event is not None:
                        result = on_event(event)
                        if inspect.isawaitable(result):
                            await result
                done = watcher.outcome()
                if done is not None:
                    return done
            await asyncio.sleep(watcher.delay())

    async def push(
        self,
        directory: str | Path,
        *,
        name: str | None = None,
        environment: str | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,  # noqa: ASYNC109
        on_event: EventCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **scaling_fields: Unpack[ScalingFields],
    ) -> Deployment:
        """See `Models.push`."""
        packages = self._client.packages
        stored = await packages.upload(directory)
        deployment = await packages.deploy(
            stored.digest,
            name=name,
            environment=environment,
            scaling=ops.scaling_values(None, scaling_fields),
        )
        if not wait:
            return deployment
        return await self.wait_for_deployment(
            deployment.id, timeout=timeout, on_event=on_event, poll_interval=poll_interval
        )

    async def get_deployment(self, deployment_id: str) -> Deployment:
        return (await self._client.send(ops.get_deployment(deployment_id)))[0]

    async def events(self, deployment_id: str) -> list[DeploymentEvent]:
        return (await self._client.send(ops.get_deployment(deployment_id)))[1]

    async def get(self, name: str) -> Model:
        return await self._client.send(ops.get_model(name))

    async def list(self) -> list[Model]:
        return await self._client.send(ops.list_models())

    async def logs(self, name: str, tail: int = 200) -> builtins.list[LogLine]:
        return await self._client.send(ops.replica_logs(name, tail))

    async def update_scaling(
        self,
        name: str,
        scaling: Scaling | None = None,
        **scaling_fields: Unpack[ScalingFields],
    ) -> Model:
        """See `Models.update_scaling`."""
        call = ops.update_scaling(name, ops.scaling_values(scaling, scaling_fields))
        return await self._client.send(call)

    async def delete(self, name: str) -> None:
        await self._client.send(ops.delete_model(name))

    async def predict(
        self,
        name: str,
        inputs: Any,
        parameters: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        environment: str | None = None,
    ) -> Any:
        return await self._client.send(ops.predict(name, inputs, parameters, timeout, environment))

    async def async_predict(
        self,
        name: str,
        inputs: Any,
        parameters: Mapping[str, Any] | None = None,
        *,
        webhook_url: str | None = None,
        priority: int | None = None,
        max_time_in_queue_s: float | None = None,
    ) -> aops.AsyncRequest:
        """See `Models.async_predict`."""
        call = aops.async_predict(
            name,
            inputs,
            parameters,
            webhook_url=webhook_url,
            priority=priority,
            max_time_in_queue_s=max_time_in_queue_s,
        )
        return await self._client.send(call)

    async def get_async(self, request_id: str) -> aops.AsyncRequest:
        return await self._client.send(aops.get_async(request_id))

    async def cancel_async(self, request_id: str) -> aops.AsyncRequest:
        return await self._client.send(aops.cancel_async(request_id))

    async def wait_async(
        self,
        request_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        poll_interval: float = 0.5,
    ) -> aops.AsyncRequest:
        return await aops.wait_async(self._client, request_id, timeout, poll_interval)

    # -- lifecycle (see `Models`) ----------------------------------------------------------------

    async def environments(self, name: str) -> builtins.list[Environment]:
        return await self._client.send(ops.list_environments(name))

    async def create_environment(
        self, name: str, environment: str, **scaling_fields: Unpack[ScalingFields]
    ) -> Environment:
        call = ops.create_environment(name, environment, ops.scaling_values(None, scaling_fields))
        return await self._client.send(call)

    async def promote(
        self,
        name: str,
        *,
        version: int | None = None,
        deployment_id: str | None = None,
        environment: str = "production",
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,  # noqa: ASYNC109
    ) -> Deployment:
        dep_id = _pick_deployment(await self.get(name), version, deployment_id)
        deployment = await self._client.send(ops.promote_deployment(dep_id, environment))
        return await self._settle(deployment, wait, timeout)

    async def rollback(
        self,
        name: str,
        *,
        environment: str = "production",
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,  # noqa: ASYNC109
    ) -> Deployment:
        deployment = await self._client.send(ops.rollback(name, environment))
        return await self._settle(deployment, wait, timeout)

    async def start_canary(
        self,
        name: str,
        *,
        percent: float,
        version: int | None = None,
        deployment_id: str | None = None,
        environment: str = "production",
        max_error_rate: float | None = None,
        max_p95_ms: float | None = None,
        window_s: float = 60.0,
        wait: bool = True,
        timeout: float = DEFAULT_DEPLOY_TIMEOUT,  # noqa: ASYNC109
    ) -> Deployment:
        dep_id = _pick_deployment(await self.get(name), version, deployment_id)
        call = ops.start_canary(
            name,
            dep_id,
            percent,
            environment,
            max_error_rate=max_error_rate,
            max_p95_ms=max_p95_ms,
            window_s=window_s,
        )
        return await self._settle(await self._client.send(call), wait, timeout)

    async def promote_canary(self, name: str, *, environment: str = "production") -> Deployment:
        return await self._client.send(ops.promote_canary(name, environment))

    async def abort_canary(self, name: str, *, environment: str = "production") -> Deployment:
        return await self._client.send(ops.abort_canary(name, environment))

    async def _settle(self, deployment: Deployment, wait: bool, timeout: float) -> Deployment:  # noqa: ASYNC109
        if not wait or deployment.status is DeploymentStatus.ACTIVE:
            return deployment
        return await self.wait_for_deployment(deployment.id, timeout=timeout)

    def stream(
        self,
        name: str,
        inputs: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> AsyncTextStream:
        """`async for piece in client.models.stream(...)`: see `Models.stream`."""
        path, body = stream_request(name, inputs, parameters)
        return AsyncTextStream(self._client._http, path, body, timeout)
