"""``python -m benchmarks [--quick] [--full] [--models a,b] [--skip a,b] [--json PATH]``.

Default: extraction throughput for every search model + Keras against ONNX Runtime on the same extractor
(``bench_extract_onnx``) + a 2-dataset precompute and its no-op rebuild +
the feature-visualization benchmark + nearest-neighbour rankings (FAISS vs the matmul limit vs scipy, see
``bench_rank``) + shapes generation + precompute of tinyimagenet10k (``bench_scale``) and the approximate
search against exact on its views (``bench_approx``) + query latency of
``playground serve`` (``bench_serve``) + ``datasets inspect`` on tinyimagenet10k (``bench_inspect``). ``--full``
also times the full default precompute (4 datasets x 9 models,
random weights) and the 101,000-image scale run: an hour or more on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"


def main() -> None:
    from precompute.catalog import SEARCH_MODELS

    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("--models", default=",".join(SEARCH_MODELS))
    ap.add_argument("--datasets", default=str(SHARED), help="folder holding the four shared datasets")
    ap.add_argument("--quick", action="store_true", help="fewer models and images")
    ap.add_argument("--full", action="store_true", help="also the full default precompute (slow)")
    ap.add_argument(
        "--skip",
        default="",
        help="comma list of: extract,onnx,pipeline,featurevis,rank,shapes,scale,approx,inspect,serve",
    )
    ap.add_argument("--json", type=Path, default=REPO / "build" / "bench.json")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    models = ["mobilenet_075", "resnet50"] if args.quick else args.models.split(",")
    shared = Path(args.datasets)
    results: dict = {}

    if "extract" not in skip:
        from benchmarks import bench_extract

        n_images, n_compare = (32, 4) if args.quick else (64, 8)
        print(
            f"== extraction throughput (CPU, batch 32, random weights; the three methods on the same {n_compare} "
            f"images, avg vs avg+grid2 on {n_images})"
        )
        results["extract"] = bench_extract.run(models, shared / "iconic200", n_images, n_compare)

    if "onnx" not in skip:
        from benchmarks import bench_extract_onnx

        print("== extraction: Keras against its ONNX export in ONNX Runtime (mobilenet_075, ImageNet weights)")
        results["extract_onnx"] = bench_extract_onnx.measure(shared / "tinyimagenet10k", 128 if args.quick else 512, 32)
        print(json.dumps({k: v for k, v in results["extract_onnx"].items() if k != "max_rel_diff_by_output"}))

    if "pipeline" not in skip:
        from benchmarks import bench_pipeline

        print("== precompute wall time")
        with tempfile.TemporaryDirectory(
            prefix="pg-bench-", dir=REPO / "build" if (REPO / "build").exists() else None
        ) as tmp:
            results["pipeline_small"] = bench_pipeline.run(
                [shared / "iconic200", shared / "cifar10"], ["mobilenet_075", "resnet50"], Path(tmp) / "small"
            )
            if args.full:
                ds = [shared / n for n in ("iconic200", "fashion200", "tinyimagenet200", "cifar10")]
                results["pipeline_full"] = bench_pipeline.run(ds, list(SEARCH_MODELS), Path(tmp) / "full")

    if "featurevis" not in skip:
        try:
            from benchmarks import bench_featurevis
        except ImportError:
            print("feature-visualization benchmark not available")
        else:
            print("== feature visualization")
            results["featurevis"] = bench_featurevis.main(quick=args.quick)

    if "rank" not in skip:
        from benchmarks import bench_rank

        print("== nearest-neighbour rankings")
        results["rank"] = bench_rank.run(quick=args.quick)

    if "shapes" not in skip:
        import time

        from precompute import shapes

        t = time.perf_counter()
        shapes.generate_arrays(100, 96, seed=3)
        rate = 1000 / (time.perf_counter() - t)
        print(f"== shapes generation: {rate:.0f} images/s at 96 px (the build draws 8,200 for playground-net)")
        results["shapes_images_per_s"] = round(rate, 1)

    if "scale" not in skip:
        from benchmarks import bench_scale

        print("== precompute at scale (tinyimagenet10k; --full adds the 101,000-image sets)")
        results["scale"] = bench_scale.run(["10k", "100k", "shapes100k"] if args.full else ["10k"])
        built = bench_scale.WORK / "10k-avg-local"
        if "approx" not in skip and (built / "manifest.json").is_file():
            from benchmarks import bench_approx

            print("== approximate (HNSW) against exact search on that build's views")
            rows = bench_approx.on_build(built, None)
            print(bench_approx.table(rows))
            results["approx"] = rows

    if "inspect" not in skip:
        from benchmarks import bench_inspect

        print("== playground datasets inspect (tinyimagenet10k: stat + header sniffing, no decoding)")
        results["inspect"] = bench_inspect.run(shared / "tinyimagenet10k")

    if "serve" not in skip:
        from benchmarks import bench_serve

        print("== query latency of playground serve")
        results["serve"] = bench_serve.run(["200", "10k"], n_queries=10 if args.quick else 40)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"results -> {args.json}")


if __name__ == "__main__":
    main()
