"""Rankings, similarities and search scores against independent computations."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import distance

from precompute import search
from precompute.search import (
    METRICS,
    PAIR_SAMPLE,
    Searcher,
    knn_accuracy,
    minkowski_recall,
    pair_distances,
    pairwise,
    precision_at_k,
    rank,
    rank_all,
    rank_block,
    sample_pairs,
    search_scores,
)

REPO = Path(__file__).resolve().parent.parent


def _reference_topk(emb: np.ndarray, metric: str, k: int, p: float = 3) -> tuple[list, list]:
    """Plain-Python top-k: scipy pdist per pair, Python sort on (distance, id)."""
    kw = {"p": p} if metric == "minkowski" else {}
    full = distance.squareform(distance.pdist(emb, metric, **kw))
    ids, dists = [], []
    for q in range(len(emb)):
        order = sorted((full[q, j], j) for j in range(len(emb)) if j != q)[:k]
        ids.append([j for _, j in order])
        dists.append([d for d, _ in order])
    return ids, dists


def _cdist(q: np.ndarray, x: np.ndarray, metric: str, p: float = 3.0) -> np.ndarray:
    """scipy cdist with the documented rules: zero vectors under cosine, non-finite rows at +inf."""
    q, x = np.asarray(q, dtype=np.float64), np.asarray(x, dtype=np.float64)
    kw = {"p": p} if metric == "minkowski" else {}
    with np.errstate(all="ignore"):
        d = distance.cdist(q, x, metric, **kw)
    if metric == "cosine":
        for r, row in enumerate(q):  # identical rows: exactly 0 (scipy's rounding gives up to 2.2e-16)
            d[r, (x == row).all(axis=1)] = 0.0
        zq, zx = ~q.any(axis=1), ~x.any(axis=1)
        d[np.ix_(zq, zx)] = 0.0
        d[np.ix_(zq, ~zx)] = 1.0
        d[np.ix_(~zq, zx)] = 1.0
        d = np.clip(d, 0.0, 2.0)
    d[~np.isfinite(q).all(axis=1)] = np.inf
    d[:, ~np.isfinite(x).all(axis=1)] = np.inf
    d[~np.isfinite(d)] = np.inf
    return d


def _brute(
    x: np.ndarray, metric: str, k: int, p: float = 3.0, *, queries: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: the full distance matrix and a stable argsort (ties by id); self excluded unless
    external ``queries`` are given."""
    external = queries is not None
    d = _cdist(queries if external else x, x, metric, p)
    order = np.argsort(d, axis=1, kind="stable")
    if not external:
        order = order[order != np.arange(len(x))[:, None]].reshape(len(x), len(x) - 1)
    order = order[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def _embedding_like(seed: int, n: int = 400, d: int = 24, dtype: type = np.float32) -> np.ndarray:
    """ReLU activations of a clustered mixture (like pooled CNN features) plus what makes ranking hard:
    small-integer rows (many exactly equal distances), duplicate rows and all-zero rows."""
    rng = np.random.default_rng(seed)
    centres = 2 * rng.normal(size=(12, d))
    x = np.maximum(centres[rng.integers(0, 12, n)] + rng.normal(size=(n, d)), 0)
    x[rng.choice(n, n // 6, replace=False)] = rng.integers(0, 3, (n // 6, d))
    x[rng.choice(n, n // 10, replace=False)] = x[rng.choice(n, n // 10, replace=False)]
    x[rng.choice(n, 4, replace=False)] = 0.0
    return x.astype(dtype)


def _assert_same(
    got_ids: np.ndarray, got_dist: np.ndarray, ids: np.ndarray, dist: np.ndarray, metric: str = "minkowski"
) -> None:
    """Same ids; distances bit-identical to scipy's for cosine and the euclidean pair, within 2 ulp for
    minkowski (scipy calls libm pow per coordinate)."""
    np.testing.assert_array_equal(got_ids, ids)
    if metric == "minkowski":
        np.testing.assert_allclose(got_dist, dist, rtol=1e-15, atol=0)
    else:
        np.testing.assert_array_equal(got_dist, dist)


# --------------------------------------------------------------------------------------------- exactness
@pytest.fixture(params=["numpy", "compiled", "all-pairs"])
def sums(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the re-rank's sums in numpy, then in pairsums' compiled kernels (every search), then with
    every pair computed at once by the tiled kernels instead of FAISS (``search.all_pairs_pay``)."""
    monkeypatch.setattr(search, "COMPILED_MIN_ROWS", 0 if request.param == "compiled" else 1 << 62)
    monkeypatch.setattr(search, "COMPILED_MIN_QUERIES", 0)
    monkeypatch.setattr(search, "ALL_PAIRS_MIN_WORK", 0 if request.param == "all-pairs" else float("inf"))
    return request.param


def _pair_rows(rng: np.random.Generator, n: int, d: int, dtype: type) -> np.ndarray:
    """Rows with every special case of the formulas: duplicates, zero rows, a NaN, +-inf, values whose squares
    overflow float32 (not float64), tiny and negative values."""
    x = rng.normal(size=(n, d)) * rng.choice([1e-30, 1e-3, 1.0, 1e3, 1e20], size=(n, 1))
    x[1] = x[0]
    x[2] = 0.0
    x[3, 0] = np.nan
    x[4, d - 1] = np.inf
    x[5, 0] = -np.inf
    return x.astype(dtype)


@pytest.mark.parametrize("d", [1, 2, 3, 96, 97])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_sums_equal_the_numpy_formulas_bit_for_bit(d: int, dtype: type) -> None:
    """pairsums' kernels against search's numpy code on the same candidates, every kind and the integer powers,
    with duplicates, zero rows and non-finite values: identical float64 bits."""
    from precompute import pairsums

    rng = np.random.default_rng(d)
    x = _pair_rows(rng, 80, d, dtype)
    q = np.concatenate([x[:10], _pair_rows(rng, 20, d, dtype)])
    cand = rng.integers(0, len(x), (len(q), 17))
    cand[:10, 0] = np.arange(10)  # a dataset row against itself
    qaux = search._aux(q)
    for kind, p in (("ip", 3.0), ("l2", 3.0), ("lp", 1.0), ("lp", 2.0), ("lp", 3.0), ("lp", 4.0)):
        index = search._Index(x, kind if kind != "lp" else "l2", p)  # the "lp" re-rank runs on any index
        assert pairsums.supported(kind, p)
        numpy_vals = index.rerank(q, qaux, cand, kind, compiled=False)
        compiled_vals = index.rerank(q, qaux, cand, kind, compiled=True)
        assert compiled_vals.dtype == np.float64 and not np.isnan(compiled_vals).any()
        np.testing.assert_array_equal(compiled_vals.view(np.int64), numpy_vals.view(np.int64), err_msg=f"{kind} {p}")
    assert not pairsums.supported("lp", 2.5) and not pairsums.supported("lp", 9.0)


@pytest.mark.parametrize("d", [1, 3, 64, 65, 130])
def test_every_path_gives_the_same_bits_with_every_special_case(d: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The FAISS search with its certificate and the all-pairs path, on rows with duplicates, zero rows, NaN,
    +-inf and magnitudes whose float32 squares overflow (FAISS then pads its lists with label -1; those queries
    must fall back to the exact path, not return a wrong id twice): identical rankings, pair samples and
    blocks of queries, and the ids and distances of the brute force."""
    rng = np.random.default_rng(d)
    x = _pair_rows(rng, 140, d, np.float32)
    x[7] = x[8] = x[6]
    got = {}
    for path, work in (("faiss", float("inf")), ("all-pairs", 0.0)):
        monkeypatch.setattr(search, "ALL_PAIRS_MIN_WORK", work)
        assert Searcher(x, list(METRICS)).all_pairs == (path == "all-pairs")
        got[path] = (
            rank_all(x, list(METRICS), k=15),
            pair_distances(x, list(METRICS)),
            Searcher(x, list(METRICS)).search_all(x[70:140], 15, self_ids=np.arange(70, 140)),
        )
    (ra, pa, ba), (rb, pb, bb) = got["faiss"], got["all-pairs"]
    for m in METRICS:
        for field in ("ids", "dist", "sim"):
            assert getattr(ra[m], field).tobytes() == getattr(rb[m], field).tobytes(), (m, field)
        for field, a in ra[m].calibration.arrays().items():
            assert a.tobytes() == rb[m].calibration.arrays()[field].tobytes(), (m, field)
        assert ra[m].exact and rb[m].exact
        assert pa[m].tobytes() == pb[m].tobytes()
        for block in (ba, bb):
            assert block[m].ids.tobytes() == ra[m].ids[70:].tobytes()
            assert block[m].dist.tobytes() == ra[m].dist[70:].tobytes()
        ids, dist = _brute(x, m, 15)
        if m != "minkowski":  # scipy's libm pow is within 2 ulp of our |a - b|^p: near-ties may swap there
            np.testing.assert_array_equal(ra[m].ids, ids, err_msg=m)
        np.testing.assert_allclose(ra[m].dist, dist, rtol=1e-14 if m == "minkowski" else 0, atol=0, err_msg=m)


@pytest.mark.parametrize("d", [65_536, 70_001])
def test_pair_distances_of_very_wide_rows_are_scipys_bit_for_bit(d: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """At d > 65,536 a chunk of the pair sample holds one pair, a (d, 1) reduction, which numpy would sum pairwise
    rather than in scipy's order: the numpy path (FAISS for the rankings) and the all-pairs path both give scipy's
    bits, norms included (cosine)."""
    rng = np.random.default_rng(d)
    x = np.maximum(rng.normal(size=(3, d)), 0).astype(np.float32)
    ms = ["cosine", "euclidean", "sqeuclidean"]
    want = {m: np.sort(distance.pdist(x.astype(np.float64), m)) for m in ms}
    for work in (float("inf"), 0.0):
        monkeypatch.setattr(search, "ALL_PAIRS_MIN_WORK", work)
        got = pair_distances(x, ms)
        ranked = rank_all(x, ms, k=2)
        for m in ms:
            assert got[m].tobytes() == want[m].tobytes(), (work, m)
            assert np.isin(ranked[m].dist, want[m]).all(), (work, m)


def test_the_path_is_chosen_by_the_work_and_the_threads_do_not_change_a_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Few rows with many dimensions (a flattened early layer) compute every pair; many rows or few dimensions
    search FAISS; a minkowski p without a kernel never takes the all-pairs path. Two threads give the bits of
    one, and of scipy."""
    from precompute import pairsums

    assert search.all_pairs_pay(200, 10_000, ["ip", "l2", "lp"], 3.0)
    assert not search.all_pairs_pay(200, 96, ["ip"], 3.0)
    assert not search.all_pairs_pay(2_000, 1_000_000, ["ip"], 3.0)  # its pair sample is not every pair
    assert not search.all_pairs_pay(200, 10_000, ["lp"], 2.5)
    assert search.minkowski_exact(200, 100_000, 3.0) and not search.minkowski_exact(200, 100_000, 2.5)
    wide = np.ones((200, 100_000), dtype=np.float32)  # n²·d = 4e9: FAISS's minkowski would be approximate
    assert Searcher(wide, list(METRICS)).exact and Searcher(wide, list(METRICS)).all_pairs
    approximate = Searcher(wide, ["cosine", "minkowski"], p=2.5)  # no kernel for p = 2.5: approximate minkowski
    assert not approximate.exact and not approximate.all_pairs
    assert Searcher(_embedding_like(31, n=200, d=10_000), ["cosine"]).all_pairs  # 2e8: from here on
    assert not Searcher(_embedding_like(31, n=200, d=9_000), ["cosine"]).all_pairs
    monkeypatch.setattr(search, "ALL_PAIRS_MIN_WORK", 0)
    x = _embedding_like(31, n=200, d=300)
    runs = []
    for n_threads in (1, 2):
        monkeypatch.setattr(pairsums, "threads", lambda n=n_threads: n)
        runs.append(rank_all(x, list(METRICS), k=15))
    for m in METRICS:
        assert runs[0][m].ids.tobytes() == runs[1][m].ids.tobytes()
        assert runs[0][m].dist.tobytes() == runs[1][m].dist.tobytes()
        assert runs[0][m].exact and runs[0][m].recall is None
        _assert_same(runs[0][m].ids, runs[0][m].dist, *_brute(x, m, 15), m)


@pytest.mark.parametrize("metric", METRICS)
def test_rankings_equal_scipy_reference(metric: str, sums: str) -> None:
    rng = np.random.default_rng(7)
    emb = rng.random((60, 12)).astype(np.float32)
    got = rank(emb, metric, k=15, p=3)
    ids, dists = _reference_topk(emb.astype(np.float64), metric, 15)
    assert got.ids.tolist() == ids
    np.testing.assert_allclose(got.dist, dists, rtol=1e-12)
    assert got.exact and got.recall is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", METRICS)
def test_rankings_equal_brute_force_with_ties_duplicates_and_zero_rows(metric: str, dtype: type, sums: str) -> None:
    x = _embedding_like(1, dtype=dtype)
    r = rank(x, metric, k=15, p=3.0)
    ids, dist = _brute(x, metric, 15)
    _assert_same(r.ids, r.dist, ids, dist, metric)
    assert r.ids.dtype == np.int32 and r.dist.dtype == np.float64
    assert (np.diff(r.dist, axis=1) >= 0).all()


@pytest.mark.parametrize("metric", METRICS)
def test_minkowski_p_and_other_k(metric: str) -> None:
    x = _embedding_like(2, n=150, d=10, dtype=np.float64)
    r = rank(x, metric, k=7, p=2.5)
    _assert_same(r.ids, r.dist, *_brute(x, metric, 7, 2.5), metric)


def test_minkowski_uses_p_and_differs_from_euclidean() -> None:
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(80, 6))
    m3 = rank(emb, "minkowski", 15, p=3)
    eu = rank(emb, "euclidean", 15)
    ref = distance.minkowski(emb[0], emb[m3.ids[0, 0]], p=3)
    assert m3.dist[0, 0] == pytest.approx(ref)
    assert not np.array_equal(m3.dist, eu.dist)  # p=2 would have duplicated euclidean


def test_ties_are_broken_by_id_and_self_is_excluded() -> None:
    emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    r = rank(emb, "euclidean", k=4)
    assert r.ids[0].tolist() == [1, 2, 3, 4]  # all at distance 1: id order
    assert all(q not in r.ids[q] for q in range(len(emb)))


@pytest.mark.parametrize("metric", METRICS)
def test_tie_rule_with_shuffled_ids(metric: str, sums: str) -> None:
    """Ten rows at exactly the same distance from row 0 (a vector and its coordinate permutations, or copies
    for cosine), hidden at random ids among far rows: they come back in increasing id order."""
    rng = np.random.default_rng(5)
    n, d = 200, 8
    x = rng.normal(size=(n, d)) + 20.0  # far from the query and from each other
    x[0] = 0.0 if metric != "cosine" else 1.0
    tied = np.sort(rng.choice(np.arange(1, n), 10, replace=False))
    base = np.array([3.0, 1, 0, 0, 0, 0, 0, 0])
    for t in tied:
        x[t] = rng.permutation(base) if metric != "cosine" else np.full(d, 2.0)
    r = rank(x, metric, k=10)
    assert r.ids[0].tolist() == tied.tolist()
    assert len(set(r.dist[0].tolist())) == 1


def test_a_tie_made_by_the_square_root_is_ordered_by_id(sums: str) -> None:
    """Rows 1 and 2 are at squared distances 1 + 2^-52 and 1 from row 0, whose square roots are both 1.0:
    sqeuclidean ranks row 2 first, euclidean has a tie and ranks row 1 first (the smaller id), as scipy's
    distances with a stable sort do."""
    x = np.array([[0.0, 0.0], [1.0, 2.0**-26], [1.0, 0.0]] + [[3.0 + i, 3.0] for i in range(20)])
    sq, eu = rank(x, "sqeuclidean", k=4), rank(x, "euclidean", k=4)
    assert sq.ids[0, :2].tolist() == [2, 1] and sq.dist[0, 0] < sq.dist[0, 1]
    assert eu.ids[0, :2].tolist() == [1, 2] and eu.dist[0, 0] == eu.dist[0, 1] == 1.0
    for got, metric in ((sq, "sqeuclidean"), (eu, "euclidean")):
        _assert_same(got.ids, got.dist, *_brute(x, metric, 4), metric)


def test_zero_vectors_give_no_nan(sums: str) -> None:
    emb = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 1.0, 1.0]])
    with np.errstate(all="ignore"):
        assert np.isnan(distance.cdist(emb, emb, "cosine")).any()  # what scipy alone would give
    for metric in METRICS:
        r = rank(emb, metric, k=4)
        assert np.isfinite(r.dist).all() and np.isfinite(r.sim).all()
    r = rank(emb, "cosine", k=4)
    assert r.ids[0, 0] == 2 and r.dist[0, 0] == 0.0  # zero vector's nearest: the other zero vector
    assert r.dist[0, 1:].tolist() == [1.0, 1.0, 1.0]
    d = pairwise(emb, emb, "cosine")
    assert d[1, 3] == pytest.approx(distance.cosine(emb[1], emb[3]))


@pytest.mark.parametrize("metric", METRICS)
def test_non_finite_rows_sort_last(metric: str, sums: str) -> None:
    x = _embedding_like(3, n=40, d=6, dtype=np.float64)
    x[5, 2] = np.nan
    x[9, 0] = np.inf
    r = rank(x, metric, k=39)
    ids, dist = _brute(x, metric, 39)
    _assert_same(r.ids, r.dist, ids, dist, metric)
    assert not np.isnan(r.dist).any() and not np.isnan(r.sim).any()
    assert r.ids[5].tolist() == [i for i in range(40) if i != 5]  # every distance +inf: id order
    assert set(r.ids[0, -2:].tolist()) == {5, 9}


@pytest.mark.parametrize("metric", METRICS)
def test_block_boundary_1024(metric: str) -> None:
    x = _embedding_like(4, n=1025, d=8)
    r = rank(x, metric, k=5, block=1024)
    _assert_same(r.ids, r.dist, *_brute(x, metric, 5), metric)


# --------------------------------------------------------------------------------------------- certificate
@pytest.mark.parametrize("metric", METRICS)
def test_certificate_failure_falls_back_to_the_exact_answer(metric: str) -> None:
    """300 copies of one row: FAISS cannot separate them within its float32 error even with 4x the results,
    so those queries go through the exact fallback; the answer is still the brute-force one."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(500, 16)).astype(np.float32) + 1.0
    x[rng.choice(500, 300, replace=False)] = x[0]
    r = rank(x, metric, k=15)
    assert r.fallbacks >= 300
    _assert_same(r.ids, r.dist, *_brute(x, metric, 15), metric)


def test_certificate_retry_with_more_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """40 copies: the first FAISS search (28 results) cannot certify, the second (4x) can: no fallback."""
    calls: list[tuple[int, int]] = []
    inner = search._Index._search

    def spy(self, q, qaux, K, kf, *args):  # noqa: ANN001, ANN202
        calls.append((len(q), kf))
        return inner(self, q, qaux, K, kf, *args)

    monkeypatch.setattr(search._Index, "_search", spy)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(400, 16)).astype(np.float32)
    x[rng.choice(400, 40, replace=False)] = x[3]
    r = rank(x, "euclidean", k=15)
    assert len(calls) == 2 and calls[1][0] >= 40 and calls[1][1] == 4 * calls[0][1]
    assert r.fallbacks == 0
    _assert_same(r.ids, r.dist, *_brute(x, "euclidean", 15), "euclidean")


# --------------------------------------------------------------------------------------------- blocks, queries
@pytest.fixture(params=["exact", "approximate"])
def minkowski_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "approximate":
        monkeypatch.setattr(search, "MINKOWSKI_EXACT_MAX_COST", 0)
    return request.param


@pytest.mark.parametrize("metric", METRICS)
def test_rank_block_concatenation_equals_rank(metric: str, minkowski_mode: str) -> None:
    x = _embedding_like(10, n=300, d=12)
    r = rank(x, metric, k=15, block=37)
    assert r.exact == (metric != "minkowski" or minkowski_mode == "exact")
    for size in (1, 7, 64, 300):
        parts = [rank_block(x, metric, s, min(300, s + size), 15) for s in range(0, 300, size)]
        np.testing.assert_array_equal(np.concatenate([b.ids for b in parts]), r.ids)
        np.testing.assert_array_equal(np.concatenate([b.dist for b in parts]), r.dist)


@pytest.mark.parametrize("metric", METRICS)
def test_external_query_of_a_dataset_row_returns_it_first(metric: str, minkowski_mode: str) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(250, 10)).astype(np.float32)
    r = rank(x, metric, k=15)
    rows = np.array([0, 17, 249])
    got = Searcher(x, metric).search(x[rows], 16)
    assert got.ids[:, 0].tolist() == rows.tolist()
    assert (got.dist[:, 0] == 0.0).all()
    np.testing.assert_array_equal(got.ids[:, 1:], r.ids[rows])
    np.testing.assert_array_equal(got.dist[:, 1:], r.dist[rows])


@pytest.mark.parametrize("metric", METRICS)
def test_external_queries_equal_brute_force(metric: str) -> None:
    rng = np.random.default_rng(12)
    x = _embedding_like(12, n=300, d=12)
    q = np.maximum(rng.normal(size=(20, 12)), 0)
    q[3] = 0.0
    got = Searcher(x, metric).search(q, 10)
    _assert_same(got.ids, got.dist, *_brute(x, metric, 10, queries=q), metric)


def test_rank_all_equals_rank_per_metric() -> None:
    x = _embedding_like(13, n=200, d=9)
    together = rank_all(x, list(METRICS), k=15)
    for m in METRICS:
        alone = rank(x, m, k=15)
        np.testing.assert_array_equal(together[m].ids, alone.ids)
        np.testing.assert_array_equal(together[m].dist, alone.dist)
        np.testing.assert_array_equal(together[m].sim, alone.sim)


def test_same_inputs_give_identical_outputs_whatever_the_threads() -> None:
    import faiss

    x = _embedding_like(20, n=500, d=16)
    first = rank_all(x, list(METRICS), k=15)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        again = rank_all(x, list(METRICS), k=15, block=100)
    finally:
        faiss.omp_set_num_threads(before)
    for m in METRICS:
        for field in ("ids", "dist", "sim"):
            assert getattr(first[m], field).tobytes() == getattr(again[m], field).tobytes()


# --------------------------------------------------------------------------------------------- approximate minkowski
def test_approximate_minkowski_is_l2_candidates_reranked_and_recall_is_right(monkeypatch: pytest.MonkeyPatch) -> None:
    """With only 5 exact-L2 candidates recall is visibly below 1; the ranking equals the same method done by
    brute force, and with every row sampled the reported recall equals the brute-force recall."""
    monkeypatch.setattr(search, "MINKOWSKI_EXACT_MAX_COST", 0)
    monkeypatch.setattr(search, "APPROX_CANDIDATES", 5)
    x = _embedding_like(14, n=300, d=16, dtype=np.float64)
    monkeypatch.setattr(search, "RECALL_QUERIES", (300, 300))
    k = 4
    r = rank(x, "minkowski", k=k)
    assert not r.exact
    # the method by brute force: exact L2 top-6 (self included), re-ranked by minkowski, self dropped
    l2 = np.argsort(_cdist(x, x, "euclidean"), axis=1, kind="stable")[:, :6]
    mk = np.take_along_axis(_cdist(x, x, "minkowski"), l2, axis=1)
    order = np.lexsort((l2, mk), axis=1)
    cand, cand_d = np.take_along_axis(l2, order, axis=1), np.take_along_axis(mk, order, axis=1)
    keep = cand != np.arange(300)[:, None]
    keep[~(~keep).any(axis=1), -1] = False
    np.testing.assert_array_equal(r.ids, cand[keep].reshape(300, 5)[:, :k])
    np.testing.assert_allclose(r.dist, cand_d[keep].reshape(300, 5)[:, :k], rtol=1e-12)
    exact_ids, _ = _brute(x, "minkowski", k)
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(r.ids.tolist(), exact_ids.tolist(), strict=True)])
    assert 0.3 < recall < 1.0
    assert r.recall == pytest.approx(recall, abs=1e-12)


def test_minkowski_recall_on_a_sample() -> None:
    x = _embedding_like(15, n=500, d=8, dtype=np.float64)
    exact, _ = _brute(x, "minkowski", 6)
    assert minkowski_recall(x, exact, 3.0) == 1.0
    wrong = exact.copy()
    wrong[:, 3:] = exact[:, :1]  # three of six replaced by a duplicate of the first: recall 0.5 whatever rows
    assert minkowski_recall(x, wrong, 3.0, seed=4) == pytest.approx(0.5)


def test_approximate_ranking_on_clustered_data_has_high_recall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "MINKOWSKI_EXACT_MAX_COST", 0)
    x = _embedding_like(16, n=1500, d=32)
    r = rank(x, "minkowski", k=15)
    assert not r.exact and r.recall is not None and r.recall >= 0.95
    exact_ids, _ = _brute(x, "minkowski", 15)
    true = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(r.ids.tolist(), exact_ids.tolist(), strict=True)])
    assert abs(true - r.recall) < 0.05  # the sampled estimate is close to the recall over every row


