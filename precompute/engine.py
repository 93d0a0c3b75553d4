"""Where the heavy work runs: in this process (``local``), or on a Ray cluster (``ray``, ``ray_engine.py``).

An engine does the two things that grow with the data: embedding extraction (a forward pass over every image)
and ranking (every image against every other). Everything else (UMAP, scores, the probe, the site files) runs in
the driver process either way, so both engines write byte-identical outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .config import BuildConfig
from .inputs import ModelEntry

#: Receives ``(first row, {(tensor name, pooling): rows})`` for each batch, in any order.
Writer = Callable[[int, dict[tuple[str, str], np.ndarray]], None]


@dataclass(frozen=True)
class EmbedJob:
    """Embed ``paths`` with ``entry`` at the (tensor, pooling) ``outputs``, all from one forward pass per batch."""

    entry: ModelEntry
    paths: Sequence[Path]
    outputs: list[tuple[str, str]]
    size: int
    batch_size: int
    gem_p: float
    desc: str


class Engine(Protocol):
    name: str
    #: Ray: node id -> images it embedded in this build (``summary.json``'s ``run.ray_nodes``); empty locally.
    nodes: dict[str, int]

    def embed(self, job: EmbedJob, write: Writer) -> None: ...

    def rank(self, emb: np.ndarray, metrics: Sequence[str], cfg: BuildConfig) -> dict[str, Any]: ...

    def close(self) -> None: ...


def extractor_for(model: Any, outputs: Sequence[tuple[str, str]], gem_p: float) -> tuple[Any, dict]:
    """One multi-output model for every (tensor, pooling) of ``outputs``, and the map from its output keys back
    to ours (the extractor names gem with its p when p is not 3)."""
    from .extract import build_extractor, parse_pooling

    specs = {p: (f"gem:{gem_p:g}" if p == "gem" else p) for _, p in outputs}
    tensors = list(dict.fromkeys(t for t, _ in outputs))
    extractor = build_extractor(model, tensors, list(dict.fromkeys(specs.values())))
    back = {(t, parse_pooling(specs[p]).name): (t, p) for t, p in outputs}
    return extractor, back


def run_embed(
    job: EmbedJob,
    model: Any,
    write: Writer,
    *,
    paths: Sequence[Path] | None = None,
    first: int = 0,
    progress: bool = True,
) -> None:
    """The extraction itself (both engines run it): batches of ``paths`` through one multi-output model, each
    batch handed to ``write`` as soon as it is computed."""
    from .extract import stream_paths

    extractor, back = extractor_for(model, job.outputs, job.gem_p)
    stream_paths(
        extractor,
        list(job.paths if paths is None else paths),
        lambda row, outs: write(first + row, {back[k]: v for k, v in outs.items() if k in back}),
        size=job.size,
        preprocess=job.entry.spec.preprocess,
        batch_size=job.batch_size,
        desc=job.desc if progress else None,
    )


class LocalEngine:
    """Everything in this process: TensorFlow/JAX use the machine's cores, FAISS its BLAS threads."""

    name = "local"

    @property
    def nodes(self) -> dict[str, int]:
        return {}  # one process: nothing is placed anywhere else

    def embed(self, job: EmbedJob, write: Writer) -> None:
        run_embed(job, job.entry.model(), write)

    def rank(self, emb: np.ndarray, metrics: Sequence[str], cfg: BuildConfig) -> dict[str, Any]:
        from .approximate import rank_all

        return rank_all(emb, list(metrics), k=cfg.top_k, p=cfg.minkowski_p, seed=cfg.seed, index=cfg.index)

    def close(self) -> None:
        pass
