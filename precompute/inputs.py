"""What a build is made of: the resolved datasets and models, and the pieces that could not be had.

Every stage (precompute, featurevis, render, query, serve) starts from here, so a dataset name, a model name or
``NAME@WEIGHTS`` means the same everywhere, the weights a model really uses are decided once
(``ModelSpec.weights_for``: ``playground-net`` takes its own trained weights where the build asks for ImageNet ones),
and each missing piece is reported once. A model's input size and layer selection (``ModelInfo``) are decided here
too, cached so a no-op rebuild builds no model.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import log
from .cache import Cache, key
from .catalog import CATALOG, ModelSpec, user_model_spec
from .config import BuildConfig
from .datasets import Dataset
from .errors import BuildError, DatasetError, ModelUnavailable
from .layers import SELECTION_VERSION, LayerInfo, LayerRow

BUILTIN_DATASETS = ("shapes",)


@dataclass(frozen=True)
class Missing:
    """A piece of the configured build that could not be had: what, why, and how to add it."""

    what: str
    why: str
    how: str
    model: str | None = None  # the model argument as given, so a later stage does not warn about it again

    def to_json(self) -> dict[str, str]:
        out = {"what": self.what, "why": self.why, "how": self.how}
        if self.model is not None:
            out["model"] = self.model
        return out


@dataclass(frozen=True)
class ModelInfo:
    """What a build needs to know about a model without loading it again: cached per architecture."""

    layers: tuple[LayerInfo, ...]  # the selected layers, shallow to deep
    table: tuple[LayerRow, ...]  # every layer of the model
    params: int
    input_size: int  # the square size images are resized to

    def to_json(self) -> dict[str, Any]:
        return {
            "layers": [layer.to_json() for layer in self.layers],
            "table": [row.to_json() for row in self.table],
            "params": self.params,
            "input_size": self.input_size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            layers=tuple(LayerInfo.from_json(x) for x in data["layers"]),
            table=tuple(LayerRow.from_json(x) for x in data["table"]),
            params=int(data["params"]),
            input_size=int(data["input_size"]),
        )


@dataclass
class ModelEntry:
    """A model of this build: its catalogue entry and the weights it uses; the Keras model is loaded on demand
    (at most once until released)."""

    spec: ModelSpec
    weights: str  # what the model uses: imagenet | random | trained | file | a weights path
    arg: str  # the --models item as given (NAME or NAME@WEIGHTS or a path)
    info: ModelInfo | None = None
    _model: Any = field(default=None, repr=False)

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def weights_id(self) -> str:
        return self.spec.weights_id(self.weights)

    @property
    def random(self) -> bool:
        return self.weights == "random"

    @property
    def layers(self) -> tuple[LayerInfo, ...]:
        if self.info is None:
            raise RuntimeError(f"model info of {self.spec.name} not resolved yet (inputs.model_info)")
        return self.info.layers

    def model(self) -> Any:
        if self._model is None:
            log.info(f"loading {self.spec.name} ({self.weights} weights)")
            self._model = self.spec.load(self.weights)
        return self._model

    def release(self) -> None:
        self._model = None


@dataclass
class BuildInputs:
    """The datasets and models a stage works on, and what is missing."""

    datasets: list[Dataset]
    models: list[ModelEntry]
    missing: list[Missing]

    def report(self, strict: bool, *, skip_models: frozenset[str] = frozenset()) -> None:
        """One warning per missing piece (models in ``skip_models`` were reported by an earlier stage);
        ``--strict`` makes any missing piece an error."""
        shown = [m for m in self.missing if m.model is None or m.model not in skip_models]
        for m in shown:
            log.warn(f"skipped {m.what}: {m.why}" + (f"; {m.how}" if m.how else ""))
        if strict and shown:
            raise BuildError(f"--strict: {len(shown)} missing piece(s): " + "; ".join(m.what for m in shown))

    def require_something(self) -> None:
        if not self.datasets or not self.models:
            why = "no dataset could be read" if not self.datasets else "no model could be loaded"
            detail = " ".join(f"{m.what}: {m.why}" for m in self.missing)
            raise BuildError(f"nothing to build: {why}. {detail}".rstrip())


# --------------------------------------------------------------------------------------------- models
def model_spec(name: str, cache_dir: Path) -> ModelSpec:
    """A catalogue name, ``playground-net`` (trained into ``cache_dir``), or a path to a ``.keras`` file."""
    from . import playground_net

    if name in CATALOG:
        return CATALOG[name]
    if name == playground_net.NAME:
        return playground_net.spec(cache_dir)
    path = Path(name)
    if path.suffix == ".keras":
        if not path.is_file():
            raise ModelUnavailable(f"model file not found: {path}")
        return user_model_spec(path)
    known = ", ".join(sorted([*CATALOG, playground_net.NAME]))
    raise ModelUnavailable(f"unknown model '{name}'. Known models: {known}; or give a path to a .keras file.")


def catalogue(cache_dir: Path) -> list[ModelSpec]:
    """Every named model: the Keras Applications entries, then ``playground-net``."""
    from . import playground_net

    return [*CATALOG.values(), playground_net.spec(cache_dir)]


def parse_model_arg(item: str, default_weights: str) -> tuple[str, str]:
    """``name`` or ``name@weights`` (per-model weights, e.g. ``mobilenet_075@imagenet``)."""
    if "@" in item and not Path(item).exists():
        name, weights = item.rsplit("@", 1)
        return name, weights
    return item, default_weights


def resolve_models(cfg: BuildConfig, names: tuple[str, ...] | list[str]) -> tuple[list[ModelEntry], list[Missing]]:
    entries: list[ModelEntry] = []
    missing: list[Missing] = []
    seen: set[str] = set()
    for item in names:
        name, requested = parse_model_arg(item, cfg.weights)
        try:
            spec = model_spec(name, cfg.cache_dir)
        except ModelUnavailable as exc:
            missing.append(Missing(f"model {name}", str(exc), "check the name (playground models)"))
            continue
        weights = spec.weights_for(requested)
        if spec.slug in seen:
            raise BuildError(f"model '{name}' is listed twice")
        seen.add(spec.slug)
        problem = spec.weights_problem(weights)
        if problem:
            missing.append(Missing(f"model {name} ({weights} weights)", problem, spec.missing_how(weights), item))
            continue
        entries.append(ModelEntry(spec, weights, item))
    return entries, missing


def model_info(entry: ModelEntry, cfg: BuildConfig, cache: Cache) -> ModelInfo:
    """Layer selection, layer table and sizes for a model: cached, so no-op rebuilds never build it."""
    override = cfg.layers.get(entry.spec.name)
    k = key(
        kind="modelinfo",
        selection=SELECTION_VERSION,
        model=entry.spec.name,
        kwargs=[list(x) for x in entry.spec.kwargs],
        arch=entry.spec.arch_id(entry.weights),
        size=entry.spec.input_size,
        keras=package_version("keras"),
        n=cfg.layers_per_model,
        override=list(override or []),
    )
    data = cache.get_json("modelinfo", k)
    if data is None:
        from .layers import layer_table, select_layers

        model = entry.model()
        info = ModelInfo(
            layers=tuple(select_layers(model, cfg.layers_per_model, list(override) if override else None)),
            table=tuple(layer_table(model)),
            params=int(model.count_params()),
            input_size=entry.spec.input_size_of(model),
        )
        cache.put_json("modelinfo", k, info.to_json())
    else:
        info = ModelInfo.from_json(data)
    entry.info = info
    return info


def package_version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------------------------- datasets
def _load_builtin(name: str, cfg: BuildConfig) -> Dataset:
    from .datasets import load_dataset
    from .shapes import META, ensure_shapes_dataset

    ds = load_dataset(ensure_shapes_dataset(cfg.cache_dir / "datasets"))
    return replace(ds, meta={**ds.meta, **{k: v for k, v in META.items() if k != "name"}})


def resolve_datasets(cfg: BuildConfig, names: tuple[str, ...] | list[str]) -> tuple[list[Dataset], list[Missing]]:
    from .datasets import load_dataset, resolve

    loaded: list[Dataset] = []
    missing: list[Missing] = []
    slugs: set[str] = set()
    for name in names:
        try:
            if name in BUILTIN_DATASETS and not (cfg.datasets_dir / name).is_dir():
                ds = _load_builtin(name, cfg)
            else:
                ds = load_dataset(
                    resolve(name, cfg.datasets_dir),
                    options=cfg.options_for(name),
                    strict=cfg.strict,
                    cache_dir=cfg.cache_dir,
                )
        except (DatasetError, FileNotFoundError, NotADirectoryError) as exc:
            manifest = cfg.datasets_dir / f"{name}.json"
            if "datasets fetch" in str(exc):
                how = ""  # the message already says how
            elif manifest.exists():
                how = f"playground datasets fetch {name} (online) or playground datasets fetch {name} --from DIR"
            else:
                how = f"see how it is read: playground datasets inspect {name}"
            missing.append(Missing(f"dataset {name}", str(exc), how))
            continue
        if len(ds.images) < 2:
            missing.append(
                Missing(
                    f"dataset {name}", "fewer than 2 readable images: nothing to search", "add images to the folder"
                )
            )
            continue
        if ds.slug in slugs:
            raise BuildError(f"dataset '{name}' is listed twice")
        slugs.add(ds.slug)
        loaded.append(ds)
    return loaded, missing


# --------------------------------------------------------------------------------------------- a build
def resolve(
    cfg: BuildConfig, *, models: tuple[str, ...] | list[str] | None = None, datasets: list[Dataset] | None = None
) -> BuildInputs:
    """The datasets (scanned once: pass ``datasets`` to reuse a scan) and models of a stage."""
    missing: list[Missing] = []
    if datasets is None:
        datasets, missing = resolve_datasets(cfg, cfg.datasets)
    entries, missing_models = resolve_models(cfg, cfg.models if models is None else models)
    return BuildInputs(datasets, entries, missing + missing_models)
