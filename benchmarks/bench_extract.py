"""Extraction throughput, three ways on the same batches of real images.

1. ``multi``: the project's extraction, all selected layers from one multi-output pass (``extract.py``);
2. ``limit``: a plain forward pass to the deepest selected layer (nothing can be faster);
3. ``original``: the 2019 playground's way, one ``predict`` per image per layer.

Architecture decides cost, so models run with random weights (only MobileNet 0.75 has real ones here).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from precompute.catalog import get_spec, load_model
from precompute.extract import build_extractor, truncated_model
from precompute.images import load_rgb
from precompute.layers import select_layers


def _images(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    return (files * (n // max(1, len(files)) + 1))[:n]


def _time_batches(fn, batches: list[np.ndarray]) -> float:
    t = time.perf_counter()
    for b in batches:
        fn(b)
    return time.perf_counter() - t


def _interleaved(fns: dict, batches: list[np.ndarray], rounds: int = 3) -> dict[str, float]:
    """Best-of-``rounds`` seconds per method, the methods alternating round by round, so a busy machine
    slows them alike and the ratios stay fair."""
    for fn in fns.values():
        fn(batches[0])  # warm-up: tracing / compilation
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], _time_batches(fn, batches))
    return best


def bench_model(name: str, images: list[Path], batch_size: int = 32, n_original: int = 4) -> dict:
    spec = get_spec(name)
    model = load_model(spec, "random")
    layers = select_layers(model)
    size = spec.input_size
    x = spec.preprocess(np.stack([load_rgb(p, size) for p in images]).astype(np.float32))
    batches = [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    n = len(x)

    multi = build_extractor(model, [li.act_name for li in layers], "avg")
    limit = truncated_model(model, layers[-1].act_name)
    best = _interleaved({"multi": multi.predict_on_batch, "limit": limit.predict_on_batch}, batches)
    t_multi, t_limit = best["multi"], best["limit"]

    per_layer = [truncated_model(model, li.act_name) for li in layers]

    def original(batch: np.ndarray) -> None:
        for img in batch[:n_original]:
            for m in per_layer:
                m.predict(img[None], verbose=0)

    original(x[:1])  # warm-up
    t_orig = _time_batches(original, [x[:n_original]])
    return {
        "model": name,
        "images": n,
        "multi_img_s": n / t_multi,
        "limit_img_s": n / t_limit,
        "original_img_s": n_original / t_orig,
        "multi_vs_limit": (n / t_multi) / (n / t_limit),
        "multi_vs_original": (n / t_multi) / (n_original / t_orig),
    }


def run(models: list[str], dataset: Path, n_images: int = 64) -> list[dict]:
    images = _images(dataset, n_images)
    rows = []
    print(
        f"{'model':16} {'multi img/s':>12} {'limit img/s':>12} {'orig img/s':>11} {'multi/limit':>11} "
        f"{'multi/orig':>10}"
    )
    for name in models:
        r = bench_model(name, images)
        rows.append(r)
        print(
            f"{name:16} {r['multi_img_s']:12.1f} {r['limit_img_s']:12.1f} {r['original_img_s']:11.2f} "
            f"{r['multi_vs_limit']:11.2f} {r['multi_vs_original']:10.1f}",
            flush=True,
        )
    return rows
