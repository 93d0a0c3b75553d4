"""The ``featurevis`` stage: models x selected layers x channels -> images, dataset examples, explorer index.

Per model:

1. the model at its native input size gives the layer selection (``layers.select_layers``, shared with
   semantic search), the full layer table, the objective targets, and the dataset examples' scores;
2. the model at the render size (``(None, None, 3)``, or the fixed canvas where the model needs a static
   shape, as NASNet does with ImageNet weights) renders every selected layer: its channels in one batch;
3. after every layer the result is checkpointed in the cache (``build/cache/featurevis/``), keyed by model,
   weights, layer, channel selection and render settings (not by backend); a killed run resumes at the first
   unfinished layer, and a finished layer is never rendered again;
4. per channel a 128 px WebP ``site/fv/<model>/<layer>/<channel>.webp``; per layer the data file
   ``site/data/explorer/<model>/<layer>.js``; for the whole run ``site/data/explorer/index.js``.

Channel selection (documented in docs/featurevis.md): the channels a render can excite (``Renderer.live_channels``:
not dead, not stuck at the grey start image); all of them when there are at most ``channels``, else
``channels`` of them drawn without replacement by ``numpy.random.default_rng`` seeded from
sha256("<seed>|<model>/<layer>"), sorted.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import log
from ..cache import Cache, key
from ..catalog import ModelSpec, get_spec, model_input_size, preprocess_fn, weights_available, weights_id
from ..config import BuildConfig, FeatureVisConfig
from ..sitedata import sig, write_data_file
from . import examples as ex
from .objectives import Target, make_target
from .render import Renderer, RenderSettings, backend

STAGE_VERSION = 1
SELECTION_RULE = (
    "v2: live channels (not dead, not stuck at the start image); all if <= n, else "
    "rng(sha256(seed|model/layer)).choice(n, no replacement), sorted"
)
WEBP_QUALITY = 90


def render_settings(fv: FeatureVisConfig) -> RenderSettings:
    """The render settings of a (quick-resolved) feature-visualization config."""
    return RenderSettings(
        steps=int(fv.steps), size=int(fv.size), learning_rate=float(fv.learning_rate), seed=int(fv.seed)
    )


def select_channels(live: np.ndarray, n: int, seed: int, key_: str) -> list[int]:
    """The seeded, documented channel selection (see the module docstring)."""
    candidates = np.flatnonzero(np.asarray(live, dtype=bool))
    if len(candidates) <= n:
        return [int(c) for c in candidates]
    digest = hashlib.sha256(f"{seed}|{key_}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return sorted(int(c) for c in rng.choice(candidates, size=n, replace=False))


def webp_bytes(image: np.ndarray) -> bytes:
    """Encode one uint8 RGB image as WebP (lossy, quality 90: deterministic bytes for equal pixels)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="WEBP", quality=WEBP_QUALITY, method=6)
    return buf.getvalue()


def _write_if_changed(path: Path, data: bytes) -> None:
    from ..atomic import write_bytes

    if path.exists() and path.read_bytes() == data:
        return
    write_bytes(path, data)


# --------------------------------------------------------------------------------------------- model state
@dataclass
class _Model:
    spec: ModelSpec
    weights: str
    canvas: int
    _native: Any = None
    _render: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> dict[str, Any]:
        return {
            "model": self.spec.name,
            "kwargs": [list(x) for x in self.spec.kwargs],
            "weights": weights_id(self.spec, self.weights),
        }

    def native(self) -> Any:
        """The model at its native input size (layer table, dataset scores)."""
        if self._native is None:
            from ..catalog import load_model

            self._render = None
            log.info(f"featurevis: loading {self.spec.name} ({self.weights} weights)")
            self._native = load_model(self.spec, self.weights)
        return self._native

    def render_model(self) -> Any:
        """The model for rendering: any input size if it allows, else the fixed canvas."""
        if self._render is None:
            from ..catalog import load_model

            self._native = None
            with warnings.catch_warnings():
                # MobileNet notes that it loads its 224-px weights for an unspecified input size: intended
                warnings.filterwarnings("ignore", message=".*input_shape. is undefined or non-square.*")
                try:
                    model = load_model(self.spec, self.weights, input_shape=(None, None, 3))
                    model(np.zeros((1, self.canvas, self.canvas, 3), np.float32), training=False)
                    self._render = model
                except Exception:
                    # NASNet: with ImageNet weights it refuses a dynamic shape; with random weights it builds
                    # one that fails at the first call (its cell cropping needs static sizes)
                    self._render = load_model(self.spec, self.weights, input_shape=(self.canvas, self.canvas, 3))
        return self._render

    def release(self) -> None:
        self._native = self._render = None