# --------------------------------------------------------------------------------------------- similarity
def test_similarity_is_the_fraction_of_farther_pairs() -> None:
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(40, 5))
    for metric in METRICS:
        r = rank(emb, metric, k=5)
        kw = {"p": 3} if metric == "minkowski" else {}
        pairs = distance.pdist(emb, metric, **kw)
        for q, j in ((11, 2), (0, 0), (39, 4)):
            d = r.dist[q, j]
            # this very pair is among them: rounding may put scipy's value a hair either side of ours
            lo, hi = np.mean(pairs > d * (1 + 1e-12)), np.mean(pairs > d * (1 - 1e-12))
            assert lo - 1e-12 <= r.sim[q, j] <= hi + 1e-12 and hi - lo <= 1 / len(pairs) + 1e-12
        assert (r.sim >= 0).all() and (r.sim <= 1).all()
        assert (np.diff(r.sim, axis=1) <= 0).all()  # closer = more similar


def test_all_pairs_up_to_the_sample_size() -> None:
    """1,000 rows have 499,500 pairs <= PAIR_SAMPLE: all of them, equal to scipy's pdist."""
    n = 1000
    assert n * (n - 1) // 2 <= PAIR_SAMPLE < (n + 1) * n // 2 + 1000
    x = np.random.default_rng(17).normal(size=(n, 4))
    got = pair_distances(x, ["euclidean", "cosine"])
    for m in ("euclidean", "cosine"):
        assert len(got[m]) == n * (n - 1) // 2
        np.testing.assert_allclose(got[m], np.sort(distance.pdist(x, m)), rtol=1e-12, atol=1e-15)


