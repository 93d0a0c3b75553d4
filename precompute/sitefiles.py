"""The precompute stage's site data files: where each file of a view is written, and in what shape.

One writer per file kind of the contract (``contract.py``); everything the site reads about rankings, maps,
datasets, compare views, the leaderboard and the index is written here and only here. Files are written through
``sitedata.DataDir`` (only when their bytes change; stale ones pruned).

Sizes: every view switch of the Search page is one request of at most ~100 KB whatever the dataset size:
rankings are sharded by query block (``RANK_BLOCK`` queries per file), file names by ``FILES_BLOCK`` ids, compare
scores by ``COMPARE_BLOCK`` queries; the UMAP map is a separate compact file (2 x uint16 per image, base64) loaded
only while the map is on screen.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from . import __version__
from . import contract as c
from .config import BuildConfig
from .datasets import Dataset, dataset_json
from .inputs import BuildInputs, ModelEntry
from .results import ViewResult
from .sitedata import DataDir, scaled_ints
from .siteimages import ImageLayout

RANK_BLOCK = 256  # ~70 KB per shard at 100k images (ids of 5 digits)
FILES_BLOCK = 1024
COMPARE_BLOCK = 64
MAP_LEVELS = 65535


# an absolute path on this machine: "/" not after a word character, "~", "$", ":", "/" or "." (so neither
# "$KERAS_HOME/models", "~/.keras" nor a URL), then its components
_LOCAL_PATH = re.compile(r"(?<![\w$~:/.])/(?:[^\s/:;,'\"()]+/)*([^\s/:;,'\"()]+)")


def without_local_paths(text: str | None) -> str | None:
    """``text`` for the published site: every absolute path of this machine is cut to its last component
    ("no folder /home/me/data/cats" -> "no folder cats"), so no local path is ever published."""
    return None if text is None else _LOCAL_PATH.sub(r"\1", text)


def shards() -> c.Shards:
    return c.Shards(rank_block=RANK_BLOCK, files_block=FILES_BLOCK, compare_block=COMPARE_BLOCK)


def view_key(ds: str, model: str, layer: str, pooling: str) -> str:
    return f"{ds}/{model}/{layer}/{pooling}"


def near_ppm(sim: np.ndarray) -> np.ndarray:
    """Similarity (fraction of pairs farther apart) as the parts per million of pairs at most this far apart,
    rounded up: 0 only when the pair is closer than every pair of the dataset (or of its sample)."""
    return np.ceil(np.round((1.0 - np.asarray(sim, dtype=np.float64)) * 1e6, 6)).astype(np.int64)


def write_rankings(
    data: DataDir,
    base: str,
    metric: str,
    ids: np.ndarray,
    dist: np.ndarray,
    sim: np.ndarray,
    scores: np.ndarray | None,
    hits: np.ndarray | None,
    *,
    exact: bool,
    recall: float | None,
) -> None:
    """``<base>/<metric>/<b>``: the top-k of every query, in shards of ``RANK_BLOCK`` queries. One distance
    scale per shard, so a shard is self-contained."""
    n, k = ids.shape
    near = near_ppm(sim)
    for first in range(0, n, RANK_BLOCK):
        sl = slice(first, first + RANK_BLOCK)
        d, scale = scaled_ints(dist[sl])
        shard = c.RankShard(
            first=first,
            k=int(k),
            ids=ids[sl].tolist(),
            dist=d,
            dist_scale=scale,
            near_ppm=near[sl].tolist(),
            score=None if scores is None else np.round(scores[sl], 2).tolist(),
            hits=None if hits is None else hits[sl].tolist(),
            exact=bool(exact),
            recall=None if recall is None else round(float(recall), 4),
        )
        data.put(f"{base}/{metric}/{first // RANK_BLOCK}", shard)


def encode_map(xy: np.ndarray) -> str:
    """(n, 2) coordinates in [0, 1] -> base64 of little-endian uint16 (x, y) pairs (see ``MapFile``)."""
    q = np.clip(np.rint(np.asarray(xy, dtype=np.float64) * MAP_LEVELS), 0, MAP_LEVELS).astype("<u2")
    return base64.b64encode(q.tobytes()).decode("ascii")


def decode_map(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u2").reshape(-1, 2).astype(np.float64) / MAP_LEVELS


def write_map(data: DataDir, base: str, xy: np.ndarray) -> None:
    data.put(f"{base}/map", c.MapFile(n=int(len(xy)), levels=MAP_LEVELS, xy=encode_map(xy)))


def class_starts(ds: Dataset) -> list[int] | None:
    """Ids are sorted by class, so the labels are runs: class c owns ids starts[c] .. starts[c+1]-1."""
    if not ds.labeled:
        return None
    starts = [0] * (len(ds.classes) + 1)
    for rec in ds.images:
        starts[rec.label + 1] += 1  # type: ignore[operator]
    for i in range(len(ds.classes)):
        starts[i + 1] += starts[i]
    labels = [rec.label for rec in ds.images]
    if labels != sorted(labels):  # the scanner's documented order; a contract invariant
        raise ValueError(f"{ds.name}: image ids are not sorted by class")
    return starts


def write_dataset(data: DataDir, ds: Dataset, layout: ImageLayout) -> None:
    """``datasets/<ds>`` and its file-name shards ``datasets/<ds>/files/<b>``."""
    data.put(
        f"datasets/{ds.slug}",
        c.DatasetFile(
            slug=ds.slug,
            name=ds.name,
            n=len(ds.images),
            classes=list(ds.classes),
            class_names=list(ds.display_names) if ds.class_names else None,
            class_start=class_starts(ds),
            files_block=FILES_BLOCK,
            thumbs=c.Sprite(url=f"thumbs/{ds.slug}/", cell=layout.cell, cols=layout.cols, per_sheet=layout.per_sheet),
            display=f"images/{ds.slug}/" if layout.display else None,
        ),
    )
    for first in range(0, len(ds.images), FILES_BLOCK):
        files = [rec.rel for rec in ds.images[first : first + FILES_BLOCK]]
        data.put(f"datasets/{ds.slug}/files/{first // FILES_BLOCK}", c.FilesShard(first=first, files=files))


def write_compare(
    data: DataDir,
    ds: Dataset,
    pooling: str,
    metric: str,
    models: list[tuple[str, list[str]]],
    scores: dict[str, list[np.ndarray | None]],
) -> None:
    """``<ds>/<pooling>/compare/<metric>/<b>``: every model x layer's search score for a block of queries, so
    "this image with every model and layer" is one small request (the original made one per model x layer)."""
    layers = {m: slugs for m, slugs in models}
    for first in range(0, len(ds.images), COMPARE_BLOCK):
        sl = slice(first, first + COMPARE_BLOCK)
        block = {m: [None if s is None else np.round(s[sl], 1).tolist() for s in scores.get(m, [])] for m, _ in models}
        shard = c.CompareShard(first=first, models=[m for m, _ in models], layers=layers, score=block)
        data.put(f"{ds.slug}/{pooling}/compare/{metric}/{first // COMPARE_BLOCK}", shard)


def write_serve_stub(data: DataDir) -> None:
    """``serve``: a static build answers live = false; ``playground serve`` answers this key itself."""
    data.put("serve", c.ServeInfo(live=False, api="", max_upload=0, datasets=[]))


# ------------------------------------------------------------------------------------------------ build-wide
def _per_layer(results: list[ViewResult], ds: str, pooling: str, model: str) -> list[ViewResult]:
    return [v for v in results if v.dataset == ds and v.pooling == pooling and v.model == model]


def leaderboard(results: list[ViewResult], inputs: BuildInputs, cfg: BuildConfig) -> c.Leaderboard:
    board = c.Leaderboard(score={}, precision={}, knn={}, probe={}, probe_std={})
    for ds in inputs.datasets:
        for pooling in cfg.pooling:
            for e in inputs.models:
                rows = _per_layer(results, ds.slug, pooling, e.slug)
                for m in cfg.metrics:
                    for field_, attr in (
                        ("score", "mean_score"),
                        ("precision", "mean_precision"),
                        ("knn", "knn_accuracy"),
                    ):
                        getattr(board, field_).setdefault(ds.slug, {}).setdefault(pooling, {}).setdefault(m, {})[
                            e.slug
                        ] = [getattr(v.metrics[m], attr) for v in rows]
                board.probe.setdefault(ds.slug, {}).setdefault(pooling, {})[e.slug] = [
                    v.probe.mean if v.probe else None for v in rows
                ]
                board.probe_std.setdefault(ds.slug, {}).setdefault(pooling, {})[e.slug] = [
                    v.probe.std if v.probe else None for v in rows
                ]
    return board


def write_compares(data: DataDir, results: list[ViewResult], inputs: BuildInputs, cfg: BuildConfig) -> None:
    models = [(e.slug, [layer.slug for layer in e.layers]) for e in inputs.models]
    for ds in inputs.datasets:
        for pooling in cfg.pooling:
            for m in cfg.metrics:
                scores = {
                    e.slug: [v.metrics[m].scores for v in _per_layer(results, ds.slug, pooling, e.slug)]
                    for e in inputs.models
                }
                write_compare(data, ds, pooling, m, models, scores)


def default_view(inputs: BuildInputs, results: list[ViewResult], cfg: BuildConfig) -> c.Defaults:
    """iconic200 when built, else the first labelled dataset; the model whose last layer scores best there
    (first pooling, cosine when built)."""
    ds = next((d for d in inputs.datasets if d.slug == "iconic200"), None) or next(
        (d for d in inputs.datasets if d.labeled), inputs.datasets[0]
    )
    metric = "cosine" if "cosine" in cfg.metrics else cfg.metrics[0]
    pooling = cfg.pooling[0]
    best, best_score = inputs.models[0], -1.0
    for e in inputs.models:
        rows = _per_layer(results, ds.slug, pooling, e.slug)
        s = rows[-1].metrics[metric].mean_score if rows else None
        if s is not None and s > best_score:
            best, best_score = e, s
    return c.Defaults(dataset=ds.slug, model=best.slug, layer=best.layers[-1].slug, metric=metric, pooling=pooling)


def _model_out(e: ModelEntry) -> c.ModelOut:
    assert e.info is not None
    training = e.spec.training(e.weights)
    return c.ModelOut(
        slug=e.slug,
        name=e.spec.name,
        display=e.spec.display,
        weights=e.weights if e.weights in ("imagenet", "random", "trained", "file") else Path(e.weights).name,
        random=e.random,
        params=e.info.params,
        input_size=e.info.input_size,
        n_layers=len(e.info.table),
        explorer_only=not e.spec.search,
        layers=[
            c.LayerInfoOut(
                slug=la.slug,
                name=la.name,
                type=la.type,
                depth_index=la.depth_index,
                conv_index=la.conv_index,
                n_conv=la.n_conv,
                params=la.params,
                channels=la.channels,
                output_shape=list(la.output_shape),
            )
            for la in e.layers
        ],
        training=None if training is None else c.Training(**training),
    )


def _dataset_info(ds: Dataset) -> c.DatasetInfo:
    info = dataset_json(ds)
    info["skipped_files"] = [c.SkippedFiles(**x) for x in info["skipped_files"]]
    info["label_rows"] = [c.LabelRows(**x) for x in info["label_rows"]]
    return c.DatasetInfo(**info)


def index(inputs: BuildInputs, results: list[ViewResult], cfg: BuildConfig, backend: str) -> c.Index:
    from .extract import POOLINGS
    from .search import METRIC_DESCRIPTIONS

    return c.Index(
        build=c.BuildInfo(
            version=__version__,
            backend=backend,
            poolings=list(cfg.pooling),
            minkowski_p=cfg.minkowski_p,
            seed=cfg.seed,
            k=cfg.top_k,
        ),
        datasets=[_dataset_info(ds) for ds in inputs.datasets],
        models=[_model_out(e) for e in inputs.models],
        metrics=[
            c.Choice(
                slug=m,
                name=m,
                description=METRIC_DESCRIPTIONS[m].replace("minkowski_p (default 3)", f"{cfg.minkowski_p:g}"),
            )
            for m in cfg.metrics
        ],
        poolings=[
            c.Choice(
                slug=p,
                name=POOLINGS[p].title,
                description=POOLINGS[p].description.replace("p = 3 by default", f"p = {cfg.gem_p:g}"),
            )
            for p in cfg.pooling
        ],
        k=cfg.top_k,
        defaults=default_view(inputs, results, cfg),
        missing=[c.MissingOut(**{k: without_local_paths(v) for k, v in m.to_json().items()}) for m in inputs.missing],
        shards=shards(),
    )


def write_build_files(
    data: DataDir,
    inputs: BuildInputs,
    layouts: dict[str, ImageLayout],
    results: list[ViewResult],
    cfg: BuildConfig,
    backend: str,
) -> None:
    """Every build-wide file: datasets, compare shards, leaderboard, index, the static ``serve`` answer."""
    for ds in inputs.datasets:
        write_dataset(data, ds, layouts[ds.slug])
    write_compares(data, results, inputs, cfg)
    data.put("leaderboard", leaderboard(results, inputs, cfg))
    data.put("index", index(inputs, results, cfg, backend))
    write_serve_stub(data)
