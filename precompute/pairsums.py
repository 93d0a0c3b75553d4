"""The exact distances' inner sums, compiled with numba: FAISS candidates re-ranked, and every pair of a small set.

``search`` re-ranks every candidate of FAISS in float64 with scipy's summation order (cosine: products summed in
two running sums over the even and the odd coordinates, then added; squared euclidean and sum |a - b|^p: one
running sum over the coordinates in order). Its numpy code (``search._values``) does that with five passes over
(d, queries, candidates) temporaries: gather, cast, product, reduction, identity check. At d = 96 that cost
more than FAISS's own search (10,000 queries x 17 candidates: ~0.1 s against 0.03 s here). These kernels
compute the same sums, bit for bit, straight from the stored rows (float32 or float64): the loops below ARE
the order (numba does not reorder or fuse floating-point operations unless asked to with ``fastmath``).

The tiled kernels (``cross_sums``) compute every pair of rows with the same sums, for few rows with many
dimensions (``search.all_pairs_pay``), threads sharing the blocks.

Hand-written because neither numpy nor a BLAS guarantees a summation order. Compiling costs ~1 s per process
and dtype, so ``search`` uses these kernels for datasets of at least ``search.COMPILED_MIN_ROWS`` rows (not for a
single live query), and its numpy code otherwise; tests assert that both give identical bits.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

#: integer powers computed by repeated multiplication, here and in ``search._pow`` (the one rule); other p use pow
INT_POWERS = range(1, 9)


def _dots(q: np.ndarray, x: np.ndarray, cand: np.ndarray, out: np.ndarray) -> None:
    """out[i, j] = q[i] . x[cand[i, j]] in float64: even and odd terms in two running sums, added, then the odd
    last term (``search._two_lane_sum``). The coordinate loop is outside the candidate loop, so the running sums
    of one query's candidates advance side by side (independent chains the CPU overlaps; each pair's own order
    is unchanged)."""
    m, r = cand.shape
    d = q.shape[1]
    even = d - d % 2
    s0 = np.empty(r)
    s1 = np.empty(r)
    for i in range(m):
        if even:
            for j in range(r):
                s0[j] = np.float64(q[i, 0]) * np.float64(x[cand[i, j], 0])
                s1[j] = np.float64(q[i, 1]) * np.float64(x[cand[i, j], 1])
            for t in range(2, even, 2):
                q0, q1 = np.float64(q[i, t]), np.float64(q[i, t + 1])
                for j in range(r):
                    s0[j] += q0 * np.float64(x[cand[i, j], t])
                    s1[j] += q1 * np.float64(x[cand[i, j], t + 1])
        for j in range(r):
            s = s0[j] + s1[j] if even else 0.0
            if d % 2:
                s += np.float64(q[i, d - 1]) * np.float64(x[cand[i, j], d - 1])
            out[i, j] = s


def _diff_sums(q: np.ndarray, x: np.ndarray, cand: np.ndarray, p: int, out: np.ndarray) -> None:
    """out[i, j] = sum over coordinates, in order, of |q[i] - x[cand[i, j]]|^p in float64, the power as
    ``search._pow`` computes it (p = 2: a * a; else |a| multiplied by itself p - 1 times); the candidates' running
    sums advance side by side, as in ``_dots``."""
    m, r = cand.shape
    d = q.shape[1]
    acc = np.empty(r)
    for i in range(m):
        for t in range(d):
            qt = np.float64(q[i, t])
            for j in range(r):
                a = qt - np.float64(x[cand[i, j], t])
                if p == 2:
                    v = a * a
                else:
                    a = abs(a)
                    v = a
                    for _ in range(p - 1):
                        v *= a
                if t == 0:
                    acc[j] = v
                else:
                    acc[j] += v
        for j in range(r):
            out[i, j] = acc[j]


@cache
def _compiled() -> tuple[Callable[..., None], Callable[..., None]]:
    import numba

    jit: Any = numba.njit(nogil=True, cache=False)
    return jit(_dots), jit(_diff_sums)


def supported(kind: str, p: float) -> bool:
    """Whether a kernel reproduces ``search._values`` for this kind (minkowski only with an integer p <= 8)."""
    return kind in ("ip", "l2") or (kind == "lp" and p == int(p) and int(p) in INT_POWERS)


def pair_sums(kind: str, p: float, q: np.ndarray, x: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Raw float64 sums between each query row ``q[i]`` and its candidate rows ``x[cand[i]]``: the dot product
    ("ip"), the squared euclidean distance ("l2") or sum |a - b|^p ("lp"), shape of ``cand``. Non-finite inputs
    give whatever IEEE arithmetic gives (the caller maps them)."""
    dots, diff_sums = _compiled()
    cand = np.ascontiguousarray(cand, dtype=np.int64)
    out = np.empty(cand.shape)
    if kind == "ip":
        dots(q, x, cand, out)
    else:
        diff_sums(q, x, cand, 2 if kind == "l2" else int(p), out)
    return out


# ----------------------------------------------------------------------------------------- all pairs, tiled
#: coordinates per tile of the all-pairs kernels (even: the two running sums of ``_dots`` stay on their lanes)
TILE = 64


