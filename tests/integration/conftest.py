"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import PlatformProcess


@pytest.fixture()
def platform(tmp_path: Path, tiny_hf_home: Path) -> Iterator[PlatformProcess]:
    """`plinth up` as a real child process over the session's tiny-model cache."""
    proc = PlatformProcess(tmp_path / "plinth", tiny_hf_home).start()
    try:
        yield proc
    finally:
        proc.stop()
