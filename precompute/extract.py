"""Embedding extraction: every selected layer x every requested pooling from ONE forward pass per batch.

The original playground called ``predict`` once per image per layer. Here a single multi-output Keras model
(:class:`Extractor`) returns every ``(layer, pooling)`` pair at once, with the pooling done inside the graph
(``keras.ops``, so TensorFlow and JAX alike) so only small vectors leave the accelerator.

Poolings (:data:`POOLINGS`) of a layer's activation map ``x`` of shape ``(h, w, c)``:

* ``avg``: global average over height and width -> ``c`` dims.
* ``max``: global max over height and width -> ``c`` dims.
* ``gem``: generalised mean, ``(mean_hw(max(x, eps) ** p)) ** (1 / p)`` per channel -> ``c`` dims; ``p = 3``
  by default (``gem:P`` for another p, 1 <= P <= 100). p = 1 is the average (of the clamped map), p -> inf
  the max. The map is clamped at :data:`GEM_EPS` first because activations can be negative (swish, GELU,
  leaky ReLU, a conv or BatchNorm output with no activation): a negative value has no real non-integer
  power, and with an odd integer p negative responses would cancel positive ones (the root of a negative
  mean is undefined). Clamping counts a negative response as absent, as ReLU would. Computed as
  ``m * (mean((x / m) ** p)) ** (1 / p)`` with ``m`` the channel's (clamped) max, which is the same value but
  never overflows float32 for large activations or large p.
* ``grid2``: a 2 x 2 grid of averages -> ``4 c`` dims. The bins along an axis of length ``n`` are adaptive
  pooling's (PyTorch ``AdaptiveAvgPool2d``): cell ``i`` covers ``[floor(i n / 2), ceil((i + 1) n / 2))``, so
  for odd ``n`` the middle row/column belongs to both cells (``n = 7``: rows 0-3 and 3-6; ``n = 1``: both
  cells are the whole axis). Output order: cells row-major (top-left, top-right, bottom-left, bottom-right),
  channels fastest within a cell, i.e. feature ``(2 * row + col) * c + channel`` (NumPy/Keras order of a
  ``(2, 2, c)`` map flattened, the same order ``flatten`` uses).
* ``flatten``: the whole map, ``h * w * c`` dims, in row-major ``(h, w, c)`` order. Large: check
  :func:`check_memory` before extracting.

A layer whose output is already a vector (``(c,)``) is passed through unchanged by every pooling.

Batches have a fixed shape (``batch_size``; the last one is padded by repeating its final image), so the
compiled function never retraces and results do not depend on how many images came with an image: an image
gives bit-identical embeddings alone (padded) or among others, provided the batch size is the same. It is
NOT the same across batch sizes (measured on MobileNet(alpha=0.75), TF CPU: batch 1 vs 4 differ by ~2e-6 at
``conv_pw_13``, where oneDNN's 1x1 convolution picks a different weight blocking for one image; JAX CPU:
batches of 1-3 differ from 4 and more). Hence :func:`embed_images` (the live server's path) must use the
batch size the precompute used.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import log
from .images import load_rgb
from .resize import resize_bilinear

#: Lower clamp of the activation map before GeM's power (see module docstring).
GEM_EPS = 1e-6
#: GeM's default exponent (Radenović et al., "Fine-tuning CNN image retrieval with no human annotation").
GEM_DEFAULT_P = 3.0
GEM_P_RANGE = (1.0, 100.0)
BYTES_PER_VALUE = 4  # embeddings are float32

OutputKey = tuple[str, str]  # (layer name, pooling name)
Writer = Callable[[int, dict[OutputKey, np.ndarray]], None]


# --------------------------------------------------------------------------------------------- poolings
@dataclass(frozen=True)
class PoolingKind:
    """One entry of the pooling registry."""

    name: str
    title: str
    description: str  # one line for the site (tiles, About page): what the pooling keeps and what it loses
    dim_factor: Callable[[int, int], int]  # (h, w) -> how many values per channel


POOLINGS: dict[str, PoolingKind] = {
    k.name: k
    for k in (
        PoolingKind(
            "avg",
            "Global average",
            "Mean of each channel over the whole image: keeps how strongly each feature is present overall, "
            "loses where it is.",
            lambda h, w: 1,
        ),
        PoolingKind(
            "max",
            "Global max",
            "Strongest response of each channel anywhere: keeps whether a feature occurs at all, loses how "
            "often and where.",
            lambda h, w: 1,
        ),
        PoolingKind(
            "gem",
            "Generalised mean (GeM)",
            "Between average and max (p = 3 by default): keeps the strong responses of each channel with "
            "their extent, loses where they are.",
            lambda h, w: 1,
        ),
        PoolingKind(
            "grid2",
            "2x2 grid",
            "Average of each quarter of the image (4x the dimensions): keeps the coarse layout (top/bottom, "
            "left/right), loses finer position.",
            lambda h, w: 4,
        ),
        PoolingKind(
            "flatten",
            "Whole map",
            "Every position of every channel: keeps the exact layout, but is large and changes when the object moves.",
            lambda h, w: h * w,
        ),
    )
}


@dataclass(frozen=True)
class Pooling:
    """A pooling kind with its parameters; ``name`` is the canonical string used in keys and caches."""

    kind: str
    p: float | None = None  # GeM's exponent (default 3); None for the other kinds

    def __post_init__(self) -> None:
        if self.kind not in POOLINGS:
            raise ValueError(f"unknown pooling '{self.kind}'; choose from {', '.join(POOLINGS)}")
        if self.kind == "gem" and self.p is None:
            object.__setattr__(self, "p", GEM_DEFAULT_P)
        elif self.kind != "gem" and self.p is not None:
            raise ValueError(f"pooling '{self.kind}' takes no parameter")

    @property
    def name(self) -> str:
        if self.kind == "gem" and self.p != GEM_DEFAULT_P:
            return f"gem:{self.p:g}"
        return self.kind

    @property
    def description(self) -> str:
        text = POOLINGS[self.kind].description
        if self.kind == "gem" and self.p != GEM_DEFAULT_P:
            text = text.replace("p = 3 by default", f"p = {self.p:g}")
        return text


def parse_pooling(spec: str | Pooling) -> Pooling:
    """``avg``, ``max``, ``gem`` (p = 3), ``gem:P``, ``grid2`` or ``flatten`` -> :class:`Pooling`.

    Raises ``ValueError`` naming the choices for anything else."""
    if isinstance(spec, Pooling):
        return spec
    text = str(spec).strip().lower()
    kind, sep, arg = text.partition(":")
    if kind not in POOLINGS:
        raise ValueError(f"unknown pooling '{spec}'; choose from {', '.join(POOLINGS)} (or gem:P, e.g. gem:4)")
    if kind != "gem":
        if sep:
            raise ValueError(f"pooling '{kind}' takes no parameter (got '{spec}')")
        return Pooling(kind)
    if not sep:
        return Pooling("gem", GEM_DEFAULT_P)
    try:
        p = float(arg)
    except ValueError:
        raise ValueError(f"GeM exponent must be a number, got '{spec}' (e.g. gem:4)") from None
    lo, hi = GEM_P_RANGE
    if not (lo <= p <= hi):
        raise ValueError(f"GeM exponent must be between {lo:g} and {hi:g}, got {p:g}")
    return Pooling("gem", p)


def grid_bins(n: int, cells: int = 2) -> list[tuple[int, int]]:
    """Adaptive-pooling bins ``[start, end)`` splitting an axis of length ``n`` into ``cells`` cells."""
    return [((i * n) // cells, -((-(i + 1) * n) // cells)) for i in range(cells)]


def _grid_window(n: int) -> tuple[int, int]:
    """(window, stride) of a valid pooling whose two windows over an axis of ``n`` are :func:`grid_bins`."""
    (a0, a1), (b0, _) = grid_bins(n)
    return a1 - a0, b0 - a0


def _map_shape(shape: Sequence[int | None]) -> tuple[int | None, ...]:
    """Per-image shape ``(h, w, c)`` or ``(c,)`` from a layer's output shape with or without the batch axis."""
    dims = tuple(shape)
    if len(dims) in (2, 4):  # leading batch axis
        dims = dims[1:]
    if len(dims) not in (1, 3):
        raise ValueError(f"expected an activation map (h, w, c) or a vector (c,), got shape {tuple(shape)}")
    return dims


