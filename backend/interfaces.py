"""What the API needs from the rest of the platform, as small protocols (no imports of them).

- `DeployStarter.start_deploy(deployment_id)`: begin the deploy of a committed PENDING deployment
  (the platform starts the Temporal `DeployModel` workflow; tests record calls);
  `start_promote` / `start_canary`: begin a committed rollout (`PromoteDeployment`,
  `StartCanary`).
- `PredictPlane`: the serving data plane (`serving.plane.DataPlane` satisfies it).
- `BatchStarter.start_batch(job_id)`: run a committed batch job (the `BatchJob` workflow).
- `StreamingPlane`: a data plane that can also stream generations (`DataPlane` can); the
  streaming and OpenAI-compatible routes check for it at run time, so a plane without it still
  serves every other route.
- `Wake`: poke the controller to reload desired state now (after scaling changes and deletes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from serving.router import ReplicaStream

from serving.plane import Routed
from workflows.names import CanaryInput, PromoteInput


class DeployStarter(Protocol):
    async def start_deploy(self, deployment_id: str) -> None: ...

    async def start_promote(self, inp: PromoteInput) -> None: ...

    async def start_canary(self, inp: CanaryInput) -> None: ...


class BatchStarter(Protocol):
    async def start_batch(self, job_id: str) -> None: ...


class PredictPlane(Protocol):
    async def predict(self, model_name: str, payload: bytes, *, timeout_s: float = 60.0) -> bytes:
        """The replica's JSON answer, unchanged; raises `serving.errors.ServingError`."""
        ...

    async def predict_routed(
        self,
        model_name: str,
        payload: bytes,
        *,
        timeout_s: float = 60.0,
        environment: str = "production",
        key: str | None = None,
    ) -> Routed:
        """The answer with the version that served it (`serving.plane.Routed`)."""
        ...

    def routable(self, model_name: str) -> bool: ...


@runtime_checkable
class StreamingPlane(Protocol):
    async def open_stream(
        self,
        model_name: str,
        payload: bytes,
        *,
        timeout_s: float = 60.0,
        environment: str = "production",
        key: str | None = None,
    ) -> ReplicaStream:
        """An accepted streamed generation; the caller must `aclose()` it."""
        ...


Wake = Callable[[], None]