def _tile_dots(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[i, j] = a[i] . b[j] in float64, in ``_dots``' order (even and odd terms in two running sums, added,
    then the odd last term), for every pair of rows of ``a`` (m, d) and ``b`` (r, d).

    The coordinates are cut into tiles of ``TILE``: a tile of ``b`` is copied feature-first once (cast to
    float64), then every row of ``a`` advances its r running sums through it side by side (the loop over j has
    no dependence between iterations, so it runs in SIMD lanes). Each pair still adds its terms one after
    another in coordinate order: tiling changes what is computed alongside a pair, never its order."""
    m, d = a.shape
    r = b.shape[0]
    even = d - d % 2
    s0 = np.zeros((m, r))
    s1 = np.zeros((m, r))
    bt = np.empty((TILE, r))
    for t0 in range(0, even, TILE):
        t1 = min(even, t0 + TILE)
        for t in range(t0, t1):
            for j in range(r):
                bt[t - t0, j] = np.float64(b[j, t])
        for i in range(m):
            for t in range(t0, t1, 2):
                a0, a1 = np.float64(a[i, t]), np.float64(a[i, t + 1])
                for j in range(r):
                    s0[i, j] += a0 * bt[t - t0, j]
                    s1[i, j] += a1 * bt[t + 1 - t0, j]
    for i in range(m):
        for j in range(r):
            s = s0[i, j] + s1[i, j]
            if d % 2:
                s += np.float64(a[i, d - 1]) * np.float64(b[j, d - 1])
            out[i, j] = s


def _tile_diffs(a: np.ndarray, b: np.ndarray, p: int, out: np.ndarray) -> None:
    """out[i, j] = sum over coordinates, in order, of |a[i] - b[j]|^p in float64 (p = 2: the square), the power as
    ``_diff_sums`` computes it; tiled as ``_tile_dots``."""
    m, d = a.shape
    r = b.shape[0]
    acc = np.zeros((m, r))
    bt = np.empty((TILE, r))
    for t0 in range(0, d, TILE):
        t1 = min(d, t0 + TILE)
        for t in range(t0, t1):
            for j in range(r):
                bt[t - t0, j] = np.float64(b[j, t])
        for i in range(m):
            for t in range(t0, t1):
                at = np.float64(a[i, t])
                for j in range(r):
                    v = at - bt[t - t0, j]
                    if p == 2:
                        v = v * v
                    elif p == 3:  # the default p, spelled out so the loop over j vectorises
                        w = abs(v)
                        v = w * w * w
                    else:
                        v = abs(v)
                        w = v
                        for _ in range(p - 1):
                            v *= w
                    acc[i, j] += v
    for i in range(m):
        for j in range(r):
            out[i, j] = acc[i, j]


@cache
def _compiled_tiles() -> tuple[Callable[..., None], Callable[..., None]]:
    import numba

    jit: Any = numba.njit(nogil=True, cache=False)
    return jit(_tile_dots), jit(_tile_diffs)


def block_sums(kind: str, p: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Raw float64 sums (as ``pair_sums``) between every row of ``a`` (m, d) and every row of ``b`` (r, d): (m, r).
    Releases the GIL, so threads can compute different blocks at once."""
    dots, diffs = _compiled_tiles()
    out = np.empty((len(a), len(b)))
    if kind == "ip":
        dots(a, b, out)
    else:
        diffs(a, b, 2 if kind == "l2" else int(p), out)
    return out


#: rows per side of the blocks that ``cross_sums`` hands to its threads (a block's tiles stay in the L2 cache)
BLOCK = 64


def threads() -> int:
    """Threads for ``cross_sums``: numba's thread count (``NUMBA_NUM_THREADS``, else every core)."""
    import numba

    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def cross_sums(kind: str, p: float, q: np.ndarray, x: np.ndarray, *, symmetric: bool = False) -> np.ndarray:
    """``block_sums`` of every row of ``q`` (m, d) against every row of ``x`` (n, d), (m, n), in blocks of
    ``BLOCK`` x ``BLOCK`` rows spread over ``threads()`` threads. ``symmetric``: ``q`` is ``x``; only the blocks on
    and above the diagonal are computed and mirrored (every sum here is symmetric bit for bit: a·b = b·a and
    |a - b| = |b - a| exactly in IEEE arithmetic). Each value depends only on its two rows, never on the
    blocking or the threads."""
    import concurrent.futures

    m, n = len(q), len(x)
    out = np.empty((m, n))
    tasks = [(i, j) for i in range(0, m, BLOCK) for j in range(i if symmetric else 0, n, BLOCK)]

    def run(task: tuple[int, int]) -> None:
        i, j = task
        s = block_sums(kind, p, q[i : i + BLOCK], x[j : j + BLOCK])
        out[i : i + BLOCK, j : j + BLOCK] = s
        if symmetric and i != j:
            out[j : j + BLOCK, i : i + BLOCK] = s.T

    workers = min(threads(), len(tasks))
    if workers <= 1:
        for task in tasks:
            run(task)
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, tasks))
    return out
