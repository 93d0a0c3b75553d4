"""Feature-visualization cost: seconds per channel, batched render versus one channel at a time (Lucid's way).

For every model and each of its 8 selected layers, the same compiled render step is timed with all channels
of the layer in one batch (``channels`` images, as the stage runs it) and with a single channel, at the same
size. A step costs the same at step 10 as at step 500, so a few timed steps are extrapolated per step:
``seconds/step = (t(1 + S steps) - t(1 step)) / S`` (the difference cancels compile, initialisation and the
final evaluation; S grows until the timed steps take 2 s). Per channel: batched ``s/step(batch) / batch``,
single ``s/step(1)``.

The full-explorer estimate is ``sum over models and layers of s/step(batch) * steps`` (default 11 models x 8
layers x 30 channels x 512 steps). mobilenet_075 uses its real ImageNet weights; the others random weights
(architecture decides cost). ``python -m benchmarks.bench_featurevis --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO / "build" / "bench_featurevis.json"


def _time_render(renderer: Any, channels: list[int], steps: int) -> float:
    renderer.settings = replace(renderer.settings, steps=steps)
    t = time.perf_counter()
    renderer.render(channels, "bench")
    return time.perf_counter() - t


def _per_step(renderer: Any, channels: list[int], timed: int, min_seconds: float = 2.0) -> float:
    """Seconds per step: ``timed`` steps at least, more when they take under ``min_seconds`` (cheap steps
    would drown in the fixed costs otherwise)."""
    _time_render(renderer, channels, 1)  # compile (one trace per batch size) and warm up
    base = min(_time_render(renderer, channels, 1) for _ in range(2))
    n = timed
    est = max(_time_render(renderer, channels, 1 + n) - base, 1e-6) / n
    if est * n < min_seconds:
        n = min(400, max(n + 1, math.ceil(min_seconds / est)))
        est = max(_time_render(renderer, channels, 1 + n) - base, 1e-6) / n
    return est


def bench_model(
    name: str, *, channels: int, size: int, timed: int, full_steps: int, layers: int | None = None
) -> dict[str, Any]:
    from precompute.catalog import get_spec, load_model, preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings
    from precompute.featurevis.stage import select_channels
    from precompute.layers import select_layers

    spec = get_spec(name)
    weights = "imagenet" if name == "mobilenet_075" else "random"
    native = load_model(spec, weights)
    infos = select_layers(native)
    targets = [make_target(native, info) for info in infos]
    settings = RenderSettings(size=size)
    canvas = settings.transforms.canvas(size)
    try:
        model = load_model(spec, weights, input_shape=(None, None, 3))
        model(np.zeros((1, canvas, canvas, 3), np.float32), training=False)
    except Exception:  # NASNet needs a static input shape (as the stage does)
        model = load_model(spec, weights, input_shape=(canvas, canvas, 3))
    picked = (
        list(range(len(infos)))
        if layers is None
        else sorted({round(i * (len(infos) - 1) / max(1, layers - 1)) for i in range(layers)})
    )
    rows = []
    for i in picked:
        info, target = infos[i], targets[i]
        r = Renderer(model, target, preprocess_fn(spec.preprocess_module), settings)
        chans = select_channels(r.live_channels(), channels, 0, f"{name}/{info.name}")
        if not chans:
            print(f"  {name:15s} {info.name:28s} no live channel: skipped", flush=True)
            continue
        batched = _per_step(r, chans, timed)
        single = _per_step(r, chans[:1], timed)
        rows.append(
            {
                "layer": info.name,
                "channels": len(chans),
                "batched_s_per_step": batched,
                "single_s_per_step": single,
                "batched_s_per_channel": batched * full_steps / len(chans),
                "single_s_per_channel": single * full_steps,
            }
        )
        print(
            f"  {name:15s} {info.name:28s} {len(chans):3d} ch  batched {batched:7.3f} s/step "
            f"({batched / len(chans) * full_steps:6.2f} s/ch)   single {single:6.3f} s/step "
            f"({single * full_steps:6.2f} s/ch)",
            flush=True,
        )
    if not rows:
        raise RuntimeError("no layer with a live channel")
    scale = len(infos) / len(rows)  # > 1 when only some layers were measured: extrapolate the others
    n_ch = sum(r["channels"] for r in rows) * scale
    batched_total = sum(r["batched_s_per_step"] for r in rows) * full_steps * scale
    single_total = sum(r["single_s_per_step"] * r["channels"] for r in rows) * full_steps * scale
    return {
        "model": name,
        "weights": weights,
        "layers": rows,
        "layers_measured": len(picked),
        "layers_total": len(infos),
        "model_batched_s": batched_total,
        "model_single_s": single_total,
        "batched_s_per_channel": batched_total / n_ch,
        "single_s_per_channel": single_total / n_ch,
        "speedup": single_total / batched_total,
    }


def _table(results: list[dict[str, Any]], steps: int) -> str:
    lines = [
        f"{'model':15s} {'s/channel batched':>18s} {'s/channel single':>17s} {'speed-up':>9s} "
        f"{'model batched':>14s} {'model single':>13s}   ({steps} steps)"
    ]
    for r in results:
        lines.append(
            f"{r['model']:15s} {r['batched_s_per_channel']:18.2f} {r['single_s_per_channel']:17.2f} "
            f"{r['speedup']:8.1f}x {r['model_batched_s'] / 60:11.1f} min {r['model_single_s'] / 60:10.1f} min"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns (and writes to ``--json``) the results. ``argv=None``: defaults only (the
    ``python -m benchmarks`` entry calls ``main(quick=...)``)."""
    from precompute.catalog import EXPLORER_MODELS

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_featurevis", description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=None, help="comma list (default: mobilenet_075 + the 11 explorer models)")
    ap.add_argument("--channels", type=int, default=30)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=512, help="steps of the estimated full render")
    ap.add_argument("--timed", type=int, default=3, help="timed steps per measurement (extrapolated)")
    ap.add_argument("--layers", type=int, default=None, help="measure only this many of the 8 layers (spread)")
    ap.add_argument("--quick", action="store_true", help="2 models, 3 layers each")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = ap.parse_args(argv if argv is not None else [])
    quick = quick or args.quick
    if args.models:
        models = args.models.split(",")
    else:
        models = ["mobilenet_075", "resnet50"] if quick else ["mobilenet_075", *EXPLORER_MODELS]
    layers = args.layers or (3 if quick else None)

    import keras

    print(
        f"feature visualization: {args.channels} channels, {args.size} px, estimate for {args.steps} steps "
        f"({keras.backend.backend()} backend, {os.cpu_count()} CPUs)",
        flush=True,
    )
    t0 = time.perf_counter()
    results = []
    for name in models:
        try:
            results.append(
                bench_model(
                    name, channels=args.channels, size=args.size, timed=args.timed, full_steps=args.steps, layers=layers
                )
            )
        except Exception as exc:  # one model must not lose the others' numbers
            print(f"  {name}: failed ({exc.__class__.__name__}: {exc})", flush=True)
    table = _table(results, args.steps)
    print(table)
    explorer = [r for r in results if r["model"] in EXPLORER_MODELS]
    estimate = {
        "models": len(explorer),
        "layers": 8,
        "channels": args.channels,
        "steps": args.steps,
        "batched_s": sum(r["model_batched_s"] for r in explorer),
        "single_s": sum(r["model_single_s"] for r in explorer),
    }
    print(
        f"full explorer estimate ({estimate['models']} models x 8 layers x {args.channels} channels x "
        f"{args.steps} steps, this machine): batched {estimate['batched_s'] / 3600:.1f} h, "
        f"one channel at a time {estimate['single_s'] / 3600:.1f} h",
        flush=True,
    )
    out = {
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "channels": args.channels,
        "size": args.size,
        "steps": args.steps,
        "timed_steps": args.timed,
        "models": results,
        "full_explorer_estimate": estimate,
        "table": table,
        "seconds": time.perf_counter() - t0,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"feature-visualization benchmark -> {args.json}")
    return out


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
