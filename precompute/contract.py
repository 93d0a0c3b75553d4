"""The site data contract: one typed structure per kind of file under ``build/site/data/``.

Every data file the site reads is one of the ``msgspec.Struct`` types below, written by exactly one writer
(``sitefiles.py`` for the precompute stage, ``featurevis/stage.py`` for the Model Explorer, ``serve/`` for the
live flag) and read by exactly one shape of JavaScript. The JSON Schema of each kind (``docs/schema/``) and the
contract table in ``docs/architecture.md`` are generated from these types (``python -m precompute.docgen``), and
the tests validate every file of a real build against the schemas, so code, docs and files cannot drift apart.

Why msgspec: its Structs are plain typed classes that encode and decode strictly (unknown or missing fields are
errors), and it generates JSON Schema from the same definitions; a dataclass would need a second hand-written
schema, and pydantic is a much larger dependency for the same result.

Conventions: keys are slugs (``[a-z0-9_-]``); raw names (which may hold ``<script>``, quotes or any Unicode)
appear only inside JSON strings. Numbers are rounded or scaled to integers so files are small and byte-stable.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]+$")]
Pct = Annotated[float, msgspec.Meta(ge=0, le=100)]


def _d(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every file kind: unknown fields are an error when a file is read back."""


# ------------------------------------------------------------------------------------------------ index
#: The shape of the data files as the pages read them: bump when a change leaves older pages unable to read the
#: data (2: rankings as typed arrays, similarity from calibration files; 3: a per-class file and a scores file per
#: view). The rendered pages carry the format they read (``<html data-format>``) and say so when
#: ``index.build.format`` is another one.
DATA_FORMAT = 3


class BuildInfo(Struct):
    version: str
    backend: Annotated[str, _d("Keras backend the build ran on (tensorflow | jax)")]
    poolings: list[Slug]
    minkowski_p: float
    seed: int
    k: Annotated[int, _d("neighbours per query")]
    format: Annotated[int, _d("DATA_FORMAT of the files (1: before it was recorded)")] = 1


class SkippedFiles(Struct):
    """How many files a dataset's scan skipped for one reason."""

    reason: Annotated[str, _d("not an image file | unreadable image | image beside the class folders | ...")]
    count: int


class LabelRows(Struct):
    """How many rows of a dataset's labels file had one kind of problem."""

    problem: Annotated[str, _d("rows naming a missing file | duplicate rows | rows with an empty label | ...")]
    count: int


class DatasetInfo(Struct):
    slug: Slug
    name: str
    labeled: bool
    n_images: int
    n_classes: int
    description: str
    source: str
    licence: str
    attribution: str
    skipped: Annotated[int, _d("files the scan skipped (unreadable, not images, unlabelled...)")]
    layout: Annotated[str, _d("how the folder was read: class folders | nested class folders | flat | labels file")]
    labels_source: Annotated[str, _d("where the labels came from: folder names | none | FILE (column -> column)")]
    archive: Annotated[str, _d("the archive the dataset was read from, or empty for a folder")]
    skipped_files: Annotated[list[SkippedFiles], _d("the skipped files by reason")]
    label_rows: Annotated[list[LabelRows], _d("labels-file problems by kind (empty without a labels file)")]


class LayerInfoOut(Struct):
    slug: Slug
    name: str
    type: str
    depth_index: Annotated[int, _d("position among all layers of the model")]
    conv_index: Annotated[int, _d("position among the model's conv layers")]
    n_conv: int
    params: int
    channels: int
    output_shape: list[int | None]


class Training(Struct):
    """How a model the build trained itself (playground-net) was trained and how well it does."""

    dataset: str
    images: int
    val_images: int
    val_accuracy: Annotated[float, _d("fraction of fresh validation images classified right")]
    epochs: int


class ModelOut(Struct):
    slug: Slug
    name: str
    display: str
    weights: Annotated[str, _d("imagenet | random | trained | file | a weights file name")]
    random: Annotated[bool, _d("untrained, seeded weights")]
    params: int
    input_size: int
    n_layers: int
    explorer_only: bool
    layers: list[LayerInfoOut]
    training: Training | None = None


