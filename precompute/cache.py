"""The content-keyed artifact cache under ``build/cache/``.

Every artifact's key is a hash of everything it depends on (a JSON-able dict), so a changed input means a
new key and a miss; nothing is ever invalidated by time. Files are written atomically (``atomic``), so an
interrupted run leaves only whole files and the next run resumes from them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import dumps, read_npz, write_json, write_npz

FORMAT = 1  # bump when the meaning of a cached artifact changes


def key(**parts: Any) -> str:
    """A short stable hash of the dependencies."""
    return hashlib.sha256(dumps({"format": FORMAT, **parts}).encode()).hexdigest()[:24]


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)

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
