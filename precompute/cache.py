"""The content-keyed artifact cache under ``build/cache/``.

Every artifact's key is a hash of everything it depends on (a JSON-able dict), so a changed input means a
new key and a miss; nothing is ever invalidated by time. Files are written atomically (``atomic``), so an
interrupted run leaves only whole files and the next run resumes from them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_file, dumps, read_npz, sweep_leftovers, write_json, write_npz

FORMAT = 1  # bump when the meaning of a cached artifact changes


#: the cache kind of a view's ``search.Calibration``, stored under its ranking's key ("calib" held the
#: fixed-fraction table of earlier builds); written by ``views``, read by ``serve``
CALIBRATION = "calibration"


def key(**parts: Any) -> str:
    """A short stable hash of the dependencies."""
    return hashlib.sha256(dumps({"format": FORMAT, **parts}).encode()).hexdigest()[:24]


class RowWriter:
    """Rows of one ``(n, d)`` float32 array streamed into a ``.npy`` file at any row offset, in any order.

    The extraction writes each batch as it comes, so a stage never holds all of a dataset's embeddings in memory
    (plain file writes, not a memory map: written pages are not part of the process's resident memory)."""

    def __init__(self, fh: Any, shape: tuple[int, int], offset: int):
        self.fh, self.shape, self.offset = fh, shape, offset

    def write(self, first_row: int, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.shape[1] or first_row + len(rows) > self.shape[0]:
            raise ValueError(f"rows {rows.shape} at {first_row} do not fit an array of shape {self.shape}")
        self.fh.seek(self.offset + first_row * self.shape[1] * 4)
        self.fh.write(rows.tobytes())


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def sweep(self) -> int:
        """Remove what killed writers left behind (temp files); run once at the start of a stage."""
        return sweep_leftovers(self.root) if self.root.is_dir() else 0

    def path(self, kind: str, k: str, suffix: str = ".npz") -> Path:
        return self.root / kind / k[:2] / f"{k}{suffix}"

    def get_arrays(self, kind: str, k: str) -> dict[str, np.ndarray] | None:
        p = self.path(kind, k)
        if not p.exists():
            return None
        try:
            return read_npz(p)
        except (OSError, ValueError, KeyError):  # a foreign or damaged file: recompute
            p.unlink(missing_ok=True)
            return None

    def put_arrays(self, kind: str, k: str, **arrays: np.ndarray) -> None:
        write_npz(self.path(kind, k), **arrays)

    def get_json(self, kind: str, k: str) -> Any | None:
        import json

        p = self.path(kind, k, ".json")
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text("utf-8"))
        except (OSError, ValueError):
            p.unlink(missing_ok=True)
            return None

    def put_json(self, kind: str, k: str, data: Any) -> None:
        write_json(self.path(kind, k, ".json"), data)

    def has_npy(self, kind: str, k: str) -> bool:
        return self.path(kind, k, ".npy").is_file()

    def get_npy(self, kind: str, k: str, rows: int | None = None) -> np.ndarray | None:
        """A cached array, or None when missing, damaged or not ``rows`` long."""
        p = self.path(kind, k, ".npy")
        if not p.exists():
            return None
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError):
            p.unlink(missing_ok=True)
            return None
        return arr if rows is None or arr.shape[0] == rows else None

    @contextlib.contextmanager
    def npy_rows(self, kind: str, k: str, shape: tuple[int, int]) -> Iterator[RowWriter]:
        """Stream rows into a new cached float32 array; it appears (atomically) only when the block exits
        without an error, so an interrupted extraction leaves no partial entry."""
        path = self.path(kind, k, ".npy")
        with atomic_file(path) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f4", "fortran_order": False, "shape": tuple(int(x) for x in shape)}
            )
            offset = fh.tell()
            fh.truncate(offset + int(shape[0]) * int(shape[1]) * 4)
            yield RowWriter(fh, (int(shape[0]), int(shape[1])), offset)
