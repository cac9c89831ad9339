"""Reading replica logs for the API: the tail of a model's replicas, and following new lines.

The files are those `serving.runtime_local` writes, named and rotated as `serving.logfiles`
describes: `<root>/<model>/<replica_id>.log` (plus rotated `.log.1` ...), where `root` is
`replica_log_root(settings.log_dir)`. This module only reads them; it never imports the runtime.

- `model_log_files(root, model)`: the model's replica log files, least recently written first,
  at most `MAX_REPLICAS` (the most recently written: logs of long-gone replicas stay on disk).
  A model name that is not a plain name (a path, "..", the fork servers' "_forkserver") has none.
- `tail(root, model, n)`: the last `n` lines of each of those replicas, oldest first within a
  replica, replicas ordered by their last write (so the freshest output comes last). Log lines
  carry no timestamp of their own, so `at` is None here.
- `LogFollower(root, model).poll()`: lines appended since the previous poll, for every replica
  of the model, including replicas that start later (read from their first line). The first
  poll starts at the current end of each file. A rotation between polls is noticed by `.log.1`
  changing (and by the live file shrinking); the follower then reads the rest of `.log.1` from
  where it was before continuing at the start of the live file, so rotation loses no line it
  could see. `at` is when the follower read the line. A line is returned once it ends with a
  newline (or once `MAX_PENDING` bytes lack one). Blocking file I/O: call it in a thread.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from serving import logfiles

REPLICA_LOG_SUBDIR = "replicas"  # backend.platform starts the runtime at replica_log_root()
MAX_REPLICAS = 20
MAX_TAIL = 10_000
MAX_READ_PER_POLL = 1024 * 1024
MAX_PENDING = 64 * 1024
_LOG_SUFFIX = ".log"
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class LogEntry:
    replica_id: str
    line: str
    at: datetime | None = None


def replica_log_root(log_dir: Path) -> Path:
    return log_dir / REPLICA_LOG_SUBDIR


def model_log_files(root: Path, model: str) -> dict[str, Path]:
    """replica id -> live log file, least recently written first."""
    if not _PLAIN_NAME.match(model) or ".." in model:
        return {}
    found: list[tuple[int, str, Path]] = []
    try:
        entries = list(os.scandir(root / model))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    for entry in entries:
        if entry.name.endswith(_LOG_SUFFIX) and entry.is_file():
            try:
                mtime = entry.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            found.append((mtime, entry.name[: -len(_LOG_SUFFIX)], Path(entry.path)))
    found.sort()
    return {replica: path for _, replica, path in found[-MAX_REPLICAS:]}


def tail(root: Path, model: str, n: int) -> list[LogEntry]:
    n = min(n, MAX_TAIL)
    entries: list[LogEntry] = []
    for replica, path in model_log_files(root, model).items():
        entries.extend(LogEntry(replica, line) for line in logfiles.tail_lines(path, n))
    return entries


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class _Cursor:
    offset: int
    rotated: tuple[int, int, int] | None  # identity of `.log.1` when last seen
    pending: bytes = field(default=b"")


class LogFollower:
    def __init__(self, root: Path, model: str) -> None:
        self.root = root
        self.model = model
        self._cursors: dict[str, _Cursor] = {}
        self._started = False

    def poll(self) -> list[LogEntry]:
        now = datetime.now(UTC)
        entries: list[LogEntry] = []
        for replica, path in model_log_files(self.root, self.model).items():
            cursor = self._cursors.get(replica)
            if cursor is None:
                size = _size(path) if not self._started else 0
                cursor = _Cursor(size, _identity(logfiles.generation(path, 1)))
                self._cursors[replica] = cursor
            data = self._read_new(path, cursor)
            entries.extend(LogEntry(replica, line, now) for line in _complete_lines(cursor, data))
        self._started = True
        return entries

    def _read_new(self, path: Path, cursor: _Cursor) -> bytes:
        data = b""
        rotated = _identity(logfiles.generation(path, 1))
        if rotated != cursor.rotated:
            cursor.rotated = rotated
            # The copy holds the live file as it was up to the truncate: read its rest first.
            data = _read_from(logfiles.generation(path, 1), cursor.offset)
            cursor.offset = 0
        elif _size(path) < cursor.offset:  # truncated by someone else: start over
            cursor.offset = 0
        new = _read_from(path, cursor.offset)
        cursor.offset += len(new)
        return data + new


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(MAX_READ_PER_POLL)
    except FileNotFoundError:
        return b""


def _complete_lines(cursor: _Cursor, data: bytes) -> list[str]:
    buffered = cursor.pending + data
    head, _, rest = buffered.rpartition(b"\n")
    if len(rest) > MAX_PENDING:  # a writer that never ends its line: hand out what there is
        head, rest = buffered, b""
    cursor.pending = rest
    if not head:
        return []
    return head.decode("utf-8", errors="replace").splitlines()
