"""Search a built dataset with your own image: the engine behind ``playground query`` and ``playground serve``.

It reads only what a build left behind (``build/manifest.json`` and ``build/cache``): the cached embeddings of every
(dataset, model, layer, pooling), the UMAP maps and the similarity calibration. A query image takes exactly the
precompute code path: the same decoding and bilinear resize (``images.rgb_from_bytes``), the model's own
``preprocess_input``, the same multi-output extractor with the pooling in the graph, run on a small padded batch
(:func:`padded_batch`: TensorFlow then computes each image bit-identically to the build's batches, so an uploaded
copy of a dataset image gets the build's embeddings exactly), and the same ranking code (``search.Searcher``:
FAISS candidates, exact float64 re-rank, ties by id). So a dataset image sent as a query comes back first at
distance 0, followed by the precomputed 15 neighbours.

Where a query lands on the map: the inverse-distance weighted mean of its 5 nearest images' map positions (kNN
regression on the map). UMAP's own ``transform`` would need the fitted reducer pickled per layer and costs a numba
compile per process; the weighted mean is instant and puts a copy of a dataset image exactly on its own point.

Models are loaded once and kept warm; concurrent queries for one model share a forward pass (``Batcher``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import log
from ..buildindex import BuildIndex, DatasetRecord, LayerRecord, ModelRecord
from ..cache import CALIBRATION, Cache
from ..config import BuildConfig
from ..errors import QueryError
from ..images import ImageError, rgb_from_bytes
from ..search import Calibration
from . import schema as api

MAP_NEIGHBOURS = 5


class BadImage(QueryError):
    """An upload that is not a usable image (HTTP 415/422), with the dataset scanner's reason."""


# ------------------------------------------------------------------------------------------------ models
def padded_batch(n: int, build_batch: int) -> int:
    """The batch a forward pass of ``n`` queued queries runs at: the smallest power of two >= max(n, 2), at most
    the build's batch size.

    Why not the build's own batch (32): one query would cost 32 images' compute (350 ms for MobileNet(alpha=0.75)
    on 2 cores instead of 24 ms). Why not 1: TensorFlow's CPU kernels (oneDNN) take another path for a batch of
    one, whose results differ from the build's in the last bits (measured: 2e-6), while every batch of 2 or more
    gives each image bit-identical embeddings to the build's batch of 32 (measured for 2, 4, 8; asserted by the
    tests, which require a dataset image to come back at distance exactly 0)."""
    size = 2
    while size < n:
        size *= 2
    return max(1, min(size, build_batch)) if build_batch >= 2 else build_batch


