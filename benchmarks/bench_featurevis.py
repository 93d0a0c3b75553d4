"""Feature-visualization cost: seconds per channel, batched render versus one channel at a time (Lucid's way).

For every model and each of its 8 selected layers, the same compiled render step is timed with all channels
of the layer in one batch (``channels`` images, as the stage runs it) and with a single channel, at the same
size. A step costs the same at step 10 as at step 500, so a few timed steps are extrapolated per step:
``seconds/step = (t(1 + S steps) - t(1 step)) / S`` (the difference cancels compile, initialisation and the
final evaluation; S grows until the timed steps take 2 s). Per channel: batched ``s/step(batch) / batch``,
single ``s/step(1)``.

The full-explorer estimate is ``sum over models and layers of s/step(batch) * steps`` (default 11 models x 8
layers x 30 channels x 512 steps) plus the compile time of each layer's batched program, reported apart
(``RenderResult.compile_seconds`` of the first render of a shape). mobilenet_075 uses its real ImageNet
weights; the others random weights (architecture decides cost).

A model that fails (weights missing, a build error) is reported as a FAILED row with the reason, listed in
``failed`` of the JSON, and makes the script exit non-zero.

``--toy`` (default on) adds the trained ``playground-net`` (trained once into ``build/cache``, ~2 min): steps/s
and s/channel of every layer at its own input size (64 px) and at 128 px.
``python -m benchmarks.bench_featurevis --help``.
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


def _time_render(renderer: Any, channels: list[int], steps: int) -> tuple[float, float]:
    """(wall seconds, of which compiling) of one render with ``steps`` steps."""
    renderer.settings = replace(renderer.settings, steps=steps)
    t = time.perf_counter()
    result = renderer.render(channels, "bench")
    return time.perf_counter() - t, result.compile_seconds


def _per_step(renderer: Any, channels: list[int], timed: int, min_seconds: float = 2.0) -> tuple[float, float]:
    """(seconds per step, compile seconds): ``timed`` steps at least, more when they take under ``min_seconds``
    (cheap steps would drown in the fixed costs otherwise). Compile time is that of the first render."""
    _, compile_s = _time_render(renderer, channels, 1)  # compile (one program per batch shape) and warm up
    _time_render(renderer, channels, 1 + timed)  # TF retraces once for a new step count, then generalises
    base = min(_time_render(renderer, channels, 1)[0] for _ in range(2))
    n = timed
    est = max(_time_render(renderer, channels, 1 + n)[0] - base, 1e-6) / n
    if est * n < min_seconds:
        n = min(400, max(n + 1, math.ceil(min_seconds / est)))
        est = max(_time_render(renderer, channels, 1 + n)[0] - base, 1e-6) / n
    return est, compile_s


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
        batched, compile_s = _per_step(r, chans, timed)
        single, _ = _per_step(r, chans[:1], timed)
        rows.append(
            {
                "layer": info.name,
                "channels": len(chans),
                "compile_s": compile_s,
                "batched_s_per_step": batched,
                "single_s_per_step": single,
                "batched_s_per_channel": batched * full_steps / len(chans),
                "single_s_per_channel": single * full_steps,
            }
        )
        print(
            f"  {name:15s} {info.name:28s} {len(chans):3d} ch  batched {batched:7.3f} s/step "
            f"({batched / len(chans) * full_steps:6.2f} s/ch)   single {single:6.3f} s/step "
            f"({single * full_steps:6.2f} s/ch)   compile {compile_s:5.1f} s",
            flush=True,
        )
    if not rows:
        raise RuntimeError("no layer with a live channel")
    scale = len(infos) / len(rows)  # > 1 when only some layers were measured: extrapolate the others
    n_ch = sum(r["channels"] for r in rows) * scale
    batched_total = sum(r["batched_s_per_step"] for r in rows) * full_steps * scale
    compile_total = sum(r["compile_s"] for r in rows) * scale
    single_total = sum(r["single_s_per_step"] * r["channels"] for r in rows) * full_steps * scale
    return {
        "model": name,
        "weights": weights,
        "layers": rows,
        "layers_measured": len(picked),
        "layers_total": len(infos),
        "model_batched_s": batched_total,
        "model_compile_s": compile_total,
        "model_single_s": single_total,
        "batched_s_per_channel": batched_total / n_ch,
        "single_s_per_channel": single_total / n_ch,
        "speedup": single_total / batched_total,
    }


def bench_playground_net(
    *, sizes: tuple[int, ...] = (64, 128), channels: int = 30, timed: int = 8, full_steps: int = 512
) -> list[dict[str, Any]]:
    """Trained playground-net: per layer and size, steps/s and s/channel of the batched render (all live
    channels, at most ``channels``) and the compile time of its program."""
    from precompute import playground_net
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings
    from precompute.featurevis.stage import select_channels
    from precompute.layers import select_layers

    net = playground_net.load("trained", (None, None, 3), REPO / "build" / "cache")
    infos = select_layers(net)
    rows = []
    for size in sizes:
        for i, info in enumerate(infos, 1):
            r = Renderer(net, make_target(net, info), preprocess_fn("unit"), RenderSettings(size=size))
            chans = select_channels(r.live_channels(), channels, 0, f"{playground_net.NAME}/{info.name}")
            per_step, compile_s = _per_step(r, chans, timed)
            row = {
                "size": size,
                "layer": f"L{i} {info.name}",
                "channels": len(chans),
                "steps_per_s": 1.0 / per_step,
                "s_per_channel": per_step * full_steps / len(chans),
                "layer_s": per_step * full_steps,
                "compile_s": compile_s,
            }
            rows.append(row)
            print(
                f"  {playground_net.NAME} {size:4d} px {row['layer']:18s} {len(chans):3d} ch "
                f"{row['steps_per_s']:7.2f} steps/s {row['s_per_channel']:6.2f} s/ch  compile {compile_s:5.1f} s",
                flush=True,
            )
    return rows


def _toy_table(rows: list[dict[str, Any]], steps: int) -> str:
    lines = [f"{'playground-net':18s} {'size':>5s} {'ch':>3s} {'steps/s':>8s} {'s/channel':>10s} {'compile s':>10s}"]
    for r in rows:
        lines.append(
            f"{r['layer']:18s} {r['size']:5d} {r['channels']:3d} {r['steps_per_s']:8.2f} "
            f"{r['s_per_channel']:10.2f} {r['compile_s']:10.1f}"
        )
    for size in sorted({r["size"] for r in rows}):
        total = sum(r["layer_s"] + r["compile_s"] for r in rows if r["size"] == size)
        lines.append(f"all 8 layers at {size} px ({steps} steps): {total / 60:.1f} min")
    return "\n".join(lines)


def _table(results: list[dict[str, Any]], steps: int, failed: list[dict[str, str]] | None = None) -> str:
    lines = [
        f"{'model':15s} {'s/channel batched':>18s} {'s/channel single':>17s} {'speed-up':>9s} "
        f"{'model batched':>14s} {'compile':>9s} {'model single':>13s}   ({steps} steps; compile apart)"
    ]
    for r in results:
        lines.append(
            f"{r['model']:15s} {r['batched_s_per_channel']:18.2f} {r['single_s_per_channel']:17.2f} "
            f"{r['speedup']:8.1f}x {r['model_batched_s'] / 60:10.1f} min {r['model_compile_s']:7.1f} s "
            f"{r['model_single_s'] / 60:9.1f} min"
        )
    for f in failed or []:
        lines.append(f"{f['model']:15s} FAILED: {f['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns (and writes to ``--json``) the results, failed models under ``failed``.
    ``argv=None``: defaults only (the ``python -m benchmarks`` entry calls ``main(quick=...)``)."""
    from precompute.catalog import EXPLORER_MODELS

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_featurevis", description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=None, help="comma list (default: mobilenet_075 + the 11 explorer models)")
    ap.add_argument("--channels", type=int, default=30)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=512, help="steps of the estimated full render")
    ap.add_argument("--timed", type=int, default=3, help="timed steps per measurement (extrapolated)")
    ap.add_argument("--layers", type=int, default=None, help="measure only this many of the 8 layers (spread)")
    ap.add_argument("--quick", action="store_true", help="2 models, 3 layers each, playground-net at 64 px")
    ap.add_argument("--no-toy", action="store_true", help="skip the playground-net table")
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
    results: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    toy: list[dict[str, Any]] = []
    if not args.no_toy:
        try:
            toy = bench_playground_net(
                sizes=(64,) if quick else (64, 128), channels=args.channels, full_steps=args.steps
            )
        except Exception as exc:  # reported, not swallowed: a FAILED row and a non-zero exit
            failed.append({"model": "playground-net", "error": f"{exc.__class__.__name__}: {exc}"})
            print(f"  playground-net: FAILED ({exc.__class__.__name__}: {exc})", flush=True)
    for name in models:
        try:
            results.append(
                bench_model(
                    name, channels=args.channels, size=args.size, timed=args.timed, full_steps=args.steps, layers=layers
                )
            )
        except Exception as exc:  # the others' numbers still count; this one is reported as FAILED
            failed.append({"model": name, "error": f"{exc.__class__.__name__}: {exc}"})
            print(f"  {name}: FAILED ({exc.__class__.__name__}: {exc})", flush=True)
    table = _table(results, args.steps, failed)
    print(table)
    toy_table = _toy_table(toy, args.steps) if toy else ""
    if toy_table:
        print(toy_table)
    explorer = [r for r in results if r["model"] in EXPLORER_MODELS]
    estimate = {
        "models": len(explorer),
        "layers": 8,
        "channels": args.channels,
        "steps": args.steps,
        "batched_s": sum(r["model_batched_s"] for r in explorer),
        "compile_s": sum(r["model_compile_s"] for r in explorer),
        "single_s": sum(r["model_single_s"] for r in explorer),
        "complete": not any(f["model"] in EXPLORER_MODELS for f in failed),
    }
    print(
        f"full explorer estimate ({estimate['models']} models x 8 layers x {args.channels} channels x "
        f"{args.steps} steps, this machine): batched {estimate['batched_s'] / 3600:.1f} h "
        f"+ {estimate['compile_s'] / 60:.1f} min compile, one channel at a time {estimate['single_s'] / 3600:.1f} h"
        + ("" if estimate["complete"] else " (INCOMPLETE: some models failed)"),
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
        "failed": failed,
        "playground_net": toy,
        "full_explorer_estimate": estimate,
        "table": table,
        "playground_net_table": toy_table,
        "seconds": time.perf_counter() - t0,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"feature-visualization benchmark -> {args.json}")
    if failed:
        print(f"FAILED: {', '.join(f['model'] for f in failed)}", flush=True)
    return out


if __name__ == "__main__":
    import sys

    sys.exit(1 if main(sys.argv[1:])["failed"] else 0)
