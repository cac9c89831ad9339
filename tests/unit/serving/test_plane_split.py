"""The canary split (exact without a key, sticky with one) and the per-deployment statistics
the canary watch reads."""

from __future__ import annotations

from collections import Counter

import pytest

from serving.plane import TrafficSplit, TrafficStats
from tests.unit.serving.fakes import Clock


@pytest.mark.parametrize("percent", [1.0, 10.0, 12.5, 33.0, 50.0, 99.0])
def test_the_split_is_exact_over_every_full_cycle(percent: float) -> None:
    split = TrafficSplit(percent)

    to_canary = sum(split.to_canary() for _ in range(10_000))

    assert to_canary == round(percent * 100)


def test_the_split_spreads_canary_requests_evenly() -> None:
    split = TrafficSplit(10.0)

    picks = [split.to_canary() for _ in range(100)]

    # Every 10th request, not ten in a row: a short burst already sees the share.
    assert [i for i, canary in enumerate(picks) if canary] == list(range(9, 100, 10))


def test_a_key_always_reaches_the_same_side_and_keys_split_by_the_share() -> None:
    split = TrafficSplit(20.0)

    sides = {f"user-{i}": split.to_canary(f"user-{i}") for i in range(5000)}

    assert all(split.to_canary(key) == side for key, side in list(sides.items())[:200])
    share = sum(sides.values()) / len(sides)
    assert 0.18 <= share <= 0.22


def test_zero_percent_sends_nothing_to_the_canary() -> None:
    split = TrafficSplit(0.0)
    assert not any(split.to_canary() for _ in range(1000))
    assert not any(split.to_canary(f"k{i}") for i in range(1000))


def test_a_changed_percent_applies_to_the_next_requests() -> None:
    split = TrafficSplit(10.0)
    for _ in range(10):
        split.to_canary()
    split.percent = 50.0

    assert Counter(split.to_canary() for _ in range(100))[True] == 50
    assert split.percent == 50.0


def test_stats_report_error_rate_and_p95_over_the_window_only() -> None:
    clock = Clock()
    stats = TrafficStats(clock)
    for _ in range(10):
        stats.record(5.0, failed=True)  # old and slow: outside the window below
    clock.advance(120)
    for i in range(100):
        stats.record(0.001 * (i + 1), failed=i < 5)

    window = stats.window(60)

    assert (window.requests, window.errors) == (100, 5)
    assert window.error_rate == pytest.approx(0.05)
    assert window.p95_ms == pytest.approx(96.0)
    assert (stats.requests, stats.errors) == (110, 15)
    assert stats.window(60).requests == 100
    clock.advance(61)
    assert stats.window(60).requests == 0
