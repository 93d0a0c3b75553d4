"""Nearest-neighbour rankings, similarities and the search score.

Distances come from ``scipy.spatial.distance.cdist``. Definitions (also in the README):

* Rankings: for every query image the ``k`` nearest other images (the query itself is excluded), ordered
  by distance, ties broken by the smaller image id (a stable sort over ids in ascending order).
* Zero vectors: cosine distance is undefined for an all-zero embedding (scipy returns NaN). We define the
  cosine distance between a zero vector and a non-zero one as 1 (no direction in common) and between two
  zero vectors as 0, so rankings never contain NaN. Any other non-finite distance sorts last.
* Similarity in [0, 1], the same for every metric: the fraction of all pairs of distinct images in the
  dataset whose distance (same metric, same model and layer) is larger than this pair's. 1.0 means closer
  than every other pair in the dataset, 0.5 a median pair. It is comparable across metrics, layers and
  models, unlike raw distances whose scale depends on all three.
* Search score (the original ConvNet Playground's): for a query q and its top-K list r_0..r_{K-1},
  ``100 * sum_{i: class(r_i) = class(q)} (K - i) / K  /  sum_{i < K} (K - i) / K``; a hit at rank 1 weighs
  most. K is ``k`` (15), or fewer when the dataset has fewer than k + 1 images.
* Precision@K: the fraction of the K results in the query's class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

METRIC_DESCRIPTIONS = {
    "cosine": "1 - cosine of the angle between embeddings (ignores their length)",
    "euclidean": "straight-line (L2) distance",
    "sqeuclidean": "squared L2 distance (same order as euclidean, different spread)",
    "minkowski": "Minkowski (Lp) distance with p = minkowski_p (default 3)",
}
PAIR_SAMPLE = 2_000_000  # pairs used to estimate the similarity scale on large datasets


@dataclass(frozen=True)
class Ranking:
    ids: np.ndarray  # (N, k) int32
    dist: np.ndarray  # (N, k) float64
    sim: np.ndarray  # (N, k) float64 in [0, 1]


def pairwise(a: np.ndarray, b: np.ndarray, metric: str, p: float = 3) -> np.ndarray:
    """Distances between rows of ``a`` and rows of ``b`` (float64), with zero vectors handled for cosine."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if metric == "minkowski":
        d = cdist(a, b, "minkowski", p=p)
    elif metric == "cosine":
        za = ~np.any(a, axis=1)
        zb = ~np.any(b, axis=1)
        d = np.ones((len(a), len(b)))
        nz_a, nz_b = ~za, ~zb
        if nz_a.any() and nz_b.any():
            d[np.ix_(nz_a, nz_b)] = cdist(a[nz_a], b[nz_b], "cosine")
        d[np.ix_(za, zb)] = 0.0
        d = np.clip(d, 0.0, 2.0)  # rounding can give -1e-16
    elif metric in ("euclidean", "sqeuclidean"):
        d = cdist(a, b, metric)
    else:
        raise ValueError(f"unknown metric '{metric}'")
    return np.where(np.isfinite(d), d, np.inf)


def _pair_distances(emb: np.ndarray, metric: str, p: float, seed: int = 0) -> np.ndarray:
    """Sorted distances of all distinct pairs (or a seeded sample of them for large datasets)."""
    n = len(emb)
    if n * (n - 1) // 2 <= PAIR_SAMPLE:
        d = pairwise(emb, emb, metric, p)
        vals = d[np.triu_indices(n, 1)]
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, PAIR_SAMPLE)
        j = rng.integers(0, n - 1, PAIR_SAMPLE)
        j = j + (j >= i)
        vals = np.concatenate(
            [
                np.diagonal(pairwise(emb[i[s : s + 4096]], emb[j[s : s + 4096]], metric, p))
                for s in range(0, PAIR_SAMPLE, 4096)
            ]
        )
    return np.sort(vals)


def similarity(dist: np.ndarray, sorted_pairs: np.ndarray) -> np.ndarray:
    """Fraction of dataset pairs farther apart than ``dist`` (see module docstring)."""
    if len(sorted_pairs) == 0:
        return np.ones_like(dist)
    farther = len(sorted_pairs) - np.searchsorted(sorted_pairs, dist, side="right")
    return farther / len(sorted_pairs)


def rank(emb: np.ndarray, metric: str, k: int = 15, p: float = 3, block: int = 1024) -> Ranking:
    """Top-``k`` neighbours of every row of ``emb`` under ``metric`` (self excluded, ties by id)."""
    n = len(emb)
    k = min(k, n - 1)
    if k < 1:
        raise ValueError("ranking needs at least two images")
    ids = np.empty((n, k), dtype=np.int32)
    dist = np.empty((n, k), dtype=np.float64)
    for start in range(0, n, block):
        d = pairwise(emb[start : start + block], emb, metric, p)
        rows = np.arange(d.shape[0])
        d[rows, start + rows] = np.inf  # exclude self
        order = np.argsort(d, axis=1, kind="stable")[:, :k]  # stable: equal distances keep id order
        ids[start : start + block] = order
        dist[start : start + block] = np.take_along_axis(d, order, axis=1)
    sim = similarity(dist, _pair_distances(emb, metric, p))
    return Ranking(ids=ids, dist=dist, sim=sim)


def search_scores(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The original playground's position-weighted search score (0..100) for every query row."""
    n, k = ids.shape
    weights = (k - np.arange(k)) / k
    hits = labels[ids] == labels[:, None]
    return 100.0 * (hits * weights).sum(axis=1) / weights.sum()


def precision_at_k(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction of each query's top-k results that share its class."""
    return (labels[ids] == labels[:, None]).mean(axis=1)