class Choice(Struct):
    slug: Slug
    name: str
    description: str


class Defaults(Struct):
    dataset: Slug
    model: Slug
    layer: Slug
    metric: Slug
    pooling: Slug


class MissingOut(Struct):
    what: str
    why: str
    how: str
    model: str | None = None


class Shards(Struct):
    rank_block: Annotated[int, _d("queries per rankings shard: shard = query id // rank_block")]
    files_block: Annotated[int, _d("image ids per file-names shard")]
    compare_block: Annotated[int, _d("queries per compare shard")]


class Index(Struct):
    """Everything the pages need before any view: datasets, models and their layers, choices."""

    build: BuildInfo
    datasets: list[DatasetInfo]
    models: list[ModelOut]
    metrics: list[Choice]
    poolings: list[Choice]
    k: int
    defaults: Defaults
    missing: list[MissingOut]
    shards: Shards


# ------------------------------------------------------------------------------------------------ leaderboard
PerLayer = list[float | None]
ByMetric = dict[str, dict[str, dict[str, dict[str, PerLayer]]]]
ByPooling = dict[str, dict[str, dict[str, PerLayer]]]


class Leaderboard(Struct):
    """The means per dataset x pooling x (metric) x model, one value per selected layer."""

    score: Annotated[ByMetric, _d("[ds][pooling][metric][model]: mean search score 0-100")]
    precision: Annotated[ByMetric, _d("[ds][pooling][metric][model]: mean precision@k, 0-1")]
    knn: Annotated[ByMetric, _d("[ds][pooling][metric][model]: kNN-k leave-one-out accuracy %")]
    probe: Annotated[ByPooling, _d("[ds][pooling][model]: linear-probe accuracy % (mean over the folds)")]
    probe_std: Annotated[ByPooling, _d("[ds][pooling][model]: standard deviation of the fold accuracies, %")]


# ------------------------------------------------------------------------------------------------ datasets
class Sprite(Struct):
    """Thumbnails packed into sheets: image ``id`` is cell ``id % per_sheet`` of ``<url><id // per_sheet>.webp``,
    row-major, ``cols`` cells per row, each ``cell`` px square (the thumbnail centred, aspect kept)."""

    url: str
    cell: int
    cols: int
    per_sheet: int


class DatasetFile(Struct):
    """A dataset's classes and where its images are; file names come in shards."""

    slug: Slug
    name: str
    n: int
    classes: Annotated[list[str], _d("class ids: the folder names or labels")]
    class_names: Annotated[
        list[str] | None, _d("display names, one per class (from --class-names), or null: show the ids")
    ]
    class_start: Annotated[
        list[int] | None,
        _d("ids are sorted by class: class c owns ids class_start[c] .. class_start[c+1]-1 (null: unlabelled)"),
    ]
    files_block: int
    thumbs: Sprite
    display: Annotated[
        str | None,
        _d("folder of display images <display><id>.webp, or null when the thumbnail is the largest image shown"),
    ]


class FilesShard(Struct):
    """The file names (path inside the dataset) of ids ``first`` .."""

    first: int
    files: list[str]


