"""The GPU check: precompute and the Model Explorer on one GPU under JAX, measured in one call of a few minutes.

Sections (each timed; every figure goes into ``OUT/gpu_check.json``):

1. ``device``: what JAX sees, versions.
2. ``precompute``: ``playground precompute`` of the four reference datasets with the 9 search models (random
   weights) plus ``mobilenet_075@imagenet``, batch 256: time per stage (``summary.json``) and images/s per model
   (embedding time per model, compile included).
3. ``extraction``: per model, images/s of the project's one-pass multi-layer extraction next to a plain forward
   pass to the deepest layer (the limit) and, for ``--original`` models, the original's one predict per image per
   layer (each of its 8 truncated models compiles once: slow to set up on a GPU, so it is timed on a subset).
4. ``featurevis``: the full profile (30 channels x 512 steps x 8 layers) of ``mobilenet_075@imagenet`` and three
   models spanning the cost range (VGG16, EfficientNetB0, ResNet50): seconds per model, compile seconds apart.
5. ``extrapolation``: the full 11-model explorer, from the measured models' seconds per unit of work (multiply-adds
   of the forward pass to each selected layer at the render size, x channels x steps: ``model_costs.json``, computed
   on a CPU by ``--costs``) and their compile time per layer; each model is marked measured or extrapolated.

``--dry``: a tiny profile on the CPU (one small dataset, two models, quick feature visualization) so CI checks
that every section runs; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COSTS = REPO / "benchmarks" / "gpu" / "model_costs.json"
SEARCH = [
    "vgg16",
    "vgg19",
    "mobilenet",
    "efficientnetb0",
    "efficientnetb5",
    "xception",
    "resnet50",
    "inceptionv3",
    "densenet121",
]
EXPLORER = [*SEARCH, "mobilenetv2", "nasnetmobile"]
FV_MODELS = ["mobilenet_075@imagenet", "vgg16", "efficientnetb0", "resnet50"]
STANDARD = ("iconic200", "fashion200", "tinyimagenet200", "cifar10")


def _section(name: str) -> None:
    print(f"\n== {name}", flush=True)


def device_info() -> dict[str, Any]:
    import jax
    import keras

    devices = [f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in jax.devices()]
    return {
        "backend": keras.backend.backend(),
        "devices": devices,
        "jax": jax.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def precompute(datasets: list[Path], models: list[str], out: Path, batch: int, config: Path | None) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "precompute.cli",
        "-q",
        *(["--config", str(config)] if config else []),
        "precompute",
        "--datasets",
        ",".join(map(str, datasets)),
        "--models",
        ",".join(models),
        "--weights",
        "random",
        "--batch-size",
        str(batch),
        "--out",
        str(out),
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    summary = json.loads((out / "summary.json").read_text())
    n = sum(d["n_images"] for d in summary["datasets"])
    per_model = summary["run"].get("embed_by_model_s", {})
    row = {
        "wall_s": round(wall, 1),
        "images": n,
        "stages_s": summary["run"]["timings_s"],
        "images_per_s_by_model": {m: round(n / s, 1) for m, s in per_model.items() if s > 0},
        "embed_s_by_model": per_model,
    }
    print(f"{len(models)} models x {len(datasets)} datasets ({n} images): {wall:.1f} s")
    for k, v in row["stages_s"].items():
        print(f"  {k:20} {v:8.1f} s")
    for m, v in row["images_per_s_by_model"].items():
        print(f"  {m:20} {v:8.1f} img/s (compile included)")
    return row


def extraction(models: list[str], dataset: Path, n_images: int, batch: int, original: set[str]) -> list[dict]:
    from benchmarks import bench_extract

    images = bench_extract._images(dataset, n_images)
    rows = []
    for name in models:
        t = time.perf_counter()
        r = bench_extract.bench_model(
            name, images, batch_size=batch, n_compare=min(8, n_images), original=name in original
        )
        r["seconds"] = round(time.perf_counter() - t, 1)
        rows.append(r)
        orig = f"{r['multi_vs_original']:6.1f}x original" if r.get("original_img_s") else "original not timed"
        print(
            f"  {name:16} multi {r['multi_img_s']:9.1f} img/s  limit {r['limit_img_s']:9.1f}  "
            f"multi/limit {r['multi_vs_limit']:5.2f}  {orig}",
            flush=True,
        )
    return rows


def featurevis(
    models: list[str], datasets: list[Path], out: Path, quick: bool, config: Path | None = None
) -> dict[str, Any]:
    from precompute import log
    from precompute.config import load_config
    from precompute.featurevis.stage import run_featurevis
    from precompute.inputs import resolve

    log.configure(quiet=True)
    cfg = load_config(config, out=out, datasets=tuple(map(str, datasets)), weights="random")
    cfg = replace(cfg, featurevis=replace(cfg.featurevis, quick=quick))
    inputs = resolve(cfg, models=models)
    inputs.report(strict=True)
    t = time.perf_counter()
    summary = run_featurevis(cfg, inputs)
    wall = time.perf_counter() - t
    rows = {}
    for name, st in summary.models.items():
        rows[name] = {
            "seconds": st["seconds"],
            "compile_seconds": st.get("compile_seconds", 0.0),
            "layers": st["layers"],
            "channels": st["channels"],
            "render_size": st.get("render_size"),
        }
        print(
            f"  {name:16} {st['seconds']:8.1f} s  (compile {st.get('compile_seconds', 0):.1f} s, "
            f"{st['layers']} layers, {st['channels']} channels, {st.get('render_size')} px)",
            flush=True,
        )
    return {"wall_s": round(wall, 1), "profile": summary.profile, "settings": summary.settings, "models": rows}


def extrapolate(measured: dict[str, Any], costs: dict[str, Any], steps: int, channels: int) -> dict[str, Any]:
    """Seconds of the full explorer: per measured model, (seconds - compile) / work; the median of those rates
    times each model's work, plus the mean compile time per layer, for the models not measured."""
    rates, compiles = [], []
    for name, m in measured.items():
        c = costs.get(name.split("@")[0])
        if not c or not m["layers"]:
            continue
        work = sum(c["macs_per_layer"]) * channels * steps
        rates.append(max(m["seconds"] - m["compile_seconds"], 1e-9) / work)
        compiles.append(m["compile_seconds"] / m["layers"])
    if not rates:
        return {}
    import statistics

    rate, compile_per_layer = statistics.median(rates), statistics.mean(compiles)
    rows, total = {}, 0.0
    for name in EXPLORER:
        key = next((k for k in measured if k.split("@")[0] == name), None)
        if key is not None:
            seconds, how = measured[key]["seconds"], "measured"
        else:
            c = costs[name]
            seconds = rate * sum(c["macs_per_layer"]) * channels * steps + compile_per_layer * len(c["macs_per_layer"])
            how = "extrapolated"
        rows[name] = {"seconds": round(seconds, 1), "how": how}
        total += seconds
        print(f"  {name:16} {seconds:8.1f} s  {how}")
    print(f"  full explorer ({len(EXPLORER)} models): {total:.0f} s = {total / 60:.1f} min")
    return {
        "models": rows,
        "total_s": round(total, 1),
        "rate_s_per_mac_step": rate,
        "compile_s_per_layer": compile_per_layer,
    }


