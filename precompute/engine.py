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

    def embed(self, job: EmbedJob, write: Writer) -> None: ...

    def rank(self, emb: np.ndarray, metrics: Sequence[str], cfg: BuildConfig) -> dict[str, Any]: ...

    def close(self) -> None: ...


def run_embed(job: EmbedJob, model: Any, write: Writer, *, paths: Sequence[Path] | None = None, first: int = 0,
              progress: bool = True) -> None:
    """The extraction itself (both engines run it): batches of ``paths`` through one multi-output model."""
    from .extract import embed_paths

    embed_paths(
        model,
        job.outputs,
        list(job.paths if paths is None else paths),
        size=job.size,
        preprocess=job.entry.spec.preprocess,
        gem_p=job.gem_p,
        batch_size=job.batch_size,
        desc=job.desc,
        writer=(lambda row, outs: write(first + row, outs)),
        progress=progress,
    )


class LocalEngine:
    """Everything in this process: TensorFlow/JAX use the machine's cores, FAISS its BLAS threads."""

    name = "local"

    def embed(self, job: EmbedJob, write: Writer) -> None:
        run_embed(job, job.entry.model(), write)

    def rank(self, emb: np.ndarray, metrics: Sequence[str], cfg: BuildConfig) -> dict[str, Any]:
        from .search import rank_all

        return rank_all(emb, list(metrics), k=cfg.top_k, p=cfg.minkowski_p, seed=cfg.seed)

    def close(self) -> None:
        pass


def make_engine(cfg: BuildConfig) -> Engine:
    if cfg.engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine(cfg)
    return LocalEngine()
