"""2-D maps of embeddings with UMAP (seeded, so reproducible; ``random_state`` makes UMAP single-threaded).

UMAP is given the neighbour graph the build has already computed (the exact cosine top-k of ``search``, with each
image as its own first neighbour) instead of running its own approximate nearest-neighbour search: that search is
most of UMAP's time (measured on 10,100 real embeddings, d = 768: 43 s without, 4.4 s with the precomputed graph)
and the map then shows exactly the neighbourhoods the rankings show. Settings that change with size are UMAP's
own: 500 optimisation epochs up to 10,000 images, 200 above. The starting layout is UMAP's spectral embedding up to
``SPECTRAL_MAX`` images and its PCA layout above (``init_for``): the spectral one solves for the smallest
eigenvectors of the graph Laplacian with Lanczos iterations whose number has no useful bound (up to 5 n), and a
graph that is nearly disconnected converges slowly. Measured on 101,000 images (tinyimagenet10k x 10 seeded
augmentations, MobileNet(alpha=0.75)): seven layers took 64-132 s each for the whole UMAP, the last layer's spectral
start alone ran for over six minutes before the run was stopped; the PCA start is one randomized SVD, O(n d).

UMAP's numba kernels are compiled on first use, in every new process. umap-learn does not cache
the three that a precomputed graph uses (``smooth_knn_dist``, ``compute_membership_strengths`` and the layout
epoch), so ``jit_cache`` turns numba's own on-disk cache on for them: the build keeps the compiled code in
``build/jit/`` (outside ``build/cache/``, whose bytes are deterministic; compiled code is machine-specific) and a
later build loads it (measured on a busy machine: the first map of a process took 12.8 s
with a cold cache, 3.8 s warm, same bytes). ``NUMBA_CACHE_DIR``, when set, wins.

Coordinates are rescaled to the unit square (aspect kept, centred) so the site can draw any map without
knowing its range. Very small datasets (fewer than 10 images), where UMAP's graph is degenerate, fall back
to PCA, which is exact and deterministic.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: the numba kernels UMAP runs on a precomputed graph: module -> names (checked, so a new umap-learn that
#: renames one only loses the cache for it)
_KERNELS = {
    "umap.umap_": ("smooth_knn_dist", "compute_membership_strengths"),
    "umap.layouts": ("_nb_optimize_layout_euclidean_single_epoch",),
}


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


#: the largest dataset whose map starts from UMAP's spectral layout (measured up to 10,100 images)
SPECTRAL_MAX = 20_000


def init_for(n: int, spectral_max: int = SPECTRAL_MAX) -> str:
    """UMAP's starting layout for ``n`` images: ``"spectral"`` (UMAP's default) or ``"pca"`` above ``spectral_max``."""
    return "spectral" if n <= spectral_max else "pca"


def _load_umap(jit_cache: Path | None) -> Any:
    """``import umap`` (lazily: it imports numba and pynndescent), with numba's disk cache on for its kernels."""
    import contextlib
    import importlib

    import umap

    if jit_cache is None:
        return umap
    import numba
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    if not numba.config.CACHE_DIR:  # NUMBA_CACHE_DIR (read when numba is imported) wins
        numba.config.CACHE_DIR = str(jit_cache)
    for module, names in _KERNELS.items():
        mod = importlib.import_module(module)
        for name in names:
            fn = getattr(mod, name, None)
            if isinstance(fn, Dispatcher) and isinstance(fn._cache, NullCache):
                with contextlib.suppress(OSError):  # an unwritable cache folder only costs the compile time
                    fn.enable_caching()
    return umap


def umap_2d(
    emb: np.ndarray,
    *,
    seed: int = 42,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    knn: tuple[np.ndarray, np.ndarray] | None = None,
    jit_cache: Path | None = None,
    spectral_max: int = SPECTRAL_MAX,
) -> np.ndarray:
    """(N, 2) float64 coordinates in [0, 1].

    ``knn``: ``(ids, dist)`` of each image's nearest other images under ``metric`` (self excluded, nearest
    first, at least ``n_neighbors - 1`` columns), as the rankings give them; UMAP then skips its own search.
    ``jit_cache``: a folder for UMAP's compiled kernels (see the module docstring). ``spectral_max``: see
    ``init_for``."""
    emb = np.asarray(emb, dtype=np.float32)
    n = len(emb)
    if n < 10:
        return _unit_square(_pca2(emb.astype(np.float64)))
    umap = _load_umap(jit_cache)

    # cosine is undefined for zero vectors; nudge them so UMAP's nearest-neighbour search stays finite
    if metric == "cosine":
        zero = ~np.any(emb, axis=1)
        if zero.any():
            emb = emb.copy()
            emb[zero] = 1e-12
    k = min(n_neighbors, n - 1)
    precomputed = None
    if knn is not None:
        ids, dist = knn
        if ids.shape[1] < k - 1:
            raise ValueError(f"UMAP needs {k - 1} neighbours per image, the ranking has {ids.shape[1]}")
        self_ids = np.arange(n)[:, None]
        precomputed = (
            np.concatenate([self_ids, ids[:, : k - 1]], axis=1).astype(np.int32),
            np.concatenate([np.zeros((n, 1)), dist[:, : k - 1]], axis=1).astype(np.float32),
            None,
        )
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=k,
        min_dist=min_dist,
        metric=metric,
        random_state=seed,
        init=init_for(n, spectral_max),
        transform_seed=seed,
        precomputed_knn=precomputed or (None, None, None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; spectral init fallbacks
        xy = reducer.fit_transform(emb)
    return _unit_square(np.asarray(xy, dtype=np.float64))
