"""One view's derived results: what the site shows for one (dataset, model, layer, pooling).

For each view: the rankings under every metric (``search``, run by the engine), the search score, precision@k and
kNN accuracy per query (``scores``), the UMAP map (``projection``, on the cosine neighbour graph) and the linear
probe (``probe``). Each is cached by what it depends on; the embedding matrix is read from the cache only when
something is missing, and only one view's matrix is in memory at a time. Per-query rankings go straight into the
site's shards (``sitefiles``); what is kept for the summary, leaderboard and compare files is small: means and
one float per query and metric.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import approximate, log, sitefiles
from . import embeddings as emb_store
from .cache import CALIBRATION, Cache, key
from .config import BuildConfig
from .datasets import Dataset
from .embeddings import EmbeddingRef
from .engine import Engine
from .projection import init_for
from .results import MetricResult, ProbeResult, ViewResult
from .sitedata import DataDir

RANK_VERSION = 3  # bump when the ranking or similarity definition changes (3: scipy's order at d > 65,536; all pairs)
UMAP_VERSION = 2  # 2: on the exact cosine neighbour graph
PROBE_VERSION = 1


def labels_of(ds: Dataset) -> np.ndarray | None:
    return None if not ds.labeled else np.array([rec.label for rec in ds.images], dtype=np.int64)


def _mean(x: np.ndarray | None, scale: float = 1.0) -> float | None:
    return None if x is None else round(float(np.mean(x)) * scale, 3)


class _Lazy:
    """The view's embedding matrix, read from the cache the first time something needs it."""

    def __init__(self, load: Callable[[], np.ndarray]):
        self._load, self._value = load, None

    def __call__(self) -> np.ndarray:
        if self._value is None:
            self._value = self._load()
        return self._value


def rank_key(ref: EmbeddingRef, metric: str, cfg: BuildConfig) -> str:
    """The cache key of a view's ranking under ``metric`` (its similarity calibration is stored under it too)."""
    return key(
        kind="rank",
        version=RANK_VERSION,
        emb=ref.key,
        metric=metric,
        k=cfg.top_k,
        seed=cfg.seed,
        p=cfg.minkowski_p if metric == "minkowski" else None,
        **approximate.key_part(ref.n, ref.dim, cfg.index),
    )


def umap_key(ref: EmbeddingRef, cfg: BuildConfig) -> str:
    # the starting layout joins the key only where it is not UMAP's default (keys of smaller builds stay valid)
    init = init_for(ref.n)
    extra = {} if init == "spectral" else {"init": init}
    return key(
        kind="umap",
        version=UMAP_VERSION,
        emb=ref.key,
        seed=cfg.seed,
        n=cfg.umap_neighbors,
        d=cfg.umap_min_dist,
        **extra,
    )


def _rankings(ref: EmbeddingRef, emb: _Lazy, cfg: BuildConfig, cache: Cache, engine: Engine) -> dict[str, Any]:
    """Each metric's ranking arrays and ``Calibration`` (``"calibration"``), from the cache or computed."""
    keys = {m: rank_key(ref, m, cfg) for m in cfg.metrics}
    got = {m: cache.get_arrays("rank", k) for m, k in keys.items()}
    cals = {m: cache.get_arrays(CALIBRATION, k) for m, k in keys.items()}
    todo = [m for m, v in got.items() if v is None]
    if todo:
        for m, r in engine.rank(emb(), todo, cfg).items():
            arrays = {
                "ids": r.ids,
                "dist": r.dist,
                "sim": r.sim,
                "exact": np.asarray(r.exact),
                "recall": np.asarray(np.nan if r.recall is None else r.recall),
                "index": np.asarray(r.index),
                "index_note": np.asarray(r.index_note or ""),
            }
            # first: a ranking is only cached with its calibration. A resumed build that finds the calibration
            # but not its ranking (killed between the two) keeps the finished file: the same key, the same bytes
            assert r.calibration is not None
            if cals[m] is None:
                cals[m] = r.calibration.arrays()
                cache.put_arrays(CALIBRATION, keys[m], **cals[m])
            cache.put_arrays("rank", keys[m], **arrays)
            got[m] = arrays
    missing = [m for m, v in cals.items() if v is None]
    if missing:  # rankings cached before the calibration had its knots (CALIBRATION): only the pairs again
        from .search import calibrate

        for m, cal in calibrate(emb(), missing, cfg.minkowski_p, seed=cfg.seed).items():
            cals[m] = cal.arrays()
            cache.put_arrays(CALIBRATION, keys[m], **cals[m])
    for m in cfg.metrics:
        got[m] = {**got[m], "calibration": cals[m]}
    return got  # type: ignore[return-value]


