"""The one bilinear resize of the project: Pillow's 8-bit convolution resampling, horizontal pass first.

Why not ``PIL.Image.resize``: its result is not stable across Pillow versions. Pillow 13 runs the vertical pass
first on portrait images (earlier versions always ran the horizontal one first), and the two orders round
differently, so the same photo gives other pixels, other embeddings and other top-15s depending on the Pillow of
the day. And the site's in-browser search (``site_templates/static/search-resize.js``) must produce the pixels the
precompute saw, bit for bit: a browser's canvas resampling is not Pillow's.

So this module fixes one form and implements it twice, here (numba) and in JavaScript, with the same integer
arithmetic: Pillow's ``Resample.c`` for 8 bits per channel, the triangle filter of support 1 scaled by the shrink
factor (so downscaling is antialiased), coefficients normalised in float64 and rounded to 22-bit fixed point
(``PRECISION_BITS = 32 - 8 - 2``), each output the rounded, clipped sum over its input window; the horizontal pass
over every row, then the vertical pass over every column. A pass whose size does not change is skipped, as Pillow
skips it. Each pass alone is exactly ``Image.resize`` along one axis, which is how the tests check it.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

#: fixed-point bits of the coefficients (Pillow: 32 bits - 8 bits of pixel - 2 bits of headroom)
PRECISION_BITS = 22


@functools.lru_cache(maxsize=512)
def coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The window (first input index, length) and the int32 weights of every output index of one pass, as
    Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` compute them (same float64 operations, in the
    same order: the JavaScript port repeats them literally)."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"cannot resize {in_size} to {out_size}")
    scale = in_size / out_size
    ksize = int(math.ceil(max(scale, 1.0))) * 2 + 1
    out = _coefficients(in_size, out_size, scale, ksize)
    for a in out:
        a.flags.writeable = False  # shared by the cache
    return out


@numba.njit(cache=True)
def _coefficients(in_size: int, out_size: int, scale: float, ksize: int) -> tuple:
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    first = np.zeros(out_size, np.int64)
    length = np.zeros(out_size, np.int64)
    weights = np.zeros((out_size, ksize), np.int64)
    row = np.zeros(ksize, np.float64)
    ss = 1.0 / filterscale
    one = float(1 << PRECISION_BITS)
    for xx in range(out_size):
        center = 0.0 + (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # int() truncates toward zero, as C's (int) cast
        xmax = min(int(center + support + 0.5), in_size) - xmin
        ww = 0.0
        for x in range(xmax):
            t = abs((x + xmin - center + 0.5) * ss)
            w = 1.0 - t if t < 1.0 else 0.0
            row[x] = w
            ww += w
        for x in range(xmax):
            k = row[x] / ww if ww != 0.0 else row[x]
            weights[xx, x] = int(-0.5 + k * one) if k < 0 else int(0.5 + k * one)
        first[xx] = xmin
        length[xx] = xmax
    return first, length, weights


@numba.njit(cache=True, nogil=True)
def _pass(src: np.ndarray, first: np.ndarray, length: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One pass along axis 1 of an ``H x W x C`` uint8 array (the caller transposes for the vertical one)."""
    h, _, c = src.shape
    out_w = first.shape[0]
    out = np.empty((h, out_w, c), np.uint8)
    half = 1 << (PRECISION_BITS - 1)
    top = 255 << PRECISION_BITS
    for y in range(h):
        for xx in range(out_w):
            x0 = first[xx]
            for ch in range(c):
                ss = half
                for x in range(length[xx]):
                    ss += np.int64(src[y, x0 + x, ch]) * weights[xx, x]
                if ss <= 0:
                    out[y, xx, ch] = 0
                elif ss >= top:
                    out[y, xx, ch] = 255
                else:
                    out[y, xx, ch] = ss >> PRECISION_BITS
    return out


def resize_bilinear(image: np.ndarray, width: int, height: int | None = None) -> np.ndarray:
    """``image`` (uint8 ``H x W x 3``) resized to ``width x height`` (``height`` defaults to ``width``): the
    horizontal pass, then the vertical one; a copy even when nothing changes."""
    height = width if height is None else height
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise ValueError(f"expected a uint8 H x W x C image, got {arr.dtype} {arr.shape}")
    if width < 1 or height < 1:
        raise ValueError(f"cannot resize to {width} x {height}")
    out = arr
    if arr.shape[1] != width:
        out = _pass(out, *coefficients(arr.shape[1], width))
    if arr.shape[0] != height:
        columns = np.ascontiguousarray(out.transpose(1, 0, 2))  # the vertical pass runs along the columns
        out = np.ascontiguousarray(_pass(columns, *coefficients(arr.shape[0], height)).transpose(1, 0, 2))
    return out.copy() if out is arr else out
