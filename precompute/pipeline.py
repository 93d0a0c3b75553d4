"""The precompute stage: datasets x models x layers x poolings x metrics -> the Semantic Search site data.

The story, in order (each step one module):

1. ``inputs``: resolve the datasets and models; report each missing piece once.
2. ``siteimages``: thumbnails (sprite sheets) and display images of every dataset.
3. train the project's own models (``playground-net``) first, so training has its own progress and timing;
   ``inputs.model_info``: each model's layer selection and input size (cached).
4. ``check_fits``: fail early, with the setting to change, when the build would not fit in memory or on disk.
5. ``embeddings``: every layer x pooling of every model on every dataset, one forward pass per batch, streamed to
   the cache (``engine``: this process, or a Ray cluster).
6. ``views``: per (dataset, model, layer, pooling): rankings under every metric, scores, the UMAP map, the probe;
   their site files (``sitefiles``).
7. ``sitefiles``: the build-wide files (datasets, compare, leaderboard, index); stale files pruned.
8. ``summary``: the ``manifest.json`` that ``query`` and ``serve`` read, and ``summary.json``.
9. ``browsersearch``: what a static copy of the site needs to search with a visitor's own image in the browser
   (the runtime, each model as ONNX, the views' embeddings), read back from the manifest as ``query`` reads it.

Everything is cached by what it depends on, so a rebuild with nothing changed loads no model (and does not even
import Keras) and writes no file; an interrupted build resumes from the last finished piece.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Iterator

from . import browsersearch, embeddings, log, sitefiles, views
from .atomic import sweep_leftovers
from .cache import Cache
from .catalog import backend_name
from .config import BuildConfig
from .datasets import Dataset
from .embeddings import EmbeddingRef
from .engine import Engine, LocalEngine
from .errors import BuildError
from .inputs import BuildInputs, ModelEntry, model_info, resolve
from .sitedata import DataDir
from .siteimages import ImageLayout, prune_datasets, write_site_images
from .summary import Summary, build_summary, write_manifest, write_summary


class Timings(dict):
    """Seconds per step, for ``summary.json``; ``by_model``: seconds of embedding per model (what it loaded and
    extracted; 0 when everything came from the cache)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_model: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self[f"{step}_s"] = self.get(f"{step}_s", 0.0) + time.perf_counter() - t


def _engine(cfg: BuildConfig) -> Engine:
    """The engine the build's heavy work runs on. Ray is imported only when asked for (it starts in seconds and
    weighs hundreds of MB); ``ray_engine`` builds on ``engine``, so the choice between them lives here, above both."""
    if cfg.engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine(cfg)
    return LocalEngine()


def run_precompute(cfg: BuildConfig, inputs: BuildInputs | None = None) -> Summary:
    """Run the whole precompute stage; returns the summary (also written to ``cfg.summary_path``).

    ``inputs``: the resolved inputs when the caller already has them (``build`` shares one scan of the datasets
    between precompute and featurevis)."""
    started = time.perf_counter()
    timings = Timings()
    cache = Cache(cfg.cache_dir)
    cache.sweep()  # the temp files of an interrupted run (the resume starts clean)
    sweep_leftovers(cfg.site_dir)
    data = DataDir(cfg.site_dir)
    with timings("inputs"):
        inputs = inputs if inputs is not None else resolve(cfg)
        inputs.report(cfg.strict)
        inputs.require_something()
    with timings("site_images"):
        layouts = write_images(inputs.datasets, cfg)
    with timings("train"):
        train_embedded_models(inputs.models, cfg)
    with timings("model_info"):
        for entry in inputs.models:
            model_info(entry, cfg, cache)
    check_fits(inputs, cfg, cache)
    engine = _engine(cfg)
    try:
        with timings("embeddings"):
            refs = embed_all(inputs, cfg, cache, engine, timings.by_model)
        with timings("views"):
            datasets = {ds.slug: ds for ds in inputs.datasets}
            jobs = [(ref, datasets[ref.dataset]) for ref in refs]
            results = views.derive_all(
                jobs, cfg, cache, engine, data, lambda it: log.progress(it, desc="rankings + map + probe", unit="view")
            )
    finally:
        engine.close()
    with timings("site_files"):
        sitefiles.write_build_files(data, inputs, layouts, results, cfg, backend_name())
        # the feature-visualization stage owns data/explorer/, the browser search (below) data/web/
        data.prune(keep_prefixes=("explorer/", "web/"))
    write_manifest(cfg, inputs, refs)
    with timings("browser_search"):
        browsersearch.write_browser_files(cfg)
    timings["total_s"] = time.perf_counter() - started
    summary = build_summary(cfg, inputs, results, timings, data.changed, engine.name, engine.nodes)
    write_summary(cfg, summary)
    return summary


