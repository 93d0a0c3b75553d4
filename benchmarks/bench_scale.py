"""Precompute at real dataset sizes: 10,100 real Tiny ImageNet images, and 101,000 made from them.

Each row is one ``playground precompute`` of MobileNet(alpha=0.75) with its ImageNet weights (8 layers, 4 metrics,
UMAP, probe) in a child process: wall time, the time of each stage (from ``summary.json``), and the child's peak
resident memory (``os.wait4``'s ``ru_maxrss``; helper processes such as Ray's are not included), against the
targets (10k: 5 min and 3 GB; 100k: 60 min and 6 GB). The 100k dataset is ``tinyimagenet10k`` x 10 with seeded
augmentations (``make_100k``): every image is a distinct file (flips, crops and colour shifts of a real photo).

``python -m benchmarks.bench_scale [--sizes 10k,100k] [--pooling avg] [--engine local|ray]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
WORK = REPO / "build" / "bench-scale"
TARGETS = {"10k": (300.0, 3.0), "100k": (3600.0, 6.0)}  # seconds, GB


def make_100k(source: Path, dest: Path, copies: int = 10, seed: int = 0) -> Path:
    """``copies`` seeded augmentations of every image of ``source`` (same class folders): horizontal flip, a crop
    of 80-100 % resized back, brightness/contrast/colour shifts of up to 15 %; JPEG quality 90. Idempotent."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import ImageEnhance

    stamp = dest / ".complete"
    if stamp.is_file():
        return dest
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))

    def make(item: tuple[int, Path]) -> None:
        i, path = item
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            for c in range(copies):
                rng = np.random.default_rng([seed, i, c])
                out = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else im
                s = rng.uniform(0.8, 1.0)
                cw, ch = int(w * s), int(h * s)
                x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                out = out.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.BILINEAR)
                for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
                    out = enhance(out).enhance(float(rng.uniform(0.85, 1.15)))
                target = dest / path.parent.name / f"{path.stem}_{c}.jpg"
                target.parent.mkdir(parents=True, exist_ok=True)
                out.save(target, "JPEG", quality=90)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(make, enumerate(files)))
    stamp.write_text("done\n")
    return dest


def run_one(name: str, dataset: Path, out: Path, pooling: str, engine: str, keras_home: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "precompute.cli",
        "-q",
        "precompute",
        "--datasets",
        str(dataset),
        "--models",
        "mobilenet_075@imagenet",
        "--pooling",
        pooling,
        "--engine",
        engine,
        "--out",
        str(out),
    ]
    env = {**os.environ, "KERAS_HOME": str(keras_home), "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (KiB on Linux)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{name}: playground precompute failed ({proc.returncode})")
    rss_gb = usage.ru_maxrss / 2**20
    summary = json.loads((out / "summary.json").read_text())
    stages = summary["run"]["timings_s"]
    limit_s, limit_gb = TARGETS.get(name, (float("inf"), float("inf")))
    row = {
        "name": name,
        "images": summary["datasets"][0]["n_images"],
        "pooling": pooling,
        "engine": engine,
        "wall_s": round(wall, 1),
        "peak_rss_gb": round(rss_gb, 2),
        "stages_s": stages,
        "target_s": limit_s,
        "target_gb": limit_gb,
        "meets": wall <= limit_s and rss_gb <= limit_gb,
    }
    print(
        f"{name:5} {row['images']:>7,} images  {wall:7.1f} s (target {limit_s:.0f})  peak RSS {rss_gb:5.2f} GB "
        f"(target {limit_gb:.0f})  " + "  ".join(f"{k[:-2]} {v:.0f}" for k, v in stages.items() if k != "total_s"),
        flush=True,
    )
    return row


def run(sizes: list[str], pooling: str = "avg", engine: str = "local") -> list[dict]:
    import shutil
    import tempfile

    source = SHARED / "tinyimagenet10k"
    if not source.is_dir():
        print(f"skipped: {source} not found (the scale benchmark reads ../shared/datasets/tinyimagenet10k)")
        return []
    keras_home = Path(tempfile.mkdtemp(prefix="pg-bench-keras-"))
    shutil.copytree(REPO.parent / "shared" / "keras" / "models", keras_home / "models")
    rows = []
    try:
        for name in sizes:
            dataset = source if name == "10k" else make_100k(source, WORK / "data" / "tinyimagenet100k")
            out = WORK / f"{name}-{pooling.replace(',', '+')}-{engine}"
            shutil.rmtree(out, ignore_errors=True)  # a cold build
            rows.append(run_one(name, dataset, out, pooling, engine, keras_home))
    finally:
        shutil.rmtree(keras_home, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale")
    ap.add_argument("--sizes", default="10k,100k")
    ap.add_argument("--pooling", default="avg")
    ap.add_argument("--engine", default="local")
    args = ap.parse_args()
    rows = run(args.sizes.split(","), args.pooling, args.engine)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
