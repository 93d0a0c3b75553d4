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
from typing import TYPE_CHECKING

import numpy as np

from . import __version__
from . import contract as c
from .config import BuildConfig
from .datasets import Dataset, dataset_json
from .inputs import BuildInputs, ModelEntry
from .results import ViewResult
from .sitedata import DataDir
from .siteimages import ImageLayout

if TYPE_CHECKING:
    from .perclass import ClassSummary
    from .search import Calibration

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


#: uint16 distance steps; the top value marks a non-finite distance (``RankShard``)
DIST_LEVELS = 65535


def id_bytes(n: int) -> int:
    """The fewest bytes (2, 3 or 4) that hold every id of ``n`` images."""
    return 2 if n <= 1 << 16 else 3 if n <= 1 << 24 else 4


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def encode_rankings(ids: np.ndarray, dist: np.ndarray, n_images: int) -> dict[str, object]:
    """The typed-array fields of a ``RankShard`` for these rows (see its docstring).

    Each row's finite distances are stored from its nearest one (``dist_lo``) in 65,534 uint16 steps of
    ``dist_step`` up to its farthest, both float32: ~5 significant digits of the row's spread where the site shows
    3 of each distance (the JSON integers before it kept 4 digits of the shard's *largest* distance). Decoded:
    ``lo + q * step`` in float64, the same operations in numpy and in the page."""
    ids = np.asarray(ids)
    dist = np.asarray(dist, dtype=np.float64)
    rows, k = ids.shape
    nb = id_bytes(n_images)
    raw = np.ascontiguousarray(ids, dtype="<u4").view(np.uint8).reshape(rows, k, 4)[:, :, :nb]
    finite = np.isfinite(dist)
    lo = np.where(finite, dist, np.inf).min(axis=1, initial=np.inf)
    lo32 = np.where(np.isfinite(lo), lo, 0.0).astype("<f4")
    off = np.where(finite, dist - lo32.astype(np.float64)[:, None], 0.0)
    # the step rounded up to float32, so the farthest distance stays within the 65,534 steps
    step = np.nextafter((off.max(axis=1, initial=0.0) / (DIST_LEVELS - 1)).astype("<f4"), np.float32(np.inf))
    step = np.where(off.max(axis=1, initial=0.0) > 0, step, 0).astype("<f4")
    s64 = step.astype(np.float64)[:, None]
    q = np.rint(np.divide(off, s64, out=np.zeros_like(off), where=s64 > 0))
    q = np.where(finite, np.clip(q, 0, DIST_LEVELS - 1), DIST_LEVELS).astype("<u2")
    return {
        "rows": int(rows),
        "k": int(k),
        "id_bytes": nb,
        "ids": _b64(raw),
        "dist_lo": _b64(lo32),
        "dist_step": _b64(step),
        "dist": _b64(q),
    }


def decode_rankings(shard: c.RankShard) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, dist, slack) of a shard, (rows, k) each: what the page decodes (``search-data.js``), in the same
    float64 operations; slack bounds each distance's error (``RankShard``), what ``Calibration.similarity``
    takes."""
    rows, k, nb = shard.rows, shard.k, shard.id_bytes
    raw = _unb64(shard.ids, "u1").reshape(rows, k, nb)
    ids = np.zeros((rows, k, 4), dtype=np.uint8)
    ids[:, :, :nb] = raw
    q = _unb64(shard.dist, "<u2").reshape(rows, k)
    lo = _unb64(shard.dist_lo, "<f4").astype(np.float64)[:, None]
    step = _unb64(shard.dist_step, "<f4").astype(np.float64)[:, None]
    dist = lo + q.astype(np.float64) * step
    slack = np.broadcast_to(step / 2 + np.abs(lo) * 2.0**-24, (rows, k))
    return ids.view("<u4").reshape(rows, k).astype(np.int64), np.where(q == DIST_LEVELS, np.inf, dist), slack


def calibration_file(cal: Calibration) -> c.CalibrationFile:
    dist = np.asarray(cal.dist, dtype="<f4")
    if not np.array_equal(dist.astype(np.float64), cal.dist):  # the knots are float32 values by construction
        raise ValueError("calibration knots must be float32 values")
    count = _b64(np.asarray(cal.count, dtype="<u4"))
    return c.CalibrationFile(pairs=cal.pairs, head=cal.head, dist=_b64(dist), count=count)


def read_calibration(f: c.CalibrationFile) -> Calibration:
    """The ``search.Calibration`` a calibration file holds (what the page decodes)."""
    from .search import Calibration

    dist = _unb64(f.dist, "<f4").astype(np.float64)
    return Calibration(dist, _unb64(f.count, "<u4").astype(np.int64), f.pairs, f.head)


def write_rankings(
    data: DataDir,
    base: str,
    metric: str,
    ids: np.ndarray,
    dist: np.ndarray,
    *,
    n_images: int,
    exact: bool,
    recall: float | None,
    squared: np.ndarray | None = None,
    skip: np.ndarray | None = None,
) -> None:
    """``<base>/<metric>/<b>``: the top-k of every query, in shards of ``RANK_BLOCK`` queries, each
    self-contained. ``squared`` (euclidean): per shard, whether sqeuclidean ranks its queries the same;
    ``skip`` (sqeuclidean): the shards not written because euclidean's serve them."""
    n, _ = ids.shape
    for b, first in enumerate(range(0, n, RANK_BLOCK)):
        if skip is not None and skip[b]:
            continue
        sl = slice(first, first + RANK_BLOCK)
        shard = c.RankShard(
            first=first,
            **encode_rankings(ids[sl], dist[sl], n_images),  # type: ignore[arg-type]
            exact=bool(exact),
            recall=None if recall is None else round(float(recall), 4),
            squared=None if squared is None else bool(squared[b]),
        )
        data.put(f"{base}/{metric}/{first // RANK_BLOCK}", shard)


