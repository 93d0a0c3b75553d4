"""Embedding extraction: every selected layer of a model from ONE forward pass per batch.

The original playground called ``predict`` once per image per layer. Here a single multi-output Keras model
returns all selected layers at once, with the spatial pooling done inside the graph so only small vectors
leave the accelerator. Embedding of an image at a layer = global average pooling (``avg``, the default) of
the layer's activation map over height and width; ``max`` (global max pooling) and ``flatten`` (the whole
map, large) are selectable.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import log
from .images import load_rgb


def pool_tensor(x: Any, pooling: str) -> Any:
    """Pool a (batch, h, w, c) tensor to (batch, features) inside the graph."""
    from keras import layers, ops

    if len(x.shape) == 2:
        return x
    if pooling == "avg":
        return ops.mean(x, axis=(1, 2))
    if pooling == "max":
        return ops.max(x, axis=(1, 2))
    if pooling == "flatten":
        return layers.Flatten()(x)
    raise ValueError(f"unknown pooling '{pooling}'")


def build_extractor(model: Any, layer_names: Sequence[str], pooling: str = "avg") -> Any:
    """A model with one pooled output per named layer (the layer's output tensor), sharing one forward pass."""
    import keras

    outputs = [pool_tensor(model.get_layer(name).output, pooling) for name in layer_names]
    return keras.Model(model.inputs, outputs, name=f"{model.name}_extractor")


def truncated_model(model: Any, layer_name: str) -> Any:
    """A plain model up to one layer's output (the deepest-layer limit used by the benchmark)."""
    import keras

    return keras.Model(model.inputs, model.get_layer(layer_name).output)


def iter_batches(
    paths: Sequence[Any], size: int, batch_size: int, preprocess: Callable[[np.ndarray], np.ndarray]
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (batch, n_valid): preprocessed float32 batches, always ``batch_size`` long (the last one padded
    by repeating its final image) so the compiled function never retraces. Decoding of the next batch runs
    in a background thread while the model works on the current one."""

    def load(chunk: Sequence[Any]) -> tuple[np.ndarray, int]:
        arr = np.stack([load_rgb(p, size) for p in chunk]).astype(np.float32)
        n = len(arr)
        if n < batch_size:
            arr = np.concatenate([arr, np.repeat(arr[-1:], batch_size - n, axis=0)])
        return preprocess(arr), n

    chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    if not chunks:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(load, chunks[0])
        for nxt in chunks[1:]:
            current = future.result()
            future = pool.submit(load, nxt)
            yield current
        yield future.result()


def run_extractor(
    extractor: Any, batches: Iterator[tuple[np.ndarray, int]], n_outputs: int, *, total: int, desc: str
) -> list[np.ndarray]:
    """Run the multi-output model over batches; returns one float32 (N, D) array per output."""
    parts: list[list[np.ndarray]] = [[] for _ in range(n_outputs)]
    bar = log.bar(desc=desc, total=total, unit="img")
    try:
        for batch, n_valid in batches:
            outs = extractor.predict_on_batch(batch)
            if n_outputs == 1 and not isinstance(outs, (list, tuple)):
                outs = [outs]
            for i, out in enumerate(outs):
                parts[i].append(np.asarray(out, dtype=np.float32)[:n_valid])
            bar.update(n_valid)
    finally:
        bar.close()
    return [np.concatenate(p) if p else np.zeros((0, 0), np.float32) for p in parts]


def embed_paths(
    model: Any,
    layer_names: Sequence[str],
    paths: Sequence[Any],
    *,
    size: int,
    preprocess: Callable[[np.ndarray], np.ndarray],
    pooling: str = "avg",
    batch_size: int = 32,
    desc: str = "embedding",
) -> dict[str, np.ndarray]:
    """Embeddings of ``paths`` at every layer in ``layer_names`` ({name: (N, D) float32}), one pass."""
    names = list(dict.fromkeys(layer_names))
    extractor = build_extractor(model, names, pooling)
    bs = max(1, min(batch_size, len(paths)))
    arrays = run_extractor(
        extractor, iter_batches(paths, size, bs, preprocess), len(names), total=len(paths), desc=desc
    )
    return dict(zip(names, arrays, strict=True))
