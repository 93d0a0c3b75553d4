"""The build configuration: ``playground.toml`` merged with command-line overrides."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "playground.toml"
METRICS = ("cosine", "euclidean", "sqeuclidean", "minkowski")
POOLINGS = ("avg", "max", "flatten")


class ConfigError(ValueError):
    """A setting that cannot be used, with the reason."""


@dataclass(frozen=True)
class FeatureVisConfig:
    models: tuple[str, ...] = ()
    channels: int = 30
    steps: int = 512
    size: int = 128
    learning_rate: float = 0.05
    examples: int = 9
    seed: int = 0
    quick: bool = False
    quick_profile: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def effective(self) -> FeatureVisConfig:
        """This config with the quick profile applied when ``quick`` is set."""
        if not self.quick:
            return self
        return replace(self, **{k: v for k, v in self.quick_profile.items() if k in _names(FeatureVisConfig)})


@dataclass(frozen=True)
class BuildConfig:
    out: Path = REPO_ROOT / "build"
    datasets_dir: Path = REPO_ROOT / "datasets"
    datasets: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    weights: str = "imagenet"
    batch_size: int = 32
    metrics: tuple[str, ...] = METRICS
    minkowski_p: float = 3
    top_k: int = 15
    pooling: str = "avg"
    layers_per_model: int = 8
    umap_neighbors: int = 15
    umap_min_dist: float = 0.5
    seed: int = 42
    layers: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
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
    def summary_path(self) -> Path:
        return self.out / "summary.json"

    def validate(self) -> BuildConfig:
        bad = [m for m in self.metrics if m not in METRICS]
        if bad:
            raise ConfigError(f"unknown metric(s) {bad}; choose from {list(METRICS)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling '{self.pooling}'; choose from {list(POOLINGS)}")
        if self.top_k < 1:
            raise ConfigError("top_k must be at least 1")
        if self.minkowski_p < 1:
            raise ConfigError("minkowski_p must be >= 1 (p < 1 is not a metric)")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        return self


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def load_config(path: Path | None = None, **overrides: Any) -> BuildConfig:
    """Read ``path`` (default: the repo's ``playground.toml``) and apply non-None ``overrides``.

    Relative paths in the file are resolved against the file's folder.
    """
    path = Path(path) if path else DEFAULT_CONFIG
    raw: dict[str, Any] = {}
    if path.exists():
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    elif path != DEFAULT_CONFIG:
        raise ConfigError(f"config file not found: {path}")
    base = path.parent
    flat: dict[str, Any] = {}
    flat.update(raw.get("build", {}))
    flat.update(raw.get("search", {}))
    unknown = set(flat) - _names(BuildConfig)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path.name}: {sorted(unknown)}")
    for key in ("out", "datasets_dir"):
        if key in flat:
            flat[key] = (base / flat[key]).resolve()
    flat = {k: _as_tuple(v) for k, v in flat.items()}
    flat["layers"] = {k: tuple(v) for k, v in raw.get("layers", {}).items()}
    fv_raw = dict(raw.get("featurevis", {}))
    quick = fv_raw.pop("quick", {})
    unknown_fv = set(fv_raw) - _names(FeatureVisConfig)
    if unknown_fv:
        raise ConfigError(f"unknown [featurevis] setting(s) in {path.name}: {sorted(unknown_fv)}")
    fv = FeatureVisConfig(**{k: _as_tuple(v) for k, v in fv_raw.items()}, quick_profile=quick)
    fv_over = {k[3:]: v for k, v in overrides.items() if k.startswith("fv_") and v is not None}
    if fv_over:
        fv = replace(fv, **fv_over)
    flat["featurevis"] = fv
    cfg = BuildConfig(**flat)
    plain = {k: _as_tuple(v) for k, v in overrides.items() if not k.startswith("fv_") and v is not None}
    for key in ("out", "datasets_dir"):
        if key in plain:
            plain[key] = Path(plain[key]).resolve()
    return replace(cfg, **plain).validate()