# ------------------------------------------------------------------------------------------------ views
class RankShard(Struct):
    """The top-k of queries ``first`` .. ``first + rows - 1`` as typed arrays: little-endian, row-major, base64.

    Result j of query ``first + i`` is image ``ids[i * k + j]`` at distance ``dist_lo[i] + dist[i * k + j] *
    dist_step[i]`` (float64 arithmetic); ``dist`` 65535 marks a non-finite distance. A decoded distance is within
    ``dist_step[i] / 2`` plus the float32 rounding of ``dist_lo[i]`` (2^-24 of it) of the exact one
    (``sitefiles.encode_rankings``). Similarity is not stored: the page reads it off the view's
    ``CalibrationFile`` at the decoded distance, as ``playground query`` does; the search score and hits follow
    from the ids and the dataset's classes. One request per view switch, whatever the dataset size: under 30 KB
    at 100,000 images."""

    first: int
    rows: int
    k: int
    id_bytes: Annotated[int, _d("bytes per id (unsigned): 2, 3 or 4, the fewest that hold the dataset's ids")]
    ids: Annotated[str, _d("rows x k image ids, id_bytes each")]
    dist_lo: Annotated[str, _d("float32 per query: its nearest finite distance, rounded to float32")]
    dist_step: Annotated[str, _d("float32 per query: the distance of one step (0 when the row is constant)")]
    dist: Annotated[str, _d("rows x k uint16: distance = dist_lo + dist * dist_step; 65535: not finite")]
    exact: Annotated[bool, _d("false when the ranking is approximate (large datasets, Minkowski)")]
    recall: Annotated[float | None, _d("measured recall@k of an approximate ranking")]
    squared: Annotated[
        bool | None,
        _d(
            "euclidean shards: true when sqeuclidean ranks these queries the same (its distances are these squared, "
            "and it has no shard of its own); null for other metrics"
        ),
    ]


class CalibrationFile(Struct):
    """``<ds>/<model>/<layer>/<pooling>/<metric>/calib``: the view's similarity calibration under one metric.

    Knots of the pair sample's distribution (``search.Calibration``): the share of pairs at most a distance x
    apart is ``count[j] / pairs`` for the last knot j at or below x + slack while j < head - 1 (the closest pairs,
    every one a knot: exact), else ``count / pairs`` interpolated linearly at x (numpy.interp: 0 below the first
    knot, 1 above the last). Similarity is 1 minus it. slack is what a stored distance may be off by (a rankings
    row's dist_step / 2 + 2^-24 dist_lo; 0 for an own image's exact distance). Every path reads similarity this
    way: the rankings, an own image in the browser, ``playground query``."""

    pairs: Annotated[int, _d("image pairs in the sample")]
    head: Annotated[int, _d("the first head knots are the closest pairs of the sample, one by one")]
    dist: Annotated[str, _d("float32 knots, ascending and distinct: pair distances (base64, little-endian)")]
    count: Annotated[str, _d("uint32 per knot: the sample's pairs at most that far apart")]


class ClassesFile(Struct):
    """``<ds>/<model>/<layer>/<pooling>/<metric>/classes``: the view's per-class truth at the build's k
    (``perclass.summarise``), one small file whatever the number of images. Per class c (the dataset's classes,
    in order): its images' mean search score and precision@k as queries, the same score at every layer of this
    model (this pooling and metric), the classes that took most of its results, and its lowest-scoring image;
    then the view's lowest-scoring queries. null where a class has no images."""

    k: int
    score: Annotated[list[float | None], _d("per class: mean search score 0-100 of its images")]
    precision: Annotated[list[float | None], _d("per class: mean precision@k of its images, 0-1")]
    by_layer: Annotated[
        list[list[float | None]], _d("[layer index][class]: mean search score at each layer of this model")
    ]
    confused: Annotated[
        list[list[tuple[int, int]]],
        _d("per class: up to 3 [other class, results] pairs, the classes that took most of its results, most first"),
    ]
    worst_query: Annotated[list[int | None], _d("per class: the id of its lowest-scoring image")]
    worst: Annotated[list[int], _d("the view's lowest-scoring queries (ids), lowest first, ties by id")]
    worst_score: Annotated[list[float], _d("their search scores")]


class ScoresFile(Struct):
    """``<ds>/<model>/<layer>/<pooling>/<metric>/scores``: every image's search score as a query at this view,
    rounded to an integer, for colouring the map by it (read only when the visitor asks for that colouring)."""

    n: int
    score: Annotated[str, _d("base64 of one uint8 per image id: its search score 0-100, rounded")]


