"""The Ray engine: extraction and ranking on a Ray cluster (``--engine ray [--ray-address ADDRESS]``).

* Extraction runs through **Ray Data**: the images are a dataset of ``(id, path)`` rows; ``map_batches`` sends
  batches of ``batch_size`` rows to a pool of model actors (``EmbedActor``: one model per actor, loaded once; one GPU
  per actor where the cluster has GPUs). Each actor runs the same extraction code as the local engine on a batch
  padded to ``batch_size`` (so every image is computed with the same kernels), and the driver streams the returned
  rows into the same cache entries. Each batch comes back with the id of the node that embedded it, and
  ``summary.json`` (``run.ray_nodes``) counts the images per node.
* Ranking runs as **Ray tasks**: the embedding matrix goes once into the object store, and each task ranks one block
  of queries against all of it with FAISS (``search.rank_block``); the driver concatenates the blocks and adds the
  similarity calibration and, for approximate Minkowski rankings, the recall measurement.
* UMAP, scores, the probe and the site files stay on the driver (``views``), as in the local engine, so both write
  byte-identical outputs.

Without an address, a local Ray instance is started for the build (its temporary files under ``build/ray``);
``--ray-address auto`` or ``ray://host:10001`` joins an existing cluster (see the README).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from . import log
from .config import BuildConfig
from .engine import EmbedJob, Writer, run_embed

RANK_BLOCK_ROWS = 2048  # queries per ranking task


class EmbedActor:
    """A Ray Data actor: one model, loaded once, embedding batches of ``{"id", "path"}`` rows."""

    def __init__(self, job: EmbedJob):
        self.job = job
        self.model = job.entry.spec.load(job.entry.weights)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = np.asarray(batch["id"], dtype=np.int64)
        outputs: dict[tuple[str, str], np.ndarray] = {}

        def collect(first: int, outs: dict[tuple[str, str], np.ndarray]) -> None:
            for k, rows in outs.items():
                outputs[k] = rows

        run_embed(self.job, self.model, collect, paths=[str(p) for p in batch["path"]], progress=False)
        import ray

        result = {"id": ids, "node": np.full(len(ids), ray.get_runtime_context().get_node_id())}
        for i, k in enumerate(self.job.outputs):
            result[f"o{i}"] = outputs[k]
        return result


def _rank_task(emb: np.ndarray, metric: str, start: int, stop: int, k: int, p: float) -> tuple[int, Any]:
    from .search import rank_block

    return start, rank_block(emb, metric, start, stop, k, p)


class RayEngine:
    name = "ray"

    def __init__(self, cfg: BuildConfig):
        import ray

        self.cfg = cfg
        self.owned = False
        self.nodes: dict[str, int] = {}  # node id -> images it embedded (the summary's run.ray_nodes)
        if not ray.is_initialized():
            if cfg.ray_address:
                ray.init(address=cfg.ray_address, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(
                    num_cpus=os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="ERROR",
                    _temp_dir=self._temp_dir(cfg),
                    configure_logging=False,
                )
            self.owned = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = not cfg.quiet
        ctx.execution_options.preserve_order = True
        ctx.execution_options.verbose_progress = False
        self.gpus = int(ray.cluster_resources().get("GPU", 0))
        self.cpus = int(ray.cluster_resources().get("CPU", 1))
        log.info(f"ray: {self.cpus} CPU(s), {self.gpus} GPU(s)")
        self._rank = ray.remote(num_cpus=1)(_rank_task)

    def _temp_dir(self, cfg: BuildConfig) -> str:
        """Ray's session files go under ``build/ray``; Ray keeps Unix sockets there, whose paths may not exceed
        107 bytes, so a deep output folder (a test's temporary one) gets a short private folder instead."""
        self.scratch: str | None = None
        tmp = (cfg.out / "ray").resolve()
        if len(str(tmp)) <= 48:
            tmp.mkdir(parents=True, exist_ok=True)
            return str(tmp)
        import tempfile

        self.scratch = tempfile.mkdtemp(prefix="pg-ray-")
        return self.scratch

    def embed(self, job: EmbedJob, write: Writer) -> None:
        import ray

        from .inputs import ModelEntry

        # the actors load their own model: ship the catalogue entry, never a loaded Keras model
        job = replace(job, entry=ModelEntry(job.entry.spec, job.entry.weights, job.entry.arg, job.entry.info))
        n = len(job.paths)
        rows = ray.data.from_items([{"id": i, "path": str(p)} for i, p in enumerate(job.paths)])
        actors = max(1, self.gpus) if self.gpus else max(1, min(self.cpus, (n + job.batch_size - 1) // job.batch_size))
        out = rows.map_batches(
            EmbedActor,
            fn_constructor_kwargs={"job": job},
            batch_size=job.batch_size,
            batch_format="numpy",
            # one batch at a time per actor: a batch is only paths (each actor decodes its own images), so queueing
            # more on an actor gains nothing, and a free actor on any node takes the next batch instead of one
            # actor hoarding the last few while the others idle
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            num_gpus=1 if self.gpus else 0,
            num_cpus=0 if self.gpus else 1,
        )
        bar = log.bar(desc=job.desc + " (ray)", total=n, unit="img")
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
                ids = np.asarray(batch["id"], dtype=np.int64)
                nodes, counts = np.unique(np.asarray(batch["node"]).astype(str), return_counts=True)
                for node, count in zip(nodes.tolist(), counts.tolist(), strict=True):
                    self.nodes[node] = self.nodes.get(node, 0) + count
                order = np.argsort(ids, kind="stable")
                ids = ids[order]
                # contiguous runs of ids are written with one call each
                cuts = np.flatnonzero(np.diff(ids) != 1) + 1
                for run in np.split(np.arange(len(ids)), cuts):
                    first = int(ids[run[0]])
                    write(first, {k: np.asarray(batch[f"o{i}"])[order][run] for i, k in enumerate(job.outputs)})
                bar.update(len(ids))
        finally:
            bar.close()

    def rank(self, emb: np.ndarray, metrics: Sequence[str], cfg: BuildConfig) -> dict[str, Any]:
        import ray

        from . import approximate
        from .search import finish_ranking

        if approximate.uses_graph(*emb.shape, cfg.index):
            # one graph serves every query: it is built and searched here, on this node's cores (a graph per
            # block would be built once per task)
            log.info(f"  approximate search of {len(emb):,} rows runs on the driver")
            return approximate.rank_all(
                emb, list(metrics), k=cfg.top_k, p=cfg.minkowski_p, seed=cfg.seed, index=cfg.index
            )
        ref = ray.put(np.ascontiguousarray(emb, dtype=np.float32))
        n = len(emb)
        out = {}
        for m in metrics:
            futures = [
                self._rank.remote(ref, m, s, min(n, s + RANK_BLOCK_ROWS), cfg.top_k, cfg.minkowski_p)
                for s in range(0, n, RANK_BLOCK_ROWS)
            ]
            blocks = sorted(ray.get(futures), key=lambda b: b[0])
            ids = np.concatenate([b[1].ids for b in blocks])
            dist = np.concatenate([b[1].dist for b in blocks])
            out[m] = finish_ranking(emb, m, ids, dist, p=cfg.minkowski_p, seed=cfg.seed)
        return out

    def close(self) -> None:
        if self.owned:
            import shutil

            import ray

            ray.shutdown()
            if getattr(self, "scratch", None):
                shutil.rmtree(self.scratch, ignore_errors=True)