def _umap(
    ref: EmbeddingRef, emb: _Lazy, ranks: dict[str, Any], cfg: BuildConfig, cache: Cache, engine: Engine
) -> np.ndarray:
    k = umap_key(ref, cfg)
    got = cache.get_arrays("umap", k)
    if got is None:
        from .projection import umap_2d

        cos = ranks.get("cosine")
        if cos is None or cos["ids"].shape[1] < min(cfg.umap_neighbors, ref.n - 1) - 1:
            from .search import rank

            r = rank(emb(), "cosine", max(cfg.umap_neighbors - 1, 1), p=cfg.minkowski_p, seed=cfg.seed)
            cos = {"ids": r.ids, "dist": r.dist}
        xy = umap_2d(
            emb(),
            seed=cfg.seed,
            n_neighbors=cfg.umap_neighbors,
            min_dist=cfg.umap_min_dist,
            knn=(cos["ids"], cos["dist"]),
            jit_cache=cfg.jit_dir,
        )
        got = {"xy": xy}
        cache.put_arrays("umap", k, **got)
    return got["xy"]


def _probe(
    ref: EmbeddingRef, emb: _Lazy, labels: np.ndarray | None, cfg: BuildConfig, cache: Cache
) -> tuple[ProbeResult | None, str | None]:
    if labels is None:
        return None, "the dataset has no categories"
    import hashlib

    from .probe import ProbeSettings, linear_probe

    settings = ProbeSettings(folds=cfg.probe_folds, seed=cfg.seed, max_images=cfg.probe_max_images)
    k = key(
        kind="probe",
        version=PROBE_VERSION,
        emb=ref.key,
        settings=vars(settings),
        labels=hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()[:16],
    )
    got = cache.get_json("probe", k)
    if got is None:
        res = linear_probe(emb(), labels, settings)
        got = {
            "result": None
            if res.accuracy is None
            else {
                "mean": round(100 * res.accuracy, 2),
                "std": round(100 * float(res.std or 0.0), 2),
                "n_images": res.n_images,
                "n_features": res.n_features,
                "n_classes": res.n_classes,
                "folds": settings.folds,
                "converged": res.converged,
            },
            "note": res.reason,
        }
        cache.put_json("probe", k, got)
    result = got["result"]
    return (None if result is None else ProbeResult(**result)), got["note"]


