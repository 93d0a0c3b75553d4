"""``playground datasets inspect`` on tinyimagenet10k (10,100 images in 202 class folders): stat and header sniffing
only, no decoding, so a 100k-image folder is reported in seconds. Best of a few runs after one warm-up (the page
cache is warm, as it is when a user inspects, fixes and inspects again); the first, cold run is reported too.

``python -m benchmarks.bench_inspect [FOLDER]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from precompute.datasets import inspect_dataset

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "tinyimagenet10k"


def run(folder: Path = DEFAULT, repeats: int = 3) -> dict:
    if not folder.is_dir():
        print(f"  skipped: {folder} not found")
        return {"skipped": f"{folder} not found"}
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        report, _warnings = inspect_dataset(folder)
        times.append(time.perf_counter() - t)
    best = min(times[1:])
    print(f"  {report.n_images:,} images, {report.n_classes} classes: first {times[0]:.2f} s, best {best:.2f} s")
    return {
        "images": report.n_images,
        "classes": report.n_classes,
        "first_s": round(times[0], 3),
        "best_s": round(best, 3),
    }


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