def output_dim(pooling: str | Pooling, shape: Sequence[int | None]) -> int:
    """How many values ``pooling`` gives per image for a layer output of ``shape`` (``(h, w, c)``, ``(c,)``,
    or either with a leading batch axis)."""
    pool = parse_pooling(pooling)
    dims = _map_shape(shape)
    if dims[-1] is None:
        raise ValueError(f"the channel count of shape {tuple(shape)} is unknown")
    c = int(dims[-1])
    if len(dims) == 1:
        return c
    h, w = dims[0], dims[1]
    if pool.kind == "flatten" and (h is None or w is None):
        raise ValueError(f"flatten needs a fixed spatial size, got shape {tuple(shape)}")
    return POOLINGS[pool.kind].dim_factor(h or 0, w or 0) * c


def _int_power(x: Any, p: float) -> Any:
    """``x ** p``; for a small integer ``p`` (the default 3) by multiplications, several times cheaper than a
    general power (exp/log) over a whole activation map."""
    from keras import ops

    if p != int(p) or not 1 <= p <= 8:
        return ops.power(x, p)
    result, base, k = None, x, int(p)
    while k:
        if k & 1:
            result = base if result is None else ops.multiply(result, base)
        k >>= 1
        if k:
            base = ops.multiply(base, base)
    return result


