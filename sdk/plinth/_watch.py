"""Waiting for a deployment to settle, as a state machine shared by the sync and async clients.

The client polls `deployment(id)` (with its events) and feeds each answer to
`DeploymentWatcher.update`, which returns the events not seen before (oldest first). Then
`outcome()` decides:
- ACTIVE -> the deployment (done);
- FAILED -> `DeploymentFailedError` carrying the deployment and its `error`;
- SUPERSEDED -> done if it had become ACTIVE first, else `DeploymentFailedError`;
- past the deadline -> `DeploymentTimeoutError`; otherwise None: poll again after `delay()`.
A poll that fails with a transient error (platform restarting: connection refused, 502/503/504)
goes to `failed(exc)`, which tolerates it for up to `max_outage_s` (a deploy is a durable
workflow, so it resumes on the platform) and re-raises anything else.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from plinth._exceptions import (
    APIConnectionError,
    APIError,
    DeploymentFailedError,
    DeploymentTimeoutError,
    PlinthError,
)
from plinth.types import Deployment, DeploymentEvent, DeploymentStatus

_TRANSIENT_STATUSES = frozenset({502, 503, 504})


class DeploymentWatcher:
    def __init__(
        self,
        *,
        timeout: float,
        poll_interval: float,
        max_outage_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.max_outage_s = max_outage_s
        self._clock = clock
        self._deadline = clock() + timeout
        self._seen: set[str] = set()
        self._deployment: Deployment | None = None
        self._was_active = False
        self._outage_since: float | None = None

    def update(
        self, deployment: Deployment, events: list[DeploymentEvent]
    ) -> list[DeploymentEvent]:
        """Record a poll's answer; return its events not seen before, oldest first."""
        self._deployment = deployment
        self._outage_since = None
        fresh = [e for e in sorted(events, key=lambda e: e.at) if e.id not in self._seen]
        self._seen.update(e.id for e in fresh)
        if deployment.status is DeploymentStatus.ACTIVE or any(
            e.status is DeploymentStatus.ACTIVE for e in fresh
        ):
            self._was_active = True
        return fresh

    def outcome(self) -> Deployment | None:
        """The settled deployment, None to keep polling; raises when it failed or time is up."""
        deployment = self._deployment
        if deployment is None:
            return None
        if deployment.status is DeploymentStatus.ACTIVE:
            return deployment
        if deployment.status is DeploymentStatus.FAILED:
            raise DeploymentFailedError(deployment)
        if deployment.status is DeploymentStatus.SUPERSEDED:
            if self._was_active:
                return deployment
            raise DeploymentFailedError(
                deployment,
                reason=deployment.error
                or f"superseded by a newer deployment of model '{deployment.model_name}' "
                "before it became ACTIVE",
            )
        if self._clock() >= self._deadline:
            raise DeploymentTimeoutError(deployment, self.timeout)
        return None

    def failed(self, exc: PlinthError) -> None:
        """A poll failed: return to poll again, or re-raise when the error is not transient."""
        transient = isinstance(exc, APIConnectionError) or (
            isinstance(exc, APIError) and exc.status in _TRANSIENT_STATUSES
        )
        now = self._clock()
        if self._outage_since is None:
            self._outage_since = now
        if not transient or now - self._outage_since > self.max_outage_s or now >= self._deadline:
            raise exc

    def delay(self) -> float:
        """Seconds to sleep before the next poll."""
        return max(0.0, min(self.poll_interval, self._deadline - self._clock()))
