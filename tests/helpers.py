"""Small helpers shared by test modules."""

from __future__ import annotations

import shutil
from pathlib import Path


def small_copy(src: Path, dest: Path, classes: int = 3, per_class: int = 6) -> Path:
    """A real-image subset of a dataset: its first ``classes`` classes, ``per_class`` images each."""
    for cls in sorted(p for p in src.iterdir() if p.is_dir())[:classes]:
        (dest / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:per_class]:
            shutil.copy(f, dest / cls.name / f.name)
    return dest
