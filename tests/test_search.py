"""Rankings, similarities and search scores against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import distance

from precompute.search import pairwise, precision_at_k, rank, search_scores

METRICS = ["cosine", "euclidean", "sqeuclidean", "minkowski"]


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


@pytest.mark.parametrize("metric", METRICS)
def test_rankings_equal_scipy_reference(metric: str) -> None:
    rng = np.random.default_rng(7)
    emb = rng.random((60, 12)).astype(np.float32)
    got = rank(emb, metric, k=15, p=3)
    ids, dists = _reference_topk(emb.astype(np.float64), metric, 15)
    assert got.ids.tolist() == ids
    np.testing.assert_allclose(got.dist, dists, rtol=1e-12)


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


def test_zero_vectors_give_no_nan() -> None:
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


def test_similarity_is_the_fraction_of_farther_pairs() -> None:
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(40, 5))
    for metric in METRICS:
        r = rank(emb, metric, k=5)
        kw = {"p": 3} if metric == "minkowski" else {}
        pairs = distance.pdist(emb, metric, **kw)
        q, j = 11, 2
        expected = float(np.mean(pairs > r.dist[q, j]))
        assert r.sim[q, j] == pytest.approx(expected)
        assert (r.sim >= 0).all() and (r.sim <= 1).all()
        assert (np.diff(r.sim, axis=1) <= 0).all()  # closer = more similar


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


def test_small_dataset_uses_fewer_neighbours() -> None:
    emb = np.eye(4)
    r = rank(emb, "cosine", k=15)
    assert r.ids.shape == (4, 3)
    with pytest.raises(ValueError):
        rank(np.ones((1, 3)), "cosine", k=15)
