"""The canary watch's rule: which window rolls a canary back, and the reason it records."""

from __future__ import annotations

from workflows.lifecycle.activities import MIN_REQUESTS, _crossed
from workflows.names import CanaryInput

BOUNDED = CanaryInput("d", "production", 10.0, max_error_rate=0.1, max_p95_ms=500, window_s=30)


def test_too_few_requests_say_nothing() -> None:
    assert _crossed(BOUNDED, MIN_REQUESTS - 1, 1.0, 10_000.0) is None


def test_an_error_rate_above_the_bound_is_the_reason() -> None:
    reason = _crossed(BOUNDED, 20, 0.5, 100.0)
    assert reason == "error rate 50.0% above 10.0% over the last 30 s (20 requests)"


def test_a_slow_p95_is_the_reason_when_errors_are_fine() -> None:
    reason = _crossed(BOUNDED, 20, 0.05, 750.0)
    assert reason == "p95 latency 750 ms above 500 ms over the last 30 s (20 requests)"


def test_within_bounds_or_without_them_nothing_happens() -> None:
    assert _crossed(BOUNDED, 100, 0.1, 500.0) is None  # at the bound is not above it
    unbounded = CanaryInput("d", "production", 10.0)
    assert _crossed(unbounded, 100, 1.0, 10_000.0) is None
