"""2-D maps of embeddings with UMAP (seeded, so reproducible; ``random_state`` makes UMAP single-threaded).

Coordinates are rescaled to the unit square (aspect kept, centred) so the site can draw any map without
knowing its range. Very small datasets (fewer than 10 images), where UMAP's graph is degenerate, fall back
to PCA, which is exact and deterministic.
"""

from __future__ import annotations

import warnings

import numpy as np


def _unit_square(xy: np.ndarray) -> np.ndarray:
    xy = xy - xy.min(axis=0)
    span = float(xy.max()) if xy.size else 0.0
    if span > 0:
        xy = xy / span
    return xy + (1.0 - xy.max(axis=0)) / 2.0


def _pca2(emb: np.ndarray) -> np.ndarray:
    x = emb - emb.mean(axis=0)
    if not np.any(x):
        return np.zeros((len(emb), 2))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    comps = comps * np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])[:, None]  # fix signs
    xy = x @ comps.T
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))


def umap_2d(
    emb: np.ndarray, *, seed: int = 42, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "cosine"
) -> np.ndarray:
    """(N, 2) float64 coordinates in [0, 1]."""
    emb = np.asarray(emb, dtype=np.float32)
    n = len(emb)
    if n < 10:
        return _unit_square(_pca2(emb.astype(np.float64)))
    import umap  # imported lazily: numba compilation costs seconds

    # cosine is undefined for zero vectors; nudge them so UMAP's nearest-neighbour search stays finite
    if metric == "cosine":
        zero = ~np.any(emb, axis=1)
        if zero.any():
            emb = emb.copy()
            emb[zero] = 1e-12
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, n - 1),
        min_dist=min_dist,
        metric=metric,
        random_state=seed,
        init="spectral",
        transform_seed=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; spectral init fallbacks
        xy = reducer.fit_transform(emb)
    return _unit_square(np.asarray(xy, dtype=np.float64))