def _model_info(m: _Model, cfg: BuildConfig, cache: Cache) -> dict[str, Any]:
    """Selected layers, their targets, the layer table (cached: a finished model loads nothing)."""
    from ..layers import SELECTION_VERSION, layer_table, select_layers

    names = list(cfg.layers.get(m.spec.name, ()))
    k = key(
        kind="fv-model",
        version=STAGE_VERSION,
        selection=SELECTION_VERSION,
        **m.key,
        n=cfg.layers_per_model,
        names=names,
    )
    info = cache.get_json("model", k)
    if info is None:
        model = m.native()
        selected = select_layers(model, n=cfg.layers_per_model, names=names or None)
        info = {
            "layers": [s.to_json() for s in selected],
            "targets": [vars(make_target(model, s)) for s in selected],
            "table": layer_table(model),
            "params": int(model.count_params()),
            "input_size": int(model_input_size(m.spec, model)),
        }
        cache.put_json("model", k, info)
    return info


# --------------------------------------------------------------------------------------------- one layer
def _layer_key(m: _Model, layer: dict, target: Target, fv: FeatureVisConfig, settings: RenderSettings) -> str:
    return key(
        kind="fv-layer",
        version=STAGE_VERSION,
        **m.key,
        layer=layer["name"],
        target=target.describe(),
        channels={"n": int(fv.channels), "seed": int(fv.seed), "rule": SELECTION_RULE},
        settings=settings.describe(),
    )


def _render_layer(
    m: _Model, layer: dict, target: Target, fv: FeatureVisConfig, settings: RenderSettings, bar: Any
) -> dict[str, np.ndarray]:
    model = m.render_model()
    renderer = Renderer(model, target, preprocess_fn(m.spec.preprocess_module), settings)
    live = renderer.live_channels()
    channels = select_channels(live, int(fv.channels), int(fv.seed), f"{m.spec.name}/{layer['name']}")
    t0 = time.perf_counter()
    result = renderer.render(channels, f"{m.spec.name}/{layer['name']}", on_step=lambda _n: bar.update(1))
    return {
        "channels": np.asarray(channels, np.int64),
        "images": result.images,
        "activation": result.activation.astype(np.float32),
        "n_live": np.asarray(int(live.sum())),
        "seconds": np.asarray(time.perf_counter() - t0),
        "backend": np.asarray(backend()),
    }


def _write_layer(
    site: Path,
    model_slug: str,
    layer: dict,
    data: dict[str, np.ndarray],
    examples: list[list[list[Any]]],
    fv: FeatureVisConfig,
) -> list[dict[str, Any]]:
    folder = site / "fv" / model_slug / layer["slug"]
    channels = [int(c) for c in data["channels"]]
    keep = {f"{c}.webp" for c in channels}
    if folder.is_dir():
        for stale in folder.glob("*.webp"):
            if stale.name not in keep:
                stale.unlink()
    rows = []
    for i, c in enumerate(channels):
        rel = f"fv/{model_slug}/{layer['slug']}/{c}.webp"
        _write_if_changed(site / rel, webp_bytes(data["images"][i]))
        rows.append(
            {
                "channel": c,
                "image": rel,
                "examples": examples[i] if i < len(examples) else [],
                "activation": sig(float(data["activation"][i])),
            }
        )
    write_data_file(
        site,
        f"explorer/{model_slug}/{layer['slug']}",
        {
            "model": model_slug,
            "layer": layer["slug"],
            "name": layer["name"],
            "quick": bool(fv.quick),
            "channels": rows,
        },
    )
    return rows


# --------------------------------------------------------------------------------------------- the stage
def run_featurevis(cfg: BuildConfig, datasets: list[Any], models: list[str], weights: str) -> dict[str, Any]:
    """Render the Model Explorer for ``models`` (catalogue names or ``.keras`` paths) with ``weights``
    (``imagenet`` | ``random`` | path), dataset examples from ``datasets`` (``precompute.datasets.Dataset``).

    Writes ``cfg.site_dir / "fv"`` and ``cfg.site_dir / "data/explorer"``; checkpoints in
    ``cfg.cache_dir / "featurevis"``. Returns a summary: ``{"quick", "profile", "backend", "settings",
    "seconds", "models": {name: {"seconds", "layers", "channels", "rendered_layers", "cached_layers",
    "skipped"}}, "skipped": [names]}``.
    """
    fv = cfg.featurevis.effective()
    settings = render_settings(fv)
    cache = Cache(cfg.cache_dir / "featurevis")
    site = cfg.site_dir
    t_all = time.perf_counter()
    summary: dict[str, Any] = {
        "quick": bool(fv.quick),
        "profile": "quick" if fv.quick else "full",
        "backend": backend(),
        "settings": {
            "channels": fv.channels,
            "steps": fv.steps,
            "size": fv.size,
            "learning_rate": fv.learning_rate,
            "examples": fv.examples,
            "seed": fv.seed,
        },
        "models": {},
        "skipped": [],
    }
    index_models = []
    from ..pipeline import parse_model_arg

    for n, item in enumerate(models, 1):
        name, model_weights = parse_model_arg(item, weights)  # NAME@WEIGHTS, as in precompute
        t0 = time.perf_counter()
        log.info(f"featurevis: model {n} of {len(models)}: {name}")
        try:
            spec = get_spec(name)
            problem = weights_available(spec, model_weights)
            if problem:
                raise RuntimeError(problem)
            entry, stats = _run_model(spec, model_weights, cfg, fv, settings, datasets, cache, site)
        except Exception as exc:  # one model's failure must not lose the others' work
            if cfg.strict:
                raise
            log.warn(f"featurevis: skipped {name}: {exc}")
            summary["models"][name] = {"seconds": round(time.perf_counter() - t0, 2), "skipped": str(exc)}
            summary["skipped"].append(name)
            continue
        stats["seconds"] = round(time.perf_counter() - t0, 2)
        summary["models"][spec.name] = stats
        index_models.append(entry)
    write_data_file(
        site,
        "explorer/index",
        {
            "version": STAGE_VERSION,
            "quick": bool(fv.quick),
            "profile": summary["profile"],
            "settings": {**settings.describe(), "channels": fv.channels, "examples": fv.examples},
            "backend": summary["backend"],
            "datasets": [ds.slug for ds in datasets],
            "models": index_models,
        },
    )
    summary["seconds"] = round(time.perf_counter() - t_all, 2)
    return summary


