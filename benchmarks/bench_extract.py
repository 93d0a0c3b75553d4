"""Extraction throughput on real images, every method timed on the same batches, rounds interleaved.

Three ways to get the embeddings of all selected layers (on ``n_compare`` images, default 8, so the
original's method stays affordable on VGG-sized models):

1. ``multi``: the project's extraction, all selected layers from one multi-output pass (``extract.py``);
2. ``limit``: a plain forward pass to the deepest selected layer (nothing can be faster);
3. ``original``: the 2019 playground's way, one ``predict`` per image per layer.

And the cost of asking for more than one pooling (on ``n_images`` images, default 64): ``avg`` alone vs
``avg`` + ``grid2`` from the same pass (target: at least 0.9 of the throughput).

In each group the methods alternate round by round (best of 3), so a busy machine slows them alike and the
ratios stay fair; each method is warmed up first with the input shape it is timed on (no tracing inside
the timing). Architecture decides cost, so models run with random weights (only MobileNet 0.75 has real
ones here).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from precompute.catalog import get_spec, load_model
from precompute.extract import build_extractor, truncated_model
from precompute.images import load_rgb
from precompute.layers import select_layers

POOLING_TARGET = 0.9  # throughput with avg + grid2 relative to avg alone


def _images(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    return (files * (n // max(1, len(files)) + 1))[:n]


def _time_batches(fn: Callable[[np.ndarray], object], batches: list[np.ndarray]) -> float:
    t = time.perf_counter()
    for b in batches:
        fn(b)
    return time.perf_counter() - t


def _interleaved(
    fns: dict[str, Callable[[np.ndarray], object]],
    batches: list[np.ndarray],
    warmup: dict[str, np.ndarray] | None = None,
    rounds: int = 3,
) -> dict[str, float]:
    """Best-of-``rounds`` seconds per method over the same ``batches``, the methods alternating round by
    round. Each method is first called once on its ``warmup`` input (default: the first batch)."""
    for name, fn in fns.items():
        fn((warmup or {}).get(name, batches[0]))  # tracing / compilation, at the shape that is timed
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], _time_batches(fn, batches))
    return best


def _batches(x: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [x[i : i + batch_size] for i in range(0, len(x), batch_size)]


def bench_model(name: str, images: list[Path], batch_size: int = 32, n_compare: int = 8, original: bool = True) -> dict:
    spec = get_spec(name)
    model = load_model(spec, "random")
    layers = select_layers(model)
    names = [li.act_name for li in layers]
    size = spec.input_size
    x = spec.preprocess(np.stack([load_rgb(p, size) for p in images]).astype(np.float32))
    multi = build_extractor(model, names, ["avg"])
    limit = truncated_model(model, names[-1])

    # 1. poolings: avg alone vs avg + grid2, one pass each, on all images
    two = build_extractor(model, names, ["avg", "grid2"])
    batches = _batches(x, batch_size)
    n = len(x)
    best = _interleaved({"avg": multi.predict, "avg+grid2": two.predict}, batches)
    pool_ratio = best["avg"] / best["avg+grid2"]  # throughput ratio

    # 2. the three methods on the same (fewer) images and batches
    per_layer = [truncated_model(model, ln) for ln in names]

    def run_original(batch: np.ndarray) -> None:
        for img in batch:
            for m in per_layer:
                m.predict(img[None], verbose=0)

    xc = x[:n_compare]
    cbatches = _batches(xc, min(batch_size, len(xc)))
    fns = {"multi": multi.predict, "limit": limit.predict_on_batch, "original": run_original}
    if not original:  # its 8 truncated models each compile once: slow to set up on a GPU
        del fns["original"]
    best3 = _interleaved(fns, cbatches, warmup={"original": xc[:1]} if original else None)
    nc = len(xc)
    return {
        "model": name,
        "images": n,
        "avg_img_s": n / best["avg"],
        "avg_grid2_img_s": n / best["avg+grid2"],
        "grid2_ratio": pool_ratio,
        "compare_images": nc,
        "multi_img_s": nc / best3["multi"],
        "limit_img_s": nc / best3["limit"],
        "original_img_s": nc / best3["original"] if original else None,
        "multi_vs_limit": best3["limit"] / best3["multi"],
        "multi_vs_original": best3["original"] / best3["multi"] if original else None,
    }


def run(models: list[str], dataset: Path, n_images: int = 64, n_compare: int = 8) -> list[dict]:
    images = _images(dataset, n_images)
    rows = []
    print(
        f"{'model':16} {'multi img/s':>12} {'limit img/s':>12} {'orig img/s':>11} {'multi/limit':>11} "
        f"{'multi/orig':>10} {'avg img/s':>10} {'+grid2 img/s':>12} {'2 pools/1':>9}"
    )
    for name in models:
        r = bench_model(name, images, n_compare=min(n_compare, n_images))
        rows.append(r)
        flag = "" if r["grid2_ratio"] >= POOLING_TARGET else f"  below the {POOLING_TARGET} target"
        print(
            f"{name:16} {r['multi_img_s']:12.1f} {r['limit_img_s']:12.1f} {r['original_img_s']:11.2f} "
            f"{r['multi_vs_limit']:11.2f} {r['multi_vs_original']:10.1f} {r['avg_img_s']:10.1f} "
            f"{r['avg_grid2_img_s']:12.1f} {r['grid2_ratio']:9.2f}{flag}",
            flush=True,
        )
    return rows
