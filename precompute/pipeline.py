"""The precompute stage: datasets x models x layers x metrics -> rankings, scores, UMAP, site data.

Work is done in the cheapest order: each model is loaded at most once, and only when some embedding it
owes is not in the cache; every derived artifact (rankings, UMAP) is cached by what it depends on, so a
rebuild with nothing changed loads no model (and does not even import Keras) and takes seconds.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, log
from .cache import Cache, key
from .catalog import (
    ModelSpec,
    ModelUnavailable,
    backend_name,
    get_spec,
    keras_cache_dir,
    weights_available,
    weights_id,
)
from .config import BuildConfig
from .search import METRIC_DESCRIPTIONS, precision_at_k, rank, search_scores
from .sitedata import DataDir, round_matrix, scaled_ints

EXTRACT_VERSION = 1  # bump when embedding extraction changes meaning
BUILTIN_DATASETS = ("shapes",)
COMPARE_CHUNK = 64  # queries per compare file: one small request per view, whatever the dataset size


class BuildError(RuntimeError):
    """Nothing at all could be built (or --strict and something was missing)."""


@dataclass
class ModelEntry:
    spec: ModelSpec
    weights: str  # imagenet | random | trained | path
    info: dict[str, Any] = field(default_factory=dict)  # layers, table, params, input_size
    _model: Any = None

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def weights_id(self) -> str:
        return weights_id(self.spec, self.weights)

    def model(self) -> Any:
        if self._model is None:
            from .catalog import load_model

            log.info(f"loading {self.spec.name} ({self.weights} weights)")
            self._model = load_model(self.spec, self.weights)
        return self._model

    def release(self) -> None:
        self._model = None


def package_versions() -> dict[str, str]:
    out = {"convnet-playground": __version__, "python": sys.version.split()[0]}
    for pkg in ("tensorflow", "keras", "jax", "numpy", "scipy", "umap-learn", "pillow"):
        version = _version(pkg)
        if version != "?":
            out[pkg] = version
    return out


# --------------------------------------------------------------------------------------------- selection
def prepare_runtime(cfg: BuildConfig) -> None:
    """Process-wide settings every stage needs before it loads a model."""
    from .playground_net import set_cache_dir

    set_cache_dir(cfg.cache_dir)  # the trained playground-net lives in this build's cache


def train_embedded_models(entries: list[ModelEntry], cfg: BuildConfig) -> None:
    """Train (or find cached) the project's own models first, so training has its own progress and timing."""
    from .playground_net import ensure_trained

    for entry in entries:
        if entry.spec.family == "playground_net" and entry.weights == "trained":
            ensure_trained(cfg.cache_dir, progress=not cfg.quiet)  # logs its own line when it trains


def parse_model_arg(item: str, default_weights: str) -> tuple[str, str]:
    """``name`` or ``name@weights`` (per-model weights, e.g. ``mobilenet_075@imagenet``)."""
    if "@" in item and not Path(item).exists():
        name, weights = item.rsplit("@", 1)
        return name, weights
    return item, default_weights


def resolve_models(cfg: BuildConfig, names: tuple[str, ...] | None = None) -> tuple[list[ModelEntry], list[dict]]:
    entries: list[ModelEntry] = []
    missing: list[dict] = []
    seen: set[str] = set()
    for item in names if names is not None else cfg.models:
        name, weights = parse_model_arg(item, cfg.weights)
        try:
            spec = get_spec(name)
        except ModelUnavailable as exc:
            missing.append({"what": f"model {name}", "why": str(exc), "how": "check the name (playground models)"})
            continue
        if spec.family == "playground_net":
            weights = "random" if weights == "random" else "trained"
        elif spec.family == "file":
            weights = "file"
        if spec.slug in seen:
            raise BuildError(f"model '{name}' is listed twice")
        seen.add(spec.slug)
        reason = weights_available(spec, weights)
        if reason:
            how = (
                f"copy it into {keras_cache_dir()}, build once online, or use --weights random"
                if weights == "imagenet"
                else "check the path"
            )
            missing.append({"what": f"model {name} ({weights} weights)", "why": reason, "how": how, "model": item})
            continue
        entries.append(ModelEntry(spec, weights))
    return entries, missing