def write_images(datasets: list[Dataset], cfg: BuildConfig) -> dict[str, ImageLayout]:
    layouts = {ds.slug: write_site_images(ds, cfg.site_dir, cfg.cache_dir / "site-images") for ds in datasets}
    prune_datasets(cfg.site_dir, set(layouts))
    return layouts


def train_embedded_models(entries: list[ModelEntry], cfg: BuildConfig) -> None:
    """Train (or find cached) the project's own models, so training has its own progress and timing."""
    for entry in entries:
        train = getattr(entry.spec, "ensure_trained", None)
        if train is not None and entry.weights == "trained":
            train(progress=not cfg.quiet)  # logs its own line when it trains


def check_fits(inputs: BuildInputs, cfg: BuildConfig, cache: Cache) -> None:
    """Fail before any work when the largest embedding matrix would not fit in memory, or the embeddings not on
    disk, naming the numbers and the settings to change (never an OOM kill hours into a build)."""
    gb = 2**30
    largest: EmbeddingRef | None = None
    disk = 0
    for ds in inputs.datasets:
        for entry in inputs.models:
            for ref in embeddings.refs_for(ds, entry, cfg):
                if not cache.has_npy("emb", ref.key):
                    disk += ref.nbytes
                if largest is None or ref.nbytes > largest.nbytes:
                    largest = ref
    if largest is None:
        return
    # the matrix, FAISS's copy of it and a normalised copy (cosine) are in memory together while ranking, in
    # each view worker
    workers = cfg.view_workers if cfg.engine == "local" else 1
    need = workers * 3 * largest.nbytes + 512 * 2**20
    if need > cfg.memory_limit_bytes:
        raise BuildError(
            f"too large for this machine: {largest.dataset} has {largest.n:,} images and pooling "
            f"'{largest.pooling}' of {largest.model}/{largest.layer.name} gives {largest.dim:,} numbers per image, "
            f"so ranking it needs about {need / gb:.1f} GB of memory; the limit is "
            f"{cfg.memory_limit_bytes / gb:.1f} GB ([compute] memory_limit_gb, default 80 % of RAM; "
            f"{workers} view worker(s), [compute] workers). Use a smaller "
            f"pooling (--pooling avg,gem,grid2 instead of flatten), fewer layers ([layers] in playground.toml), "
            f"or fewer images."
        )
    free = shutil.disk_usage(cfg.out if cfg.out.exists() else cfg.out.parent).free
    if disk > free:
        raise BuildError(
            f"not enough disk space: the embeddings to compute need {disk / gb:.1f} GB in {cfg.cache_dir}, "
            f"{free / gb:.1f} GB are free. Use fewer poolings (--pooling), layers or images, or another --out."
        )


def embed_all(
    inputs: BuildInputs, cfg: BuildConfig, cache: Cache, engine: Engine, by_model: dict[str, float]
) -> list[EmbeddingRef]:
    """Every embedding, one model at a time (each loaded at most once, and only if something is missing)."""
    refs: list[EmbeddingRef] = []
    for entry in inputs.models:
        t = time.perf_counter()
        for ds in inputs.datasets:
            refs += embeddings.ensure(ds, entry, cfg, cache, engine)
        by_model[entry.spec.name] = round(time.perf_counter() - t, 3)
        entry.release()
        if "keras" in sys.modules:
            import keras

            keras.backend.clear_session()
    return refs
