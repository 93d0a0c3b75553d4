"""The build configuration: ``playground.toml`` merged with command-line overrides.

The schema is declared here once: ``SECTIONS`` names the settings of each TOML table, ``BuildConfig`` and
``FeatureVisConfig`` hold them with their defaults, ``validate`` checks them. A key in the wrong table or a
misspelt one is an error naming the table and the known keys, so a typo never passes silently.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "playground.toml"
METRICS = ("cosine", "euclidean", "sqeuclidean", "minkowski")
POOLINGS = ("avg", "max", "gem", "grid2", "flatten")
ENGINES = ("local", "ray")
INDEXES = ("auto", "exact", "approximate")  # approximate.INDEX_CHOICES (config stays free of numpy imports)
PER_MODEL_FV = frozenset({"channels", "steps", "size", "learning_rate"})  # [featurevis.model.NAME] keys


@dataclass(frozen=True)
class FeatureVisConfig:
    models: tuple[str, ...] = ()
    channels: int = 30
    steps: int = 512
    size: int = 0  # 0: each model at its own input size (capped at max_size)
    max_size: int = 224
    learning_rate: float = 0.05
    examples: int = 9
    seed: int = 0
    quick: bool = False
    quick_profile: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # [featurevis.model.NAME]: per-model settings (e.g. fewer steps for the small playground-net, measured to
    # converge in 256); the quick profile still applies on top of them
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)

    def effective(self, model: str | None = None) -> FeatureVisConfig:
        """This config for ``model`` (its ``[featurevis.model.NAME]`` settings), with the quick profile applied
        when ``quick`` is set."""
        fv = replace(self, **self.per_model[model]) if model in self.per_model else self
        if not fv.quick:
            return fv
        return replace(fv, **{k: v for k, v in fv.quick_profile.items() if k in _names(FeatureVisConfig)})

    def render_size(self, input_size: int) -> int:
        """The side a model's visualizations are rendered at: ``size``, or the model's own input size."""
        return int(self.size) if self.size else min(int(input_size), int(self.max_size))


@dataclass(frozen=True)
class DatasetOptions:
    """How to read one dataset (``[datasets.NAME]`` in playground.toml, or ``--labels`` & co. on the command line
    for a build of one dataset): a labels file and its columns, and class display names."""

    labels: Path | None = None  # CSV/TSV/JSONL: file column -> label column
    file_column: str | None = None  # default: file_name
    label_column: str | None = None  # default: label, or the only other column
    class_names: Path | None = None  # id<TAB>display name lines (Tiny ImageNet's words.txt)


DATASET_KEYS = ("labels", "file_column", "label_column", "class_names")


@dataclass(frozen=True)
class BuildConfig:
    # [build]
    out: Path = REPO_ROOT / "build"
    datasets_dir: Path = REPO_ROOT / "datasets"
    datasets: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    weights: str = "imagenet"
    batch_size: int = 32
    budget: float = 0.0  # seconds for the whole build (0: no limit); "5h", "90m" in the file and on the CLI
    # [search]
    metrics: tuple[str, ...] = METRICS
    minkowski_p: float = 3
    top_k: int = 15
    index: str = "auto"  # auto | exact | approximate (``approximate``: an HNSW graph for large views)
    pooling: tuple[str, ...] = ("avg", "grid2")
    gem_p: float = 3.0
    layers_per_model: int = 8
    umap_neighbors: int = 15
    umap_min_dist: float = 0.5
    seed: int = 42
    # [probe]
    probe_folds: int = 5
    probe_max_images: int = 2000
    # [compute]
    engine: str = "local"
    ray_address: str = ""
    memory_limit_gb: float = 0.0  # 0: 80 % of this machine's memory
    workers: int = 0  # processes for the per-view work (UMAP, probe, scores); 0: half the cores, at most 8
    # [serve]
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    max_upload_mb: float = 20.0
    # [site]
    browser_search_max_images: int = 20_000  # own-image search in the visitor's browser up to this many images
    browser_search_max_mb: float = 200.0  # and at most this many MB of shipped embeddings per dataset
    # other tables and run-time switches
    layers: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    dataset_options: dict[str, DatasetOptions] = field(default_factory=dict, compare=False, hash=False)
    featurevis: FeatureVisConfig = field(default_factory=FeatureVisConfig)
    quiet: bool = False
    strict: bool = False

    @property
    def site_dir(self) -> Path:
        return self.out / "site"

    @property
    def cache_dir(self) -> Path:
        return self.out / "cache"

    @property
    def jit_dir(self) -> Path:
        """Compiled numba kernels (UMAP's): machine-specific, so outside the deterministic ``cache_dir``."""
        return self.out / "jit"

    @property
    def summary_path(self) -> Path:
        return self.out / "summary.json"

    @property
    def manifest_path(self) -> Path:
        return self.out / "manifest.json"

    def options_for(self, dataset: str) -> DatasetOptions | None:
        """The ``[datasets.NAME]`` options of a dataset as listed (a name or a path), or of its folder's name."""
        if dataset in self.dataset_options:
            return self.dataset_options[dataset]
        from .archives import archive_stem

        return self.dataset_options.get(archive_stem(Path(dataset)))

    @property
    def view_workers(self) -> int:
        if self.workers > 0:
            return self.workers
        return max(1, min(8, (os.cpu_count() or 1) // 2))

    @property
    def memory_limit_bytes(self) -> int:
        if self.memory_limit_gb > 0:
            return int(self.memory_limit_gb * 2**30)
        try:
            return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return 8 * 2**30

    def validate(self) -> BuildConfig:
        bad = [m for m in self.metrics if m not in METRICS]
        if bad:
            raise ConfigError(f"unknown metric(s) {bad}; choose from {list(METRICS)}")
        if not self.metrics:
            raise ConfigError("metrics: give at least one metric")
        badp = [p for p in self.pooling if p not in POOLINGS]
        if badp or not self.pooling:
            raise ConfigError(f"unknown pooling(s) {badp or '(none)'}; choose from {list(POOLINGS)}")
        if len(set(self.pooling)) != len(self.pooling) or len(set(self.metrics)) != len(self.metrics):
            raise ConfigError("a pooling or metric is listed twice")
        if self.top_k < 1:
            raise ConfigError("top_k must be at least 1")
        if self.index not in INDEXES:
            raise ConfigError(f"unknown index '{self.index}'; choose from {list(INDEXES)}")
        if self.minkowski_p < 1:
            raise ConfigError("minkowski_p must be >= 1 (p < 1 is not a metric)")
        if self.gem_p < 1:
            raise ConfigError("gem_p must be >= 1 (1 is average pooling; larger p moves towards max pooling)")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine '{self.engine}'; choose from {list(ENGINES)}")
        if self.workers < 0:
            raise ConfigError("workers must be 0 (automatic) or a positive number of processes")
        if self.probe_folds < 2:
            raise ConfigError("probe folds must be at least 2")
        if self.budget < 0:
            raise ConfigError("budget must be a positive duration (e.g. 5h, 90m) or 0 for none")
        if self.max_upload_mb <= 0:
            raise ConfigError("max_upload_mb must be positive")
        if self.browser_search_max_images < 0:
            raise ConfigError("site.browser_search_max_images must be 0 (off) or a number of images")
        if self.browser_search_max_mb <= 0:
            raise ConfigError("site.browser_search_max_mb must be positive")
        return self


#: Which settings each table of playground.toml holds (TOML key -> BuildConfig field).
SECTIONS: dict[str, dict[str, str]] = {
    "build": {k: k for k in ("out", "datasets_dir", "datasets", "models", "weights", "batch_size", "budget")},
    "search": {
        k: k
        for k in (
            "metrics",
            "minkowski_p",
            "top_k",
            "index",
            "pooling",
            "gem_p",
            "layers_per_model",
            "umap_neighbors",
            "umap_min_dist",
            "seed",
        )
    },
    "probe": {"folds": "probe_folds", "max_images": "probe_max_images"},
    "compute": {
        "engine": "engine",
        "ray_address": "ray_address",
        "memory_limit_gb": "memory_limit_gb",
        "workers": "workers",
    },
    "serve": {"host": "serve_host", "port": "serve_port", "max_upload_mb": "max_upload_mb"},
    "site": {
        "browser_search_max_images": "browser_search_max_images",
        "browser_search_max_mb": "browser_search_max_mb",
    },
}
TABLES = (*SECTIONS, "layers", "featurevis", "datasets")


def parse_duration(value: Any) -> float:
    """Seconds from ``3600``, ``"90m"``, ``"5h"``, ``"1h30m"``, ``"45s"`` (``0``/``""``: no limit)."""
    if value in (None, "", 0):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"cannot read the duration '{value}': write e.g. 5h, 90m, 1h30m or a number of seconds")
    return float(sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts))


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _normalise(flat: dict[str, Any]) -> dict[str, Any]:
    out = {k: _as_tuple(v) for k, v in flat.items()}
    if isinstance(out.get("pooling"), str):
        out["pooling"] = tuple(p.strip() for p in out["pooling"].split(",") if p.strip())
    if "budget" in out:
        out["budget"] = parse_duration(out["budget"])
    return out


def load_config(path: Path | None = None, **overrides: Any) -> BuildConfig:
    """Read ``path`` (default: the repo's ``playground.toml``) and apply non-None ``overrides`` (BuildConfig field
    names; ``fv_<name>`` for feature-visualization settings). Relative paths in the file are resolved against the
    file's folder."""
    path = Path(path) if path else DEFAULT_CONFIG
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path.name} is not valid TOML: {exc}") from exc
    elif path != DEFAULT_CONFIG:
        raise ConfigError(f"config file not found: {path}")
    unknown_tables = sorted(set(raw) - set(TABLES))
    if unknown_tables:
        raise ConfigError(f"unknown table(s) {unknown_tables} in {path.name}; known: {list(TABLES)}")
    flat: dict[str, Any] = {}
    for table, keys in SECTIONS.items():
        values = raw.get(table, {})
        unknown = sorted(set(values) - set(keys))
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown} in [{table}] of {path.name}; known: {sorted(keys)}")
        flat.update({keys[k]: v for k, v in values.items()})
    for key in ("out", "datasets_dir"):
        if key in flat:
            flat[key] = (path.parent / flat[key]).resolve()
    flat = _normalise(flat)
    flat["layers"] = {k: tuple(v) for k, v in raw.get("layers", {}).items()}
    flat["dataset_options"] = _dataset_tables(raw.get("datasets", {}), path)
    fv_raw = dict(raw.get("featurevis", {}))
    quick = fv_raw.pop("quick", {})
    per_model = fv_raw.pop("model", {})
    unknown_fv = set(fv_raw) - (_names(FeatureVisConfig) - {"per_model", "quick_profile"})
    if unknown_fv:
        raise ConfigError(f"unknown [featurevis] setting(s) in {path.name}: {sorted(unknown_fv)}")
    for name, values in per_model.items():
        bad = sorted(set(values) - PER_MODEL_FV) if isinstance(values, dict) else ["(not a table)"]
        if bad:
            raise ConfigError(
                f"unknown setting(s) {bad} in [featurevis.model.{name}] of {path.name}; known: {sorted(PER_MODEL_FV)}"
            )
    fv = FeatureVisConfig(
        **{k: _as_tuple(v) for k, v in fv_raw.items()}, quick_profile=quick, per_model=dict(per_model)
    )
    fv_over = {k[3:]: v for k, v in overrides.items() if k.startswith("fv_") and v is not None}
    if fv_over:
        fv = replace(fv, **fv_over)
    flat["featurevis"] = fv
    try:
        cfg = BuildConfig(**flat)
    except TypeError as exc:
        raise ConfigError(f"{path.name}: {exc}") from exc
    cli_ds = {k: overrides.pop(k) for k in DATASET_KEYS if overrides.get(k) is not None}
    for k in DATASET_KEYS:
        overrides.pop(k, None)
    plain = _normalise({k: v for k, v in overrides.items() if not k.startswith("fv_") and v is not None})
    for key in ("out", "datasets_dir"):
        if key in plain:
            plain[key] = Path(plain[key]).resolve()
    cfg = replace(cfg, **plain)
    if cli_ds:
        cfg = _with_cli_dataset(cfg, cli_ds)
    return cfg.validate()


