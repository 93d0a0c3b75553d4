"""Atomic, deterministic file writes.

Every artifact is written to a temporary file in the destination folder and moved into place with
``os.replace`` (atomic on POSIX), so killing the process at any moment leaves either the old file or the new
one, never a torn one. A temp file's name carries the writer's process id (``.NAME.PID.XXXX.tmp``), so the next
run removes the leftovers of a killed writer (:func:`sweep_leftovers`) without touching a live one's.
JSON is encoded with sorted keys and no whitespace so equal data gives equal bytes.

Fault injection for the resume tests (``tests/test_resume.py``): with ``PLAYGROUND_KILL_AT=FRAGMENT`` in the
environment, the first write whose destination path contains ``FRAGMENT`` SIGKILLs the writer's whole process group
(a build and its view workers) after the temp file is written and before it is moved into place: a kill in the
middle of a write, at the stage the test names, where killing from outside would have to hit a millisecond window.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_KILL_AT = os.environ.get("PLAYGROUND_KILL_AT", "")


def temp_file(path: Path) -> tuple[int, str]:
    """``(fd, name)`` of a new temp file beside ``path``, named for this process (see :func:`sweep_leftovers`)."""
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")


_LEFTOVER = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_leftovers(root: Path) -> int:
    """Remove the temp files of writers that are no longer running (a killed build) under ``root``; returns
    how many. A live writer's temp files (a concurrent process) are left alone."""
    removed = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            m = _LEFTOVER.match(name)
            if m and not _alive(int(m.group(1))):
                Path(folder, name).unlink(missing_ok=True)
                removed += 1
    return removed


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A new file at ``path``, written to a temp file beside it (creating parent folders), flushed to disk and
    moved into place only when the block exits without an error; on any error the temp file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if _KILL_AT and _KILL_AT in path.as_posix():
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (creating parent folders)."""
    with atomic_file(path) as fh:
        fh.write(data)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly these bytes (then the file,
    its inode and mtime are left alone); returns whether it wrote."""
    path = Path(path)
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_bytes(path, data)
    return True


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(data: Any, *, pretty: bool = False) -> str:
    """Stable JSON: sorted keys; compact unless ``pretty``; NaN is refused (use None)."""
    if pretty:
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, default=_default, allow_nan=False)
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default, allow_nan=False
    )


def write_json(path: Path, data: Any, *, pretty: bool = False) -> None:
    write_text(path, dumps(data, pretty=pretty) + ("\n" if pretty else ""))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Atomically write an uncompressed ``.npz`` (byte-stable: numpy writes fixed zip timestamps)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
