"""The approximate path (``precompute.approximate``): an HNSW graph's candidates re-ranked exactly, efSearch chosen
on sampled queries, the recall measured on others, and exact search where the target is missed. Every check is
against scipy's ``cdist`` on the same rows (an independent computation of distances and top-k)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

from precompute import approximate, search

K = 15


def hard(n: int = 2000, d: int = 64, seed: int = 0) -> np.ndarray:
    """Isotropic Gaussian rows: no cluster structure, so a small graph search visibly misses neighbours."""
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def clustered(n: int = 3000, d: int = 48, seed: int = 1) -> np.ndarray:
    """ReLU of a Gaussian mixture, shaped like pooled CNN features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, d)).astype(np.float32)
    x = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, d)).astype(np.float32)
    return np.maximum(x, 0.0)


def scipy_topk(x: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-K of every row, self excluded, ties by id: cdist in float64 and a stable sort."""
    d = cdist(x.astype(np.float64), x.astype(np.float64), metric, **({"p": 3} if metric == "minkowski" else {}))
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :K]
    return order, d


def true_recall(ids: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids.tolist(), exact.tolist(), strict=True)]))


def test_graph_answers_are_exact_distances_of_found_rows_with_an_honest_recall(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately weak graph (8 links, built at efConstruction 16) searched at the first efSearch whatever its
    recall: every returned neighbour's distance is scipy's for that pair, bit for bit, rows are sorted by
    (distance, id) without the query, and the recall the ranking reports (measured on 512 sampled queries) is the
    recall over every query within 0.02."""
    monkeypatch.setattr(approximate, "TARGET_RECALL", 0.0)
    monkeypatch.setattr(approximate, "EF_STEPS", (16,))
    monkeypatch.setattr(approximate, "GRAPH_LINKS", 8)
    monkeypatch.setattr(search, "GRAPH_BUILD_EF", 16)
    x = hard()
    got = approximate.rank_all(x, ["cosine", "euclidean", "sqeuclidean"], K, index="approximate", seed=3)
    for metric, r in got.items():
        exact_ids, d = scipy_topk(x, metric)
        rows = np.arange(len(x))[:, None]
        assert not r.exact and r.index.startswith("hnsw") and r.index_note is None
        assert (r.ids != rows).all()
        assert np.array_equal(r.dist, d[rows, r.ids]), metric  # exact re-rank: scipy's bits
        assert (np.diff(r.dist, axis=1) >= 0).all()
        tied = np.diff(r.dist, axis=1) == 0
        assert (np.diff(r.ids, axis=1)[tied] > 0).all()  # ties by id
        recall = true_recall(r.ids, exact_ids)
        assert 0.5 < recall < 0.99, (metric, recall)  # the weak search really misses some
        assert r.recall == pytest.approx(recall, abs=0.02), metric
        # a found row never displaces a closer one it found: the answer is the exact top-K of what it saw
        assert (r.dist[:, -1] >= d[rows[:, 0], exact_ids[:, -1]]).all()


def test_tuning_reaches_the_target_on_clustered_rows_and_is_the_same_on_one_or_two_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every metric, minkowski included as at 101,000 images (graph candidates of the euclidean family re-ranked
    by minkowski: its exact FAISS search is turned off here as it is at that size)."""
    import faiss

    monkeypatch.setattr(search, "MINKOWSKI_EXACT_MAX_COST", 0)

    x = clustered()
    metrics = ["cosine", "euclidean", "sqeuclidean", "minkowski"]
    runs = []
    threads = faiss.omp_get_max_threads()
    for t in (2, 1):
        faiss.omp_set_num_threads(t)
        try:
            runs.append(approximate.rank_all(x, metrics, K, index="approximate", seed=5))
        finally:
            faiss.omp_set_num_threads(threads)
    for m in metrics:
        a, b = runs[0][m], runs[1][m]
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.dist, b.dist) and a.recall == b.recall, m
        assert not a.exact and a.recall is not None
        exact_ids = scipy_topk(x, m)[0]
        assert true_recall(a.ids, exact_ids) >= approximate.TARGET_RECALL, m
        if m != "minkowski":
            assert a.recall >= approximate.TARGET_RECALL
            assert "efSearch" in a.index
    assert "euclidean family" in runs[0]["minkowski"].index


def test_a_view_that_misses_the_target_stays_exact_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approximate, "TARGET_RECALL", 1.01)  # no search can reach it
    x = hard(600, 32)
    got = approximate.rank_all(x, ["cosine", "euclidean"], K, index="approximate", seed=1)
    want = search.rank_all(x, ["cosine", "euclidean"], K, seed=1)
    for m in ("cosine", "euclidean"):
        r = got[m]
        assert r.exact and r.recall is None and r.index == "flat"
        assert r.index_note and "below 1.01" in r.index_note and "recall@k" in r.index_note
        assert np.array_equal(r.ids, want[m].ids) and np.array_equal(r.dist, want[m].dist)
        assert np.array_equal(r.ids, scipy_topk(x, m)[0])


def test_passing_the_tuning_queries_is_not_enough_the_measured_ones_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tuning rows pass, the measuring rows miss (the recall function is made to say so): exact, and why."""
    real = approximate._recall
    calls = []

    def recall(found: np.ndarray, truth: np.ndarray) -> float:
        calls.append(len(truth))
        return 1.0 if len(truth) == approximate.TUNE_QUERIES else 0.5 * real(found, truth)

    monkeypatch.setattr(approximate, "_recall", recall)
    x = hard(2000, 16)
    r = approximate.rank_all(x, ["euclidean"], K, index="approximate")["euclidean"]
    assert calls == [approximate.TUNE_QUERIES, approximate.MEASURE_QUERIES]
    assert r.exact and r.index == "flat" and r.index_note and "on other sampled queries" in r.index_note
    assert np.array_equal(r.ids, scipy_topk(x, "euclidean")[0])


def test_auto_chooses_by_work_and_exact_never_uses_the_graph() -> None:
    assert not approximate.uses_graph(10_100, 3072)  # tinyimagenet10k's widest view stays exact
    assert approximate.uses_graph(101_000, 99) and not approximate.uses_graph(101_000, 98)
    assert not approximate.uses_graph(1_000_000, 4096, "exact")
    assert approximate.uses_graph(50, 4, "approximate")
    # an exact ranking's cache key is what it was before the graph existed; an approximate one's is another
    assert approximate.key_part(10_100, 3072, "auto") == {} == approximate.key_part(101_000, 3072, "exact")
    assert approximate.key_part(101_000, 3072, "auto")["index"]["target"] == approximate.TARGET_RECALL
    with pytest.raises(ValueError, match="index must be one of"):
        approximate.uses_graph(10, 10, "hnsw")
    x = clustered(300, 8)
    assert search.rank_all(x, ["cosine"], K)["cosine"].ids.tolist() == (
        approximate.rank_all(x, ["cosine"], K, index="auto")["cosine"].ids.tolist()
    )


def test_the_cli_flags_set_the_index(tmp_path) -> None:
    from precompute import cli

    seen = {}

    def fake_precompute(cfg):  # what the command would build with
        seen["index"] = cfg.index
        raise SystemExit(0)

    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("precompute.pipeline.run_precompute", fake_precompute)
        for args, want in (([], "auto"), (["--exact"], "exact"), (["--index", "approximate"], "approximate")):
            seen.clear()
            runner.invoke(cli.cli, ["-q", "precompute", "--out", str(tmp_path / "o"), *args])
            assert seen.get("index") == want, args
        bad = runner.invoke(cli.cli, ["precompute", "--exact", "--index", "approximate"])
        assert bad.exit_code == 2 and "disagree" in bad.output


def test_the_ray_engine_ranks_a_large_view_on_the_driver_with_the_local_bits() -> None:
    """One graph serves every query, so the Ray engine does not split a graph-ranked view into tasks: it ranks it
    where it runs (no cluster is touched: the engine is not started) and gets the local engine's answer."""
    pytest.importorskip("ray")
    from precompute.config import load_config
    from precompute.engine import LocalEngine
    from precompute.ray_engine import RayEngine

    cfg = load_config(index="approximate", quiet=True)
    x = clustered(500, 8)
    engine = object.__new__(RayEngine)  # its __init__ would start Ray; this branch never reaches it
    got = engine.rank(x, ["cosine", "euclidean"], cfg)
    want = LocalEngine().rank(x, ["cosine", "euclidean"], cfg)
    for m in ("cosine", "euclidean"):
        assert not got[m].exact and got[m].index.startswith("hnsw")
        assert np.array_equal(got[m].ids, want[m].ids) and np.array_equal(got[m].dist, want[m].dist)
        assert got[m].recall == want[m].recall