def resolve_datasets(cfg: BuildConfig, names: tuple[str, ...] | None = None) -> tuple[list[Any], list[dict]]:
    from .datasets import DatasetError, load_dataset, resolve

    loaded: list[Any] = []
    missing: list[dict] = []
    slugs: set[str] = set()
    for name in names if names is not None else cfg.datasets:
        try:
            if name in BUILTIN_DATASETS and not (cfg.datasets_dir / name).is_dir():
                from .shapes import ensure_shapes_dataset

                path = ensure_shapes_dataset(cfg.cache_dir / "datasets")
                ds = load_dataset(path)
                from .shapes import META

                ds = replace(ds, meta={**ds.meta, **{k: v for k, v in META.items() if k != "name"}})
            else:
                ds = load_dataset(resolve(name, cfg.datasets_dir))
        except (DatasetError, FileNotFoundError, NotADirectoryError) as exc:
            manifest = cfg.datasets_dir / f"{name}.json"
            how = (
                ""
                if "datasets fetch" in str(exc)
                # the message already says how
                else f"playground datasets fetch {name} (online) or playground datasets fetch {name} --from DIR"
                if manifest.exists()
                else "check the folder: <dataset>/<class>/<image> or a flat folder of images"
            )
            missing.append({"what": f"dataset {name}", "why": str(exc), "how": how})
            continue
        if len(ds.images) < 2:
            missing.append(
                {
                    "what": f"dataset {name}",
                    "why": "fewer than 2 readable images: nothing to search",
                    "how": "add images to the folder",
                }
            )
            continue
        if ds.slug in slugs:
            raise BuildError(f"dataset '{name}' is listed twice")
        slugs.add(ds.slug)
        loaded.append(ds)
    return loaded, missing


def report_missing(missing: list[dict], strict: bool) -> None:
    for m in missing:
        log.warn(f"skipped {m['what']}: {m['why']}" + (f"; {m['how']}" if m["how"] else ""))
    if strict and missing:
        raise BuildError(f"--strict: {len(missing)} missing piece(s): " + "; ".join(m["what"] for m in missing))


# --------------------------------------------------------------------------------------------- model info
def model_info(entry: ModelEntry, cfg: BuildConfig, cache: Cache) -> dict[str, Any]:
    """Layer selection, layer table and sizes for a model: cached, so no-op rebuilds never build it."""
    from .layers import select_layers

    override = cfg.layers.get(entry.spec.name)
    arch = entry.weights_id if entry.spec.family != "keras_app" else "arch"
    from .layers import SELECTION_VERSION

    k = key(
        kind="modelinfo",
        selection=SELECTION_VERSION,
        model=entry.spec.name,
        kwargs=[list(x) for x in entry.spec.kwargs],
        arch=arch,
        size=entry.spec.input_size,
        keras=_version("keras"),
        n=cfg.layers_per_model,
        override=list(override or []),
    )
    info = cache.get_json("modelinfo", k)
    if info is None:
        from .catalog import model_input_size
        from .layers import layer_table

        model = entry.model()
        layers = select_layers(model, cfg.layers_per_model, list(override) if override else None)
        info = {
            "layers": [li.to_json() for li in layers],
            "table": layer_table(model),
            "params": int(model.count_params()),
            "input_size": model_input_size(entry.spec, model),
        }
        cache.put_json("modelinfo", k, info)
    entry.info = info
    return info


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------------------------- embeddings
def embedding_key(ds: Any, entry: ModelEntry, layer: dict, cfg: BuildConfig) -> str:
    return key(
        kind="emb",
        version=EXTRACT_VERSION,
        dataset=ds.content_hash,
        model=entry.spec.name,
        kwargs=[list(x) for x in entry.spec.kwargs],
        weights=entry.weights_id,
        layer=layer["name"],
        tensor=layer["act_name"],
        pooling=cfg.pooling,
        size=entry.info["input_size"],
    )