def model_costs() -> dict[str, Any]:
    """Multiply-adds of the forward pass to each selected layer at each explorer model's render size (random
    weights; any backend). Written to benchmarks/gpu/model_costs.json by ``--costs``."""
    from precompute.catalog import CATALOG
    from precompute.config import load_config
    from precompute.featurevis.transform import Transforms
    from precompute.layers import conv_layers, select_layers

    fv = load_config().featurevis
    out = {}
    for name in [*EXPLORER, "mobilenet_075"]:
        spec = CATALOG[name]
        size = fv.render_size(spec.input_size)
        canvas = Transforms().canvas(size)
        try:
            model = spec.load("random", input_shape=(canvas, canvas, 3))
        except Exception:
            model = spec.load("random")
        selected = select_layers(model)
        convs = conv_layers(model)
        per_conv = []
        for layer in convs:
            h, w, cout = layer.output.shape[1:4]
            k = layer.kernel_size[0] * layer.kernel_size[1]
            cin = layer.input.shape[-1]
            if type(layer).__name__ == "DepthwiseConv2D":
                macs = h * w * k * cin
            elif type(layer).__name__ == "SeparableConv2D":
                macs = h * w * (k * cin + cin * cout)
            else:
                macs = h * w * k * cin * cout
            per_conv.append(int(macs))
        cum = [sum(per_conv[: s.conv_index + 1]) for s in selected]
        out[name] = {"render_size": size, "canvas": canvas, "macs_per_layer": [c * 3 for c in cum]}  # fwd + bwd
        print(f"  {name:16} {size} px  {sum(out[name]['macs_per_layer']) / 1e9:8.1f} GMAC over 8 layers", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check")
    ap.add_argument("--out", type=Path, default=REPO / "build" / "gpu-check")
    ap.add_argument("--datasets", type=Path, default=None, help="folder with the four reference datasets")
    ap.add_argument("--dry", action="store_true", help="tiny profile (CPU smoke test)")
    ap.add_argument("--costs", action="store_true", help="write benchmarks/gpu/model_costs.json and stop")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument(
        "--original",
        default="mobilenet_075,vgg16,resnet50",
        help="models whose original one-predict-per-image-per-layer method is timed",
    )
    ap.add_argument("--skip", default="", help="comma list of: precompute,extraction,featurevis")
    args = ap.parse_args()
    if args.costs:
        COSTS.write_text(json.dumps(model_costs(), indent=1) + "\n")
        return
    skip = set(filter(None, args.skip.split(",")))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    roots = [args.datasets, REPO / ".gpu" / "datasets", REPO.parent / "shared" / "datasets"]
    root = next((r for r in roots if r and (r / "iconic200").is_dir()), None)
    if root is None:
        raise SystemExit("no reference datasets: run benchmarks/gpu/fetch_wheels.sh here, or pass --datasets")
    results: dict[str, Any] = {"dry": args.dry, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    t_all = time.perf_counter()
    _section("device")
    results["device"] = device_info()
    print(results["device"])
    if args.dry:
        from tests.helpers import small_copy

        data = [small_copy(root / "iconic200", out / "data" / "iconic_small", classes=2, per_class=4)]
        config = out / "dry.toml"
        config.write_text(
            '[layers]\nmobilenet_075 = ["conv1", "conv_pw_13"]\nmobilenet = ["conv1", "conv_pw_13"]\n'
            "[featurevis.quick]\nchannels = 2\nsteps = 4\nsize = 32\n"
        )
        pc_models, ex_models, fv_models, batch = (
            ["mobilenet_075@imagenet", "mobilenet"],
            ["mobilenet_075"],
            ["mobilenet_075@imagenet"],
            8,
        )
    else:
        data = [root / d for d in STANDARD]
        config = None
        pc_models, ex_models, fv_models, batch = (
            [*SEARCH, "mobilenet_075@imagenet"],
            [*SEARCH, "mobilenet_075"],
            FV_MODELS,
            args.batch,
        )
    if "precompute" not in skip:
        _section("precompute (time per stage, images/s per model)")
        results["precompute"] = precompute(data, pc_models, out / "precompute", batch, config)
    if "extraction" not in skip:
        _section("extraction: one pass for all layers vs a plain forward pass (limit) vs the original's method")
        results["extraction"] = extraction(
            ex_models, data[0], 8 if args.dry else 256, batch, set(args.original.split(","))
        )
    if "featurevis" not in skip:
        _section("feature visualization, " + ("quick profile (dry)" if args.dry else "full profile"))
        results["featurevis"] = featurevis(fv_models, data, out / "featurevis", quick=args.dry, config=config)
        costs = json.loads(COSTS.read_text()) if COSTS.is_file() else {}
        _section("full Model Explorer (11 models), extrapolated from the measured ones")
        fv = results["featurevis"]["settings"]
        results["extrapolation"] = extrapolate(
            results["featurevis"]["models"], costs, int(fv["steps"]), int(fv["channels"])
        )
    results["total_s"] = round(time.perf_counter() - t_all, 1)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nall figures -> {out / 'gpu_check.json'} ({results['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