def test_sampled_pairs_above_1000_rows() -> None:
    n = 1100
    x = np.random.default_rng(18).normal(size=(n, 6))
    i, j = sample_pairs(n, seed=3)
    assert len(i) == PAIR_SAMPLE and (i != j).all() and i.min() >= 0 and max(i.max(), j.max()) == n - 1
    i2, _ = sample_pairs(n, seed=3)
    i3, _ = sample_pairs(n, seed=4)
    assert np.array_equal(i, i2) and not np.array_equal(i, i3)
    assert np.bincount(i, minlength=n).min() > 0.8 * PAIR_SAMPLE / n  # every row sampled about equally
    got = pair_distances(x, list(METRICS), 3.0, seed=3)
    a, b = x[i], x[j]
    ref = {
        "cosine": 1 - np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)),
        "euclidean": np.linalg.norm(a - b, axis=1),
        "sqeuclidean": ((a - b) ** 2).sum(axis=1),
        "minkowski": (np.abs(a - b) ** 3).sum(axis=1) ** (1 / 3),
    }
    ref = {m: np.sort(v) for m, v in ref.items()}
    for m in METRICS:
        np.testing.assert_allclose(got[m], ref[m], rtol=1e-12, atol=1e-15)
    r = rank_all(x, ["cosine", "minkowski"], k=5, seed=3)
    for m in ("cosine", "minkowski"):
        pairs = ref[m]
        for q, col in ((0, 0), (700, 4), (n - 1, 2)):
            d = r[m].dist[q, col]
            assert r[m].sim[q, col] == pytest.approx(np.mean(pairs > d), abs=2 / len(pairs))