def ensure_embeddings(ds: Any, entry: ModelEntry, cfg: BuildConfig, cache: Cache) -> dict[str, np.ndarray]:
    """Embeddings of every selected layer for one dataset: cached ones are read, the rest come from one pass."""
    from .extract import embed_paths

    out: dict[str, np.ndarray] = {}
    todo: list[dict] = []
    for layer in entry.info["layers"]:
        got = cache.get_arrays("emb", embedding_key(ds, entry, layer, cfg))
        if got is not None and got["emb"].shape[0] == len(ds.images):
            out[layer["name"]] = got["emb"]
        else:
            todo.append(layer)
    if todo:
        model = entry.model()
        embs = embed_paths(
            model,
            [layer["act_name"] for layer in todo],
            [rec.path for rec in ds.images],
            size=entry.info["input_size"],
            preprocess=entry.spec.preprocess,
            pooling=cfg.pooling,
            batch_size=cfg.batch_size,
            desc=f"{ds.name} · {entry.spec.name}",
        )
        for layer in todo:
            emb = embs[layer["act_name"]]
            cache.put_arrays("emb", embedding_key(ds, entry, layer, cfg), emb=emb)
            out[layer["name"]] = emb
    return out


# --------------------------------------------------------------------------------------------- derived
def _labels(ds: Any) -> np.ndarray | None:
    if not ds.labeled:
        return None
    return np.array([rec.label for rec in ds.images], dtype=np.int64)


def rankings(emb: np.ndarray, emb_key: str, metric: str, cfg: BuildConfig, cache: Cache) -> dict[str, np.ndarray]:
    p = cfg.minkowski_p if metric == "minkowski" else None
    k = key(kind="rank", emb=emb_key, metric=metric, p=p, k=cfg.top_k)
    got = cache.get_arrays("rank", k)
    if got is None:
        r = rank(emb, metric, cfg.top_k, p=cfg.minkowski_p)
        got = {"ids": r.ids, "dist": r.dist, "sim": r.sim}
        cache.put_arrays("rank", k, **got)
    return got


def projection(emb: np.ndarray, emb_key: str, cfg: BuildConfig, cache: Cache) -> np.ndarray:
    k = key(kind="umap", emb=emb_key, seed=cfg.seed, n=cfg.umap_neighbors, d=cfg.umap_min_dist)
    got = cache.get_arrays("umap", k)
    if got is None:
        from .projection import umap_2d

        xy = umap_2d(emb, seed=cfg.seed, n_neighbors=cfg.umap_neighbors, min_dist=cfg.umap_min_dist)
        got = {"xy": xy}
        cache.put_arrays("umap", k, **got)
    return got["xy"]


def prune_site_images(site: Path, keep: set[str]) -> None:
    """Remove thumbnails and display images of datasets that are no longer part of the build."""
    import shutil

    for kind in ("thumbs", "images"):
        folder = site / kind
        for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
            if sub.is_dir() and sub.name not in keep:
                shutil.rmtree(sub)


def _mean(x: np.ndarray | None) -> float | None:
    return None if x is None else round(float(np.mean(x)), 3)


