"""Atomic writes leave nothing behind, and a killed writer's temp files are swept by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from precompute.atomic import sweep_leftovers, temp_file, write_bytes


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_writers_temp_files_are_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "emb" / "ab" / "abc.npy"
    target.parent.mkdir(parents=True)
    fd, mine = temp_file(target)  # this (live) process
    os.close(fd)
    dead = target.parent / f".abc.npy.{_dead_pid()}.x1y2.tmp"
    dead.write_bytes(b"partial")
    unrelated = target.parent / ".hidden.tmp"  # not one of ours: no pid in the name
    unrelated.write_bytes(b"x")
    assert sweep_leftovers(tmp_path) == 1
    assert not dead.exists()
    assert Path(mine).exists() and unrelated.exists()


def test_write_bytes_leaves_only_the_file(tmp_path: Path) -> None:
    write_bytes(tmp_path / "a" / "f.bin", b"data")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["f.bin"]
    assert (tmp_path / "a" / "f.bin").read_bytes() == b"data"
