"""Stop sequences in the OpenAI-compatible API: the stop string never reaches the client."""

from __future__ import annotations

import pytest

from backend.openai_api import _StopTrimmer


def _run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    trimmer = _StopTrimmer(stops)
    out = "".join(trimmer.feed(p) for p in pieces) + trimmer.flush()
    return out, trimmer.stopped


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["hello", " wor", "ld\n", "more"], "hello world"),
        (["hello world", "\n"], "hello world"),
        (["hel", "lo", " END", " after"], "hello "),
        (["hello E", "N", "D"], "hello "),  # the stop split over three pieces
    ],
)
def test_text_is_cut_before_the_first_stop(pieces: list[str], expected: str) -> None:
    assert _run(["\n", "END"], pieces) == (expected, True)


def test_without_a_stop_everything_passes_including_held_back_text() -> None:
    assert _run(["END"], ["the E", "N", "d"]) == ("the ENd", False)
    assert _run([], ["a", "b"]) == ("ab", False)