class MapFile(Struct):
    """The UMAP map, loaded when the map is on screen."""

    n: int
    levels: Annotated[int, _d("coordinates are quantised to 0..levels")]
    xy: Annotated[str, _d("base64 of little-endian uint16 pairs (x, y) per image id: value / levels is in [0, 1]")]


class CompareShard(Struct):
    """Every model x layer's search score for queries ``first`` .."""

    first: int
    models: list[Slug]
    layers: dict[str, list[Slug]]
    score: Annotated[dict[str, list[list[float] | None]], _d("[model][layer index][query - first]")]


# ------------------------------------------------------------------------------------------------ explorer
class ExplorerChannel(Struct):
    channel: int
    image: Annotated[str | None, _d("fv/<model>/<layer>/<channel>.webp, null while pending (time budget)")]
    examples: Annotated[list[list[Any]], _d("[dataset slug, image id] of the images that excite it most")]
    activation: float | None


class ExplorerLayer(Struct):
    """The visualized channels of one layer."""

    model: Slug
    layer: Slug
    name: str
    quick: bool
    pending: Annotated[bool, _d("not rendered yet (a time budget stopped the build first)")]
    channels: list[ExplorerChannel]


class ExplorerLayerInfo(Struct):
    slug: Slug
    name: str
    type: str
    depth_index: int
    conv_index: int
    params: int
    channels: int
    output_shape: list[int | None]
    visualized: list[int]
    dead: int
    target: dict[str, Any]
    data: str
    images: str
    pending: bool


class ExplorerModel(Struct):
    slug: Slug
    name: str
    display: str
    weights: str
    weights_id: str
    random: bool
    quick: bool
    params: int
    input_size: int
    render_size: int
    steps: Annotated[int, _d("optimisation steps of its renders ([featurevis] steps, or its [featurevis.model.NAME])")]
    n_layers: int
    layers: list[ExplorerLayerInfo]
    layer_table: list[dict[str, Any]]


class ExplorerIndex(Struct):
    """The Model Explorer's models, their visualized layers and the render settings."""

    version: int
    quick: bool
    profile: str
    settings: dict[str, Any]
    backend: str
    datasets: list[Slug]
    models: list[ExplorerModel]
    pending: Annotated[int, _d("layers not rendered yet (time budget); 0 when complete")]


# ------------------------------------------------------------------------------------------------ serve
class ServeInfo(Struct):
    """False in a static build; ``playground serve`` answers this key itself with live = true."""

    live: bool
    api: str
    max_upload: int
    datasets: list[Slug]


# ------------------------------------------------------------------------------------------------ browser search
class BrowserModel(Struct):
    """One search model exported to ONNX for the visitor's browser: every selected layer under every pooling of
    the build, ``preprocess_input`` inside the graph, input ``rgb`` (uint8, 1 x size x size x 3)."""

    model: Slug
    size: Annotated[int, _d("square input size in pixels")]
    outputs: Annotated[list[str], _d("'<layer slug>/<pooling>' of each ONNX output, in output order")]
    bytes: Annotated[int, _d("size of the ONNX model")]
    max_rel_err: Annotated[float, _d("ONNX Runtime against Keras on the check images (relative to the row max)")]


class BrowserIndex(Struct):
    """``web/index``: what the static own-image search can do in this build (``site_templates/static/
    search-browser-cnn.js``); read when the page starts, the rest only on the first own image."""

    available: Annotated[bool, _d("true when the runtime and at least one model and dataset are in the site")]
    why: Annotated[str | None, _d("one line for the page when it is not available (what is missing)")]
    runtime: Annotated[str | None, _d("onnxruntime-web version of web/runtime/*")]
    runtime_bytes: int
    max_images: Annotated[int, _d("datasets larger than this are left out (site.browser_search_max_images)")]
    datasets: list[Slug]
    poolings: Annotated[dict[str, list[Slug]], _d("dataset -> the poolings whose embeddings are shipped")]
    left_out: Annotated[list[str], _d("one line per pooling left out to keep the site small")]
    models: list[BrowserModel]
    minkowski_p: float