def pool_tensor(x: Any, pooling: str | Pooling) -> Any:
    """Pool a ``(batch, h, w, c)`` tensor to ``(batch, features)`` inside the graph (see module docstring)."""
    from keras import ops

    pool = parse_pooling(pooling)
    if len(x.shape) == 2:
        return x
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if pool.kind == "avg":
        return ops.mean(x, axis=(1, 2))
    if pool.kind == "max":
        return ops.max(x, axis=(1, 2))
    if pool.kind == "gem":
        xc = ops.maximum(x, GEM_EPS)
        m = ops.max(xc, axis=(1, 2), keepdims=True)
        mean = ops.mean(_int_power(ops.divide(xc, m), pool.p), axis=(1, 2))
        return ops.multiply(ops.power(mean, 1.0 / pool.p), ops.squeeze(m, axis=(1, 2)))
    if pool.kind == "grid2":
        if h is None or w is None:
            raise ValueError("grid2 needs a fixed spatial size")
        # one average-pooling op whose two valid windows per axis are exactly the adaptive bins: window
        # ceil(n/2), stride floor(n/2) (one pass over the map; slicing out four cells costs a copy of it)
        (ph, sh), (pw, sw) = _grid_window(h), _grid_window(w)
        cells = ops.average_pool(x, pool_size=(ph, pw), strides=(max(sh, 1), max(sw, 1)), padding="valid")
        if h == 1:  # both rows are the whole (single) row
            cells = ops.repeat(cells, 2, axis=1)
        if w == 1:
            cells = ops.repeat(cells, 2, axis=2)
        return ops.reshape(cells, (-1, 4 * c))  # row-major cells, channels fastest
    if pool.kind == "flatten":
        if h is None or w is None:
            raise ValueError("flatten needs a fixed spatial size")
        return ops.reshape(x, (-1, h * w * c))
    raise AssertionError(pool.kind)


# --------------------------------------------------------------------------------------------- memory
@dataclass(frozen=True)
class OutputSpec:
    """One output of an :class:`Extractor`."""

    layer: str
    pooling: str  # canonical pooling name
    map_shape: tuple[int | None, ...]  # the layer's per-image output shape
    dim: int

    @property
    def key(self) -> OutputKey:
        return (self.layer, self.pooling)


class EmbeddingsTooLarge(ValueError):
    """The requested embeddings would not fit the memory budget."""


def plan_outputs(
    model: Any, layer_names: Sequence[str], poolings: Sequence[str | Pooling] = ("avg",)
) -> list[OutputSpec]:
    """Every ``(layer, pooling)`` output with its dimension, layer-major, duplicates removed; no graph is built."""
    if isinstance(poolings, (str, Pooling)):
        poolings = [poolings]
    pools = list({p.name: p for p in map(parse_pooling, poolings)}.values())
    if not pools:
        raise ValueError("no pooling requested")
    specs = []
    for name in dict.fromkeys(layer_names):
        shape = _map_shape(model.get_layer(name).output.shape)
        specs.extend(OutputSpec(name, p.name, shape, output_dim(p, shape)) for p in pools)
    return specs


def embedding_bytes(n_images: int, outputs: Sequence[OutputSpec]) -> int:
    """Bytes of float32 embeddings for ``n_images`` images at every output."""
    return n_images * sum(o.dim for o in outputs) * BYTES_PER_VALUE