def same_blocks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per shard of ``RANK_BLOCK`` rows: whether two rankings have the same ids."""
    eq = (np.asarray(a) == np.asarray(b)).all(axis=1)
    return np.array([bool(eq[s : s + RANK_BLOCK].all()) for s in range(0, len(eq), RANK_BLOCK)])


def write_scores(data: DataDir, base: str, metric: str, scores: np.ndarray) -> None:
    """``<base>/<metric>/scores``: every query's search score as one byte (``ScoresFile``)."""
    q = np.clip(np.rint(np.asarray(scores, dtype=np.float64)), 0, 100).astype(np.uint8)
    data.put(f"{base}/{metric}/scores", c.ScoresFile(n=int(len(q)), score=_b64(q)))


def write_calibration(data: DataDir, base: str, metric: str, cal: Calibration) -> None:
    data.put(f"{base}/{metric}/calib", calibration_file(cal))


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


def _maybe(x: float, digits: int) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def classes_file(summary: ClassSummary, by_layer: list[np.ndarray | None]) -> c.ClassesFile:
    """The site's form of a view's per-class truth; ``by_layer``: the per-class scores of every layer of the model
    (same pooling and metric), None for a layer without them."""
    return c.ClassesFile(
        k=summary.k,
        score=[_maybe(x, 1) for x in summary.score],
        precision=[_maybe(x, 3) for x in summary.precision],
        by_layer=[[] if s is None else [_maybe(x, 1) for x in s] for s in by_layer],
        confused=[list(row) for row in summary.confused],
        worst_query=[None if i < 0 else int(i) for i in summary.worst_query],
        worst=[int(i) for i in summary.worst],
        worst_score=[round(float(x), 1) for x in summary.worst_score],
    )


def write_classes(data: DataDir, results: list[ViewResult], inputs: BuildInputs, cfg: BuildConfig) -> None:
    """``<ds>/<model>/<layer>/<pooling>/<metric>/classes`` for every view of a labelled dataset."""
    for ds in inputs.datasets:
        if not ds.labeled:
            continue
        for pooling in cfg.pooling:
            for e in inputs.models:
                rows = _per_layer(results, ds.slug, pooling, e.slug)
                for m in cfg.metrics:
                    sums = [v.metrics[m].classes for v in rows]
                    by_layer = [None if s is None else s.score for s in sums]
                    for v, summary in zip(rows, sums, strict=True):
                        if summary is None:
                            continue
                        base = view_key(ds.slug, e.slug, v.layer, pooling)
                        data.put(f"{base}/{m}/classes", classes_file(summary, by_layer))


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
            format=c.DATA_FORMAT,
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
    """Every build-wide file: datasets, compare shards, per-class files, leaderboard, index, the static ``serve``
    answer."""
    for ds in inputs.datasets:
        write_dataset(data, ds, layouts[ds.slug])
    write_compares(data, results, inputs, cfg)
    write_classes(data, results, inputs, cfg)
    data.put("leaderboard", leaderboard(results, inputs, cfg))
    data.put("index", index(inputs, results, cfg, backend))
    write_serve_stub(data)
