"""The approximate path (``precompute.approximate``) against exact search, side by side on the same embeddings.

``python -m benchmarks.bench_approx BUILD``: every view of a finished build (its cached embeddings, from
``manifest.json``): exact ``search.rank_all`` and ``approximate.rank_all(index="approximate")`` for the build's
metrics, one after the other per view, the time of each, and per metric the recall@k of the approximate ranking
over **every** query against the exact one, beside the recall it reports (measured on its 512 sampled queries)
and the efSearch it chose. The exact run is also compared with the build's cached ranking (same bits).

``python -m benchmarks.bench_approx --synthetic 101000 --dims 96,768``: generated rows (``bench_rank.embeddings``,
a ReLU'd Gaussian mixture) at sizes no build here has the embeddings of: the approximate ranking of every row,
and exact search of ``--exact-queries`` seeded rows only, its time extrapolated linearly to all rows (marked
``~``), the recall measured on those rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from precompute import approximate, search
from precompute.approximate import _recall  # the share of exact ids found: the one the rankings report

K = 15


def on_build(out: Path, max_views: int | None) -> list[dict]:
    from precompute.cache import Cache

    manifest = json.loads((out / "manifest.json").read_text())
    cache = Cache(out / "cache")
    seed, p = manifest["settings"]["seed"], manifest["settings"]["minkowski_p"]
    rows = []
    views = [
        (f"{ds}/{m}/{la}/{pool}", v)
        for ds, models in manifest["views"].items()
        for m, layers in models.items()
        for la, pools in layers.items()
        for pool, v in pools.items()
    ][:max_views]
    for name, v in views:
        x = cache.get_npy("emb", v["emb"])
        metrics = list(v["calib"])
        t = time.perf_counter()
        exact = search.rank_all(x, metrics, K, p, seed=seed)
        t_exact = time.perf_counter() - t
        t = time.perf_counter()
        approx = approximate.rank_all(x, metrics, K, p, seed=seed, index="approximate")
        t_approx = time.perf_counter() - t
        row = {"view": name, "n": int(x.shape[0]), "d": int(x.shape[1]), "exact_s": t_exact, "approx_s": t_approx}
        for m in metrics:
            cached = cache.get_arrays("rank", v["calib"][m])
            same = cached is not None and np.array_equal(cached["ids"], exact[m].ids)
            row[m] = {
                "recall_all": _recall(approx[m].ids, exact[m].ids),
                "recall_reported": approx[m].recall,
                "exact": approx[m].exact,
                "index": approx[m].index,
                "note": approx[m].index_note,
                "exact_equals_cache": bool(same),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def synthetic(n: int, dims: list[int], queries: int, metrics: list[str]) -> list[dict]:
    from benchmarks.bench_rank import embeddings

    rows = []
    for d in dims:
        x = embeddings(n, d)
        t = time.perf_counter()
        approx = approximate.rank_all(x, metrics, K, index="approximate")
        t_approx = time.perf_counter() - t
        sample = np.sort(np.random.default_rng(7).choice(n, min(n, queries), replace=False))
        t = time.perf_counter()
        exact = search.Searcher(x, metrics).search_all(x[sample], K, self_ids=sample)
        t_exact = (time.perf_counter() - t) * n / len(sample)
        row = {
            "view": f"synthetic {n} x {d}",
            "n": n,
            "d": d,
            "exact_s": t_exact,
            "approx_s": t_approx,
            "extrapolated": True,
        }
        for m in metrics:
            row[m] = {
                "recall_all": _recall(approx[m].ids[sample], exact[m].ids),  # on the exact sample
                "recall_reported": approx[m].recall,
                "exact": approx[m].exact,
                "index": approx[m].index,
                "note": approx[m].index_note,
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    metrics = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    head = "| view | n × d | exact | approximate | ratio | " + " | ".join(
        f"{m}: recall all / reported (efSearch)" for m in metrics
    )
    lines = [head + " |", "|" + "---|" * (5 + len(metrics))]
    for r in rows:
        mark = "~" if r.get("extrapolated") else ""
        cells = []
        for m in metrics:
            c = r[m]
            ef = c["index"].split("efSearch=")[-1].rstrip(")") if "efSearch" in c["index"] else "exact"
            rep = "—" if c["recall_reported"] is None else f"{c['recall_reported']:.4f}"
            cells.append(f"{c['recall_all']:.4f} / {rep} ({ef})")
        lines.append(
            f"| {r['view']} | {r['n']:,} × {r['d']} | {mark}{r['exact_s']:.1f} s | {r['approx_s']:.1f} s | "
            f"{r['exact_s'] / r['approx_s']:.2f}× | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_approx")
    ap.add_argument("build", type=Path, nargs="?", help="a finished build's folder (manifest.json, cache/)")
    ap.add_argument("--max-views", type=int, default=None)
    ap.add_argument("--synthetic", type=int, default=0, help="rows of generated embeddings instead of a build")
    ap.add_argument("--dims", default="96,768")
    ap.add_argument("--exact-queries", type=int, default=2048)
    ap.add_argument("--metrics", default="cosine,euclidean,sqeuclidean,minkowski")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.synthetic:
        dims = [int(d) for d in args.dims.split(",")]
        rows = synthetic(args.synthetic, dims, args.exact_queries, args.metrics.split(","))
    elif args.build:
        rows = on_build(args.build, args.max_views)
    else:
        ap.error("give a build folder or --synthetic N")
    print(table(rows))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