def memory_budget() -> int:
    """Default budget for embeddings held in memory: half the machine's physical memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def check_memory(n_images: int, outputs: Sequence[OutputSpec], budget: int | None = None) -> int:
    """Raise :class:`EmbeddingsTooLarge` with a clear message when the embeddings of ``n_images`` images at
    ``outputs`` exceed ``budget`` bytes (default :func:`memory_budget`); return the bytes needed."""
    need = embedding_bytes(n_images, outputs)
    limit = memory_budget() if budget is None else budget
    if need <= limit:
        return need
    worst = max(outputs, key=lambda o: o.dim)
    shape = "x".join(str(d) for d in worst.map_shape)
    raise EmbeddingsTooLarge(
        f"embeddings of {n_images:,} images need {_gb(need)} (limit {_gb(limit)}); the largest is "
        f"'{worst.pooling}' of layer '{worst.layer}' ({shape} -> {worst.dim:,} values per image, "
        f"{_gb(embedding_bytes(n_images, [worst]))}): choose a smaller pooling (avg, max, gem or grid2) for "
        "large maps, fewer layers, or fewer images"
    )


# --------------------------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Extractor:
    """A multi-output Keras model: ``model`` returns one ``(batch, dim)`` output per entry of ``outputs``,
    in that order, all from one forward pass."""

    model: Any
    outputs: tuple[OutputSpec, ...]

    @property
    def keys(self) -> tuple[OutputKey, ...]:
        return tuple(o.key for o in self.outputs)

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        """One forward pass: one float32 array per output."""
        outs = self.model.predict_on_batch(batch)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return [np.asarray(o, dtype=np.float32) for o in outs]


def build_extractor(model: Any, layer_names: Sequence[str], poolings: Sequence[str | Pooling] = ("avg",)) -> Extractor:
    """One model whose outputs are every selected layer's activation map under every requested pooling."""
    import keras

    specs = plan_outputs(model, layer_names, poolings)
    tensors = [pool_tensor(model.get_layer(o.layer).output, o.pooling) for o in specs]
    return Extractor(keras.Model(model.inputs, tensors, name=f"{model.name}_extractor"), tuple(specs))


def truncated_model(model: Any, layer_name: str) -> Any:
    """A plain model up to one layer's output (the deepest-layer limit used by the benchmark)."""
    import keras

    return keras.Model(model.inputs, model.get_layer(layer_name).output)


# --------------------------------------------------------------------------------------------- batches
def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """A decoded uint8 ``H x W x 3`` image resized to ``size x size`` exactly as :func:`images.load_rgb` does
    after decoding (:func:`precompute.resize.resize_bilinear`, aspect not kept; a copy when already that size)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 image, got {arr.dtype} {arr.shape}")
    return resize_bilinear(arr, size)


def _padded_batches(
    items: Sequence[Any],
    load: Callable[[Any], np.ndarray],
    batch_size: int,
    preprocess: Callable[[np.ndarray], np.ndarray],
) -> Iterator[tuple[np.ndarray, int]]:
    """(batch, n_valid) of ``batch_size`` preprocessed float32 images, the last batch padded by repeating its
    final image; the next batch is decoded in a background thread while the model works on the current one."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")

    def prepare(chunk: Sequence[Any]) -> tuple[np.ndarray, int]:
        arr = np.stack([load(item) for item in chunk]).astype(np.float32)
        n = len(arr)
        if n < batch_size:
            arr = np.concatenate([arr, np.repeat(arr[-1:], batch_size - n, axis=0)])
        return preprocess(arr), n

    chunks = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    if not chunks:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(prepare, chunks[0])
        for nxt in chunks[1:]:
            current = future.result()
            future = pool.submit(prepare, nxt)
            yield current
        yield future.result()