class Batcher:
    """One warm model and its extractor; concurrent queries are batched into one padded forward pass."""

    def __init__(self, model: ModelRecord, cfg: BuildConfig, index: BuildIndex):
        from ..inputs import model_spec, parse_model_arg

        spec = model_spec(parse_model_arg(model.arg, model.weights)[0], cfg.cache_dir)
        self.spec = spec
        self.record = model
        self.batch_size = int(index.settings["batch_size"])
        self.gem_p = float(index.settings["gem_p"])
        self.outputs = [(la.act_name, p) for la in model.layers for p in index.settings["pooling"]]
        self.lock = threading.Lock()
        self.run_lock = threading.Lock()
        self.pending: list[tuple[np.ndarray, Future]] = []
        log.info(f"serve: loading {model.name} ({model.weights} weights)")
        from ..engine import extractor_for

        self.extractor, self.back = extractor_for(spec.load(model.weights), self.outputs, self.gem_p)
        self.size = model.input_size

    def embed(self, pixels: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
        """Embeddings of one image (uint8 HxWx3 at the model's size) at every (tensor, pooling).

        One forward pass at a time; whoever holds the model runs everything queued, so requests that arrive
        during a pass share the next one (up to the batch size)."""
        fut: Future = Future()
        with self.lock:
            self.pending.append((pixels, fut))
        with self.run_lock:
            self._drain()
        return fut.result()

    def _drain(self) -> None:
        from ..extract import embed_images

        while True:
            with self.lock:
                batch, self.pending = self.pending[: self.batch_size], self.pending[self.batch_size :]
            if not batch:
                return
            try:
                # the precompute's path: same preprocessing, same multi-output model, a padded batch
                outs = embed_images(
                    self.extractor,
                    [p for p, _ in batch],
                    size=self.size,
                    preprocess=self.spec.preprocess,
                    batch_size=padded_batch(len(batch), self.batch_size),
                )
                for i, (_, fut) in enumerate(batch):
                    fut.set_result({self.back[k]: v[i] for k, v in outs.items() if k in self.back})
            except BaseException as exc:  # every waiting request gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)


# ------------------------------------------------------------------------------------------------ the engine
@dataclass
class QueryEngine:
    """Answers queries against one build; thread-safe; models and indexes are loaded on first use and kept."""

    cfg: BuildConfig
    index: BuildIndex = field(init=False)
    max_views: int = 64

    def __post_init__(self) -> None:
        self.index = BuildIndex.load(self.cfg)
        self.cache = Cache(self.cfg.cache_dir)
        self._models: dict[str, Batcher] = {}
        self._views: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def health(self) -> api.Health:
        s = self.index.settings
        return api.Health(
            status="ok",
            datasets=[
                api.HealthDataset(slug=d.slug, name=d.name, n_images=d.n_images, labeled=d.labeled)
                for d in self.index.datasets.values()
            ],
            models=[
                api.HealthModel(slug=m.slug, name=m.name, weights=m.weights, layers=[la.slug for la in m.layers])
                for m in self.index.models.values()
            ],
            poolings=list(s["pooling"]),
            metrics=list(s["metrics"]),
            k=int(s["top_k"]),
            max_upload=int(self.cfg.max_upload_mb * 2**20),
        )

    def _batcher(self, model: ModelRecord) -> Batcher:
        with self._lock:
            b = self._models.get(model.slug)
            if b is None:
                b = self._models[model.slug] = Batcher(model, self.cfg, self.index)
            return b

    def _searcher(self, ds: str, model: str, layer: str, pooling: str, metric: str) -> Any:
        key = (ds, model, layer, pooling, metric)
        with self._lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
        from ..search import Searcher

        view = self.index.view(ds, model, layer, pooling)
        emb = self.cache.get_npy("emb", view["emb"])
        if emb is None:
            raise QueryError(
                f"the embeddings of {ds}/{model}/{layer}/{pooling} are not in the cache: "
                "run `playground precompute` for this build again"
            )
        searcher = Searcher(emb, metric, float(self.index.settings["minkowski_p"]))
        with self._lock:
            self._views[key] = searcher
            while len(self._views) > self.max_views:
                self._views.popitem(last=False)
        return searcher

    def _calibration(self, view: dict[str, Any], metric: str) -> Calibration | None:
        got = self.cache.get_arrays(CALIBRATION, view["calib"][metric])
        return None if got is None else Calibration.from_arrays(got)

    def _map(self, view: dict[str, Any]) -> np.ndarray | None:
        got = self.cache.get_arrays("umap", view["umap"])
        return None if got is None else got["xy"]

    def decode(self, data: bytes, size: int, label: str = "upload") -> np.ndarray:
        if not data:
            raise BadImage(f"{label}: empty file (0 bytes)")
        try:
            return rgb_from_bytes(data, size, label)
        except ImageError as exc:
            raise BadImage(str(exc)) from exc

    def query(
        self,
        data: bytes,
        *,
        dataset: str,
        model: str,
        layer: str | None = None,
        pooling: str | None = None,
        metric: str = "cosine",
        k: int = 15,
        label: str = "upload",
    ) -> api.QueryAnswer:
        """Neighbours of one image at the requested layer(s) of one model."""
        t0 = time.perf_counter()
        ds = self.index.dataset(dataset)
        m = self.index.model(model)
        layers = self.index.layers(m, layer)
        pool = self.index.pooling(pooling)
        metric = self.index.metric(metric)
        if not 1 <= k <= min(100, ds.n_images):
            raise QueryError(f"k must be between 1 and {min(100, ds.n_images)}")
        pixels = self.decode(data, m.input_size, label)
        t1 = time.perf_counter()
        vectors = self._batcher(m).embed(pixels)
        t2 = time.perf_counter()
        answers = [self._answer(ds, m, la, pool, metric, k, vectors[(la.act_name, pool)]) for la in layers]
        t3 = time.perf_counter()
        return api.QueryAnswer(
            dataset=ds.slug,
            model=m.slug,
            pooling=pool,
            metric=metric,
            k=k,
            layers=answers,
            timing_ms=api.Timing(
                decode=round(1000 * (t1 - t0), 1), embed=round(1000 * (t2 - t1), 1), search=round(1000 * (t3 - t2), 1)
            ),
        )

    def compare(
        self,
        data: bytes,
        *,
        dataset: str,
        pooling: str | None = None,
        metric: str = "cosine",
        k: int = 15,
        label: str = "upload",
    ) -> list[api.QueryAnswer]:
        """Every model x layer of the build for one image: the compare view of your own image."""
        return [
            self.query(
                data, dataset=dataset, model=m.slug, layer="all", pooling=pooling, metric=metric, k=k, label=label
            )
            for m in self.index.models.values()
        ]

    def _answer(
        self, ds: DatasetRecord, m: ModelRecord, la: LayerRecord, pooling: str, metric: str, k: int, vector: np.ndarray
    ) -> api.LayerAnswer:
        from ..export import default_folder, export_command, featurizer_name
        from ..search import near_ppm

        searcher = self._searcher(ds.slug, m.slug, la.slug, pooling, metric)
        nb = searcher.search(np.asarray(vector, np.float32)[None, :], k)
        ids, dist = nb.ids[0], nb.dist[0]
        view = self.index.view(ds.slug, m.slug, la.slug, pooling)
        cal = self._calibration(view, metric)
        sim = cal.similarity(dist) if cal is not None else None
        xy = self._map(view)
        pos = None
        if xy is not None:
            near = ids[:MAP_NEIGHBOURS]
            w = 1.0 / (dist[:MAP_NEIGHBOURS] + 1e-9 * max(float(dist.max()), 1e-12))
            pos = [round(float(v), 4) for v in (w[:, None] * xy[near]).sum(axis=0) / w.sum()]
        labels = [ds.labels[i] for i in ids] if ds.labeled else [None] * len(ids)
        return api.LayerAnswer(
            layer=la.slug,
            layer_name=la.name,
            featurizer=featurizer_name(m.slug, m.weights, la.slug, pooling),
            export=export_command(
                ds.slug, m.slug, la.slug, pooling, metric, default_folder(ds.slug, m.slug, la.slug, pooling)
            ),
            ids=[int(i) for i in ids],
            dist=[float(d) for d in dist],
            sim=[None] * len(ids) if sim is None else [round(float(s), 7) for s in sim],
            near_ppm=[None] * len(ids) if sim is None else [int(v) for v in near_ppm(sim)],
            labels=labels,
            classes=[None if lb is None else ds.classes[lb] for lb in labels],
            files=[ds.rels[i] for i in ids],
            map_xy=pos,
        )


# ------------------------------------------------------------------------------------------------ the CLI
def run_query_cli(
    cfg: BuildConfig,
    images: Sequence[Path],
    *,
    dataset: str,
    model: str,
    layer: str | None,
    pooling: str | None,
    metric: str,
    k: int,
    as_json: bool,
) -> None:
    import click
    import msgspec

    engine = QueryEngine(cfg)
    answers = []
    for path in images:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise QueryError(f"cannot read {path}: {exc.strerror or exc}") from exc
        ans = engine.query(
            data, dataset=dataset, model=model, layer=layer, pooling=pooling, metric=metric, k=k, label=str(path)
        )
        answers.append(api.ImageAnswer(image=str(path), answer=ans))
    if as_json:
        click.echo(msgspec.json.encode(answers).decode())
        return
    for item in answers:
        a = item.answer
        ds = engine.index.dataset(a.dataset)
        for la in a.layers:
            click.echo(f"{item.image}  ->  {ds.name} / {a.model} / {la.layer_name} / {a.pooling} / {a.metric}")
            for r, (d, cls, f) in enumerate(zip(la.dist, la.classes, la.files, strict=True), 1):
                click.echo(f"  {r:3d}  d={d:<12.6g} {cls or '':<20} {Path(ds.root) / f}")