def derive(ref: EmbeddingRef, ds: Dataset, cfg: BuildConfig, cache: Cache, engine: Engine, data: DataDir) -> ViewResult:
    """Rankings, scores, map and probe of one view, with its site files written."""
    from . import perclass
    from .search import Calibration, knn_accuracy, precision_at_k, search_scores

    emb = _Lazy(lambda: emb_store.load(cache, ref))
    labels = labels_of(ds)
    base = sitefiles.view_key(ref.dataset, ref.model, ref.layer.slug, ref.pooling)
    ranks = _rankings(ref, emb, cfg, cache, engine)
    # sqeuclidean orders pairs as euclidean does: its shards are euclidean's (distances squared) wherever the ids
    # agree, which is everywhere but for two sums that round to one square root (ties then go by id)
    shared = None
    if "euclidean" in ranks and "sqeuclidean" in ranks:
        shared = sitefiles.same_blocks(ranks["euclidean"]["ids"], ranks["sqeuclidean"]["ids"])
    metrics: dict[str, MetricResult] = {}
    for m in cfg.metrics:
        r = ranks[m]
        ids = r["ids"]
        scores = None if labels is None else search_scores(ids, labels)
        prec = None if labels is None else precision_at_k(ids, labels)
        knn = None if labels is None else knn_accuracy(ids, labels)
        recall = float(r["recall"])
        exact = bool(r["exact"])
        sitefiles.write_rankings(
            data,
            base,
            m,
            ids,
            r["dist"],
            n_images=ref.n,
            exact=exact,
            recall=None if np.isnan(recall) else recall,
            squared=shared if m == "euclidean" else None,
            skip=shared if m == "sqeuclidean" else None,
        )
        sitefiles.write_calibration(data, base, m, Calibration.from_arrays(r["calibration"]))
        if scores is not None:
            sitefiles.write_scores(data, base, m, scores)
        metrics[m] = MetricResult(
            metric=m,
            mean_score=_mean(scores),
            mean_precision=_mean(prec),
            knn_accuracy=_mean(knn, 100.0),
            scores=None if scores is None else scores.astype(np.float32),
            exact=exact,
            recall=None if np.isnan(recall) else round(recall, 4),
            # rankings cached before the approximate index have no "index": they were all flat searches
            index=str(r["index"]) if "index" in r else "flat",
            index_note=str(r["index_note"]) or None if "index_note" in r else None,
            classes=None
            if labels is None
            else perclass.summarise(ids, labels, len(ds.classes), scores=scores, precision=prec),
        )
    sitefiles.write_map(data, base, _umap(ref, emb, ranks, cfg, cache, engine))
    probe_result, note = _probe(ref, emb, labels, cfg, cache)
    return ViewResult(ref.dataset, ref.model, ref.layer.slug, ref.layer.name, ref.pooling, metrics, probe_result, note)


def derive_all(
    refs: Sequence[tuple[EmbeddingRef, Dataset]],
    cfg: BuildConfig,
    cache: Cache,
    engine: Engine,
    data: DataDir,
    progress: Callable[[Any], Any],
) -> list[ViewResult]:
    """Every view, in order. With ``workers > 1`` (machines with cores to spare; the local engine only) views run in
    a pool of processes, each with its share of the cores for FAISS and BLAS; UMAP is single-threaded (seeded), so
    this is where many cores pay off. Results and written files are the same either way."""
    workers = cfg.view_workers if engine.name == "local" else 1
    if workers <= 1 or len(refs) < 2:
        return [derive(ref, ds, cfg, cache, engine, data) for ref, ds in progress(refs)]
    import concurrent.futures
    import multiprocessing

    threads = str(max(1, (os.cpu_count() or 1) // workers))
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update(dict.fromkeys(_THREAD_VARS, threads))  # inherited by the spawned workers at start
    try:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that has TensorFlow's threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = [pool.submit(_derive_in_worker, ref, ds, cfg) for ref, ds in refs]
            results = []
            for fut in progress(futures):
                result, keys, changed = fut.result()
                data.keys |= keys
                data.changed += changed
                results.append(result)
            return results
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _worker_init() -> None:
    # umap imports TensorFlow for its parametric variant when it can; a view worker needs none of it
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
    log.configure(quiet=True)


def _derive_in_worker(ref: EmbeddingRef, ds: Dataset, cfg: BuildConfig) -> tuple[ViewResult, set[str], int]:
    from .engine import LocalEngine

    data = DataDir(cfg.site_dir)
    result = derive(ref, ds, cfg, Cache(cfg.cache_dir), LocalEngine(), data)
    return result, data.keys, data.changed