# --------------------------------------------------------------------------------------------- memory
def test_memory_stays_o_n_d_on_40000_rows(tmp_path: Path) -> None:
    """40,000 x 64 in a fresh process: an n x n float64 matrix would need 12.8 GB; the whole ranking (FAISS
    index, pair sample, rankings) must stay under 1.5 GB peak RSS and match a blocked exact reference."""
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from precompute.search import rank
        rng = np.random.default_rng(0)
        centres = 3 * rng.normal(size=(100, 64)).astype(np.float32)
        x = np.maximum(centres[rng.integers(0, 100, 40000)] + rng.normal(size=(40000, 64)).astype(np.float32), 0)
        np.save(sys.argv[1] + "/x.npy", x)
        r = rank(x, "euclidean", k=15)
        np.save(sys.argv[1] + "/ids.npy", r.ids)
        np.save(sys.argv[1] + "/dist.npy", r.dist)
        # VmHWM: the peak of this process's own memory. (ru_maxrss would include the parent's pages the child
        # shared between fork and exec: a test runner with TensorFlow loaded is 2 GB.)
        hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
        print(json.dumps({"maxrss_kb": int(hwm.split()[1])}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    peak_gb = json.loads(out.stdout.strip().splitlines()[-1])["maxrss_kb"] / 2**20
    assert peak_gb < 1.5, f"peak RSS {peak_gb:.2f} GB"
    x = np.load(tmp_path / "x.npy")
    ids, dist = np.load(tmp_path / "ids.npy"), np.load(tmp_path / "dist.npy")
    rows = np.random.default_rng(1).choice(len(x), 40, replace=False)
    d = _cdist(x[rows], x, "euclidean")
    d[np.arange(len(rows)), rows] = np.inf  # self excluded (no other row is at +inf here)
    order = np.argsort(d, axis=1, kind="stable")[:, :15]
    _assert_same(ids[rows], dist[rows], order, np.take_along_axis(d, order, axis=1), "euclidean")


# --------------------------------------------------------------------------------------------- scores
def test_search_score_hand_computed_cases() -> None:
    k = 15
    labels = np.array([0] * 16 + [1] * 15)
    ids = np.zeros((len(labels), k), dtype=int)
    # query 0: only the rank-1 result is in its class -> 12.5 (the original's documented value)
    ids[0] = [1] + list(range(16, 30))
    # query 1: all 15 results in class -> 100
    ids[1] = [0] + list(range(2, 16))
    # query 2: hits at ranks 1 and 15 (i = 0 and 14): (15/15 + 1/15) / 8 * 100 = 13.333...
    ids[2] = [0] + list(range(16, 29)) + [3]
    # query 16: no hit -> 0
    ids[16] = list(range(15))
    scores = search_scores(ids, labels)
    assert scores[0] == pytest.approx(12.5)
    assert scores[1] == pytest.approx(100.0)
    assert scores[2] == pytest.approx(100 * (16 / 15) / 8)
    assert scores[16] == pytest.approx(0.0)
    prec = precision_at_k(ids, labels)
    assert prec[0] == pytest.approx(1 / 15) and prec[1] == 1.0 and prec[2] == pytest.approx(2 / 15)


def test_knn_accuracy_hand_cases() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 1])
    ids = np.array(
        [
            [1, 2, 3],  # votes 0:1 1:2 -> 1, query is 0 -> False
            [0, 4, 5],  # 0:1 2:2 -> 2 -> False
            [3, 6, 0],  # 1:2 -> True
            [0, 2, 4],  # 0:1 1:1 2:1, all tied: the first (0) wins -> False
            [2, 5, 1],  # 1:1 2:1 0:1 tied: 1 first -> False
            [4, 0, 1],  # 2:1 0:2 -> False
            [4, 2, 5],  # 2:2 1:1 -> False
        ]
    )
    assert knn_accuracy(ids, labels).tolist() == [False, False, True, False, False, False, False]
    ids[3] = [2, 0, 4]  # tied 1:1 0:1 2:1, class 1 comes first -> True
    ids[0] = [2, 1, 0]  # 1:1 0:2 -> True
    assert knn_accuracy(ids, labels).tolist() == [True, False, True, True, False, False, False]


