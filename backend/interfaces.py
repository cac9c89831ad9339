"""What the API needs from the rest of the platform, as small protocols (no imports of them).

- `DeployStarter.start_deploy(deployment_id)`: begin the deploy of a committed PENDING deployment
  (the platform starts the Temporal `DeployModel` workflow; tests record calls);
  `start_promote` / `start_canary`: begin a committed rollout (`PromoteDeployment`,
  `StartCanary`).
- `PredictPlane`: the serving data plane (`serving.plane.DataPlane` satisfies it).
- `BatchStarter.start_batch(job_id)`: run a committed batch job (the `BatchJob` workflow).
- `Wake`: poke the controller to reload desired state now (after scaling changes and deletes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

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


Wake = Callable[[], None]
