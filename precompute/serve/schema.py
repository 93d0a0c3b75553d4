"""The query API's answers (``GET /api/health``, ``POST /api/query``, ``POST /api/compare``) as typed structures.

A layer's answer carries the fields of the site's rankings (``contract.RankShard``) for one query: neighbour ids,
distances and similarity (``near_ppm``: parts per million of the dataset's pairs at most this far apart; ``sim`` =
1 - near_ppm / 1e6), plus the neighbours' classes and files and where the image lands on the layer's map.
"""

from __future__ import annotations

import msgspec


class Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class HealthDataset(Struct):
    slug: str
    name: str
    n_images: int
    labeled: bool


class HealthModel(Struct):
    slug: str
    name: str
    weights: str
    layers: list[str]


class Health(Struct):
    status: str
    datasets: list[HealthDataset]
    models: list[HealthModel]
    poolings: list[str]
    metrics: list[str]
    k: int
    max_upload: int


class LayerAnswer(Struct):
    layer: str
    layer_name: str
    featurizer: str  # export.featurizer_name: what `playground export` and its export.json call this featurizer
    export: str  # the `playground export` command that writes this featurizer, its embeddings and index
    ids: list[int]
    dist: list[float]
    sim: list[float | None]
    near_ppm: list[int | None]
    labels: list[int | None]
    classes: list[str | None]
    files: list[str]
    map_xy: list[float] | None


class Timing(Struct):
    decode: float
    embed: float
    search: float


class QueryAnswer(Struct):
    dataset: str
    model: str
    pooling: str
    metric: str
    k: int
    layers: list[LayerAnswer]
    timing_ms: Timing


class ImageAnswer(Struct):
    image: str
    answer: QueryAnswer


class CompareAnswer(Struct):
    dataset: str
    pooling: str
    metric: str
    models: list[QueryAnswer]


class ApiError(Struct):
    error: str
    allowed: list[str] | None = None
