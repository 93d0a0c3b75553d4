"""The build's local records: ``summary.json`` (every number) and ``manifest.json`` (what was built where).

``summary.json`` is for people and tools; ``manifest.json`` is what ``playground query`` and ``playground serve``
read. Neither is published with the site: the manifest holds this machine's paths."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from . import __version__, log
from .atomic import dumps, write_if_changed, write_json
from .catalog import backend_name
from .config import BuildConfig
from .datasets import dataset_json
from .embeddings import EmbeddingRef, pooling_id
from .inputs import BuildInputs, package_version
from .results import ViewResult

MANIFEST_VERSION = 1


#: The packages whose versions decide the bits of a build's outputs (decoding and resizing, the forward pass, the
#: sums, FAISS, UMAP and its nearest-neighbour graph, the probe); ``summary.json`` records each one installed.
BIT_PACKAGES = (
    "tensorflow",
    "keras",
    "jax",
    "numpy",
    "scipy",
    "faiss-cpu",
    "numba",
    "umap-learn",
    "pynndescent",
    "scikit-learn",
    "pillow",
)


def package_versions() -> dict[str, str]:
    out = {"convnet-playground": __version__, "python": sys.version.split()[0]}
    for pkg in BIT_PACKAGES:
        version = package_version(pkg)
        if version != "?":
            out[pkg] = version
    return out


@dataclass
class Summary:
    """``summary.json``: scores[ds][model][layer][pooling][metric], probe[ds][model][layer][pooling], the inputs,
    settings, what was missing, warnings, and the run (versions, backend, engine, timings)."""

    scores: dict[str, Any]
    probe: dict[str, Any]
    datasets: list[dict[str, Any]]
    models: list[dict[str, Any]]
    settings: dict[str, Any]
    missing: list[dict[str, str]]
    warnings: list[str]
    run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def one_line(self, seconds: float, where: Any) -> str:
        n_ds, n_models = len(self.datasets), len(self.models)
        layers = max((len(m["layers"]) for m in self.models), default=0)
        tail = f"; {len(self.missing)} skipped (see warnings)" if self.missing else ""
        return (
            f"built {n_ds} dataset(s) x {n_models} model(s) x {layers} layers x {len(self.settings['pooling'])} "
            f"pooling(s) x {len(self.settings['metrics'])} metrics in {seconds:.1f} s -> {where}{tail}; "
            f"{len(self.warnings)} warning(s)"
        )


def settings_json(cfg: BuildConfig) -> dict[str, Any]:
    return {
        "metrics": list(cfg.metrics),
        "minkowski_p": cfg.minkowski_p,
        "top_k": cfg.top_k,
        "index": cfg.index,
        "pooling": list(cfg.pooling),
        "gem_p": cfg.gem_p,
        "seed": cfg.seed,
        "umap_neighbors": cfg.umap_neighbors,
        "umap_min_dist": cfg.umap_min_dist,
        "probe_folds": cfg.probe_folds,
        "probe_max_images": cfg.probe_max_images,
        "batch_size": cfg.batch_size,
        "engine": cfg.engine,
    }


def build_summary(
    cfg: BuildConfig,
    inputs: BuildInputs,
    results: list[ViewResult],
    timings: dict[str, float],
    files_written: int,
    engine: str,
    nodes: dict[str, int] | None = None,
) -> Summary:
    scores: dict[str, Any] = {}
    probe: dict[str, Any] = {}
    for v in results:
        at = scores.setdefault(v.dataset, {}).setdefault(v.model, {}).setdefault(v.layer_name, {})
        at[v.pooling] = {
            m: {
                "mean_search_score": r.mean_score,
                "precision_at_k": r.mean_precision,
                "knn_accuracy": r.knn_accuracy,
                "exact": r.exact,
                "recall": r.recall,
                "index": r.index,
                **({"index_note": r.index_note} if r.index_note else {}),
            }
            for m, r in v.metrics.items()
        }
        probe.setdefault(v.dataset, {}).setdefault(v.model, {}).setdefault(v.layer_name, {})[v.pooling] = (
            asdict(v.probe) if v.probe else {"not_available": v.probe_note}
        )
    return Summary(
        scores=scores,
        probe=probe,
        datasets=[dataset_json(ds) for ds in inputs.datasets],
        models=[
            {
                "name": e.spec.name,
                "weights": e.weights,
                "weights_id": e.weights_id,
                "random_weights": e.random,
                "layers": [layer.name for layer in e.layers],
            }
            for e in inputs.models
        ],
        settings=settings_json(cfg),
        missing=[m.to_json() for m in inputs.missing],
        warnings=log.collected_warnings(),
        run={
            "versions": package_versions(),
            "backend": backend_name(),
            "engine": engine,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
            "embed_by_model_s": dict(getattr(timings, "by_model", {})),
            "site_files_written": files_written,
            **({"ray_nodes": dict(sorted(nodes.items()))} if nodes else {}),
        },
    )


def write_summary(cfg: BuildConfig, summary: Summary) -> bool:
    """Write ``summary.json`` unless it already says the same, its ``run`` block aside: a rebuild that changed
    nothing keeps the file (and the timings of the run that computed these numbers). Returns whether it wrote."""
    new = summary.to_json()
    try:
        old = json.loads(cfg.summary_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        old = None
    if isinstance(old, dict) and {**old, "run": None} == json.loads(dumps({**new, "run": None})):
        return False
    write_json(cfg.summary_path, new, pretty=True)
    return True


def write_manifest(cfg: BuildConfig, inputs: BuildInputs, refs: list[EmbeddingRef]) -> None:
    """``manifest.json``: per dataset its folder, content hash and image list, per model its weights and layers,
    per (dataset, model, layer, pooling) the cache keys of its embedding, map and rankings (whose similarity
    calibration ``query`` uses): all ``query`` and ``serve`` need to answer."""
    from .cache import Cache
    from .views import rank_key, umap_key

    cache = Cache(cfg.cache_dir)
    views: dict[str, Any] = {}
    for r in refs:
        views.setdefault(r.dataset, {}).setdefault(r.model, {}).setdefault(r.layer.slug, {})[r.pooling] = {
            "emb": r.key,
            "dim": r.dim,
            "umap": umap_key(r, cfg),
            "calib": {m: rank_key(r, m, cfg) for m in cfg.metrics},
        }
    for ds in inputs.datasets:  # the image list, once per dataset content
        if cache.get_json("dataset-index", ds.content_hash) is None:
            cache.put_json(
                "dataset-index",
                ds.content_hash,
                {"rels": [rec.rel for rec in ds.images], "labels": [rec.label for rec in ds.images]},
            )
    manifest = {
        "version": MANIFEST_VERSION,
        "datasets": [
            {
                "slug": ds.slug,
                "name": ds.name,
                "root": str(ds.root.resolve()),
                "content_hash": ds.content_hash,
                "images_key": ds.content_hash,
                "n_images": len(ds.images),
                "labeled": ds.labeled,
                "classes": list(ds.classes),
            }
            for ds in inputs.datasets
        ],
        "models": [
            {
                "slug": e.slug,
                "name": e.spec.name,
                "arg": e.arg,
                "weights": e.weights,
                "weights_id": e.weights_id,
                "input_size": e.info.input_size if e.info else 0,
                "layers": [{"slug": layer.slug, "name": layer.name, "act_name": layer.act_name} for layer in e.layers],
            }
            for e in inputs.models
        ],
        "settings": {**settings_json(cfg), "gem_id": pooling_id("gem", cfg.gem_p)},
        "views": views,
    }
    write_if_changed(cfg.manifest_path, (dumps(manifest, pretty=True) + "\n").encode("utf-8"))
