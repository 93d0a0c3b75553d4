"""The image parameterisation: a Fourier-space image with 1/f scaling and decorrelated colour.

Optimising raw pixels yields high-frequency noise that excites a channel without showing anything. Following
Lucid ("Feature Visualization", Olah et al. 2017, and "Differentiable Image Parameterizations", Mordvintsev
et al. 2018) the optimised variables are the coefficients of a real 2-D Fourier spectrum per colour channel:

* every coefficient is scaled by ``1 / max(f, 1/max(h, w)) ** decay_power`` (f in cycles per pixel), so a
  step of the optimiser moves all frequencies by the same amount of *image energy* as in natural images
  (whose amplitude spectrum falls off as 1/f): low frequencies are cheap, high ones dear;
* the inverse transform is orthonormal (``norm="ortho"``), so learning rates mean the same at every size;
* the three channels are "decorrelated colour": they are mapped to RGB by the square root of ImageNet's
  colour correlation matrix (Lucid's published constant), normalised so that its largest column has unit
  norm. A unit step along the first decorrelated axis changes R, G and B together (luminance);
* a sigmoid maps the result to [0, 1].

The inverse real FFT is written as two matrix products with precomputed cosine/sine bases (exactly
``numpy.fft.irfft2(..., norm="ortho")``, see the tests). That keeps everything in real ``keras.ops``
arithmetic, which runs unchanged and differentiably under TensorFlow and JAX and compiles with XLA.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

# Square root of the colour correlation matrix of ImageNet pixels, as published with Lucid
# (lucid/optvis/param/color.py, ``color_correlation_svd_sqrt``): column j is the RGB direction of
# decorrelated component j, scaled by the square root of its variance.
COLOR_CORRELATION_SVD_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]],
    dtype=np.float64,
)
#: The decorrelated -> RGB map actually used: normalised so that its largest column norm is 1.
COLOR_DECORRELATION = COLOR_CORRELATION_SVD_SQRT / np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0).max()


#: Largest image side inverted by dense DFT matrices (exact, plain matmuls, and on a CPU faster than an FFT up to
#: here); above it the cost grows as side^3 (30 images fwd+bwd: 18 GFLOP a step at 224 px, 43 at 299) and the
#: inverse runs as FFTs (``keras.ops.fft`` / ``irfft``): the same transform up to float rounding.
DFT_MATMUL_MAX_SIZE = 128


def _irfft2_ortho(re: Any, im: Any, size: int) -> Any:
    """``numpy.fft.irfft2(re + i*im, s=(size, size), norm="ortho")`` over the last two axes, with FFTs:
    the inverse transform along the height is a forward FFT of the conjugate (conjugated back), the width a
    real inverse FFT (which divides by ``size``; the orthonormal scale is ``1/size`` overall)."""
    from keras import ops

    axes = (0, 1, 3, 2)
    a, b = ops.fft((ops.transpose(re, axes), -ops.transpose(im, axes)))  # along the height, now the last axis
    zr, zi = ops.transpose(a, axes), -ops.transpose(b, axes)  # unnormalised inverse DFT along the height
    return ops.irfft((zr, zi), fft_length=size)


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """Frequency magnitude (cycles per pixel) of every coefficient of an ``h x w`` real 2-D spectrum,
    shape ``(h, w // 2 + 1)``."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fy * fy + fx * fx)


def spectrum_scale(h: int, w: int, decay_power: float = 1.0) -> np.ndarray:
    """The 1/f scaling of the coefficients; the DC term gets the scale of the lowest non-zero frequency."""
    return 1.0 / np.maximum(rfft2d_freqs(h, w), 1.0 / max(h, w)) ** decay_power


def irfft2_bases(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Real matrices ``(cos_h, sin_h, cos_w, sin_w)`` such that for a spectrum ``X = re + i*im`` of shape
    ``(h, w//2+1)``::

        zr = cos_h @ re - sin_h @ im;  zi = sin_h @ re + cos_h @ im      # inverse DFT along height
        image = zr @ cos_w - zi @ sin_w                                   # inverse real DFT along width

    equals ``numpy.fft.irfft2(X, s=(h, w), norm="ortho")``. Columns 0 (and w/2 for even w) count once, the
    others twice (their conjugate twins are implicit); their imaginary parts drop out as in numpy.
    """
    ky = np.arange(h)
    ang_h = 2.0 * np.pi * np.outer(ky, ky) / h  # [y, ky]
    wf = w // 2 + 1
    kx = np.arange(wf)
    ang_w = 2.0 * np.pi * np.outer(kx, np.arange(w)) / w  # [kx, x]
    weight = np.full(wf, 2.0)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    norm = 1.0 / np.sqrt(h * w)
    cos_w = weight[:, None] * np.cos(ang_w) * norm
    sin_w = weight[:, None] * np.sin(ang_w) * norm
    return np.cos(ang_h), np.sin(ang_h), cos_w, sin_w


@dataclass(frozen=True)
class FourierImage:
    """A batch of ``size x size`` RGB images parameterised in decorrelated Fourier space.

    Parameters have shape ``(n, 2, 3, size, size // 2 + 1)``: real and imaginary part of the spectrum of each
    decorrelated colour channel. ``amplitude`` scales the spatial result before colour mapping and sigmoid
    (Lucid divides by 4): it keeps the start image a faint grey noise and sets how fast colours saturate.
    """

    size: int = 128
    decay_power: float = 1.0
    init_std: float = 0.01
    amplitude: float = 0.25
    decorrelate: bool = True
    max_rms: float | None = None

    @property
    def param_shape(self) -> tuple[int, int, int, int]:
        return (2, 3, self.size, self.size // 2 + 1)

    def init(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """Small Gaussian spectrum coefficients (a near-grey start image)."""
        return (self.init_std * rng.standard_normal((n, *self.param_shape))).astype(np.float32)

    @cached_property
    def constants(self) -> dict[str, np.ndarray]:
        """float32 constants of the map: spectrum scale, the four DFT bases (sizes up to
        ``DFT_MATMUL_MAX_SIZE``) and the colour matrix (RGB <- d)."""
        if self.size <= DFT_MATMUL_MAX_SIZE:
            ch, sh, cw, sw = irfft2_bases(self.size, self.size)
        else:
            ch = sh = cw = sw = np.zeros((0, 0))
        color = COLOR_DECORRELATION if self.decorrelate else np.eye(3)
        consts = {
            "scale": spectrum_scale(self.size, self.size, self.decay_power) * self.amplitude,
            "cos_h": ch,
            "sin_h": sh,
            "cos_w": cw,
            "sin_w": sw,
            "color_t": color.T,
        }
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in consts.items()}

    def to_rgb(self, params: Any) -> Any:
        """Parameters -> images ``(n, size, size, 3)`` in [0, 1] (a backend tensor, differentiable)."""
        from keras import ops

        c = self.constants
        spec = params * c["scale"]  # broadcasts over (n, 2, 3)
        # unstack, not two strided slices: same values, but the gradient is one cheap stack where two slices
        # cost two StridedSliceGrad ops (zero-fill + scatter each), measured at ~12% of a CPU step at 128 px
        re, im = ops.unstack(spec, 2, axis=1)  # (n, 3, h, wf) each
        if self.size <= DFT_MATMUL_MAX_SIZE:
            zr = ops.matmul(c["cos_h"], re) - ops.matmul(c["sin_h"], im)
            zi = ops.matmul(c["sin_h"], re) + ops.matmul(c["cos_h"], im)
            spatial = ops.matmul(zr, c["cos_w"]) - ops.matmul(zi, c["sin_w"])  # (n, 3, h, w)
        else:
            spatial = _irfft2_ortho(re, im, self.size)
        spatial = ops.transpose(spatial, (0, 2, 3, 1))
        logits = ops.matmul(spatial, c["color_t"])
        if self.max_rms:
            rms = ops.sqrt(ops.mean(logits * logits, axis=(1, 2, 3), keepdims=True) + 1e-12)
            logits = logits * ops.minimum(1.0, self.max_rms / rms)
        return ops.sigmoid(logits)

    def to_rgb_numpy(self, params: np.ndarray) -> np.ndarray:
        """Reference implementation with ``numpy.fft`` (float64), for tests and tooling."""
        p = np.asarray(params, dtype=np.float64)
        spec = (p[:, 0] + 1j * p[:, 1]) * spectrum_scale(self.size, self.size, self.decay_power) * self.amplitude
        spatial = np.fft.irfft2(spec, s=(self.size, self.size), norm="ortho")  # (n, 3, h, w)
        color = COLOR_DECORRELATION if self.decorrelate else np.eye(3)
        rgb = np.transpose(spatial, (0, 2, 3, 1)) @ color.T
        if self.max_rms:
            rms = np.sqrt(np.mean(rgb * rgb, axis=(1, 2, 3), keepdims=True) + 1e-12)
            rgb = rgb * np.minimum(1.0, self.max_rms / rms)
        return 1.0 / (1.0 + np.exp(-rgb))


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 (round half to even, like numpy; deterministic)."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