def test_knn_accuracy_equals_a_plain_python_vote() -> None:
    rng = np.random.default_rng(19)
    labels = rng.integers(0, 4, 300)
    ids = rng.integers(0, 300, (300, 9))
    expected = []
    for q, row in enumerate(ids):
        votes = Counter(labels[row].tolist())
        top = max(votes.values())
        winner = next(lab for lab in labels[row].tolist() if votes[lab] == top)
        expected.append(winner == labels[q])
    assert knn_accuracy(ids, labels).tolist() == expected


def test_small_dataset_uses_fewer_neighbours() -> None:
    emb = np.eye(4)
    r = rank(emb, "cosine", k=15)
    assert r.ids.shape == (4, 3)
    with pytest.raises(ValueError):
        rank(np.ones((1, 3)), "cosine", k=15)


def test_bad_input_is_a_clear_error() -> None:
    x = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="unknown metric"):
        rank(x, "manhattan")
    with pytest.raises(ValueError, match="p >= 1"):
        rank(x, "minkowski", p=0.5)
    with pytest.raises(ValueError, match="2-D"):
        rank(x[0], "cosine")
    with pytest.raises(ValueError, match="dimensions"):
        Searcher(x, "cosine").search(np.ones((2, 4)), 3)
    with pytest.raises(ValueError, match="real numbers"):
        rank(x.astype(complex), "cosine")


@pytest.mark.slow
def test_rankings_on_real_mobilenet_embeddings_equal_brute_force(shared_datasets: Path, keras_home: Path) -> None:
    """Real pooled activations (MobileNet 0.75, ImageNet weights, 200 iconic images) at an early, a middle and
    the last selected layer: all four metrics equal the brute-force scipy ranking."""
    from precompute.catalog import get_spec, load_model
    from precompute.extract import embed_paths
    from precompute.layers import select_layers

    spec = get_spec("mobilenet_075")
    model = load_model(spec, "imagenet")
    layers = select_layers(model)
    names = [layers[0].act_name, layers[len(layers) // 2].act_name, layers[-1].act_name]
    paths = sorted((shared_datasets / "iconic200").rglob("*.jpg"))
    embs = embed_paths(model, names, paths, size=spec.input_size, preprocess=spec.preprocess)
    for name in names:
        x = embs[(name, "avg")]  # keyed by (layer, pooling)
        together = rank_all(x, list(METRICS), k=15)
        for metric in METRICS:
            _assert_same(together[metric].ids, together[metric].dist, *_brute(x, metric, 15), metric)