# --------------------------------------------------------------------------------------------- the stage
def run_precompute(cfg: BuildConfig, resolved: tuple[list[Any], list[dict]] | None = None) -> dict[str, Any]:
    """Run the whole precompute stage; returns the summary (also written to ``cfg.summary_path``).

    ``resolved``: the result of ``resolve_datasets(cfg)`` when the caller already has it (``build`` shares one
    scan of the datasets between precompute and featurevis)."""
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    cache = Cache(cfg.cache_dir)
    site = cfg.site_dir

    t = time.perf_counter()
    prepare_runtime(cfg)
    datasets, missing_ds = resolved if resolved is not None else resolve_datasets(cfg)
    entries, missing_models = resolve_models(cfg)
    missing = missing_ds + missing_models
    report_missing(missing, cfg.strict)
    if not datasets or not entries:
        why = "no dataset could be read" if not datasets else "no model could be loaded"
        raise BuildError(f"nothing to build: {why}. " + " ".join(f"{m['what']}: {m['why']}" for m in missing))
    timings["datasets_s"] = time.perf_counter() - t

    from .datasets import write_site_images

    t = time.perf_counter()
    for ds in log.progress(datasets, desc="site images", unit="dataset"):
        write_site_images(ds, site, cfg.cache_dir / "site-images")
    prune_site_images(site, {ds.slug for ds in datasets})
    timings["site_images_s"] = time.perf_counter() - t

    t = time.perf_counter()
    train_embedded_models(entries, cfg)
    timings["train_s"] = time.perf_counter() - t

    # embeddings: one model at a time, loaded only if something is missing
    t = time.perf_counter()
    embeddings: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for entry in entries:
        model_info(entry, cfg, cache)
        for ds in datasets:
            embeddings[(ds.slug, entry.slug)] = ensure_embeddings(ds, entry, cfg, cache)
        entry.release()
        if "keras" in sys.modules:
            import keras

            keras.backend.clear_session()
    timings["embeddings_s"] = time.perf_counter() - t

    # rankings, scores, UMAP and the site data files
    t = time.perf_counter()
    results: dict[str, Any] = {}
    data = DataDir(site)
    jobs = [(ds, e, layer) for ds in datasets for e in entries for layer in e.info["layers"]]
    for ds, entry, layer in log.progress(jobs, desc="rankings + UMAP", unit="layer"):
        emb = embeddings[(ds.slug, entry.slug)][layer["name"]]
        ekey = embedding_key(ds, entry, layer, cfg)
        labels = _labels(ds)
        base = f"{ds.slug}/{entry.slug}/{layer['slug']}"
        xy = round_matrix(projection(emb, ekey, cfg, cache), 3)
        for metric in cfg.metrics:
            r = rankings(emb, ekey, metric, cfg, cache)
            scores = None if labels is None else search_scores(r["ids"], labels)
            prec = None if labels is None else precision_at_k(r["ids"], labels)
            hits = None if prec is None else np.rint(prec * r["ids"].shape[1]).astype(int)  # same-class count
            results.setdefault(ds.slug, {}).setdefault(metric, {}).setdefault(entry.slug, []).append(
                {"layer": layer["slug"], "scores": scores, "mean_score": _mean(scores), "mean_precision": _mean(prec)}
            )
            dist, dist_scale = scaled_ints(r["dist"])
            # one file per view: a dataset/model/layer/metric switch is exactly one request
            data.put(
                f"{base}/{metric}",
                {
                    "k": int(r["ids"].shape[1]),
                    "ids": r["ids"].tolist(),
                    "dist": dist,
                    "dist_scale": dist_scale,
                    "sim": np.rint(r["sim"] * 100).astype(int).tolist(),  # percent, see search.py
                    "score": None if scores is None else np.round(scores, 2).tolist(),
                    "hits": None if hits is None else hits.tolist(),
                    "mean_score": _mean(scores),
                    "mean_precision": _mean(prec),
                    "xy": xy,
                },
            )
    timings["rankings_umap_s"] = time.perf_counter() - t

    write_summary_files(data, cfg, datasets, entries, results, missing)
    data.prune(keep_prefixes=("explorer/",))  # the feature-visualization stage owns data/explorer/
    timings["total_s"] = time.perf_counter() - t_start
    summary = build_summary(cfg, datasets, entries, results, missing, timings, data.changed)
    from .atomic import write_json

    write_json(cfg.summary_path, summary, pretty=True)
    return summary


def default_view(datasets: list[Any], entries: list[ModelEntry], results: dict, metric: str) -> dict[str, str]:
    """iconic200 when built, else the first labelled dataset; the model whose last layer scores best there."""
    ds = next((d for d in datasets if d.slug == "iconic200"), None) or next(
        (d for d in datasets if d.labeled), datasets[0]
    )
    best = entries[0]
    best_score = -1.0
    for e in entries:
        rows = results.get(ds.slug, {}).get(metric, {}).get(e.slug, [])
        s = rows[-1]["mean_score"] if rows and rows[-1]["mean_score"] is not None else -1.0
        if s > best_score:
            best, best_score = e, s
    return {"dataset": ds.slug, "model": best.slug, "layer": best.info["layers"][-1]["slug"], "metric": metric}


def _model_json(e: ModelEntry) -> dict[str, Any]:
    return {
        "slug": e.slug,
        "name": e.spec.name,
        "display": e.spec.display,
        "weights": e.weights,
        "random": e.weights == "random",
        "params": e.info["params"],
        "input_size": e.info["input_size"],
        "n_layers": len(e.info["table"]),
        "explorer_only": not e.spec.search,
        "layers": [
            {
                k: layer[k]
                for k in (
                    "slug",
                    "name",
                    "type",
                    "depth_index",
                    "conv_index",
                    "n_conv",
                    "params",
                    "channels",
                    "output_shape",
                )
            }
            for layer in e.info["layers"]
        ],
    }


def dataset_json(ds: Any) -> dict[str, Any]:
    meta = dict(ds.meta or {})
    return {
        "slug": ds.slug,
        "name": ds.name,
        "labeled": ds.labeled,
        "n_images": len(ds.images),
        "classes": list(ds.classes),
        "description": meta.get("description", ""),
        "source": meta.get("source", ""),
        "licence": meta.get("licence", ""),
        "attribution": meta.get("attribution", ""),
        "skipped": len(ds.skipped),
    }


