"""Copy-truncate rotation of replica logs (`serving.logfiles`), as an O_APPEND writer sees it."""

from __future__ import annotations

import os
from pathlib import Path

from serving import logfiles


def test_rotation_bounds_the_size_and_keeps_the_newest_lines(tmp_path: Path) -> None:
    path = tmp_path / "m" / "r1.log"
    path.parent.mkdir()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # what the replica inherits
    try:
        for i in range(5000):
            os.write(fd, f"line {i:05d} {'x' * 40}\n".encode())
            logfiles.rotate(path, max_bytes=4096, backups=2)
    finally:
        os.close(fd)
    files = [logfiles.generation(path, k) for k in range(4)]
    assert not files[3].exists()
    total = sum(f.stat().st_size for f in files[:3])
    assert total <= 3 * (4096 + 64)
    lines = logfiles.tail_lines(path, 150, backups=2)
    assert lines == [f"line {i:05d} {'x' * 40}" for i in range(4850, 5000)]


def test_tail_joins_a_line_cut_by_the_rotation(tmp_path: Path) -> None:
    path = tmp_path / "r1.log"
    path.write_bytes(b"one\ntwo\nhal")
    assert logfiles.rotate(path, max_bytes=4, backups=1)
    with open(path, "ab") as f:
        f.write(b"f done\nthree\n")
    assert logfiles.tail_lines(path, 3, backups=1) == ["two", "half done", "three"]
    assert path.read_bytes() == b"f done\nthree\n"
