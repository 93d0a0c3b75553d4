"""The build's extraction in Keras against the same extractor exported to ONNX and run by ONNX Runtime (CPU):
``python -m benchmarks.bench_extract_onnx [--images N] [--batch B] [--dataset DIR]``.

The extractor is the build's own (``engine.extractor_for``: every selected layer of MobileNet(alpha=0.75) with its
ImageNet weights under avg and grid2 pooling, one forward pass), and the ONNX model is what the in-browser search
ships (``browsersearch.onnx_extractor``: uint8 RGB in, ``preprocess_input`` inside). Both get the same decoded
images (``images.load_rgb``, the precompute's decoder); decoding is timed on its own. Rounds alternate between the
two (best of 3, after a warm-up), so a busy machine slows both alike. Reported: images per second of each, their
ratio, and their largest difference relative to each output row's largest value (the in-browser search's
check). ONNX Runtime gets the process's cores (``intra_op_num_threads`` = the CPU count), as TensorFlow does.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO.parent / "shared" / "datasets" / "tinyimagenet10k"
POOLINGS = ("avg", "grid2")


def measure(dataset: Path, n_images: int, batch: int) -> dict[str, object]:
    import onnxruntime as ort

    from precompute.browsersearch import onnx_extractor
    from precompute.catalog import get_spec
    from precompute.engine import extractor_for
    from precompute.images import load_rgb
    from precompute.layers import select_layers

    spec = get_spec("mobilenet_075")
    model = spec.load("imagenet")
    layers = [li.act_name for li in select_layers(model)]
    outputs = [(t, p) for t in layers for p in POOLINGS]
    files = sorted(p for p in dataset.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n_images]
    t0 = time.perf_counter()
    pixels = np.stack([load_rgb(f, spec.input_size) for f in files])
    decode_s = time.perf_counter() - t0
    extractor, back = extractor_for(model, outputs, 3.0)
    order = [extractor.keys.index(k) for k in sorted(back, key=lambda k: outputs.index(back[k]))]
    data = onnx_extractor(spec, model, outputs, 3.0, spec.input_size)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    batches = [pixels[i : i + batch] for i in range(0, len(pixels), batch)]

    def keras_run() -> list[np.ndarray]:
        outs = [extractor.predict(spec.preprocess(b.astype(np.float32))) for b in batches]
        return [np.concatenate([o[j] for o in outs]) for j in order]

    def onnx_run() -> list[np.ndarray]:
        outs = [sess.run(None, {name: b}) for b in batches]
        return [np.concatenate([o[j] for o in outs]) for j in range(len(outputs))]

    keras_out, onnx_out = keras_run(), onnx_run()  # warm-up (tracing, session init), then the check
    diff = {}
    for (t, p), a, b in zip(outputs, keras_out, onnx_out, strict=True):
        scale = np.maximum(np.abs(a).max(axis=1), np.finfo(np.float32).tiny)
        diff[f"{t}/{p}"] = float((np.abs(a.astype(np.float64) - b).max(axis=1) / scale).max())
    best = {"keras": float("inf"), "onnx": float("inf")}
    for _ in range(3):
        for which, fn in (("keras", keras_run), ("onnx", onnx_run)):
            t = time.perf_counter()
            fn()
            best[which] = min(best[which], time.perf_counter() - t)
    rate = {k: len(pixels) / v for k, v in best.items()}
    return {
        "model": "mobilenet_075 (imagenet)",
        "outputs": len(outputs),
        "images": len(pixels),
        "batch": batch,
        "cpus": os.cpu_count(),
        "decode_img_per_s": round(len(pixels) / decode_s, 1),
        "keras_img_per_s": round(rate["keras"], 1),
        "onnx_img_per_s": round(rate["onnx"], 1),
        "onnx_over_keras": round(rate["onnx"] / rate["keras"], 3),
        "max_rel_diff": max(diff.values()),
        "max_rel_diff_by_output": {k: float(f"{v:.2e}") for k, v in diff.items()},
        "versions": {"onnxruntime": ort.__version__},
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_extract_onnx")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--dataset", type=Path, default=DATASET)
    args = ap.parse_args()
    print(json.dumps(measure(args.dataset, args.images, args.batch), indent=1))


if __name__ == "__main__":
    main()
