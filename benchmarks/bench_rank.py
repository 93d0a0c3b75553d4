"""Nearest-neighbour rankings at realistic sizes, side by side on the same embeddings.

For each shape (n rows x d dims of generated embeddings shaped like pooled CNN features: ReLU of a
200-cluster Gaussian mixture, float32) and for cosine and euclidean (sqeuclidean shares euclidean's search):

* ``ours``: ``Searcher`` built and run over every query in blocks of ``QUERY_BLOCK``, self excluded: exactly what
  ``rank`` does before the similarity calibration (index build, FAISS search, exact re-rank, certificate);
* ``limit``: a plain float32 BLAS ``q @ x.T`` over the same query blocks and nothing else (no top-k): no exact
  k-NN can be faster than this matrix product;
* ``scipy``: ``cdist`` + stable argsort (the previous implementation) on a subset of queries, extrapolated
  linearly to all queries (labelled ``~``).

The three run interleaved, best of ``rounds`` (9), so a busy machine slows them alike. For n = 100,000 only the first
10,000 queries are timed (all methods alike, the cost is linear in the queries) and the table says so.

Minkowski (p = 3): exact FAISS ``METRIC_Lp`` on a subset of queries (extrapolated) against the approximate path
(exact-L2 top-65 re-ranked by exact Minkowski) over all queries; recall@15 of the approximate path against the
exact subset; pynndescent (minkowski p = 3, 16 neighbours) for comparison. Then the similarity calibration
(``pair_distances``, 2,000,000 pairs) per metric and for all four metrics in one pass, and the peak RSS.
Wide embeddings (200 rows, d up to 301,056: a flattened early layer): ``rank_all`` through the all-pairs kernels
against the FAISS path, one run each, and whether their bits agree (``bench_wide``).
``python -m benchmarks.bench_rank [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from precompute import search

REPO = Path(__file__).resolve().parent.parent
K = 15


def embeddings(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, d)).astype(np.float32)
    x = centres[rng.integers(0, 200, n)] + 0.7 * rng.normal(size=(n, d)).astype(np.float32)
    return np.maximum(x, 0.0, out=x)


def _ours(x: np.ndarray, metric: str, nq: int) -> Callable[[], int]:
    def run() -> int:
        s = search.Searcher(x, metric)
        fallbacks = 0
        for b in range(0, nq, search.QUERY_BLOCK):
            e = min(nq, b + search.QUERY_BLOCK)
            fallbacks += s.search(x[b:e], K, self_ids=np.arange(b, e)).fallbacks
        return fallbacks

    return run


def _limit(x: np.ndarray, nq: int) -> Callable[[], int]:
    def run() -> int:
        for b in range(0, nq, search.QUERY_BLOCK):
            x[b : min(nq, b + search.QUERY_BLOCK)] @ x.T
        return 0

    return run


def _scipy(x: np.ndarray, metric: str, nq: int) -> Callable[[], int]:
    from scipy.spatial.distance import cdist

    def run() -> int:
        d = cdist(x[:nq].astype(np.float64), x.astype(np.float64), metric)
        np.argsort(d, axis=1, kind="stable")[:, : K + 1]
        return 0

    return run


def _interleaved(fns: dict[str, Callable[[], int]], rounds: int) -> tuple[dict[str, float], dict[str, int]]:
    best = {name: float("inf") for name in fns}
    extra: dict[str, int] = {}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            extra[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best, extra


def bench_search(n: int, d: int, rounds: int, timed_queries: int | None = None, scipy_queries: int = 256) -> list:
    x = embeddings(n, d)
    nq = min(n, timed_queries or n)
    rows = []
    for metric in ("cosine", "euclidean"):
        fns = {"ours": _ours(x, metric, nq), "limit": _limit(x, nq), "scipy": _scipy(x, metric, scipy_queries)}
        best, extra = _interleaved(fns, rounds)
        row = {
            "n": n,
            "d": d,
            "metric": metric,
            "queries": nq,
            "ours_s": best["ours"],
            "limit_s": best["limit"],
            "limit_over_ours": best["limit"] / best["ours"],
            "scipy_s_extrapolated": best["scipy"] * nq / scipy_queries,
            "fallbacks": extra["ours"],
        }
        rows.append(row)
        q = f"{nq:,}" if nq == n else f"{nq:,} of {n:,}"
        print(
            f"{n:>8,} {d:>4} {metric:10} {q:>17} {row['ours_s']:8.2f} {row['limit_s']:8.2f} "
            f"{row['limit_over_ours']:11.2f} {'~':>2}{row['scipy_s_extrapolated']:8.1f} {row['fallbacks']:9}",
            flush=True,
        )
    return rows


def bench_minkowski(n: int, d: int, exact_queries: int, with_pynndescent: bool) -> dict:
    import faiss

    x = embeddings(n, d, seed=1)
    out: dict = {"n": n, "d": d, "p": 3.0}
    # exact FAISS Lp on a subset, certified like the exact path (this is the exact path's search)
    idx = search._Index(x, "lp", 3.0)
    t = time.perf_counter()
    found, _ = idx.topk(x[:exact_queries], K + 1, [lambda v: search._root(v, 3.0)])
    ex = found[0][0]
    out["exact_s_extrapolated"] = (time.perf_counter() - t) * n / exact_queries
    exact = np.array([[j for j in r if j != i][:K] for i, r in enumerate(ex.tolist())])
    # the approximate path over every query, as rank() runs it (recall sample included)
    t = time.perf_counter()
    s = search.Searcher(x, "minkowski")
    assert not s.exact, "shape is below MINKOWSKI_EXACT_MAX_COST: no approximate path to time"
    ids = np.concatenate(
        [
            s.search(x[b : b + search.QUERY_BLOCK], K, self_ids=np.arange(b, min(n, b + search.QUERY_BLOCK))).ids
            for b in range(0, n, search.QUERY_BLOCK)
        ]
    )
    out["approx_search_s"] = time.perf_counter() - t
    t = time.perf_counter()
    out["approx_recall_reported"] = search.minkowski_recall(x, ids, 3.0)
    out["recall_sample_s"] = time.perf_counter() - t
    hits = [len(np.intersect1d(a, b)) for a, b in zip(ids[:exact_queries], exact, strict=True)]
    out["approx_recall_vs_exact_subset"] = float(np.sum(hits) / (exact_queries * K))
    # the L2 search alone (FAISS), for scale
    t = time.perf_counter()
    l2 = faiss.IndexFlatL2(d)
    l2.add(x)
    l2.search(x, 90)
    out["faiss_l2_search_s"] = time.perf_counter() - t
    if with_pynndescent:
        from pynndescent import NNDescent

        t = time.perf_counter()
        nnd = NNDescent(x, metric="minkowski", metric_kwds={"p": 3.0}, n_neighbors=16, random_state=0)
        nn_ids, _ = nnd.neighbor_graph
        out["pynndescent_s"] = time.perf_counter() - t
        nn = [[j for j in r if j != i][:K] for i, r in enumerate(nn_ids[:exact_queries].tolist())]
        hits = [len(np.intersect1d(a, b)) for a, b in zip(nn, exact, strict=True)]
        out["pynndescent_recall_vs_exact_subset"] = float(np.sum(hits) / (exact_queries * K))
    print(
        f"minkowski p=3 n={n:,} d={d}: exact FAISS Lp ~{out['exact_s_extrapolated']:.0f} s (from {exact_queries} "
        f"queries) | approximate {out['approx_search_s']:.1f} s + recall sample {out['recall_sample_s']:.1f} s, "
        f"recall@15 {out['approx_recall_vs_exact_subset']:.3f} vs the exact subset "
        f"(reported {out['approx_recall_reported']:.3f}) | FAISS L2 search alone {out['faiss_l2_search_s']:.1f} s"
        + (
            f" | pynndescent {out['pynndescent_s']:.1f} s, recall@15 {out['pynndescent_recall_vs_exact_subset']:.3f}"
            if with_pynndescent
            else ""
        ),
        flush=True,
    )
    return out


def bench_pairs(n: int, dims: list[int]) -> list:
    rows = []
    for d in dims:
        x = embeddings(n, d, seed=2)
        row: dict = {"n": n, "d": d, "pairs": search.PAIR_SAMPLE}
        for m in search.METRICS:
            t = time.perf_counter()
            search.pair_distances(x, [m])
            row[f"{m}_s"] = time.perf_counter() - t
        t = time.perf_counter()
        search.pair_distances(x, list(search.METRICS))
        row["all_four_one_pass_s"] = time.perf_counter() - t
        rows.append(row)
        print(
            f"similarity sample n={n:,} d={d}: "
            + " ".join(f"{m} {row[f'{m}_s']:.1f}s" for m in search.METRICS)
            + f" | all four in one pass {row['all_four_one_pass_s']:.1f}s",
            flush=True,
        )
    return rows


def bench_wide(n: int, dims: list[int], faiss_max_d: int) -> list:
    """Few rows, many dimensions (a flattened early layer: 200 images x 301,056 at MobileNet's conv1): ``rank_all``
    for all four metrics (rankings and the every-pair similarity sample) through the all-pairs kernels, against the
    FAISS search with its certificate (``ALL_PAIRS_MIN_WORK`` set out of reach) up to ``faiss_max_d``, alternately,
    and the bits of the two compared. Compilation is done before the clock starts."""
    from precompute import pairsums

    rows = []
    warm = embeddings(4, 8)
    for kind in ("ip", "l2", "lp"):
        pairsums.block_sums(kind, 3.0, warm, warm)
    for d in dims:
        x = embeddings(n, d)
        row: dict = {"n": n, "d": d, "threads": pairsums.threads()}
        got = {}
        for path in ("all_pairs", "faiss") if d <= faiss_max_d else ("all_pairs",):
            saved = search.ALL_PAIRS_MIN_WORK
            search.ALL_PAIRS_MIN_WORK = saved if path == "all_pairs" else float("inf")
            try:
                t = time.perf_counter()
                got[path] = search.rank_all(x, list(search.METRICS), k=K)
                row[f"{path}_s"] = time.perf_counter() - t
            finally:
                search.ALL_PAIRS_MIN_WORK = saved
        if "faiss" in got:
            row["same_bits"] = all(
                getattr(got["faiss"][m], f).tobytes() == getattr(got["all_pairs"][m], f).tobytes()
                for m in search.METRICS
                if m != "minkowski" or n * n * d <= search.MINKOWSKI_EXACT_MAX_COST  # else FAISS's is approximate
                for f in ("ids", "dist", "sim")
            )
            row["faiss_over_all_pairs"] = row["faiss_s"] / row["all_pairs_s"]
        rows.append(row)
        faiss = (
            f"{row['faiss_s']:8.1f} {row['faiss_over_all_pairs']:8.1f}x  same bits: {row['same_bits']}"
            if got.get("faiss")
            else f"{'-':>8}"
        )
        print(f"{n:>6} {d:>8,} {row['all_pairs_s']:10.2f} {faiss}", flush=True)
    return rows


def peak_rss_of_ours(n: int, d: int, queries: int) -> float:
    """Peak RSS (MB) of a fresh process that builds the embeddings, searches ``queries`` of them for cosine and
    euclidean and computes the similarity pair sample for all four metrics: our memory alone (this process also
    holds the matmul limit's 4096 x n blocks)."""
    code = (
        "import resource, numpy as np\n"
        "from benchmarks.bench_rank import embeddings, _ours\n"
        "from precompute.search import pair_distances, METRICS\n"
        f"x = embeddings({n}, {d})\n"
        f"for m in ('cosine', 'euclidean'): _ours(x, m, {queries})()\n"
        "pair_distances(x, list(METRICS))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def compile_seconds() -> float:
    """The one-off compilation of the re-rank kernels (pairsums) for float32 rows, which every ranking of a large
    dataset pays once per process; timed here so that the rounds measure the steady state."""
    from precompute import pairsums

    x = embeddings(4, 8)
    t = time.perf_counter()
    for kind in ("ip", "l2", "lp"):
        pairsums.pair_sums(kind, 3.0, x, x, np.zeros((4, 2), dtype=np.int64))
    return time.perf_counter() - t


def run(quick: bool = False, rounds: int = 9) -> dict:
    results: dict = {"search": [], "compile_s": compile_seconds()}
    print(f"ours re-ranks through numba kernels, compiled once per process ({results['compile_s']:.1f} s, not timed)")
    print(
        "shared 2-core machine: compare columns within a row (same run, interleaved); ~ = extrapolated from 256 queries"
    )
    print(
        f"{'n':>8} {'d':>4} {'metric':10} {'queries timed':>17} {'ours s':>8} {'limit s':>8} {'limit/ours':>11} "
        f"{'scipy s':>10} {'fallbacks':>9}"
    )
    dims = [96, 768] if quick else [96, 384, 768]
    for d in dims:
        results["search"] += bench_search(10_000, d, rounds)
    if not quick:
        results["search"] += bench_search(100_000, 96, rounds, timed_queries=10_000)
    results["minkowski"] = [bench_minkowski(10_000, 768, 100 if quick else 200, with_pynndescent=not quick)]
    results["pairs"] = bench_pairs(10_000, dims)
    print(
        "wide embeddings, n = 200 (all four metrics: rankings + every-pair similarity; minkowski's bits compared "
        "where FAISS's is exact too): d, all-pairs s, faiss s, faiss/all-pairs"
    )
    wide = [20_000, 100_000] if quick else [20_000, 100_000, 301_056]
    results["wide"] = bench_wide(200, wide, faiss_max_d=20_000 if quick else 100_000)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n, d = (10_000, 768) if quick else (100_000, 96)
    results["ours_peak_rss_mb"] = {"n": n, "d": d, "mb": peak_rss_of_ours(n, d, 10_000)}
    print(
        f"peak RSS: this benchmark process {results['peak_rss_mb']:.0f} MB (the matmul limit's 4096 x n float32 "
        f"blocks included); ours alone at n={n:,} d={d} (index, 10,000 queries, 2M-pair similarity sample): "
        f"{results['ours_peak_rss_mb']['mb']:.0f} MB (data {n * d * 4 / 2**20:.0f} MB; an n x n float64 matrix would "
        f"be {n * n * 8 / 2**30:.0f} GB)"
    )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_rank")
    ap.add_argument("--quick", action="store_true", help="n = 10,000 only, d in {96, 768}, no pynndescent")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--json", type=Path, default=REPO / "build" / "bench_rank.json")
    args = ap.parse_args()
    results = run(args.quick, args.rounds)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results -> {args.json}")


if __name__ == "__main__":
    main()
