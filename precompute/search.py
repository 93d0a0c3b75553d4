"""Nearest-neighbour rankings, similarities and the search score.

Definitions (also in the README):

* Distances: scipy's ``cdist`` formulas in float64, reproduced bit for bit for cosine
  (``1 - u.v / (|u| |v|)``, the cosine clipped to [-1, 1]), euclidean and sqeuclidean (the sums run in scipy's
  order); minkowski ``(sum |u - v|^p)^(1/p)`` (p = 3 by default, p >= 1) is within 2 ulp of scipy's (which
  calls libm ``pow`` per coordinate, ~15x slower). Two identical non-zero vectors are at cosine distance
  exactly 0 (scipy's rounding can give 2.2e-16).
* Rankings: for every query image the ``k`` nearest other images (the query itself is excluded), ordered
  by distance, ties broken by the smaller image id (a stable sort over ids in ascending order).
* Zero vectors: cosine distance is undefined for an all-zero embedding (scipy returns NaN). We define the
  cosine distance between a zero vector and a non-zero one as 1 (no direction in common) and between two
  zero vectors as 0, so rankings never contain NaN. Any other non-finite distance sorts last: a row with a
  non-finite value (or, for cosine, a non-zero row whose norm under- or overflows float64) is at distance
  +inf from every row.
* Similarity in [0, 1], the same for every metric: the fraction of all pairs of distinct images in the
  dataset whose distance (same metric, same model and layer) is larger than this pair's. 1.0 means closer
  than every other pair in the dataset, 0.5 a median pair. It is comparable across metrics, layers and
  models, unlike raw distances whose scale depends on all three. With at most ``PAIR_SAMPLE`` distinct pairs
  (n <= 1,000) all of them are used, above that ``PAIR_SAMPLE`` seeded random pairs; either way in chunks
  (O(chunk·d) memory) with the ranking's own formulas, one gather of the pairs for every metric. 500,000
  pairs: the sample costs O(sample·d) whatever n is (about 4 s per layer at d = 768 for four metrics), and a
  pair among the closest 0.01 % still has about 50 sampled pairs below it, so neighbours stay distinguishable.
* Search score (the original ConvNet Playground's): for a query q and its top-K list r_0..r_{K-1},
  ``100 * sum_{i: class(r_i) = class(q)} (K - i) / K  /  sum_{i < K} (K - i) / K``; a hit at rank 1 weighs
  most. K is ``k`` (15), or fewer when the dataset has fewer than k + 1 images.
* Precision@K: the fraction of the K results in the query's class. kNN accuracy: whether the majority class
  of the K results is the query's (among tied classes the one seen first in the ranking wins).

Method (memory O(n·d + block·K), never an n x n matrix):

1. Candidates from an exact brute-force FAISS search in float32 (BLAS, all cores), ``QUERY_BLOCK`` queries at a
   time: ``IndexFlatIP`` over L2-normalised rows for cosine; ``IndexFlatL2`` over mean-centred rows for
   euclidean and sqeuclidean (one search serves both); ``IndexFlat(METRIC_Lp)`` over centred rows for minkowski
   while n²·d <= ``MINKOWSKI_EXACT_MAX_COST``.
2. Every candidate that can still be among the top K is re-ranked exactly with the float64 formulas above (the
   same sums in the same order on every path, so a pair's distance never depends on blocking, threads or
   FAISS's rounding) and sorted by (distance, id): today's tie rule. For datasets of ``COMPILED_MIN_ROWS`` rows
   or more the sums run in ``pairsums``' numba kernels (one pass over each candidate row, identical bits:
   at 10,000 x 96 the numpy re-rank cost ~0.1 s per 10,000 queries, more than half of FAISS's search).
3. Certificate: FAISS returns Kf = K + 8 + K/4 results; the K-th exact distance must lie below the smallest
   FAISS distance not re-ranked minus a rigorous bound on FAISS's float32 error (``_Index._error``, doubled:
   (d + 5)·2^-24·(|q - mu| + max_j |x_j - mu|)^2 for L2, (d + 2p + 4)·2^-24·(same in p-norms)^p for Lp,
   (d + 3)·2^-24 for cosine) with float64 slack to spare. Then no row outside the candidates can be as close,
   and the answer is exact. Queries that fail are searched again with 4·Kf results; those failing again are
   computed exactly against every row (``fallbacks``). On 10,100 real MobileNet embeddings (d = 96, 384, 768)
   no query failed; many exact duplicates make the fallback run (tests).
4. Minkowski with n²·d > ``MINKOWSKI_EXACT_MAX_COST`` (2e9) is APPROXIMATE. FAISS has no BLAS path for Lp: 5 ns
   per n²·d unit (39 s for 1,000 of 10,100 queries at d = 768, so ~6.5 min for the dataset; scipy cdist 22 s
   per 200 queries); at the threshold the exact search costs ~10 s, as much as the approximate path's recall
   measurement. Above it the candidates are the exact euclidean top-(``APPROX_CANDIDATES`` + 1) = 65 rows
   (certified as above, so the result is defined exactly and a dataset row sent as a query gets its own
   ranking back) re-ranked by exact Minkowski. Its recall@k against an exact computation is measured on a
   seeded sample of queries (``RECALL_BUDGET`` = 1e9 element operations: 129 queries at 10,000 x 768, 16 at
   100,000 x 768, ~5 s) and returned with the ranking. On 10,100 real MobileNet embeddings it measured recall@15
   1.000 / 0.999 / 1.000 at d = 96 / 384 / 768 (0.997-1.000 against scipy on 60 other rows), the L2 search
   taking ~1.5 s at d = 768; pynndescent (minkowski p = 3, 16 neighbours) took 49 s there for recall 0.956
   (``benchmarks/bench_rank.py`` reruns the comparison): candidates from an exact L2 search are both faster and
   more accurate.
5. All pairs (``all_pairs_pay``): with at most 1,000 rows the similarity's pair sample is every pair, so when the
   work n²·d/2 is worth compiling for (``ALL_PAIRS_MIN_WORK``), every pair is computed once (``pairsums.cross_sums``:
   the same sums in the same order, tiled, on every core), and the rankings are sorted from those values instead
   of searched. That is the path of few rows with many dimensions, where FAISS is also at its worst: its float32
   error bound grows with d, so at d = 301,056 (a flattened early layer) nearly every certificate failed and
   fell back to the exact numpy path. Minkowski is exact there at any d. Searches of a few queries (a live query)
   keep FAISS: its answers are exact too, so both paths give the same bits.
6. Large views (n²·d above ``approximate.APPROX_MIN_WORK``, or ``index = "approximate"``) are ranked by
   ``approximate``: an HNSW graph (``_Index(graph=...)``, ``approx_topk``) gives the candidates, re-ranked exactly as
   above, with a recall measured against this module's exact search on sampled queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import pairsums

METRICS = ("cosine", "euclidean", "sqeuclidean", "minkowski")
METRIC_DESCRIPTIONS = {
    "cosine": "1 - cosine of the angle between embeddings (ignores their length)",
    "euclidean": "straight-line (L2) distance",
    "sqeuclidean": "squared L2 distance (same order as euclidean, different spread)",
    "minkowski": "Minkowski (Lp) distance with p = minkowski_p (default 3)",
}
PAIR_SAMPLE = 500_000  # pairs used to estimate the similarity scale on large datasets (see the docstring)
MINKOWSKI_EXACT_MAX_COST = 2e9  # n²·d up to which minkowski rankings are exact (FAISS Lp ~5 ns per n²·d)
APPROX_CANDIDATES = 64  # exact-L2 candidates re-ranked by Minkowski on the approximate path
RECALL_BUDGET = 1e9  # query·n·d element operations spent measuring the approximate path's recall
RECALL_QUERIES = (16, 200)  # at least / at most this many sampled queries for the recall
QUERY_BLOCK = 4096  # queries per FAISS search call
# the re-rank runs compiled (pairsums: ~1 s to compile per process, then 3-5x faster) for datasets of at least
# this many rows, and searches of at least this many queries (a live query stays on numpy)
COMPILED_MIN_ROWS = 2000
COMPILED_MIN_QUERIES = 64
# every pair at once (``_all_pair_values``: pairsums' tiled kernels, on every core) instead of FAISS, for datasets
# whose similarity needs every pair anyway (n(n-1)/2 <= PAIR_SAMPLE) and whose n²·d/2 is at least this: the work,
# not the row count, decides (see ``all_pairs_pay``)
ALL_PAIRS_MIN_WORK = 2e8
COMPILED_STEP = 1024  # queries per compiled re-rank step
GRAPH_BUILD_EF = 80  # HNSW efConstruction of an approximate search's graph (see ``approximate``)
FAISS_TILE = (1024, 4096)  # queries x rows per BLAS tile of a FAISS search (see _Index)

_U32 = 2.0**-24  # unit roundoff of float32
_U64 = 2.0**-53
_CHUNK = 1 << 17  # float64 elements per temporary in exact computations (1 MiB: stays in cache)

Finish = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Neighbours:
    """Top-k of a block of queries: ``ids`` (q, k) int32 and ``dist`` (q, k) float64, sorted by (dist, id)."""

    ids: np.ndarray
    dist: np.ndarray
    fallbacks: int = 0  # queries whose certificate failed twice and were computed exactly against every row


@dataclass(frozen=True)
class Ranking:
    ids: np.ndarray  # (N, k) int32
    dist: np.ndarray  # (N, k) float64
    sim: np.ndarray  # (N, k) float64 in [0, 1]
    exact: bool = True  # False: minkowski via exact-L2 candidates (see module docstring)
    recall: float | None = None  # measured recall@k of an approximate ranking, None when exact
    fallbacks: int = 0
    calibration: Calibration | None = None  # of the pair sample (what the site and live queries read)
    index: str = "flat"  # how the neighbours were found ("flat": exact search; else ``approximate``'s graph)
    index_note: str | None = None  # why a view large enough for the graph stayed exact (``approximate``)


# --------------------------------------------------------------------------------------------- exact formulas
def _rows(emb: np.ndarray, what: str = "embeddings") -> np.ndarray:
    a = np.asarray(emb)
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"{what} must be a 2-D array (rows x dimensions), got shape {a.shape}")
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{what} must be real numbers, got dtype {a.dtype}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return np.ascontiguousarray(a)


def _check(metric: str, p: float) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}' (choose from {', '.join(METRICS)})")
    if metric == "minkowski" and not (np.isfinite(p) and p >= 1):
        raise ValueError(f"minkowski needs a finite p >= 1, got {p}")


def _pow(a: np.ndarray, p: float) -> np.ndarray:
    """``a ** p`` in place; integer p by repeated multiplication (deterministic and ~15x faster than libm pow,
    within 2 ulp of it)."""
    if p == int(p) and int(p) in pairsums.INT_POWERS:
        if p > 1:
            base = a.copy()
            for _ in range(int(p) - 1):
                a *= base
        return a
    return np.power(a, p, out=a)


def _root(s: np.ndarray, p: float) -> np.ndarray:
    """scipy's last step of minkowski: sqrt for p = 2 (its euclidean kernel), else libm ``pow(s, 1/p)``."""
    return np.sqrt(s) if p == 2 else np.float_power(s, 1.0 / p)