class BrowserBytes(Struct):
    """``web/runtime/<part>``: a file of ONNX Runtime Web (``ort``, ``glue``, ``wasm``) as base64 (a ``<script>``
    can deliver it from ``file://``, where ``fetch()`` cannot)."""

    sha256: str
    b64: str


class BrowserModelBytes(BrowserBytes):
    """``web/model/<model>``: the ONNX model as base64 (``BrowserModel`` says what its outputs are)."""


class BrowserView(Struct):
    """``web/<ds>/<model>/<layer>/<pooling>``: the embeddings an own image is ranked against in the browser (its
    similarity comes from the view's ``CalibrationFile``, as a dataset image's does)."""

    n: int
    d: int
    emb: Annotated[str, _d("n x d float32, little-endian, row-major, base64: the build's cached embeddings")]


# ------------------------------------------------------------------------------------------------ export
class Featurizer(Struct):
    """One featurizer: a model's layer under a pooling. ``name`` is what ``playground query --json`` and the API
    call it too (``LayerAnswer.featurizer``), so a script can move from one to the other."""

    name: Annotated[str, _d("<model>@<weights>/<layer>/<pooling>")]
    model: Slug
    model_name: str
    weights: str
    layer: Slug
    layer_name: str
    tensor: Annotated[str, _d("the Keras layer whose output is pooled")]
    pooling: str
    input_size: Annotated[int, _d("input: RGB uint8, (batch, input_size, input_size, 3)")]
    dim: Annotated[int, _d("floats per image out")]


class ExportDataset(Struct):
    slug: Slug
    name: str
    root: Annotated[str, _d("the dataset folder on the machine that exported it")]
    n_images: int
    labeled: bool
    classes: list[str]


class ExportFile(Struct):
    path: Annotated[str, _d("relative to the export folder")]
    what: str
    bytes: int
    sha256: str


class Preprocessing(Struct):
    """How an image becomes the featurizer's input, exactly as the build did it."""

    decode: str
    colour: str
    resize: str
    inside: Annotated[str, _d("what the featurizer does itself before the network (preprocess_input)")]


class ExportScores(Struct):
    """How good this choice is on the dataset (the leaderboard's numbers; null where the build has none)."""

    chosen_by: Annotated[str, _d("given | score | probe (--best)")]
    metric: str
    search_score: Annotated[float | None, _d("mean search score 0-100 at this metric")]
    precision_at_k: float | None
    knn_accuracy: Annotated[float | None, _d("kNN leave-one-out accuracy %")]
    probe_accuracy: Annotated[float | None, _d("linear-probe accuracy %")]
    probe_std: float | None
    k: int


class ExportCheck(Struct):
    """The exported featurizers run on dataset images, against the build's cached embeddings."""

    images: int
    keras_max_rel_err: float | None
    onnx_max_rel_err: float | None


class ExportInfo(Struct):
    """``export.json`` of ``playground export``: what each file is, how to feed the featurizer, how good it is."""

    version: int
    featurizer: Featurizer
    dataset: ExportDataset
    metric: str
    minkowski_p: float | None
    index: Annotated[str, _d("the FAISS index type and what its rows are")]
    normalise_queries: Annotated[bool, _d("L2-normalise a query vector before index.search (cosine)")]
    preprocessing: Preprocessing
    scores: ExportScores
    check: ExportCheck
    files: list[ExportFile]
    command: Annotated[str, _d("the playground export command that wrote this folder")]
    snippet: Annotated[str, _d("Python that embeds an image and searches the index (README.md runs it)")]
    versions: dict[str, str]


# ------------------------------------------------------------------------------------------------ registry
@dataclass(frozen=True)
class Kind:
    """A kind of data file: its key pattern (relative to ``data/``, no ``.js``) and type."""

    key: str
    type: type[Struct]


