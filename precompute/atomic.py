"""Atomic, deterministic file writes.

Every artifact is written to a temporary file in the destination folder and moved into place with
``os.replace`` (atomic on POSIX), so killing the process at any moment leaves either the old file or the new
one, never a torn one. JSON is encoded with sorted keys and no whitespace so equal data gives equal bytes.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
