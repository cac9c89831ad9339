"""A control-plane lease held by another process, for tests of what its death frees."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def lease_held_elsewhere(url: str, holder: str) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the lease of `url` as `holder`; killed (at the latest) on exit."""
    script = textwrap.dedent(
        f"""
        import time
        from backend.lease import acquire_lease
        lease = acquire_lease({url!r}, holder={holder!r})
        print("held", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