def _sqrt(s: np.ndarray) -> np.ndarray:
    return np.sqrt(s)


def _same(s: np.ndarray) -> np.ndarray:
    return s


def _reduce0(t: np.ndarray) -> np.ndarray:
    """Sum over axis 0, strictly in order. numpy adds row after row while a row holds at least two values; a
    single column ((d, 1, ...): one pair per chunk, at d > ``_CHUNK`` / 2) is a 1-D reduction to numpy, which it
    sums pairwise (seen: euclidean and cosine pair distances off scipy's in the last bits at d = 70,000), so
    that case goes through ``cumsum``, which is sequential."""
    if t.ndim < 2 or len(t) == 0 or t[0].size > 1:
        return np.add.reduce(t, axis=0)
    return np.cumsum(t, axis=0)[-1]


def _seq_sum(t: np.ndarray) -> np.ndarray:
    """Sum over axis 0 of a C-contiguous array, strictly in order (``_reduce0``): scipy's order."""
    return _reduce0(t)


def _two_lane_sum(t: np.ndarray) -> np.ndarray:
    """Sum over axis 0 as scipy's cosine kernel does: even and odd terms in two running sums, added, then the
    odd last term."""
    d = len(t)
    even = d - d % 2
    s = _reduce0(t[0:even:2]) + _reduce0(t[1:even:2])
    return s + t[d - 1] if d % 2 else s


def _feature_first(rows: np.ndarray) -> np.ndarray:
    """(..., d) -> C-contiguous float64 (d, ...), transposed and cast in one copy: the layout in which numpy sums
    in scipy's order."""
    return np.array(np.moveaxis(rows, -1, 0), dtype=np.float64, order="C")


@dataclass(frozen=True)
class _Aux:
    """Per-row facts: L2 norm as scipy's cosine computes it, all values finite, all-zero, cosine undefined."""

    norm: np.ndarray
    finite: np.ndarray
    zero: np.ndarray
    bad: np.ndarray

    def take(self, idx: np.ndarray | slice) -> _Aux:
        return _Aux(self.norm[idx], self.finite[idx], self.zero[idx], self.bad[idx])

    def column(self) -> _Aux:
        """As (m, 1) arrays, to broadcast a block of queries against (m, r) candidates."""
        return _Aux(self.norm[:, None], self.finite[:, None], self.zero[:, None], self.bad[:, None])