def iter_batches(
    paths: Sequence[Any], size: int, batch_size: int, preprocess: Callable[[np.ndarray], np.ndarray]
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (batch, n_valid) for image files: decoded and resized by :func:`images.load_rgb`, always
    ``batch_size`` long (padded) so the compiled function never retraces; decoding runs one batch ahead."""
    return _padded_batches(paths, lambda p: load_rgb(p, size), batch_size, preprocess)


def iter_image_batches(
    images: Sequence[np.ndarray], size: int, batch_size: int, preprocess: Callable[[np.ndarray], np.ndarray]
) -> Iterator[tuple[np.ndarray, int]]:
    """:func:`iter_batches` for already-decoded uint8 ``H x W x 3`` images (resized by :func:`resize_rgb`)."""
    return _padded_batches(images, lambda a: resize_rgb(a, size), batch_size, preprocess)


# --------------------------------------------------------------------------------------------- running
class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def stream(
    extractor: Extractor,
    batches: Iterator[tuple[np.ndarray, int]],
    writer: Writer,
    *,
    total: int,
    desc: str | None = "embedding",
) -> int:
    """Run ``extractor`` over ``batches``, handing each batch's valid rows to ``writer(first_row,
    {key: (n_valid, dim) float32})`` as soon as it is computed (nothing is accumulated here); returns the
    number of rows written. The progress bar is named ``desc`` (none when ``desc`` is None)."""
    row = 0
    bar = log.bar(desc=desc, total=total, unit="img") if desc is not None else _NoBar()
    try:
        for batch, n_valid in batches:
            outs = extractor.predict(batch)
            writer(row, {key: out[:n_valid] for key, out in zip(extractor.keys, outs, strict=True)})
            row += n_valid
            bar.update(n_valid)
    finally:
        bar.close()
    return row


def allocate(extractor: Extractor, n: int) -> tuple[dict[OutputKey, np.ndarray], Writer]:
    """Preallocated ``(n, dim)`` float32 arrays for every output, and a writer that fills them."""
    arrays = {o.key: np.empty((n, o.dim), dtype=np.float32) for o in extractor.outputs}

    def write(first: int, batch: Mapping[OutputKey, np.ndarray]) -> None:
        for key, values in batch.items():
            arrays[key][first : first + len(values)] = values

    return arrays, write


def run_extractor(
    model: Any, batches: Iterator[tuple[np.ndarray, int]], n_outputs: int, *, total: int, desc: str
) -> list[np.ndarray]:
    """Run any multi-output Keras ``model`` over ``total`` images in ``batches``; one float32 ``(total, D)``
    array per output, preallocated from the first batch (no list of parts, no concatenation)."""
    parts: list[np.ndarray] | None = None
    row = 0
    bar = log.bar(desc=desc, total=total, unit="img")
    try:
        for batch, n_valid in batches:
            outs = model.predict_on_batch(batch)
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            if len(outs) != n_outputs:
                raise ValueError(f"model returned {len(outs)} outputs, expected {n_outputs}")
            if parts is None:
                parts = [np.empty((total, *np.shape(o)[1:]), dtype=np.float32) for o in outs]
            for i, out in enumerate(outs):
                parts[i][row : row + n_valid] = np.asarray(out, dtype=np.float32)[:n_valid]
            row += n_valid
            bar.update(n_valid)
    finally:
        bar.close()
    if parts is None:
        return [np.zeros((0, 0), np.float32) for _ in range(n_outputs)]
    return [p[:row] for p in parts]


def stream_paths(
    extractor: Extractor,
    paths: Sequence[Any],
    writer: Writer,
    *,
    size: int,
    preprocess: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 32,
    desc: str = "embedding",
) -> int:
    """Embed image files batch by batch into ``writer`` (e.g. to stream each batch to disk)."""
    batches = iter_batches(paths, size, batch_size, preprocess)
    return stream(extractor, batches, writer, total=len(paths), desc=desc)


def embed_paths(
    model: Any,
    layer_names: Sequence[str],
    paths: Sequence[Any],
    *,
    size: int,
    preprocess: Callable[[np.ndarray], np.ndarray],
    poolings: Sequence[str | Pooling] = ("avg",),
    batch_size: int = 32,
    desc: str = "embedding",
) -> dict[OutputKey, np.ndarray]:
    """Embeddings of ``paths`` at every layer x pooling, ``{(layer, pooling name): (N, D) float32}``, from one
    forward pass per batch. Batches are always ``batch_size`` images (see the module docstring on why)."""
    extractor = build_extractor(model, layer_names, poolings)
    arrays, write = allocate(extractor, len(paths))
    stream_paths(extractor, paths, write, size=size, preprocess=preprocess, batch_size=batch_size, desc=desc)
    return arrays


def embed_images(
    extractor: Extractor,
    images: Sequence[np.ndarray],
    *,
    size: int,
    preprocess: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 32,
) -> dict[OutputKey, np.ndarray]:
    """Embeddings of already-decoded uint8 ``H x W x 3`` images through the same resize, preprocessing,
    pooling and padded batches as :func:`embed_paths`: bit-identical to it for the same pixels and the same
    ``batch_size``. To match a precomputed file exactly, decode uploads as the precompute does:
    ``np.asarray(images.decode(data))``."""
    arrays, write = allocate(extractor, len(images))
    batches = iter_image_batches(images, size, batch_size, preprocess)
    stream(extractor, batches, write, total=len(images), desc=None)
    return arrays
