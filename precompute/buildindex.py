"""What a build holds, read back from ``manifest.json`` and the cache: the records ``playground query``,
``playground serve`` and ``playground export`` check names against and answer from (unknown names are
``UnknownName``: HTTP 404, with the allowed values). It sits below all three, so none of them imports another to
read the build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .cache import Cache
from .config import BuildConfig
from .errors import QueryError


@dataclass(frozen=True)
class DatasetRecord:
    slug: str
    name: str
    root: str
    n_images: int
    labeled: bool
    classes: list[str]
    rels: list[str]
    labels: list[int | None]


@dataclass(frozen=True)
class LayerRecord:
    slug: str
    name: str
    act_name: str


@dataclass(frozen=True)
class ModelRecord:
    slug: str
    name: str
    arg: str
    weights: str
    input_size: int
    layers: list[LayerRecord]


@dataclass
class BuildIndex:
    """What a build holds, read from ``manifest.json``: names are checked against it (unknown ones are 404s)."""

    cfg: BuildConfig
    datasets: dict[str, DatasetRecord]
    models: dict[str, ModelRecord]
    settings: dict[str, Any]
    views: dict[str, Any]

    @classmethod
    def load(cls, cfg: BuildConfig) -> BuildIndex:
        path = cfg.manifest_path
        if not path.is_file():
            raise QueryError(f"no build in {cfg.out}: run `playground build` (or `playground precompute`) first")
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise QueryError(f"{path} is unreadable ({exc}): run `playground precompute` again") from exc
        cache = Cache(cfg.cache_dir)
        datasets = {}
        for d in m["datasets"]:
            images = cache.get_json("dataset-index", d["images_key"]) or {"rels": [], "labels": []}
            datasets[d["slug"]] = DatasetRecord(
                d["slug"],
                d["name"],
                d["root"],
                d["n_images"],
                d["labeled"],
                d["classes"],
                images["rels"],
                images["labels"],
            )
        models = {
            x["slug"]: ModelRecord(
                x["slug"], x["name"], x["arg"], x["weights"], x["input_size"], [LayerRecord(**la) for la in x["layers"]]
            )
            for x in m["models"]
        }
        return cls(cfg, datasets, models, m["settings"], m["views"])

    # --- names -> records, with the allowed values in every error
    def dataset(self, name: str) -> DatasetRecord:
        for d in self.datasets.values():
            if name in (d.slug, d.name):
                return d
        raise UnknownName("dataset", name, list(self.datasets))

    def model(self, name: str) -> ModelRecord:
        for m in self.models.values():
            if name in (m.slug, m.name, m.arg):
                return m
        raise UnknownName("model", name, list(self.models))

    def layers(self, model: ModelRecord, name: str | None) -> list[LayerRecord]:
        if name in (None, ""):
            return [model.layers[-1]]
        if name == "all":
            return list(model.layers)
        for la in model.layers:
            if name in (la.slug, la.name):
                return [la]
        raise UnknownName("layer", name, [la.slug for la in model.layers] + ["all"])

    def pooling(self, name: str | None) -> str:
        poolings = list(self.settings["pooling"])
        if name in (None, ""):
            return poolings[0]
        if name not in poolings:
            raise UnknownName("pooling", name, poolings)
        return name

    def metric(self, name: str) -> str:
        if name not in self.settings["metrics"]:
            raise UnknownName("metric", name, list(self.settings["metrics"]))
        return name

    def view(self, ds: str, model: str, layer: str, pooling: str) -> dict[str, Any]:
        return self.views[ds][model][layer][pooling]


class UnknownName(QueryError):
    """A dataset, model, layer, pooling or metric the build does not have (HTTP 404), with the allowed values."""

    def __init__(self, what: str, name: str, allowed: list[str]):
        self.what, self.name, self.allowed = what, name, allowed
        super().__init__(f"unknown {what} '{name}'; this build has: {', '.join(allowed)}")
