"""Wall time of the precompute stage: a cold build, then a no-op rebuild of the same thing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def _run(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "precompute.cli", "-q", "precompute", *args], check=True)
    return time.perf_counter() - t


def run(datasets: list[Path], models: list[str], out: Path, weights: str = "random") -> dict:
    args = [
        "--datasets",
        ",".join(map(str, datasets)),
        "--models",
        ",".join(models),
        "--weights",
        weights,
        "--out",
        str(out),
    ]
    cold = _run(args)
    noop = _run(args)
    print(
        f"precompute {len(datasets)} datasets x {len(models)} models ({weights}): cold {cold:.1f} s, "
        f"no-op rebuild {noop:.1f} s (ratio {cold / noop:.0f}x)",
        flush=True,
    )
    return {"datasets": len(datasets), "models": models, "cold_s": cold, "noop_s": noop}