KINDS: tuple[Kind, ...] = (
    Kind("index", Index),
    Kind("leaderboard", Leaderboard),
    Kind("serve", ServeInfo),
    Kind("datasets/<ds>", DatasetFile),
    Kind("datasets/<ds>/files/<b>", FilesShard),
    Kind("<ds>/<model>/<layer>/<pooling>/<metric>/<b>", RankShard),
    Kind("<ds>/<model>/<layer>/<pooling>/<metric>/calib", CalibrationFile),
    Kind("<ds>/<model>/<layer>/<pooling>/<metric>/classes", ClassesFile),
    Kind("<ds>/<model>/<layer>/<pooling>/<metric>/scores", ScoresFile),
    Kind("<ds>/<model>/<layer>/<pooling>/map", MapFile),
    Kind("<ds>/<pooling>/compare/<metric>/<b>", CompareShard),
    Kind("explorer/index", ExplorerIndex),
    Kind("explorer/<model>/<layer>", ExplorerLayer),
    Kind("web/index", BrowserIndex),
    Kind("web/runtime/<part>", BrowserBytes),
    Kind("web/model/<model>", BrowserModelBytes),
    Kind("web/<ds>/<model>/<layer>/<pooling>", BrowserView),
)


#: Files outside the site that are part of the contract too (their schemas are generated the same way).
OTHER_KINDS: tuple[Kind, ...] = (Kind("export.json", ExportInfo),)


def _kind(t: type[Struct]) -> Kind:
    return next(k for k in KINDS if k.type is t)


def kind_of(key: str) -> Kind:
    """The kind of the data file with ``key`` (e.g. ``iconic200/mobilenet/conv1/avg/cosine/0``)."""
    parts = key.split("/")
    if key in ("index", "leaderboard", "serve", "explorer/index"):
        return next(k for k in KINDS if k.key == key)
    if parts[0] == "datasets":
        return _kind(DatasetFile if len(parts) == 2 else FilesShard)
    if parts[0] == "explorer":
        return _kind(ExplorerLayer)
    if parts[0] == "web":
        if key == "web/index":
            return _kind(BrowserIndex)
        if len(parts) == 3 and parts[1] in ("runtime", "model"):
            return _kind(BrowserBytes if parts[1] == "runtime" else BrowserModelBytes)
        if len(parts) == 5:
            return _kind(BrowserView)
    if len(parts) == 5 and parts[2] == "compare":
        return _kind(CompareShard)
    if len(parts) == 5 and parts[4] == "map":
        return _kind(MapFile)
    if len(parts) == 6:
        return _kind({"calib": CalibrationFile, "classes": ClassesFile, "scores": ScoresFile}.get(parts[5], RankShard))
    raise ValueError(f"no data file kind for key '{key}'")


def to_builtins(obj: Struct) -> Any:
    return msgspec.to_builtins(obj)


def decode(kind: Kind, data: Any) -> Struct:
    """Check ``data`` (parsed JSON) against ``kind``'s type strictly; returns the typed object."""
    return msgspec.convert(data, kind.type, strict=True)


def _normalised(node: Any) -> Any:
    """The schema with what msgspec's versions write differently made canonical.

    How msgspec dedents the docstrings it copies into ``description`` changed in 0.23 (continuation lines lose
    their indentation; earlier versions kept it), and the order of an optional field's ``anyOf`` changed after
    0.19. Every description is written as ``inspect.cleandoc`` makes it and every ``anyOf`` sorted, so the
    committed schemas are the same whichever msgspec ``pyproject.toml`` allows.
    """
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "description" and isinstance(v, str):
                out[k] = inspect.cleandoc(v)
            elif k == "anyOf" and isinstance(v, list):
                out[k] = sorted((_normalised(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
            else:
                out[k] = _normalised(v)
        return out
    if isinstance(node, list):
        return [_normalised(v) for v in node]
    return node


def schema(kind: Kind) -> dict[str, Any]:
    out = _normalised(msgspec.json.schema(kind.type))
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = kind.key if kind in OTHER_KINDS else f"data/{kind.key}.js"
    return out


def schema_name(kind: Kind) -> str:
    return kind.type.__name__ + ".json"
