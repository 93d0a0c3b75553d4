"""Transformation robustness: every optimisation step sees a randomly padded, jittered, scaled and rotated copy.

An image that excites a channel only at one exact pixel alignment is an adversarial pattern, not a feature.
Lucid's standard recipe, used here with its ranges, is: pad by 12 px (grey), jitter by up to 8 px, scale by
one of 0.90 ... 1.10, rotate by one of -10 ... 10 degrees (0 weighted more), jitter again by up to 4 px.

The four geometric steps are composed into *one* affine map per image and applied with a single bilinear
resampling (``keras.ops.image.affine_transform``), so the image is interpolated once, not four times, and
the canvas keeps a fixed size (``size + 2 * pad``) so the jitted step never retraces. Each image of a batch
gets its own transform. The random draws are made with numpy outside the compiled step, from generators
seeded per channel, so they are identical on every backend and independent of which other channels share
the batch.

Backends: under JAX the resampling is ``jax.scipy.ndimage.map_coordinates``; under TensorFlow it is the
``ImageProjectiveTransformV3`` op, which has no XLA kernel, so the TensorFlow step runs as a ``tf.function``
without ``jit_compile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LUCID_SCALES = tuple(round(1.0 + (i - 5) / 50.0, 4) for i in range(11))
LUCID_ANGLES = tuple(float(a) for a in range(-10, 11)) + (0.0,) * 5


def translation(dx: float, dy: float) -> np.ndarray:
    """3x3 homogeneous matrix moving content by (dx, dy) pixels (x = column, y = row)."""
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def scaling(s: float, center: float) -> np.ndarray:
    """Enlarge content by ``s`` about the point (center, center)."""
    return translation(center, center) @ np.diag([s, s, 1.0]) @ translation(-center, -center)


def rotation(degrees: float, center: float) -> np.ndarray:
    """Rotate content by ``degrees`` about (center, center)."""
    t = np.deg2rad(degrees)
    r = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    return translation(center, center) @ r @ translation(-center, -center)


def to_projective(forward: np.ndarray) -> np.ndarray:
    """The 8 numbers Keras' ``affine_transform`` wants: they map an *output* pixel to the *input* pixel it
    samples, i.e. the inverse of the content's forward map."""
    inv = np.linalg.inv(forward)
    inv = inv / inv[2, 2]
    return inv.reshape(-1)[:8]


def pad(images: Any, n: int, value: float = 0.5) -> Any:
    """Pad a batch ``(b, h, w, c)`` by ``n`` pixels on each side with a constant (grey by default)."""
    from keras import ops

    if n <= 0:
        return images
    return ops.pad(images, ((0, 0), (n, n), (n, n), (0, 0)), constant_values=value)


def affine(images: Any, matrices: Any, fill: float = 0.5) -> Any:
    """Resample each image of the batch with its own projective transform (``(b, 8)``), bilinear."""
    from keras import ops

    return ops.image.affine_transform(images, matrices, interpolation="bilinear", fill_mode="constant", fill_value=fill)


@dataclass(frozen=True)
class Transforms:
    """The random transformations applied at every step (Lucid's standard set by default)."""

    pad: int = 12
    jitter: int = 8
    scales: tuple[float, ...] = LUCID_SCALES
    angles: tuple[float, ...] = LUCID_ANGLES
    jitter_after: int = 4
    fill: float = 0.5

    def canvas(self, size: int) -> int:
        """Side of the transformed image fed to the model."""
        return size + 2 * self.pad

    def sample_forward(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """One random forward content map (3x3): jitter, then scale and rotation about the centre, then jitter.

        A jitter of ``d`` is an integer shift drawn uniformly from ``0 .. d`` minus ``d / 2`` on each axis
        (Lucid crops a random ``(s-d) x (s-d)`` window, which is the same shift range)."""
        center = (self.canvas(size) - 1) / 2.0

        def shift(d: int) -> np.ndarray:
            if d <= 0:
                return np.eye(3)
            dx, dy = rng.integers(0, d + 1, size=2) - d / 2.0
            return translation(float(dx), float(dy))

        first = shift(self.jitter)
        s = float(self.scales[rng.integers(len(self.scales))]) if self.scales else 1.0
        a = float(self.angles[rng.integers(len(self.angles))]) if self.angles else 0.0
        last = shift(self.jitter_after)
        return last @ rotation(a, center) @ scaling(s, center) @ first

    def sample(self, rngs: list[np.random.Generator], size: int) -> np.ndarray:
        """Projective rows ``(len(rngs), 8)`` float32, one image per generator."""
        return np.stack([to_projective(self.sample_forward(r, size)) for r in rngs]).astype(np.float32)

    def sample_steps(self, rngs: list[np.random.Generator], size: int, steps: int) -> np.ndarray:
        """Every step's transforms at once, ``(steps, len(rngs), 8)`` float32: row ``s`` is what the ``s``-th
        call of :meth:`sample` would give (each generator draws its steps in order; generators are
        independent, so drawing channel by channel gives the same numbers as step by step)."""
        out = np.empty((steps, len(rngs), 8), np.float32)
        for c, rng in enumerate(rngs):
            forward = np.stack([self.sample_forward(rng, size) for _ in range(steps)]) if steps else np.zeros((0, 3, 3))
            for s in range(steps):
                out[s, c] = to_projective(forward[s])
        return out

    def apply(self, images: Any, matrices: Any) -> Any:
        """Pad then resample: ``(b, size, size, 3)`` -> ``(b, canvas, canvas, 3)``."""
        return affine(pad(images, self.pad, self.fill), matrices, self.fill)

    def describe(self) -> dict[str, Any]:
        return {
            "pad": self.pad,
            "jitter": self.jitter,
            "scales": list(self.scales),
            "angles": list(self.angles),
            "jitter_after": self.jitter_after,
            "fill": self.fill,
        }