def _run_model(
    spec: ModelSpec,
    weights: str,
    cfg: BuildConfig,
    fv: FeatureVisConfig,
    settings: RenderSettings,
    datasets: list[Any],
    cache: Cache,
    site: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    m = _Model(spec, weights, settings.transforms.canvas(settings.size))
    try:
        info = _model_info(m, cfg, cache)
        layers = info["layers"]
        targets = [Target(**t) for t in info["targets"]]
        keys = [_layer_key(m, layer, t, fv, settings) for layer, t in zip(layers, targets, strict=True)]
        done = {k: cache.get_arrays("layer", k) for k in keys}
        todo = [i for i, k in enumerate(keys) if done[k] is None]

        scores, refs = (
            ex.dataset_scores(
                m.native,
                preprocess=spec.preprocess,
                targets=targets,
                datasets=datasets,
                size=info["input_size"],
                batch_size=cfg.batch_size,
                cache=cache,
                model_key=m.key,
            )
            if datasets
            else ([np.zeros((0, 0), np.float32) for _ in targets], [])
        )

        if todo:
            log.info(
                f"featurevis {spec.name}: {len(todo)} of {len(layers)} layers to render "
                f"({fv.channels} channels, {settings.steps} steps, {settings.size} px"
                f"{', quick profile' if fv.quick else ''}); finished layers come from the cache"
            )
        bar = log.bar(desc=f"featurevis {spec.name}", total=len(todo) * settings.steps, unit="step")
        try:
            for i in todo:
                t0 = time.perf_counter()
                data = _render_layer(m, layers[i], targets[i], fv, settings, bar)
                cache.put_arrays("layer", keys[i], **data)  # the checkpoint: this layer is never rendered again
                done[keys[i]] = data
                log.info(
                    f"featurevis {spec.name} {layers[i]['name']}: {len(data['channels'])} channels in "
                    f"{time.perf_counter() - t0:.1f} s"
                )
        finally:
            bar.close()
    finally:
        m.release()

    out_layers = []
    n_channels = 0
    for i, (layer, t) in enumerate(zip(layers, targets, strict=True)):
        data = done[keys[i]]
        channels = [int(c) for c in data["channels"]]
        top = ex.top_examples(scores[i], refs, channels, int(fv.examples))
        _write_layer(site, spec.slug, layer, data, top, fv)
        n_channels += len(channels)
        out_layers.append(
            {
                "slug": layer["slug"],
                "name": layer["name"],
                "type": layer["type"],
                "depth_index": layer["depth_index"],
                "conv_index": layer["conv_index"],
                "params": layer["params"],
                "channels": layer["channels"],
                "output_shape": layer["output_shape"],
                "visualized": channels,
                "dead": int(layer["channels"]) - int(data["n_live"]),
                "target": t.describe(),
                "data": f"explorer/{spec.slug}/{layer['slug']}",
                "images": f"fv/{spec.slug}/{layer['slug']}/",
            }
        )
    entry = {
        "slug": spec.slug,
        "name": spec.name,
        "display": spec.display,
        "weights": weights,
        "weights_id": weights_id(spec, weights),
        "random": weights == "random",
        "quick": bool(fv.quick),
        "params": info["params"],
        "input_size": info["input_size"],
        "n_layers": len(info["table"]),
        "layers": out_layers,
        "layer_table": info["table"],
    }
    stats = {
        "layers": len(layers),
        "channels": n_channels,
        "rendered_layers": len(todo),
        "cached_layers": len(layers) - len(todo),
        "skipped": None,
        "quick": bool(fv.quick),
    }
    return entry, stats
