"""Precompute at real dataset sizes: 10,100 real Tiny ImageNet images, and 101,000 made from them.

Each row is one ``playground precompute`` of MobileNet(alpha=0.75) with its ImageNet weights (8 layers, 4 metrics,
UMAP, probe) in a child process: wall time, the time of each stage (from ``summary.json``), and the child's peak
resident memory (``os.wait4``'s ``ru_maxrss``; helper processes such as Ray's are not included), against the
targets (10k: 5 min and 3 GB; 100k: the issue's 25 min and 4 GB for two poolings). Datasets:

* ``10k``: ``tinyimagenet10k`` from ``../shared``;
* ``100k``: ``tinyimagenet10k`` x 10 with seeded augmentations (``make_100k``): every image is a distinct file,
  but each is a flip, crop and colour shift of one of 10,100 photos, so neighbours come in families of ten;
* ``shapes100k``: 101,000 *distinct* images, no augmentation (``make_shapes``): the embedded ``shapes`` generator
  (10 classes by shape; colour, texture, position, size and rotation drawn per image) with 10,100 seeds per
  class, 64 x 64 JPEGs like Tiny ImageNet's. It needs nothing from ``../shared`` but the model's weights;
* ``--folder PATH``: any dataset folder laid out as the build reads it (``<class>/<image>``), e.g. the real Tiny
  ImageNet training set (``tiny-imagenet-200/train``: 100,000 images, 200 classes), named by its folder.

``python -m benchmarks.bench_scale [--sizes 10k,100k,shapes100k] [--folder PATH] [--pooling avg,grid2]
[--engine local|ray] [--index auto|exact|approximate]``
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
TARGETS = {"10k": (300.0, 3.0), "100k": (1500.0, 4.0), "shapes100k": (1500.0, 4.0)}  # seconds, GB
SHAPES_PER_CLASS = 10_100  # x 10 classes
SHAPES_SIZE = 64
SHAPES_SEED = 100_000  # not the site's or the training set's seed: none of these images is shown or trained on


def _draw_class(args: tuple[Path, int, int]) -> None:
    from precompute import shapes

    dest, label, per_class = args
    folder = dest / shapes.CLASSES[label]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        target = folder / f"{i:05d}.jpg"
        if not target.is_file():
            rng = shapes._image_rng(SHAPES_SEED, "test", label, i)
            Image.fromarray(shapes.draw_image(label, SHAPES_SIZE, rng)).save(target, "JPEG", quality=90)


def make_shapes(dest: Path, per_class: int = SHAPES_PER_CLASS) -> Path:
    """``per_class`` distinct ``shapes`` images of each of its 10 classes, each from its own seed (no image is a
    transform of another). Idempotent; resumes where it stopped; one process per core."""
    from concurrent.futures import ProcessPoolExecutor

    from precompute import shapes

    stamp = dest / ".complete"
    if stamp.is_file():
        return dest
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(_draw_class, [(dest, label, per_class) for label in range(len(shapes.CLASSES))]))
    stamp.write_text("done\n")
    return dest


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


def run_one(
    name: str, dataset: Path, out: Path, pooling: str, engine: str, keras_home: Path, index: str = "auto"
) -> dict:
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
        "--index",
        index,
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


def run(
    sizes: list[str],
    pooling: str = "avg",
    engine: str = "local",
    folder: Path | None = None,
    index: str = "auto",
) -> list[dict]:
    import shutil
    import tempfile

    source = SHARED / "tinyimagenet10k"
    weights = REPO.parent / "shared" / "keras" / "models"
    if not weights.is_dir():
        print(f"skipped: {weights} not found (the scale benchmark runs MobileNet(alpha=0.75)'s ImageNet weights)")
        return []
    datasets: list[tuple[str, Path | None]] = []
    for name in sizes:
        if name == "10k":
            datasets.append((name, source if source.is_dir() else None))
        elif name == "100k":
            datasets.append((name, make_100k(source, WORK / "data" / "tinyimagenet100k") if source.is_dir() else None))
        elif name == "shapes100k":
            datasets.append((name, make_shapes(WORK / "data" / "shapes100k")))
        else:
            raise SystemExit(f"unknown size {name!r}: 10k, 100k or shapes100k (or --folder PATH)")
    if folder is not None:
        datasets.append((folder.name, folder))
    keras_home = Path(tempfile.mkdtemp(prefix="pg-bench-keras-"))
    shutil.copytree(weights, keras_home / "models")
    rows = []
    try:
        for name, dataset in datasets:
            if dataset is None:
                print(f"skipped {name}: {source} not found (it is made from ../shared/datasets/tinyimagenet10k)")
                continue
            out = WORK / f"{name}-{pooling.replace(',', '+')}-{engine}"
            shutil.rmtree(out, ignore_errors=True)  # a cold build
            row = run_one(name, dataset, out, pooling, engine, keras_home, index)
            row["site_bytes"] = site_bytes(out / "site")
            row["recall"] = recalls(json.loads((out / "summary.json").read_text()))
            rows.append(row)
    finally:
        shutil.rmtree(keras_home, ignore_errors=True)
    return rows


def site_bytes(site: Path) -> dict[str, int]:
    """The site's bytes by kind: rankings shards, calibrations, maps, the in-browser search, sprites, the rest."""
    out: dict[str, int] = {}
    for p in site.rglob("*"):
        if not p.is_file():
            continue
        rel = p.relative_to(site).parts
        if rel[0] == "data" and len(rel) > 1 and rel[1] == "web":
            kind = "browser search"
        elif rel[0] == "data" and p.name == "calib.js":
            kind = "calibrations"
        elif rel[0] == "data" and p.name == "map.js":
            kind = "maps"
        elif rel[0] == "data" and p.stem.isdigit():
            kind = "rankings shards"
        elif rel[0] == "data":
            kind = "other data"
        elif p.suffix in (".jpg", ".png", ".webp"):
            kind = "images"
        else:
            kind = "pages and code"
        out[kind] = out.get(kind, 0) + p.stat().st_size
    out["total"] = sum(out.values())
    return out


def recalls(summary: dict) -> dict[str, dict[str, object]]:
    """Per view and metric: how the ranking was found and its measured recall (None: exact)."""
    out: dict[str, dict[str, object]] = {}
    for ds, models in summary["scores"].items():
        for model, layers in models.items():
            for layer, pools in layers.items():
                for pool, metrics in pools.items():
                    out[f"{ds}/{model}/{layer}/{pool}"] = {
                        m: {"index": v.get("index", "flat"), "recall": v["recall"], "note": v.get("index_note")}
                        for m, v in metrics.items()
                    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale")
    ap.add_argument("--sizes", default="10k,100k")
    ap.add_argument("--pooling", default="avg")
    ap.add_argument("--engine", default="local")
    ap.add_argument("--folder", type=Path, default=None, help="also a dataset folder of your own (<class>/<image>)")
    ap.add_argument("--index", default="auto", choices=["auto", "exact", "approximate"])
    args = ap.parse_args()
    rows = run([s for s in args.sizes.split(",") if s], args.pooling, args.engine, args.folder, args.index)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