def _aux(x: np.ndarray) -> _Aux:
    n = len(x)
    norm = np.empty(n)
    finite = np.empty(n, dtype=bool)
    step = max(1, _CHUNK // x.shape[1])
    for s in range(0, n, step):
        t = _feature_first(x[s : s + step])
        finite[s : s + step] = np.isfinite(t).all(axis=0)
        norm[s : s + step] = np.sqrt(_two_lane_sum(np.multiply(t, t, out=t)))
    zero = ~np.any(x, axis=1) & finite
    with np.errstate(invalid="ignore"):
        bad = ~finite | (~zero & ~((norm > 0) & np.isfinite(norm)))
    return _Aux(norm, finite, zero, bad)


def _values(kind: str, p: float, a: np.ndarray, b: np.ndarray, aa: _Aux | None, ab: _Aux | None) -> np.ndarray:
    """Exact float64 values between rows given feature-first: ``a`` (d, ...) and ``b`` (d, ...) broadcast
    against each other.

    ``kind`` "ip": cosine distance ``1 - a.b / (|a| |b|)`` (needs the rows' ``_Aux``); "l2": squared euclidean;
    "lp": sum |a - b|^p (the caller applies ``_root``). The sums run in scipy's order, so cosine, euclidean and
    sqeuclidean are bit-identical to ``cdist`` (minkowski's |a - b|^p is within 2 ulp of scipy's libm pow), and
    a pair's value never depends on what is computed alongside it. Two identical non-zero rows are at cosine
    distance exactly 0 (scipy's rounding gives up to 2.2e-16). Non-finite results become +inf. ``a`` and ``b``
    may be views in any layout and any float dtype: the products and differences are written C-ordered in float64
    (``order="C"``), because numpy sums axis 0 of a C-ordered array row after row (scipy's order) but would sum a
    layout that inherits a view's strides pairwise.
    """
    if kind == "ip":
        assert aa is not None and ab is not None
        with np.errstate(all="ignore"):  # rows with inf/nan are masked to +inf by _cosine
            dot = _two_lane_sum(np.multiply(a, b, dtype=np.float64, order="C"))

        def same(low: tuple[np.ndarray, ...]) -> np.ndarray:
            shape, at = (len(a), *dot.shape), (slice(None), *low)
            return np.logical_and.reduce(np.broadcast_to(a, shape)[at] == np.broadcast_to(b, shape)[at], axis=0)

        return _cosine(dot, aa, ab, same)
    with np.errstate(all="ignore"):  # inf - inf and overflows: mapped to +inf by _diff_values
        [v] = _diff_values(np.subtract(a, b, dtype=np.float64, order="C"), p, l2=kind == "l2", lp=kind == "lp")
    return v


def _cosine(dot: np.ndarray, aa: _Aux, ab: _Aux, same: Callable[[tuple[np.ndarray, ...]], np.ndarray]) -> np.ndarray:
    """Cosine distances from exact dot products and the rows' ``_Aux`` (broadcast against ``dot``); ``same(low)``
    says which of the pairs at the indices ``low`` are identical rows (those are at distance exactly 0)."""
    with np.errstate(all="ignore"):
        cos = dot / (aa.norm * ab.norm)
        cos = np.where(np.abs(cos) > 1.0, np.sign(cos), cos)  # scipy clips rounding beyond +-1
    v = 1.0 - cos
    low = np.nonzero(v < 1e-15)  # identical rows land here (scipy: |v| <= 2.2e-16): compare those pairs only
    if len(low[0]):
        v[low] = np.where(same(low), 0.0, v[low])
    v = np.where(aa.zero | ab.zero, np.where(aa.zero & ab.zero, 0.0, 1.0), v)
    v = np.asarray(np.where(aa.bad | ab.bad, np.inf, v), dtype=np.float64)
    v[~np.isfinite(v)] = np.inf
    return v


def _diff_values(diff: np.ndarray, p: float, *, l2: bool, lp: bool) -> list[np.ndarray]:
    """Squared euclidean and/or sum |diff|^p from one feature-first float64 difference (consumed)."""
    out = []
    if l2:
        out.append(_seq_sum(diff * diff if lp else np.multiply(diff, diff, out=diff)))
    if lp:
        out.append(_seq_sum(_pow(np.abs(diff, out=diff), p)))
    for v in out:
        v[~np.isfinite(v)] = np.inf
    return out


def _sort_rows(ids: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` smallest by (value, id)."""
    order = np.lexsort((ids, vals), axis=-1)[:, :k]
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(vals, order, axis=1)


def exact_topk(
    x: np.ndarray,
    q: np.ndarray,
    K: int,
    kind: str,
    p: float,
    finishes: Sequence[Finish],
    *,
    aux: _Aux | None = None,
    qaux: _Aux | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact top-``K`` by (finish(value), id) of query rows ``q`` against every row of ``x``, blocked over
    queries and rows (memory O(len(q)·K + _CHUNK)); self is not excluded. One (ids int64, values) per finish."""
    m, n, d = len(q), len(x), x.shape[1]
    K = min(K, n)
    if kind == "ip":
        aux = _aux(x) if aux is None else aux
        qaux = _aux(q) if qaux is None else qaux
    out = [(np.empty((m, K), dtype=np.int64), np.empty((m, K))) for _ in finishes]
    group = max(1, min(m, 4 * _CHUNK // (d * 256)))  # queries at a time: >= 256 rows per step
    step = max(1, 4 * _CHUNK // (d * group))
    for g in range(0, m, group):
        qg = slice(g, min(m, g + group))
        a = _feature_first(q[qg])[:, :, None]
        qa = qaux.take(qg).column() if kind == "ip" and qaux is not None else None
        best = [(np.empty((len(a[0]), 0), dtype=np.int64), np.empty((len(a[0]), 0))) for _ in finishes]
        for s in range(0, n, step):
            e = min(n, s + step)
            b = _feature_first(x[s:e])[:, None, :]
            v = _values(kind, p, a, b, qa, None if aux is None else aux.take(slice(s, e)))
            ids = np.broadcast_to(np.arange(s, e), v.shape)
            best = [
                _sort_rows(np.concatenate([bi, ids], axis=1), np.concatenate([bv, f(v)], axis=1), K)
                for f, (bi, bv) in zip(finishes, best, strict=True)
            ]
        for (oi, ov), (bi, bv) in zip(out, best, strict=True):
            oi[qg], ov[qg] = bi, bv
    return out


def _finish_sorted(ids: np.ndarray, vals: np.ndarray, finish: Finish) -> tuple[np.ndarray, np.ndarray]:
    """``finish`` of rows sorted by (value, id). A monotone finish keeps that order, except where it merges two
    different values into a tie (sqrt can): those rows are ordered by (finished value, id) again."""
    fv = finish(vals)
    merged = ((fv[:, 1:] == fv[:, :-1]) & (vals[:, 1:] != vals[:, :-1])).any(axis=1)
    if not merged.any():
        return ids, fv
    ids, fv = ids.copy(), fv.copy()
    ids[merged], fv[merged] = _sort_rows(ids[merged], fv[merged], ids.shape[1])
    return ids, fv


# --------------------------------------------------------------------------------------------- FAISS + certificate
class _Index:
    """One FAISS flat index over the usable rows of ``x`` plus what is needed to certify its answers.

    ``kind`` "ip" (cosine), "l2" (euclidean family) or "lp" (exact minkowski). ``topk`` returns exact top-K
    lists (self NOT excluded) under any number of finishes (monotone maps of the exact value).
    """

    def __init__(self, x: np.ndarray, kind: str, p: float = 3.0, *, graph: int = 0) -> None:
        """``graph`` > 0 (an ``approximate`` search of "ip" or "l2"): the rows also go into an HNSW graph of that
        many links per node, whose flat storage serves the exact searches (one copy of the rows for both)."""
        import faiss

        # FAISS's brute-force search multiplies tiles of (queries x rows) with BLAS, then updates each query's
        # heap from its row of the tile. 1,024 x 4,096 instead of FAISS's default 4,096 x 1,024: 15-20 % faster
        # at d = 96 (the heap pass dominates there), the same at d = 768 (benchmarks/bench_rank.py, interleaved).
        # The answers do not depend on it: every candidate is re-ranked exactly and certified.
        faiss.cvar.distance_compute_blas_query_bs = FAISS_TILE[0]
        faiss.cvar.distance_compute_blas_database_bs = FAISS_TILE[1]
        self.x, self.kind, self.p = x, kind, p
        self.n, self.d = x.shape
        self.aux = _aux(x)
        unusable = self.aux.bad if kind == "ip" else ~self.aux.finite  # +inf from every row: not indexed
        self.good = np.flatnonzero(~unusable)
        self.bad = np.flatnonzero(unusable)
        step = max(1, _CHUNK // self.d)
        self.mu = np.zeros(self.d)
        if kind != "ip" and len(self.good):  # L2 and Lp are translation invariant: centre for smaller errors
            for s in range(0, len(self.good), step):
                self.mu += x[self.good[s : s + step]].sum(axis=0, dtype=np.float64)
            self.mu /= len(self.good)
        self.graph = None
        if graph:
            if kind == "lp":
                raise ValueError("an HNSW graph serves cosine and the euclidean family, not minkowski")
            self.graph = faiss.IndexHNSWFlat(
                self.d, graph, faiss.METRIC_INNER_PRODUCT if kind == "ip" else faiss.METRIC_L2
            )
            self.graph.hnsw.efConstruction = GRAPH_BUILD_EF
            # the flat storage under the graph: the exact searches read the same float32 rows
            self.index = faiss.downcast_index(self.graph.storage)
        elif kind == "ip":
            self.index = faiss.IndexFlatIP(self.d)
        elif kind == "l2":
            self.index = faiss.IndexFlatL2(self.d)
        else:
            self.index = faiss.IndexFlat(self.d, faiss.METRIC_Lp)
            self.index.metric_arg = float(p)
        self.max_norm = 0.0
        # FAISS inserts a chunk's nodes into the graph on all threads, each linking its nodes while others change
        # the lists it reads: the links would depend on timing. One thread builds the same graph on every run.
        threads = faiss.omp_get_max_threads()
        if self.graph is not None:
            faiss.omp_set_num_threads(1)
        try:
            for s in range(0, len(self.good), step):
                rows = self.good[s : s + step]
                prepared = self._prepare(x[rows], self.aux.take(rows))
                self.max_norm = max(self.max_norm, float(self._norms(prepared).max()))
                (self.graph if self.graph is not None else self.index).add(prepared)
        finally:
            faiss.omp_set_num_threads(threads)
        self._zero_order: np.ndarray | None = None

    # ----- preparation and error bound
    def _prepare(self, rows: np.ndarray, aux: _Aux) -> np.ndarray:
        r = rows.astype(np.float64)
        if self.kind == "ip":
            r /= np.where(aux.zero, 1.0, aux.norm)[:, None]
        else:
            r -= self.mu
        return np.ascontiguousarray(r, dtype=np.float32)

    def _norms(self, prepared: np.ndarray) -> np.ndarray:
        r = prepared.astype(np.float64)
        if self.kind != "lp":
            return np.sqrt(np.add.reduce(r * r, axis=1))
        return _root(np.add.reduce(_pow(np.abs(r), self.p), axis=1), self.p)

    def _error(self, prepared_q: np.ndarray) -> np.ndarray:
        """Per query, twice a bound on |FAISS float32 value - exact value| over every indexed row.

        u = 2^-24, A = |q - mu|, B = max_j |x_j - mu| (p-norms for Lp), gamma_d ~ d·u bounds a float32 sum of d
        products in any order (BLAS, SIMD) relative to the sum of the products' magnitudes.
        cosine (unit vectors): dot error gamma_d, rounding both vectors to float32 2u, float64 noise (d + 8)·2^-53.
        L2: FAISS computes |a|^2 + |b|^2 - 2 a.b (BLAS) or sum (a - b)^2: gamma_d·(A + B)^2, two more roundings
        and the float32 rounding of the inputs (2u (A + B)^2): (d + 5)·u·(A + B)^2.
        Lp: float32 inputs p·u·(A + B)^p (mean value theorem, Minkowski inequality), subtraction p·u, powf 2u,
        sum gamma_d: (d + 2p + 4)·u·(A + B)^p.
        """
        d, p = self.d, self.p
        if self.kind == "ip":
            return np.full(len(prepared_q), 2 * ((d + 3) * _U32 + (d + 8) * _U64))
        scale = self._norms(prepared_q) + self.max_norm
        if self.kind == "l2":
            return 2 * (d + 5) * _U32 * scale**2
        return 2 * (d + 2 * p + 4) * _U32 * scale**p

    def _ok(self, vk: np.ndarray, lb: np.ndarray, err: np.ndarray) -> np.ndarray:
        """The certificate: every row outside the re-ranked set is provably farther than the K-th (exact value
        ``vk``), by enough float64 slack that a square or p-th root cannot make them tie."""
        with np.errstate(all="ignore"):
            if self.kind == "ip":
                ok = vk + 4 * (self.d + 8) * _U64 < lb - err
            else:
                s = 4 * (self.d + 8 * self.p + 32) * _U64
                ok = vk * (1 + s) < (lb - err) * (1 - s)
        return ok & np.isfinite(vk)

    # ----- search
    def topk(self, q: np.ndarray, K: int, finishes: Sequence[Finish]) -> tuple[list[tuple[np.ndarray, ...]], int]:
        """Exact top-``K`` of query rows ``q`` under each finish, as (ids int64, values) sorted by (value, id),
        and the number of queries that needed the exact fallback."""
        m = len(q)
        K = min(K, self.n)
        out = [(np.empty((m, K), dtype=np.int64), np.empty((m, K))) for _ in finishes]
        qaux = _aux(q)
        qbad = qaux.bad if self.kind == "ip" else ~qaux.finite
        special = qbad | (qaux.zero if self.kind == "ip" else False) | (len(self.good) == 0)
        for i in np.flatnonzero(special):  # all +inf, or the zero-vector rule: nothing to search
            ids, vals = self._special(bool(qbad[i]) or len(self.good) == 0, K)
            for f, (oi, ov) in zip(finishes, out, strict=True):
                oi[i], ov[i] = ids, f(vals)
        todo = np.flatnonzero(~special)
        kf = min(len(self.good), K + 8 + K // 4)
        for _ in range(2):  # FAISS with kf results, then with 4·kf for the queries whose certificate failed
            if len(todo):
                todo = todo[self._search(q[todo], qaux.take(todo), K, kf, finishes, out, todo)]
                kf = min(len(self.good), 4 * kf)
        if len(todo):
            res = exact_topk(self.x, q[todo], K, self.kind, self.p, finishes, aux=self.aux, qaux=qaux.take(todo))
            for (oi, ov), (ri, rv) in zip(out, res, strict=True):
                oi[todo], ov[todo] = ri, rv
        return out, len(todo)

    def _special(self, bad: bool, K: int) -> tuple[np.ndarray, np.ndarray]:
        if bad:
            return np.arange(K), np.full(K, np.inf)
        if self._zero_order is None:  # a zero query: zero rows (0), other usable rows (1), the rest (inf)
            a = self.aux
            self._zero_order = np.concatenate(
                [np.flatnonzero(a.zero), np.flatnonzero(~a.zero & ~a.bad), np.flatnonzero(a.bad)]
            )
        ids = self._zero_order[:K]
        return ids, np.where(self.aux.zero[ids], 0.0, np.where(self.aux.bad[ids], np.inf, 1.0))

    def _search(
        self,
        q: np.ndarray,
        qaux: _Aux,
        K: int,
        kf: int,
        finishes: Sequence[Finish],
        out: list[tuple[np.ndarray, np.ndarray]],
        where: np.ndarray,
    ) -> np.ndarray:
        """FAISS top-``kf``, exact re-rank of the leading candidates, certificate. Fills ``out[:][where]`` for the
        certified queries and returns the positions (into ``q``) of the others."""
        n_good = len(self.good)
        kg = min(K, n_good)
        prepared = self._prepare(q, qaux)
        err = self._error(prepared)
        F, pos = self.index.search(prepared, kf)
        F = 1.0 - F.astype(np.float64) if self.kind == "ip" else F.astype(np.float64)
        # FAISS pads a result list with label -1 where its float32 distances overflow to inf (rows near 1e19 and
        # beyond): those queries cannot be certified and go to the exact fallback
        unlabelled = (pos < 0).any(axis=1)
        ids = self.good[np.maximum(pos, 0)]
        complete = kf == n_good
        failed = np.zeros(len(q), dtype=bool)
        compiled = self._compiled(len(q))
        # queries re-ranked together: numpy's (d, queries, candidates) temporaries stay a few MiB; the compiled
        # kernels have none, and fewer, larger steps halve the Python overhead around them
        sub = COMPILED_STEP if compiled else max(1, 4 * _CHUNK // (self.d * kf))
        for s in range(0, len(q), sub):
            e = min(len(q), s + sub)
            Fs, err_s = F[s:e], err[s:e]
            # re-rank every candidate that can still be in the top K: FAISS value <= K-th FAISS value + 3 err
            with np.errstate(invalid="ignore"):
                r = max(kg, int(np.max((Fs <= (Fs[:, kg - 1] + 3 * err_s)[:, None]).sum(axis=1))))
            cand = ids[s:e, :r]
            vals = self.rerank(q[s:e], qaux.take(slice(s, e)), cand, self.kind, compiled)
            # every row not re-ranked has a FAISS value >= lb
            lb = Fs[:, r] if r < kf else (np.full(e - s, np.inf) if complete else Fs[:, -1])
            sids, svals = _sort_rows(cand, vals, r)
            ok = self._ok(svals[:, kg - 1], lb, err_s) & ~unlabelled[s:e]
            failed[s:e] = ~ok
            rows = where[s:e][ok]
            ok_ids, ok_vals = sids[ok], svals[ok]
            for f, (oi, ov) in zip(finishes, out, strict=True):
                fi, fv = _finish_sorted(ok_ids, ok_vals, f)
                oi[rows], ov[rows] = self._with_unusable(fi[:, :kg], fv[:, :kg], K)
        return np.flatnonzero(failed)

    def approx_topk(
        self, q: np.ndarray, K: int, finishes: Sequence[Finish], ef: int
    ) -> tuple[list[tuple[np.ndarray, ...]], int]:
        """``topk`` from the HNSW graph (``efSearch`` = ``ef``): its K + 8 + K/4 candidates re-ranked exactly and
        sorted by (value, id). The answer is defined exactly by its candidates, but a true neighbour the graph did
        not reach is missing: ``approximate`` measures the recall. Queries for which the graph returns fewer
        candidates, and the special ones (zero, non-finite), get ``topk``'s exact answer (counted)."""
        import faiss

        assert self.graph is not None
        m = len(q)
        K = min(K, self.n)
        qaux = _aux(q)
        qbad = qaux.bad if self.kind == "ip" else ~qaux.finite
        special = qbad | (qaux.zero if self.kind == "ip" else False) | (len(self.good) == 0)
        out = [(np.empty((m, K), dtype=np.int64), np.empty((m, K))) for _ in finishes]
        todo = np.flatnonzero(~special)
        kg = min(K, len(self.good))
        kf = min(len(self.good), K + 8 + K // 4)
        params = faiss.SearchParametersHNSW(efSearch=max(int(ef), kf))
        compiled = self._compiled(len(todo))
        step = COMPILED_STEP if compiled else max(1, 4 * _CHUNK // (self.d * kf))
        exact = [np.flatnonzero(special)]
        for s in range(0, len(todo), step):
            rows = todo[s : s + step]
            _, pos = self.graph.search(self._prepare(q[rows], qaux.take(rows)), kf, params=params)
            short = (pos < 0).any(axis=1)
            exact.append(rows[short])
            rows, pos = rows[~short], pos[~short]
            cand = self.good[pos]
            ids, vals = _sort_rows(cand, self.rerank(q[rows], qaux.take(rows), cand, self.kind, compiled), kf)
            for f, (oi, ov) in zip(finishes, out, strict=True):
                fi, fv = _finish_sorted(ids, vals, f)
                oi[rows], ov[rows] = self._with_unusable(fi[:, :kg], fv[:, :kg], K)
        rest = np.concatenate(exact)
        if len(rest):
            found, _ = self.topk(q[rest], K, finishes)
            for (oi, ov), (ri, rv) in zip(out, found, strict=True):
                oi[rest], ov[rest] = ri, rv
        return out, int(len(rest) - special.sum())

    def _compiled(self, queries: int) -> bool:
        """Whether a search of ``queries`` rows re-ranks through the compiled kernels: a large dataset, not a live
        query (compiling costs ~1 s per process; it pays back on thousands of rows)."""
        return self.n >= COMPILED_MIN_ROWS and queries >= COMPILED_MIN_QUERIES

    def _with_unusable(self, ids: np.ndarray, vals: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
        """Fewer usable rows than K: the unusable ones (+inf) follow, by id."""
        if ids.shape[1] >= K:
            return ids, vals
        extra = np.broadcast_to(self.bad[: K - ids.shape[1]], (len(ids), K - ids.shape[1]))
        return _sort_rows(
            np.concatenate([ids, extra], axis=1), np.concatenate([vals, np.full(extra.shape, np.inf)], axis=1), K
        )

    def rerank(
        self, q: np.ndarray, qaux: _Aux | None, cand: np.ndarray, kind: str, compiled: bool | None = None
    ) -> np.ndarray:
        """Exact values (``kind``) between each query row and its candidate rows ``cand`` (m, r). ``compiled``:
        through ``pairsums``' kernels (None: ``_compiled``'s rule); the same bits either way."""
        if compiled is None:
            compiled = self._compiled(len(q))
        if compiled and pairsums.supported(kind, self.p):
            sums = pairsums.pair_sums(kind, self.p, q, self.x, cand)
            if kind != "ip":
                sums[~np.isfinite(sums)] = np.inf
                return sums
            assert qaux is not None

            def same(low: tuple[np.ndarray, ...]) -> np.ndarray:
                return np.logical_and.reduce(q[low[0]] == self.x[cand[low]], axis=1)

            return _cosine(sums, qaux.column(), self.aux.take(cand), same)
        a = _feature_first(q)
        out = np.empty(cand.shape)
        sub = max(1, 4 * _CHUNK // (self.d * max(1, cand.shape[1])))
        for s in range(0, len(q), sub):
            b = np.moveaxis(self.x[cand[s : s + sub]], -1, 0)  # a (d, m, r) view: the ufuncs cast to float64 exactly
            qa = qaux.take(slice(s, s + sub)).column() if qaux is not None and kind == "ip" else None
            ca = self.aux.take(cand[s : s + sub]) if kind == "ip" else None
            out[s : s + sub] = _values(kind, self.p, a[:, s : s + sub, None], b, qa, ca)
        return out


# --------------------------------------------------------------------------------------------- public search API
class Searcher:
    """Exact (or, for large minkowski, documented approximate) k-NN over a fixed set of embeddings.

    Built once per embeddings and metrics (holds the FAISS indexes; one index serves euclidean, sqeuclidean
    and approximate minkowski). ``search`` ranks any query vectors: pass ``self_ids`` (the dataset row of each
    query) to exclude the query itself, as rankings of a dataset do; leave it out for external queries, so a
    dataset image sent as a query comes back first at distance 0 followed by its precomputed neighbours.
    """

    def __init__(self, emb: np.ndarray, metric: str | Sequence[str], p: float = 3.0) -> None:
        self.metrics = (metric,) if isinstance(metric, str) else tuple(metric)
        for m in self.metrics:
            _check(m, p)
        self.x = _rows(emb)
        if len(self.x) < 1:
            raise ValueError("no embeddings to search")
        self.p = float(p)
        n, d = self.x.shape
        self.exact = "minkowski" not in self.metrics or minkowski_exact(n, d, self.p)
        kinds = {
            "cosine": "ip",
            "euclidean": "l2",
            "sqeuclidean": "l2",
            "minkowski": "lp" if self.exact else "l2",
        }
        self._kinds = {m: kinds[m] for m in self.metrics}
        #: searches of many queries compute every pair (``_cross_values``) instead of searching FAISS
        self.all_pairs = self.exact and all_pairs_pay(n, d, self._kinds.values(), self.p)
        self._indexes: dict[str, _Index] = {}
        self._aux: _Aux | None = None

    def _index(self, kind: str) -> _Index:
        """The FAISS index of ``kind``, built on first use (an all-pairs search needs none)."""
        if kind not in self._indexes:
            self._indexes[kind] = _Index(self.x, kind, self.p)
        return self._indexes[kind]

    @property
    def aux(self) -> _Aux:
        if self._aux is None:
            self._aux = self._indexes["ip"].aux if "ip" in self._indexes else _aux(self.x)
        return self._aux

    def search(self, queries: np.ndarray, k: int, *, self_ids: np.ndarray | None = None) -> Neighbours:
        """Top-``k`` of each query row for the (first) metric. See ``search_all``."""
        return self.search_all(queries, k, self_ids=self_ids)[self.metrics[0]]

    def search_all(self, queries: np.ndarray, k: int, *, self_ids: np.ndarray | None = None) -> dict[str, Neighbours]:
        q = _rows(queries, "queries")
        n, d = self.x.shape
        if q.shape[1] != d:
            raise ValueError(f"queries have {q.shape[1]} dimensions, the embeddings {d}")
        if k < 1:
            raise ValueError("k must be at least 1")
        if self_ids is not None:
            self_ids = np.asarray(self_ids, dtype=np.int64)
            if self_ids.shape != (len(q),):
                raise ValueError("self_ids needs one dataset row per query")
            if n < 2:
                raise ValueError("ranking needs at least two images")
        k = min(k, n - 1) if self_ids is not None else min(k, n)
        kq = min(n, k + 1) if self_ids is not None else k  # self comes back and is dropped
        kc = min(n, max(APPROX_CANDIDATES, k) + 1)  # approximate minkowski: exact-L2 candidates, self included
        plan: dict[str, list[tuple[str, Finish, int]]] = {}
        for m, kind in self._kinds.items():
            finish = _finishes([m], self.p)[m][1]
            if m == "minkowski" and not self.exact:
                finish, kk = _same, kc
            else:
                kk = kq
            plan.setdefault(kind, []).append((m, finish, kk))
        result: dict[str, Neighbours] = {}
        if self.all_pairs and len(q) >= COMPILED_MIN_QUERIES:
            qaux = _aux(q) if "ip" in plan else None
            for kind, items in plan.items():
                v = _cross_values(kind, self.p, q, qaux, self.x, self.aux if kind == "ip" else None)
                for m, finish, _ in items:
                    ids, dist = _top_from_values(finish(v), k, self_ids)
                    result[m] = Neighbours(ids, dist)
            return result
        for kind, items in plan.items():
            index = self._index(kind)
            found, fallbacks = index.topk(q, max(kk for _, _, kk in items), [f for _, f, _ in items])
            for (m, _, kk), (ids, vals) in zip(items, found, strict=True):
                ids, vals = ids[:, :kk], vals[:, :kk]
                if m == "minkowski" and not self.exact:
                    vals = _root(index.rerank(q, None, ids, "lp"), self.p)
                    ids, vals = _sort_rows(ids, vals, kk)
                if self_ids is not None:
                    ids, vals = _drop_self(ids, vals, self_ids)
                result[m] = Neighbours(ids[:, :k].astype(np.int32), vals[:, :k], fallbacks)
        return result


def _drop_self(ids: np.ndarray, vals: np.ndarray, self_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own id (or, when it is not among them, the last entry)."""
    mask = ids == self_ids[:, None]
    mask[~mask.any(axis=1), -1] = True
    keep = ~mask
    shape = (len(ids), ids.shape[1] - 1)
    return ids[keep].reshape(shape), vals[keep].reshape(shape)


# --------------------------------------------------------------------------------------------- every pair at once
def minkowski_exact(n: int, d: int, p: float) -> bool:
    """Whether minkowski rankings of ``n`` rows of ``d`` dimensions are exact: cheap enough for FAISS's Lp search,
    or computed from every pair anyway (``all_pairs_pay``)."""
    return n * n * d <= MINKOWSKI_EXACT_MAX_COST or all_pairs_pay(n, d, ("lp",), p)


def all_pairs_pay(n: int, d: int, kinds: Iterable[str], p: float) -> bool:
    """Whether searches of ``n`` rows compute every pair (``_cross_values``) rather than search FAISS.

    When the similarity's pair sample is every pair (n(n-1)/2 <= ``PAIR_SAMPLE``, n <= 1,000) the build computes
    them all anyway; the rankings then come from the same values for free. That pays once the work n²·d/2
    is worth compiling the kernels (``ALL_PAIRS_MIN_WORK``): few rows with many dimensions, where FAISS also
    fails: its float32 error bound grows with d (1.8 % of the distance at d = 301,056, a flattened early
    layer), the certificates fail and every query fell back to the exact numpy path, one row at a time. Every
    kind needs a kernel (``pairsums.supported``; minkowski with an integer p <= 8)."""
    return (
        n * (n - 1) // 2 <= PAIR_SAMPLE
        and n * n * d / 2 >= ALL_PAIRS_MIN_WORK
        and all(pairsums.supported(kind, p) for kind in kinds)
    )


def _identical(q: np.ndarray, x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Whether ``q[rows[i]]`` and ``x[cols[i]]`` are the same vector, for each i (in chunks of O(_CHUNK))."""
    out = np.empty(len(rows), dtype=bool)
    step = max(1, _CHUNK // q.shape[1])
    for s in range(0, len(rows), step):
        out[s : s + step] = (q[rows[s : s + step]] == x[cols[s : s + step]]).all(axis=1)
    return out


def _cross_values(
    kind: str, p: float, q: np.ndarray, qaux: _Aux | None, x: np.ndarray, xaux: _Aux | None
) -> np.ndarray:
    """Exact values (``kind``, as ``_values``) between every row of ``q`` and every row of ``x``, (m, n), from
    ``pairsums.cross_sums``; ``q is x``: the symmetric matrix, half of it computed."""
    raw = pairsums.cross_sums(kind, p, q, x, symmetric=q is x)
    if kind != "ip":
        raw[~np.isfinite(raw)] = np.inf
        return raw
    assert qaux is not None and xaux is not None

    def same(low: tuple[np.ndarray, ...]) -> np.ndarray:
        return _identical(q, x, low[0], low[1])

    return _cosine(raw, qaux.column(), xaux, same)


def _finishes(metrics: Sequence[str], p: float) -> dict[str, tuple[str, Finish]]:
    """metric -> (kind, finish) of an exact search."""
    kinds = {"cosine": "ip", "euclidean": "l2", "sqeuclidean": "l2", "minkowski": "lp"}
    finish = {"euclidean": _sqrt, "minkowski": lambda v: _root(v, p)}
    return {m: (kinds[m], finish.get(m, _same)) for m in metrics}


def _all_pair_values(x: np.ndarray, metrics: Sequence[str], p: float) -> dict[str, np.ndarray]:
    """The (n, n) matrix of exact distances for each metric, one kernel pass per kind."""
    plan = _finishes(metrics, p)
    aux = _aux(x) if any(kind == "ip" for kind, _ in plan.values()) else None
    raw = {kind: _cross_values(kind, p, x, aux, x, aux) for kind in sorted({kind for kind, _ in plan.values()})}
    return {m: finish(raw[kind]) for m, (kind, finish) in plan.items()}


def _top_from_values(v: np.ndarray, k: int, self_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest of each row of ``v`` by (value, id), without the row's own id when ``self_ids``."""
    order = np.argsort(v, axis=1, kind="stable")
    if self_ids is not None:
        order = order[order != self_ids[:, None]].reshape(len(v), v.shape[1] - 1)
    ids = order[:, :k]
    return ids.astype(np.int32), np.take_along_axis(v, ids, axis=1)


def rank_block(emb: np.ndarray, metric: str, start: int, stop: int, k: int = 15, p: float = 3.0) -> Neighbours:
    """Rankings of dataset rows ``start:stop`` (self excluded): what one distributed task runs. Concatenated over
    any blocking this equals ``rank``'s ids and dist exactly (every answer is exact or defined exactly)."""
    x = _rows(emb)
    return Searcher(x, metric, p).search(x[start:stop], k, self_ids=np.arange(start, min(stop, len(x))))


def rank(
    emb: np.ndarray, metric: str, k: int = 15, p: float = 3.0, *, seed: int = 0, block: int = QUERY_BLOCK
) -> Ranking:
    """Top-``k`` neighbours of every row of ``emb`` under ``metric`` (self excluded, ties by id)."""
    return rank_all(emb, [metric], k, p, seed=seed, block=block)[metric]


def rank_all(
    emb: np.ndarray,
    metrics: Sequence[str],
    k: int = 15,
    p: float = 3.0,
    *,
    seed: int = 0,
    block: int = QUERY_BLOCK,
) -> dict[str, Ranking]:
    """``rank`` for several metrics at once, sharing the FAISS searches and the similarity pair sample."""
    x = _rows(emb)
    n = len(x)
    if n < 2:
        raise ValueError("ranking needs at least two images")
    if k < 1:
        raise ValueError("k must be at least 1")
    metrics = list(dict.fromkeys(metrics))
    searcher = Searcher(x, metrics, p)
    k = min(k, n - 1)
    ids = {m: np.empty((n, k), dtype=np.int32) for m in metrics}
    dist = {m: np.empty((n, k)) for m in metrics}
    fallbacks = dict.fromkeys(metrics, 0)
    if searcher.all_pairs:  # every pair is computed for the similarity anyway: the rankings come with it
        values = _all_pair_values(x, metrics, p)
        upper = np.triu_indices(n, 1)  # sample_pairs' pairs when they are all of them
        pairs = {m: np.sort(v[upper]) for m, v in values.items()}
        for m, v in values.items():
            ids[m], dist[m] = _top_from_values(v, k, np.arange(n))
        del values
    else:
        for s in range(0, n, block):
            e = min(n, s + block)
            for m, nb in searcher.search_all(x[s:e], k, self_ids=np.arange(s, e)).items():
                ids[m][s:e], dist[m][s:e] = nb.ids, nb.dist
                fallbacks[m] += nb.fallbacks
        pairs = pair_distances(x, metrics, p, seed=seed)
    out = {}
    for m in metrics:
        approx = m == "minkowski" and not searcher.exact
        recall = minkowski_recall(x, ids[m], p, seed=seed) if approx else None
        out[m] = Ranking(
            ids[m],
            dist[m],
            similarity(dist[m], pairs[m]),
            not approx,
            recall,
            fallbacks[m],
            calibration_table(pairs[m]),
            index=f"minkowski from the euclidean family's exact top {APPROX_CANDIDATES}" if approx else "flat",
        )
    return out


def minkowski_recall(x: np.ndarray, ids: np.ndarray, p: float, *, seed: int = 0) -> float:
    """Recall@k of minkowski rankings ``ids`` (self excluded) against an exact computation on a seeded sample
    of queries, as many as ``RECALL_BUDGET`` element operations allow (within ``RECALL_QUERIES``)."""
    x = _rows(x)
    n, d = x.shape
    k = ids.shape[1]
    lo, hi = RECALL_QUERIES
    size = min(n, int(np.clip(RECALL_BUDGET // (n * d), lo, hi)))
    rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    [(ex, vals)] = exact_topk(x, x[rows], k + 1, "lp", p, [lambda v: _root(v, p)])
    ex, _ = _drop_self(ex, vals, rows)
    hits = [len(np.intersect1d(ids[r], ex[i, :k])) for i, r in enumerate(rows)]
    return float(np.sum(hits) / (size * k))


# --------------------------------------------------------------------------------------------- similarity
def sample_pairs(n: int, seed: int = 0, pair_sample: int = PAIR_SAMPLE) -> tuple[np.ndarray, np.ndarray]:
    """All distinct pairs (i < j) when there are at most ``pair_sample``, else that many seeded random ones."""
    if n * (n - 1) // 2 <= pair_sample:
        i, j = np.triu_indices(n, 1)
        return i, j
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, pair_sample)
    j = rng.integers(0, n - 1, pair_sample)
    return i, j + (j >= i)


def pair_distances(
    emb: np.ndarray, metrics: Sequence[str], p: float = 3.0, *, seed: int = 0, pair_sample: int = PAIR_SAMPLE
) -> dict[str, np.ndarray]:
    """Sorted distances of the pairs of ``sample_pairs`` for each metric: one pass over the pairs, in chunks
    (O(chunk·d) memory), with the same formulas as the rankings."""
    x = _rows(emb)
    for m in metrics:
        _check(m, p)
    n, d = x.shape
    if n * (n - 1) // 2 <= pair_sample and all_pairs_pay(n, d, [k for k, _ in _finishes(metrics, p).values()], p):
        upper = np.triu_indices(n, 1)
        return {m: np.sort(v[upper]) for m, v in _all_pair_values(x, metrics, p).items()}
    i, j = sample_pairs(len(x), seed, pair_sample)
    out = {m: np.empty(len(i)) for m in metrics}
    aux = _aux(x) if "cosine" in metrics else None
    step = max(1, _CHUNK // x.shape[1])
    for s in range(0, len(i), step):
        ci, cj = i[s : s + step], j[s : s + step]
        a, b = _feature_first(x[ci]), _feature_first(x[cj])  # one gather serves every metric
        if aux is not None:
            out["cosine"][s : s + step] = _values("ip", p, a, b, aux.take(ci), aux.take(cj))
        l2, lp = "euclidean" in out or "sqeuclidean" in out, "minkowski" in out
        if l2 or lp:  # one difference serves the euclidean pair and minkowski
            vals = iter(_diff_values(np.subtract(a, b, dtype=np.float64, order="C"), p, l2=l2, lp=lp))
            if l2:
                sq = next(vals)
                for m, f in (("sqeuclidean", _same), ("euclidean", _sqrt)):
                    if m in out:
                        out[m][s : s + step] = f(sq)
            if lp:
                out["minkowski"][s : s + step] = _root(next(vals), p)
    for v in out.values():
        v.sort()
    return out


def similarity(dist: np.ndarray, sorted_pairs: np.ndarray) -> np.ndarray:
    """Fraction of dataset pairs farther apart than ``dist`` (see module docstring)."""
    if len(sorted_pairs) == 0:
        return np.ones_like(dist)
    farther = len(sorted_pairs) - np.searchsorted(sorted_pairs, dist, side="right")
    return farther / len(sorted_pairs)


def pairwise(a: np.ndarray, b: np.ndarray, metric: str, p: float = 3.0) -> np.ndarray:
    """Distances between every row of ``a`` and every row of ``b`` (float64, the formulas of the rankings)."""
    _check(metric, p)
    a, b = _rows(a), _rows(b)
    kind, finish = _finishes([metric], p)[metric]
    aa, ab = (_aux(a), _aux(b)) if kind == "ip" else (None, None)
    out = np.empty((len(a), len(b)))
    bt = _feature_first(b)[:, None, :]
    step = max(1, _CHUNK // (a.shape[1] * max(1, len(b))))
    for s in range(0, len(a), step):
        qa = aa.take(slice(s, s + step)).column() if aa is not None else None
        v = _values(kind, p, _feature_first(a[s : s + step])[:, :, None], bt, qa, ab)
        out[s : s + step] = finish(v)
    return out


# --------------------------------------------------------------------------------------------- scores
def search_scores(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The original playground's position-weighted search score (0..100) for every query row."""
    n, k = ids.shape
    weights = (k - np.arange(k)) / k
    hits = labels[ids] == labels[:n, None]
    return 100.0 * (hits * weights).sum(axis=1) / weights.sum()


def precision_at_k(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction of each query's top-k results that share its class."""
    return (labels[ids] == labels[: len(ids), None]).mean(axis=1)


def knn_accuracy(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Leave-one-out kNN: whether the majority class among each query's k results is its own. Among classes
    with equally many votes the one that occurs first in the ranking wins."""
    got = np.asarray(labels)[ids]  # (n, k)
    votes = (got[:, :, None] == got[:, None, :]).sum(axis=2)  # votes for the class at each rank
    winner = got[np.arange(len(ids)), np.argmax(votes, axis=1)]  # argmax: first rank with the most votes
    return winner == np.asarray(labels)[: len(ids)]


# --------------------------------------------------------------------------------------------- for other stages
#: The calibration's knots: every one of the closest ``EXACT_KNOTS`` pairs of the sample, then ``MAX_KNOTS`` in all
#: spaced geometrically in rank up to the farthest pair (8 KB on the site).
EXACT_KNOTS = 512
MAX_KNOTS = 1024


@dataclass(frozen=True)
class Calibration:
    """What turns a distance into a similarity without the pair sample: knots of its empirical distribution.

    ``dist`` holds distinct pair distances, ascending, rounded to float32 (as the site ships them,
    ``contract.CalibrationFile``); ``count[i]`` is how many of the sample's ``pairs`` are at most ``dist[i]``
    (after the same rounding). The first ``head`` knots are the closest pairs one by one, where a dataset image's
    neighbours are: below ``dist[head - 1]`` the fraction is the sample's exact count (a step function), above it
    it is interpolated linearly between knots (within the pairs between them). So a neighbour gets what
    ``similarity`` gives it among the closest pairs, and the site, an own image in the browser and
    ``playground query`` read one distance the same way.

    ``slack``: how far a stored distance may be from the exact one (the site's shards store them in uint16 steps):
    the count includes the pairs up to ``dist + slack``, so a neighbour whose distance is a pair's counts that pair
    whichever way its stored value rounded. The count is read at float32 (the knots' precision)."""

    dist: np.ndarray
    count: np.ndarray
    pairs: int
    head: int

    def similarity(self, dist: np.ndarray, slack: np.ndarray | float = 0.0) -> np.ndarray:
        """The fraction of pairs farther apart than each distance (1 below every pair, 0 above every pair)."""
        dist = np.asarray(dist, dtype=np.float64)
        if self.pairs == 0:
            return np.ones_like(dist)
        frac = self.count / self.pairs
        linear = np.interp(dist, self.dist, frac, left=0.0, right=1.0)
        # compared in float32, as the knots were rounded: a pair's own distance finds its knot
        with np.errstate(over="ignore"):  # beyond float32: after every knot, as it should
            y = (dist + slack).astype(np.float32).astype(np.float64)
        j = np.searchsorted(self.dist, y, side="right") - 1
        steps = np.where(j >= 0, frac[np.maximum(j, 0)], 0.0)
        return 1.0 - np.where(j < self.head - 1, steps, linear)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"dist": self.dist, "count": self.count, "pairs": np.asarray(self.pairs), "head": np.asarray(self.head)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> Calibration:
        dist, count = np.asarray(a["dist"], np.float64), np.asarray(a["count"], np.int64)
        return cls(dist, count, int(a["pairs"]), int(a["head"]))


def calibration_table(sorted_pairs: np.ndarray) -> Calibration:
    """The ``Calibration`` of a sorted pair sample: at most ``MAX_KNOTS`` knots in place of the whole sample."""
    n = len(sorted_pairs)
    if n == 0:
        return Calibration(np.zeros(0), np.zeros(0, np.int64), 0, 0)
    pairs32 = np.asarray(sorted_pairs, dtype=np.float32).astype(np.float64)  # rounding keeps the order
    head = np.arange(min(n, EXACT_KNOTS))
    tail = np.geomspace(min(n, EXACT_KNOTS), n, MAX_KNOTS - len(head)).astype(np.int64) - 1
    knots = np.unique(pairs32[np.unique(np.concatenate([head, np.clip(tail, 0, n - 1), [n - 1]]))])
    count = np.searchsorted(pairs32, knots, side="right").astype(np.int64)
    return Calibration(knots, count, n, len(np.unique(pairs32[head])))


def calibrate(emb: np.ndarray, metrics: Sequence[str], p: float = 3.0, *, seed: int = 0) -> dict[str, Calibration]:
    """The ``Calibration`` of each metric from the embeddings (the pair sample ``rank`` uses)."""
    return {m: calibration_table(v) for m, v in pair_distances(_rows(emb), metrics, p, seed=seed).items()}


def near_ppm(sim: np.ndarray) -> np.ndarray:
    """Similarity (fraction of pairs farther apart) as the parts per million of pairs at most this far apart,
    rounded up: 0 only when the pair is closer than every pair of the dataset (or of its sample)."""
    return np.ceil(np.round((1.0 - np.asarray(sim, dtype=np.float64)) * 1e6, 6)).astype(np.int64)


def finish_ranking(
    emb: np.ndarray, metric: str, ids: np.ndarray, dist: np.ndarray, *, p: float = 3.0, seed: int = 0
) -> Ranking:
    """A ``Ranking`` from neighbours computed elsewhere (blocks ranked by distributed tasks, ``rank_block``): adds
    the similarity calibration and, for an approximate minkowski ranking, its measured recall. Equal to ``rank``."""
    x = _rows(emb)
    n, d = x.shape
    pairs = pair_distances(x, [metric], p, seed=seed)[metric]
    approx = metric == "minkowski" and not minkowski_exact(n, d, p)
    recall = minkowski_recall(x, ids, p, seed=seed) if approx else None
    return Ranking(
        ids,
        dist,
        similarity(dist, pairs),
        not approx,
        recall,
        0,
        calibration_table(pairs),
        index=f"minkowski from the euclidean family's exact top {APPROX_CANDIDATES}" if approx else "flat",
    )
