"""Reading replica logs for the API (`backend.logs`): the tail across rotations, and following."""

from __future__ import annotations

import os
from pathlib import Path

from backend import logs
from serving import logfiles


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(text)


def test_tail_is_in_order_across_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "minilm" / "r1.log"
    for i in range(30):
        _write(path, f"l{i}\n")
        logfiles.rotate(path, max_bytes=20)
    entries = logs.tail(tmp_path, "minilm", 12)
    assert [e.line for e in entries] == [f"l{i}" for i in range(18, 30)]
    assert {e.replica_id for e in entries} == {"r1"}


def test_tail_orders_replicas_by_last_write_and_ignores_other_paths(tmp_path: Path) -> None:
    _write(tmp_path / "minilm" / "old.log", "from old\n")
    _write(tmp_path / "minilm" / "new.log", "from new\n")
    os.utime(tmp_path / "minilm" / "old.log", (1, 1))
    _write(tmp_path / "_forkserver" / "transformers.log", "fork server\n")
    assert [(e.replica_id, e.line) for e in logs.tail(tmp_path, "minilm", 5)] == [
        ("old", "from old"),
        ("new", "from new"),
    ]
    assert logs.tail(tmp_path, "_forkserver", 5) == []
    assert logs.tail(tmp_path, "../minilm", 5) == []


def test_follower_sees_new_lines_through_a_rotation_and_new_replicas(tmp_path: Path) -> None:
    path = tmp_path / "minilm" / "r1.log"
    _write(path, "before\n")
    follower = logs.LogFollower(tmp_path, "minilm")
    assert follower.poll() == []  # starts at the end
    _write(path, "a\nb\npartial")
    assert [e.line for e in follower.poll()] == ["a", "b"]
    _write(path, " line\n" + "x" * 50 + "\n")
    assert logfiles.rotate(path, max_bytes=10)
    _write(path, "after rotation\n")
    _write(tmp_path / "minilm" / "r2.log", "second replica\n")
    entries = follower.poll()
    got = [(e.replica_id, e.line) for e in entries]
    assert got == [
        ("r1", "partial line"),
        ("r1", "x" * 50),
        ("r1", "after rotation"),
        ("r2", "second replica"),
    ]
    assert all(e.at is not None for e in entries)
    assert follower.poll() == []
