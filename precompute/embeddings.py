"""Embeddings: every selected layer x pooling of a model, for a dataset, each cached as one ``.npy`` matrix.

Embedding of an image at a layer = the pooling (``extract.POOLINGS``) of the layer's activation map. All missing
(layer, pooling) pairs of a model come from ONE forward pass per batch, and the engine streams each batch into its
cache file as it comes (``cache.Cache.npy_rows``), so memory stays at a batch, not at all of a dataset's embeddings;
a cache entry appears only when it is complete. Keys hold everything an embedding depends on (dataset content,
model, weights, layer and tensor, pooling and its parameter, input size, extraction version).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .cache import Cache, key
from .config import BuildConfig
from .datasets import Dataset
from .inputs import ModelEntry
from .layers import LayerInfo

if TYPE_CHECKING:
    from .engine import Engine

EXTRACT_VERSION = 3  # bump when extraction changes meaning (2: one .npy per layer x pooling; gem and grid2;
# 3: full-resolution JPEG decoding and the resize of precompute.resize, the same in every Pillow and in the browser)


def pooling_id(pooling: str, gem_p: float) -> str:
    """The pooling with its parameter, for cache keys (``gem`` depends on p)."""
    return f"gem:{gem_p:g}" if pooling == "gem" else pooling


def pooled_dim(pooling: str, shape: tuple) -> int:
    """Length of an embedding: channels for avg/max/gem, 4 x channels for grid2, the whole map for flatten."""
    from .extract import output_dim

    return output_dim(pooling, tuple(shape))


@dataclass(frozen=True)
class EmbeddingRef:
    """One cached embedding matrix: (dataset, model, layer, pooling) and its cache key and shape."""

    dataset: str
    model: str
    layer: LayerInfo
    pooling: str
    key: str
    n: int
    dim: int

    @property
    def nbytes(self) -> int:
        return self.n * self.dim * 4


def embedding_key(ds: Dataset, entry: ModelEntry, layer: LayerInfo, pooling: str, cfg: BuildConfig) -> str:
    assert entry.info is not None
    return key(
        kind="emb",
        version=EXTRACT_VERSION,
        dataset=ds.content_hash,
        model=entry.spec.name,
        kwargs=[list(x) for x in entry.spec.kwargs],
        weights=entry.weights_id,
        layer=layer.name,
        tensor=layer.act_name,
        pooling=pooling_id(pooling, cfg.gem_p),
        size=entry.info.input_size,
    )


def refs_for(ds: Dataset, entry: ModelEntry, cfg: BuildConfig) -> list[EmbeddingRef]:
    """Every (layer, pooling) embedding of ``entry`` on ``ds``, layers shallow to deep."""
    return [
        EmbeddingRef(
            dataset=ds.slug,
            model=entry.slug,
            layer=layer,
            pooling=pooling,
            key=embedding_key(ds, entry, layer, pooling, cfg),
            n=len(ds.images),
            dim=pooled_dim(pooling, layer.output_shape),
        )
        for layer in entry.layers
        for pooling in cfg.pooling
    ]


def ensure(ds: Dataset, entry: ModelEntry, cfg: BuildConfig, cache: Cache, engine: Engine) -> list[EmbeddingRef]:
    """All embeddings of ``entry`` on ``ds``: the missing ones extracted in one pass and streamed to the cache."""
    from .engine import EmbedJob

    refs = refs_for(ds, entry, cfg)
    todo = [r for r in refs if not cache.has_npy("emb", r.key)]
    if not todo:
        return refs
    with contextlib.ExitStack() as stack:
        writers = {
            (r.layer.act_name, r.pooling): stack.enter_context(cache.npy_rows("emb", r.key, (r.n, r.dim))) for r in todo
        }

        def write(first: int, outputs: dict[tuple[str, str], np.ndarray]) -> None:
            for k, rows in outputs.items():
                writers[k].write(first, rows)

        job = EmbedJob(
            entry=entry,
            paths=[rec.path for rec in ds.images],
            outputs=list(writers),
            size=entry.info.input_size if entry.info else 0,
            batch_size=cfg.batch_size,
            gem_p=cfg.gem_p,
            desc=f"{ds.name} · {entry.spec.name}",
        )
        engine.embed(job, write)
    return refs


def load(cache: Cache, ref: EmbeddingRef) -> np.ndarray:
    arr = cache.get_npy("emb", ref.key, rows=ref.n)
    if arr is None:
        raise FileNotFoundError(f"embedding {ref.dataset}/{ref.model}/{ref.layer.name}/{ref.pooling} is not cached")
    return arr