def _dataset_tables(tables: Any, path: Path) -> dict[str, DatasetOptions]:
    """``[datasets.NAME]`` tables; file paths relative to the config file's folder (when the file is there)."""
    out: dict[str, DatasetOptions] = {}
    if not isinstance(tables, dict):
        raise ConfigError(f"[datasets] in {path.name} must hold [datasets.NAME] tables")
    for name, values in tables.items():
        bad = sorted(set(values) - set(DATASET_KEYS)) if isinstance(values, dict) else ["(not a table)"]
        if bad:
            raise ConfigError(
                f"unknown setting(s) {bad} in [datasets.{name}] of {path.name}; known: {sorted(DATASET_KEYS)}"
            )
        opts = {k: str(v) for k, v in values.items()}
        for key in ("labels", "class_names"):
            if key in opts:
                rel = path.parent / opts[key]
                opts[key] = rel if rel.exists() or Path(opts[key]).is_absolute() else Path(opts[key])  # type: ignore[assignment]
        out[str(name)] = DatasetOptions(**opts)  # type: ignore[arg-type]
    return out


def _with_cli_dataset(cfg: BuildConfig, given: dict[str, Any]) -> BuildConfig:
    """``--labels``/``--file-column``/``--label-column``/``--class-names`` apply to the one dataset of the build."""
    if len(cfg.datasets) != 1:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(
            f"{flags} describe one dataset: give exactly one with --datasets (this build has {len(cfg.datasets)}); "
            "for several, use [datasets.NAME] tables in playground.toml"
        )
    name = cfg.datasets[0]
    base = cfg.options_for(name) or DatasetOptions()
    for key in ("labels", "class_names"):
        if key in given:
            given[key] = Path(given[key])
    return replace(cfg, dataset_options={**cfg.dataset_options, name: replace(base, **given)})
