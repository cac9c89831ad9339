"""Replica log files: their names, rotation by copy-truncate, and reading their tail back.

Layout (shared by `serving.runtime_local`, which writes, and `backend.logs`, which reads):
`<root>/<model>/<replica_id>.log` is the live file; `<replica_id>.log.1` ... `.log.<backups>`
are older generations, `.1` the newest. Together they hold at most about
`(backups + 1) * max_bytes` plus what is written between two rotation checks.

Why copy-truncate, done by the platform: a replica's stdout and stderr are file descriptors it
inherited (from `Popen`, or from the fork server's dup2), opened with O_APPEND. The replica never
reopens them, so renaming the file would leave it writing into the renamed file forever. Piping
its output through the platform instead would make every replica's progress depend on a reader
in the platform process (a stalled reader blocks the replica's writes) and would lose output
when the platform restarts. Copy-truncate needs neither the replica's nor the fork server's
cooperation: `rotate` copies the live file to `.1` (through a temporary file, renamed when
complete, so `.1` is never half written) and truncates the live file to zero; O_APPEND makes the
replica's next write land at the new end of file, so there is no hole. Bytes written between the
last read of the copy and the truncate (microseconds) are lost: the price of not touching the
writer. A line cut by the truncate continues in the live file; reading `.1` then the live file
joins it again.

`tail_lines(path, n)` returns the last `n` lines across the generations, oldest first, reading
backwards in blocks so a tail costs what it returns, not the size of the files.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 3
_BLOCK = 64 * 1024
_COPY_CHUNK = 1024 * 1024


def generation(path: Path, n: int) -> Path:
    """The n-th older generation of a live log file (`n == 0`: the live file itself)."""
    return path if n == 0 else path.with_name(f"{path.name}.{n}")


def rotate(path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> bool:
    """Rotate `path` if it is larger than `max_bytes`; True if it did."""
    try:
        if os.stat(path).st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    if backups < 1:
        os.truncate(path, 0)
        return True
    for n in range(backups - 1, 0, -1):
        older = generation(path, n)
        if older.exists():
            os.replace(older, generation(path, n + 1))
    tmp = path.with_name(f"{path.name}.rotating")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(_COPY_CHUNK):
            dst.write(chunk)
        # Read what arrived during the copy until none is left, then truncate at once: only a
        # write landing between this last empty read and the truncate is lost.
        os.truncate(path, 0)
    os.replace(tmp, generation(path, 1))
    return True


def tail_lines(path: Path, n: int, backups: int = BACKUPS) -> list[str]:
    """The last `n` lines of a live log file and its older generations, oldest first."""
    if n <= 0:
        return []
    chunks: list[bytes] = []  # newest first
    newlines = 0
    for k in range(backups + 1):
        try:
            f = open(generation(path, k), "rb")  # noqa: SIM115 - closed just below
        except FileNotFoundError:
            continue
        with f:
            end = f.seek(0, os.SEEK_END)
            # One newline more than asked for: the first line kept is then complete.
            while end > 0 and newlines <= n:
                start = max(0, end - _BLOCK)
                f.seek(start)
                block = f.read(end - start)
                chunks.append(block)
                newlines += block.count(b"\n")
                end = start
        if newlines > n:
            break
    text = b"".join(reversed(chunks)).decode("utf-8", errors="replace")
    return text.splitlines()[-n:]
