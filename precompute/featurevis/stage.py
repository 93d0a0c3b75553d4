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

from .. import contract as c
from .. import log
from ..cache import Cache, key
from ..catalog import preprocess_fn
from ..config import BuildConfig, FeatureVisConfig
from ..inputs import BuildInputs, ModelEntry, model_info
from ..layers import LayerInfo
from ..sitedata import DataDir, sig
from . import examples as ex
from .objectives import Target, make_target
from .render import Renderer, RenderSettings, backend

STAGE_VERSION = 1
SELECTION_RULE = (
    "v2: live channels (not dead, not stuck at the start image); all if <= n, else "
    "rng(sha256(seed|model/layer)).choice(n, no replacement), sorted"
)
WEBP_QUALITY = 90


def render_settings(fv: FeatureVisConfig, input_size: int) -> RenderSettings:
    """The render settings of a (quick-resolved) feature-visualization config for a model of ``input_size``:
    rendered at the model's own input size unless ``size`` is configured (``FeatureVisConfig.render_size``)."""
    return RenderSettings(
        steps=int(fv.steps),
        size=fv.render_size(input_size),
        learning_rate=float(fv.learning_rate),
        seed=int(fv.seed),
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


# --------------------------------------------------------------------------------------------- models
@dataclass
class _RenderModel:
    """The model at the render size: any input size if it allows, else a fixed canvas."""

    entry: ModelEntry
    canvas: int
    _model: Any = None
    compile_seconds: float = 0.0

    def get(self) -> Any:
        if self._model is None:
            self.entry.release()  # one model in memory at a time
            spec, weights = self.entry.spec, self.entry.weights
            with warnings.catch_warnings():
                # MobileNet notes that it loads its 224-px weights for an unspecified input size: intended
                warnings.filterwarnings("ignore", message=".*input_shape. is undefined or non-square.*")
                try:
                    model = spec.load(weights, input_shape=(None, None, 3))
                    model(np.zeros((1, self.canvas, self.canvas, 3), np.float32), training=False)
                    self._model = model
                except Exception:
                    # NASNet: with ImageNet weights it refuses a dynamic shape; with random weights it builds
                    # one that fails at the first call (its cell cropping needs static sizes)
                    self._model = spec.load(weights, input_shape=(self.canvas, self.canvas, 3))
        return self._model


def model_key(entry: ModelEntry) -> dict[str, Any]:
    return {"model": entry.spec.name, "kwargs": [list(x) for x in entry.spec.kwargs], "weights": entry.weights_id}


def targets_of(entry: ModelEntry, layers: tuple[LayerInfo, ...], cache: Cache) -> list[Target]:
    """The objective target of every selected layer (needs the native model once; cached)."""
    k = key(kind="fv-targets", version=STAGE_VERSION, **model_key(entry), layers=[la.name for la in layers])
    got = cache.get_json("targets", k)
    if got is None:
        model = entry.model()
        got = [vars(make_target(model, la)) for la in layers]
        cache.put_json("targets", k, got)
    return [Target(**t) for t in got]


# --------------------------------------------------------------------------------------------- one layer
def _layer_key(
    entry: ModelEntry, layer: LayerInfo, target: Target, fv: FeatureVisConfig, settings: RenderSettings
) -> str:
    return key(
        kind="fv-layer",
        version=STAGE_VERSION,
        **model_key(entry),
        layer=layer.name,
        target=target.describe(),
        channels={"n": int(fv.channels), "seed": int(fv.seed), "rule": SELECTION_RULE},
        settings=settings.describe(),
    )


def _render_layer(
    render: _RenderModel,
    name: str,
    layer: LayerInfo,
    target: Target,
    fv: FeatureVisConfig,
    settings: RenderSettings,
    bar: Any,
) -> dict[str, np.ndarray]:
    renderer = Renderer(render.get(), target, preprocess_fn(render.entry.spec.preprocess_module), settings)
    live = renderer.live_channels()
    channels = select_channels(live, int(fv.channels), int(fv.seed), f"{name}/{layer.name}")
    # under JAX a fixed batch of fv.channels images (fewer are padded), so layers of the same map size reuse one
    # compiled program (compiling dominates on a GPU); TensorFlow on a CPU pays for padding and compiles cheaply
    batch = max(1, int(fv.channels)) if backend() == "jax" else None
    result = renderer.render(channels, f"{name}/{layer.name}", batch_size=batch, on_steps=bar.update)
    render.compile_seconds += result.compile_seconds
    return {
        "channels": np.asarray(channels, np.int64),
        "images": result.images,
        "activation": result.activation.astype(np.float32),
        "n_live": np.asarray(int(live.sum())),
        "backend": np.asarray(backend()),
    }


def _write_layer(
    data: DataDir,
    site: Path,
    model_slug: str,
    layer: LayerInfo,
    done: dict[str, np.ndarray] | None,
    examples: list[list[list[Any]]],
    fv: FeatureVisConfig,
) -> list[int]:
    """The layer's images and ``explorer/<model>/<layer>``; a layer not rendered yet is written as pending."""
    folder = site / "fv" / model_slug / layer.slug
    channels = [] if done is None else [int(x) for x in done["channels"]]
    keep = {f"{ch}.webp" for ch in channels}
    if folder.is_dir():
        for stale in folder.glob("*.webp"):
            if stale.name not in keep:
                stale.unlink()
    rows = []
    for i, ch in enumerate(channels):
        rel = f"fv/{model_slug}/{layer.slug}/{ch}.webp"
        _write_if_changed(site / rel, webp_bytes(done["images"][i]))  # type: ignore[index]
        rows.append(
            c.ExplorerChannel(
                channel=ch,
                image=rel,
                examples=examples[i] if i < len(examples) else [],
                activation=sig(float(done["activation"][i])),
            )
        )  # type: ignore[index]
    data.put(
        f"explorer/{model_slug}/{layer.slug}",
        c.ExplorerLayer(
            model=model_slug,
            layer=layer.slug,
            name=layer.name,
            quick=bool(fv.quick),
            pending=done is None,
            channels=rows,
        ),
    )
    return channels


# --------------------------------------------------------------------------------------------- budget
class Budget:
    """Stop between layers when the next one would not fit before ``deadline`` (a ``time.monotonic`` value).

    A layer's cost is estimated from the last rendered layer of the same model (deeper layers cost a little more:
    x 1.25), else from the slowest layer rendered so far; with no history the first layer is attempted."""

    def __init__(self, deadline: float | None):
        self.deadline = deadline
        self.stopped = False
        self.last: dict[str, float] = {}
        self.slowest = 0.0

    def allows(self, model: str) -> bool:
        if self.deadline is None or self.stopped:
            return not self.stopped
        estimate = 1.25 * self.last[model] if model in self.last else self.slowest
        if time.monotonic() + estimate > self.deadline:
            self.stopped = True
        return not self.stopped

    def record(self, model: str, seconds: float) -> None:
        self.last[model] = seconds
        self.slowest = max(self.slowest, seconds)


# --------------------------------------------------------------------------------------------- the stage
@dataclass
class FeatureVisSummary:
    quick: bool
    profile: str
    backend: str
    settings: dict[str, Any]
    seconds: float = 0.0
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    pending_layers: int = 0

    def __getitem__(self, name: str) -> Any:  # summary["models"] as in summary.json
        return getattr(self, name)


def run_featurevis(cfg: BuildConfig, inputs: BuildInputs, *, deadline: float | None = None) -> FeatureVisSummary:
    """Render the Model Explorer for ``inputs.models``, with dataset examples from ``inputs.datasets``.

    Writes ``cfg.site_dir / "fv"`` and ``cfg.site_dir / "data/explorer"``; checkpoints every layer in
    ``cfg.cache_dir / "featurevis"``. With a ``deadline`` (``time.monotonic()`` seconds) it stops between layers
    when the next would not fit, and writes the unfinished layers as pending: the next run resumes there.
    """
    fv = cfg.featurevis.effective()
    if backend() == "jax":  # compiled programs survive between builds (XLA tunes every convolution: slow)
        from .render import enable_compilation_cache

        enable_compilation_cache(cfg.cache_dir / "jax")
    cache = Cache(cfg.cache_dir / "featurevis")
    cache.sweep()  # the temp files of an interrupted run
    shared = Cache(cfg.cache_dir)
    site = cfg.site_dir
    data = DataDir(site, owned_prefix="explorer/")
    budget = Budget(deadline)
    t_all = time.perf_counter()
    summary = FeatureVisSummary(
        quick=bool(fv.quick),
        profile="quick" if fv.quick else "full",
        backend=backend(),
        settings={
            "channels": fv.channels,
            "steps": fv.steps,
            "size": fv.size or "native",
            "max_size": fv.max_size,
            "learning_rate": fv.learning_rate,
            "examples": fv.examples,
            "seed": fv.seed,
        },
    )
    index_models: list[c.ExplorerModel] = []
    for n, entry in enumerate(inputs.models, 1):
        t0 = time.perf_counter()
        log.info(f"featurevis: model {n} of {len(inputs.models)}: {entry.spec.name} ({entry.weights} weights)")
        try:
            model_fv = cfg.featurevis.effective(entry.spec.name)  # its [featurevis.model.NAME] settings
            out, stats = _run_model(entry, cfg, model_fv, inputs, cache, shared, site, data, budget)
        except Exception as exc:  # one model's failure must not lose the others' work
            if cfg.strict or isinstance(exc, KeyboardInterrupt):
                raise
            log.warn(f"featurevis: skipped {entry.spec.name}: {exc}")
            summary.models[entry.spec.name] = {"seconds": round(time.perf_counter() - t0, 2), "skipped": str(exc)}
            summary.skipped.append(entry.spec.name)
            continue
        finally:
            entry.release()
        stats["seconds"] = round(time.perf_counter() - t0, 2)
        summary.models[entry.spec.name] = stats
        summary.pending_layers += stats["pending_layers"]
        index_models.append(out)
    data.put(
        "explorer/index",
        c.ExplorerIndex(
            version=STAGE_VERSION,
            quick=bool(fv.quick),
            profile=summary.profile,
            settings={**summary.settings},
            backend=summary.backend,
            datasets=[ds.slug for ds in inputs.datasets],
            models=index_models,
            pending=summary.pending_layers,
        ),
    )
    data.prune()
    summary.seconds = round(time.perf_counter() - t_all, 2)
    return summary


def _run_model(
    entry: ModelEntry,
    cfg: BuildConfig,
    fv: FeatureVisConfig,
    inputs: BuildInputs,
    cache: Cache,
    shared: Cache,
    site: Path,
    data: DataDir,
    budget: Budget,
) -> tuple[c.ExplorerModel, dict[str, Any]]:
    info = model_info(entry, cfg, shared)
    layers = info.layers
    targets = targets_of(entry, layers, cache)
    settings = render_settings(fv, info.input_size)
    name = entry.spec.name
    keys = [_layer_key(entry, la, t, fv, settings) for la, t in zip(layers, targets, strict=True)]
    done = {k: cache.get_arrays("layer", k) for k in keys}
    todo = [i for i, k in enumerate(keys) if done[k] is None]
    scores, refs = (
        ex.dataset_scores(
            entry.model,
            preprocess=entry.spec.preprocess,
            targets=targets,
            datasets=inputs.datasets,
            size=info.input_size,
            batch_size=cfg.batch_size,
            cache=cache,
            model_key=model_key(entry),
        )
        if inputs.datasets
        else ([np.zeros((0, 0), np.float32) for _ in targets], [])
    )
    rendered = 0
    if todo:
        log.info(
            f"featurevis {name}: {len(todo)} of {len(layers)} layers to render ({fv.channels} channels, "
            f"{settings.steps} steps, {settings.size} px{', quick profile' if fv.quick else ''}); "
            "finished layers come from the cache"
        )
        render = _RenderModel(entry, settings.transforms.canvas(settings.size))
        bar = log.bar(desc=f"featurevis {name}", total=len(todo) * settings.steps, unit="step")
        try:
            for i in todo:
                if not budget.allows(name):
                    break
                t0 = time.monotonic()
                result = _render_layer(render, name, layers[i], targets[i], fv, settings, bar)
                cache.put_arrays("layer", keys[i], **result)  # the checkpoint: this layer is never rendered again
                done[keys[i]] = result
                rendered += 1
                budget.record(name, time.monotonic() - t0)
                log.info(
                    f"featurevis {name} {layers[i].name}: {len(result['channels'])} channels in "
                    f"{time.monotonic() - t0:.1f} s"
                )
        finally:
            bar.close()
    out_layers = []
    n_channels = pending = 0
    for i, (layer, t) in enumerate(zip(layers, targets, strict=True)):
        result = done[keys[i]]
        channels = [] if result is None else [int(x) for x in result["channels"]]
        top = ex.top_examples(scores[i], refs, channels, int(fv.examples))
        _write_layer(data, site, entry.slug, layer, result, top, fv)
        n_channels += len(channels)
        pending += result is None
        out_layers.append(
            c.ExplorerLayerInfo(
                slug=layer.slug,
                name=layer.name,
                type=layer.type,
                depth_index=layer.depth_index,
                conv_index=layer.conv_index,
                params=layer.params,
                channels=layer.channels,
                output_shape=list(layer.output_shape),
                visualized=channels,
                dead=0 if result is None else int(layer.channels) - int(result["n_live"]),
                target=t.describe(),
                data=f"explorer/{entry.slug}/{layer.slug}",
                images=f"fv/{entry.slug}/{layer.slug}/",
                pending=result is None,
            )
        )
    model = c.ExplorerModel(
        slug=entry.slug,
        name=name,
        display=entry.spec.display,
        weights=entry.weights,
        weights_id=entry.weights_id,
        random=entry.random,
        quick=bool(fv.quick),
        params=info.params,
        input_size=info.input_size,
        render_size=settings.size,
        steps=settings.steps,
        n_layers=len(info.table),
        layers=out_layers,
        layer_table=[row.to_json() for row in info.table],
    )
    stats = {
        "layers": len(layers),
        "channels": n_channels,
        "rendered_layers": rendered,
        "cached_layers": len(layers) - len(todo),
        "pending_layers": pending,
        "skipped": None,
        "quick": bool(fv.quick),
        "render_size": settings.size,
        "steps": settings.steps,
        "compile_seconds": round(render.compile_seconds, 2) if todo else 0.0,
    }
    return model, stats