def write_summary_files(
    data: DataDir, cfg: BuildConfig, datasets: list[Any], entries: list[ModelEntry], results: dict, missing: list[dict]
) -> None:
    metrics = list(cfg.metrics)
    for ds in datasets:
        data.put(
            f"datasets/{ds.slug}",
            {
                "slug": ds.slug,
                "name": ds.name,
                "classes": list(ds.classes),
                "images": [{"id": r.id, "file": r.rel, "label": r.label} for r in ds.images],
                "thumb": f"thumbs/{ds.slug}/",
                "full": f"images/{ds.slug}/",
            },
        )
        for metric in metrics:
            per_model = results.get(ds.slug, {}).get(metric, {})
            for first in range(0, len(ds.images), COMPARE_CHUNK):
                sl = slice(first, first + COMPARE_CHUNK)
                data.put(
                    f"{ds.slug}/compare/{metric}/{first // COMPARE_CHUNK}",
                    {
                        "first": first,
                        "models": [e.slug for e in entries],
                        "layers": {e.slug: [layer["slug"] for layer in e.info["layers"]] for e in entries},
                        "score": {
                            m: [
                                None if row["scores"] is None else np.round(row["scores"][sl], 1).tolist()
                                for row in rows
                            ]
                            for m, rows in per_model.items()
                        },
                    },
                )
    leaderboard: dict[str, Any] = {"score": {}, "precision": {}}
    for ds_slug, by_metric in results.items():
        for metric, by_model in by_metric.items():
            for m, rows in by_model.items():
                leaderboard["score"].setdefault(ds_slug, {}).setdefault(metric, {})[m] = [r["mean_score"] for r in rows]
                leaderboard["precision"].setdefault(ds_slug, {}).setdefault(metric, {})[m] = [
                    r["mean_precision"] for r in rows
                ]
    data.put("leaderboard", leaderboard)
    data.put(
        "index",
        {
            "build": {
                "version": __version__,
                "backend": backend_name(),
                "pooling": cfg.pooling,
                "minkowski_p": cfg.minkowski_p,
                "seed": cfg.seed,
            },
            "datasets": [dataset_json(ds) for ds in datasets],
            "models": [_model_json(e) for e in entries],
            "metrics": [
                {
                    "slug": m,
                    "name": m,
                    "description": METRIC_DESCRIPTIONS[m].replace("minkowski_p (default 3)", f"{cfg.minkowski_p:g}"),
                }
                for m in metrics
            ],
            "k": cfg.top_k,
            "defaults": default_view(datasets, entries, results, "cosine" if "cosine" in metrics else metrics[0]),
            "missing": missing,
        },
    )


def build_summary(
    cfg: BuildConfig,
    datasets: list[Any],
    entries: list[ModelEntry],
    results: dict,
    missing: list[dict],
    timings: dict[str, float],
    n_files: int,
) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for ds_slug, by_metric in results.items():
        for metric, by_model in by_metric.items():
            for m, rows in by_model.items():
                for row in rows:
                    scores.setdefault(ds_slug, {}).setdefault(m, {}).setdefault(row["layer"], {})[metric] = {
                        "mean_search_score": row["mean_score"],
                        "precision_at_k": row["mean_precision"],
                    }
    return {
        "scores": scores,
        "datasets": [dataset_json(ds) for ds in datasets],
        "models": [
            {
                "name": e.spec.name,
                "weights": e.weights,
                "weights_id": e.weights_id,
                "random_weights": e.weights == "random",
                "layers": [layer["name"] for layer in e.info["layers"]],
            }
            for e in entries
        ],
        "settings": {
            "metrics": list(cfg.metrics),
            "minkowski_p": cfg.minkowski_p,
            "top_k": cfg.top_k,
            "pooling": cfg.pooling,
            "seed": cfg.seed,
            "umap_neighbors": cfg.umap_neighbors,
            "umap_min_dist": cfg.umap_min_dist,
        },
        "missing": missing,
        "warnings": log.collected_warnings(),
        "run": {
            "versions": package_versions(),
            "backend": backend_name(),
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
            "site_files_written": n_files,
        },
    }
