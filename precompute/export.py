"""``playground export``: one featurizer of a build, with the dataset's embeddings and a FAISS index, as files any
Python can load without this package.

What an export folder holds (:data:`FILES`):

* ``featurizer.keras`` and ``featurizer.onnx``: the model truncated at the layer, with the build's own extractor
  graph (``engine.extractor_for``: the same pooling ops) and the model's ``preprocess_input`` inside, so the input
  is plain RGB uint8 ``(batch, size, size, 3)``. ``preprocess_input`` goes in as one ``Dense(3)`` layer applied to
  every pixel, whose kernel and bias are *measured* from the catalogue's own ``ModelSpec.preprocess`` (every
  Keras Applications preprocessing is affine per pixel: a scale, a channel flip and a mean, or identity); an export
  whose preprocessing is not affine is refused rather than approximated. Only built-in Keras layers and ops, so
  ``keras.saving.load_model`` needs no custom objects. The ONNX file is Keras' own ``model.export(format="onnx")``.
* ``embeddings.parquet`` (``id``, ``file``, ``label``, ``class``, ``embedding`` as a fixed-size list of float32)
  and ``embeddings.npy``: the build's cached matrix, unchanged.
* ``index.faiss``: the rows as the rankings search them (``search._Index``): ``IndexFlatIP`` over L2-normalised
  rows for cosine, ``IndexFlatL2`` for euclidean and sqeuclidean, ``IndexFlat(METRIC_Lp)`` with the build's p for
  minkowski. Flat float32 indexes: the build re-ranks FAISS's candidates exactly in float64, so near-ties may
  order differently in the last bits.
* ``export.json`` (``contract.ExportInfo``) and ``README.md`` (what each file is, the preprocessing, the scores,
  and a snippet that embeds an image and searches the index).

Before anything is written the featurizers are run on dataset images (the build's decoding) and compared with the
cached embeddings; more than :data:`TOLERANCE` relative error is an error. Every file is written atomically
(``atomic.py``) and ``export.json`` last, so a killed export never leaves a half-written file. A folder that exists
and is not an earlier export is refused unless ``force``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from . import log
from .atomic import atomic_file, sweep_leftovers, write_bytes, write_text
from .buildindex import BuildIndex, UnknownName
from .config import BuildConfig
from .contract import (
    ExportCheck,
    ExportDataset,
    ExportFile,
    ExportInfo,
    ExportScores,
    Featurizer,
    Preprocessing,
)
from .errors import PlaygroundError

EXPORT_VERSION = 1
TOLERANCE = 1e-5  # relative: max |exported - cached| / max |cached|, per image
CHECK_IMAGES = 4
FILES = {
    "featurizer.keras": "the featurizer as a Keras 3 model: RGB uint8 in, one embedding per image out",
    "featurizer.onnx": "the same featurizer as ONNX (input 'rgb', uint8 NHWC)",
    "embeddings.parquet": "the dataset's embeddings: id, file, label, class, embedding (fixed-size list of float32)",
    "embeddings.npy": "the same (n_images, dim) float32 matrix, row = id",
    "index.faiss": "a FAISS index of the embeddings for the metric (faiss.read_index)",
    "export.json": "this export, typed (contract.ExportInfo)",
    "README.md": "this export, for people",
}
FORMATS = ("keras", "onnx")
BEST_BY = ("score", "probe")


class ExportError(PlaygroundError):
    """An export that cannot be made (unknown names, a folder in the way, a featurizer that does not match)."""


# ------------------------------------------------------------------------------------------------ names
def featurizer_name(model: str, weights: str, layer: str, pooling: str) -> str:
    """The name of a featurizer everywhere (export.json, ``playground query --json``, the API)."""
    return f"{model}@{weights}/{layer}/{pooling}"


def export_command(dataset: str, model: str, layer: str, pooling: str, metric: str, to: str) -> str:
    """The exact ``playground export`` command for a view (every name shell-quoted)."""
    q = shlex.quote
    return (
        f"playground export --dataset {q(dataset)} --model {q(model)} --layer {q(layer)} --pooling {q(pooling)} "
        f"--metric {q(metric)} --to {q(to)}"
    )


def default_folder(dataset: str, model: str, layer: str, pooling: str) -> str:
    from .slugs import slugify

    pool = pooling.replace(":", "p").replace(".", "_")  # gem:2.5 -> gemp2_5 (site_templates/static/search-export.js)
    return "export-" + "-".join(slugify(x) for x in (dataset, model, layer, pool))


@dataclass(frozen=True)
class Choice:
    """What to export, resolved against the build."""

    dataset: Any  # buildindex.DatasetRecord
    model: Any  # ModelRecord
    layer: Any  # LayerRecord
    pooling: str
    metric: str
    chosen_by: str
    view: dict[str, Any]


def _lookup(what: str, name: str, records: list[Any], *keys: str) -> Any:
    for r in records:
        if name in tuple(getattr(r, k) for k in keys):
            return r
    raise UnknownName(what, name, [r.slug for r in records])


def _summary(cfg: BuildConfig) -> dict[str, Any]:
    import json

    try:
        return json.loads(cfg.summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{cfg.summary_path} is unreadable ({exc}): run `playground precompute` again") from exc


def _scores_of(summary: dict[str, Any], ds: str, model: str, layer_name: str, pooling: str) -> tuple[dict, dict]:
    scores = summary.get("scores", {}).get(ds, {}).get(model, {}).get(layer_name, {}).get(pooling, {})
    probe = summary.get("probe", {}).get(ds, {}).get(model, {}).get(layer_name, {}).get(pooling, {})
    return scores, probe


def resolve(
    index: Any,
    *,
    dataset: str,
    model: str | None,
    layer: str | None,
    pooling: str | None,
    metric: str,
    best: str | None,
    summary: dict[str, Any] | None = None,
) -> Choice:
    """The (dataset, model, layer, pooling, metric) to export; ``best`` ("score" | "probe") picks the layer x
    pooling (and the model, when none is given) with the highest mean search score at ``metric`` or the highest
    probe accuracy in ``summary.json``. Unknown names raise ``UnknownName`` listing the allowed values."""
    ds = index.dataset(dataset)
    metric = index.metric(metric)
    models = [index.model(model)] if model else list(index.models.values())
    if best is None:
        if not model or not layer:
            raise ExportError("give --model and --layer (or --best to take the leaderboard's best)")
        m = models[0]
        la = _lookup("layer", layer, m.layers, "slug", "name")
        pool = index.pooling(pooling)
        return Choice(ds, m, la, pool, metric, "given", index.view(ds.slug, m.slug, la.slug, pool))
    if best not in BEST_BY:
        raise ExportError(f"--best takes one of: {', '.join(BEST_BY)}")
    poolings = [index.pooling(pooling)] if pooling else list(index.settings["pooling"])
    layers_given = layer
    candidates = []
    for m in models:
        layers = [_lookup("layer", layers_given, m.layers, "slug", "name")] if layers_given else m.layers
        for la in layers:
            for p in poolings:
                sc, pr = _scores_of(summary or {}, ds.slug, m.slug, la.name, p)
                value = sc.get(metric, {}).get("mean_search_score") if best == "score" else pr.get("mean")
                if value is not None:
                    candidates.append((float(value), m, la, p))
    if not candidates:
        what = "search scores" if best == "score" else "probe accuracies (an unlabelled dataset has none)"
        raise ExportError(f"the build has no {what} for {ds.name}: choose --model, --layer and --pooling")
    top = max(c[0] for c in candidates)
    _, m, la, p = next(c for c in candidates if c[0] == top)  # ties: the first in build order
    return Choice(ds, m, la, p, metric, best, index.view(ds.slug, m.slug, la.slug, p))


# ------------------------------------------------------------------------------------------------ the folder
def _is_earlier_export(folder: Path) -> bool:
    """An export folder: it has a readable export.json, or it holds nothing but export files (a killed export)."""
    names = {p.name for p in folder.iterdir()}
    if "export.json" in names:
        try:
            msgspec.json.decode((folder / "export.json").read_bytes(), type=ExportInfo)
            return True
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            pass
    return all(n in FILES or (n.startswith(".") and n.endswith(".tmp")) for n in names)


def check_target(folder: Path, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} is a file, not a folder: choose another --to")
    if folder.is_dir() and any(folder.iterdir()) and not force and not _is_earlier_export(folder):
        raise ExportError(
            f"{folder} exists and is not an earlier export: choose an empty or new folder, or add --force to "
            "write the export files into it"
        )


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Keras' exporters print progress to stdout; the CLI's stdout is for its result line."""
    import warnings

    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's numpy 2 probe (np.object)
        yield


def _copy_in(src: Path, dest: Path) -> None:
    slow = float(os.environ.get("PG_EXPORT_SLOW_WRITE", "0") or 0)  # tests: time to kill a write half-way
    with atomic_file(dest) as out, open(src, "rb") as fh:
        while chunk := fh.read(1 << 20):
            out.write(chunk)
            if slow:
                out.flush()
                time.sleep(slow)


# ------------------------------------------------------------------------------------------------ the model
def preprocess_affine(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``spec.preprocess(x) == x @ A + b`` for every pixel ``x`` (RGB float in [0, 255]), measured
    from the catalogue's own preprocessing; raises ExportError when it is not affine per pixel."""
    eye = np.eye(3, dtype=np.float32).reshape(3, 1, 1, 3)
    b = spec.preprocess(np.zeros((1, 1, 1, 3), np.float32)).reshape(3).astype(np.float64)
    a = np.stack([spec.preprocess(eye[i : i + 1] * 255.0).reshape(3) - b for i in range(3)]) / 255.0
    probe = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.float32)
    want = spec.preprocess(probe).astype(np.float64)
    got = probe.astype(np.float64) @ a + b
    if want.shape != got.shape or not np.allclose(want, got, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(want).max())):
        raise ExportError(
            f"the preprocessing of model '{spec.name}' is not a per-pixel affine map, so it cannot go inside the "
            "exported featurizer"
        )
    return a.astype(np.float32), b.astype(np.float32)


def build_featurizer(spec: Any, base: Any, tensor: str, pooling: str, gem_p: float, size: int) -> Any:
    """The exported model: uint8 RGB -> float32 -> preprocess_input (one Dense(3) per pixel) -> the build's
    extractor for ``(tensor, pooling)``."""
    import keras

    from .engine import extractor_for

    extractor, _back = extractor_for(base, [(tensor, pooling)], gem_p)
    a, b = preprocess_affine(spec)
    rgb = keras.Input((size, size, 3), dtype="uint8", name="rgb")
    x = keras.ops.cast(rgb, "float32")
    pre = keras.layers.Dense(3, name="preprocess_input", trainable=False)
    x = pre(x)
    pre.set_weights([a, b])
    out = extractor.model(x)
    if isinstance(out, (list, tuple)):
        out = out[0]
    model = keras.Model(rgb, out, name="featurizer")
    model.trainable = False
    return model


def _max_rel_err(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.maximum(np.abs(want).max(axis=1), np.finfo(np.float32).tiny)
    return float((np.abs(got - want).max(axis=1) / scale).max())


def _onnx_run(path: Path, pixels: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: pixels})[0]


def _fix_normalization(model: Any) -> None:
    """EfficientNet's Normalization layers hold mean/variance as tensors, which tf2onnx cannot freeze: numpy."""
    import keras

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Normalization):
            for attr in ("mean", "variance"):
                value = getattr(layer, attr, None)
                if value is not None and not isinstance(value, np.ndarray):
                    with contextlib.suppress(Exception):
                        setattr(layer, attr, np.asarray(keras.ops.convert_to_numpy(value)))


# ------------------------------------------------------------------------------------------------ the files
def _faiss_index(emb: np.ndarray, metric: str, p: float) -> tuple[Any, str, bool]:
    import faiss

    d = emb.shape[1]
    if metric == "cosine":
        rows = emb.astype(np.float64)
        norms = np.sqrt(np.add.reduce(rows * rows, axis=1))
        rows /= np.where(norms == 0, 1.0, norms)[:, None]
        index = faiss.IndexFlatIP(d)
        index.add(np.ascontiguousarray(rows, np.float32))
        return index, "IndexFlatIP over L2-normalised rows (cosine similarity = inner product)", True
    if metric == "minkowski":
        index = faiss.IndexFlat(d, faiss.METRIC_Lp)
        index.metric_arg = float(p)
        index.add(np.ascontiguousarray(emb, np.float32))
        return index, f"IndexFlat(METRIC_Lp) with metric_arg = {p:g} over the rows (distance**p)", False
    index = faiss.IndexFlatL2(d)
    index.add(np.ascontiguousarray(emb, np.float32))
    return index, "IndexFlatL2 over the rows (squared euclidean distance)", False


def _parquet_bytes(emb: np.ndarray, ds: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, d = emb.shape
    labels = list(ds.labels[:n]) if ds.labeled else [None] * n
    table = pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "file": pa.array(list(ds.rels[:n]), pa.string()),
            "label": pa.array(labels, pa.int32()),
            "class": pa.array([None if lb is None else ds.classes[lb] for lb in labels], pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1), pa.float32()), d),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _npy_bytes(emb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(emb, np.float32), allow_pickle=False)
    return buf.getvalue()


def snippet(size: int | str, metric: str, image: str, k: int | str) -> str:
    """The README's Python: embed one image with the featurizer and search the index (run by the tests). The
    site's "Use this layer" dialog shows it with ``size`` and ``k`` filled in by the page."""
    lines = [
        "import faiss, keras, numpy as np, pyarrow.parquet as pq",
        "from PIL import Image, ImageOps",
        'featurizer = keras.saving.load_model("featurizer.keras")  # or onnxruntime on featurizer.onnx',
        'index = faiss.read_index("index.faiss")',
        'files = pq.read_table("embeddings.parquet", columns=["file"])["file"].to_pylist()',
        f"im = ImageOps.exif_transpose(Image.open({image!r})).convert('RGB')  # your image here",
        f"im = im.resize(({size}, im.height), Image.BILINEAR).resize(({size}, {size}), Image.BILINEAR)  # x, then y",
        "v = featurizer.predict(np.asarray(im)[None], verbose=0).astype(np.float32)",
    ]
    if metric == "cosine":
        lines.append("faiss.normalize_L2(v)  # cosine: the index holds unit rows")
    lines += [f"dist, ids = index.search(v, {k})", "print([files[i] for i in ids[0]])"]
    return "\n".join(lines) + "\n"


def preprocessing_text(size: int, spec: Any) -> Preprocessing:
    return Preprocessing(
        decode=("Pillow, at full resolution; EXIF orientation applied; multi-frame files: the first frame"),
        colour=(
            "8-bit RGB: alpha composited over white, 16/32-bit greyscale scaled (not clipped) to 8 bit, CMYK through "
            "its ICC profile; other colour profiles ignored"
        ),
        resize=(
            f"to {size} x {size} px, aspect ratio not kept, Pillow bilinear (antialiased when shrinking), the width "
            "first, then the height: two one-axis resizes, which every Pillow version computes the same"
        ),
        inside=(
            f"cast to float32, then {spec.preprocess_module or 'no'} preprocess_input as one Dense(3) layer per "
            "pixel, then the network up to the layer and the pooling"
        ),
    )


def readme(info: ExportInfo) -> str:
    f, s = info.featurizer, info.scores

    def num(v: float | None, unit: str = "") -> str:
        return "n/a" if v is None else f"{v:.2f}{unit}"

    rows = "\n".join(f"| `{x.path}` | {x.what} | {x.bytes:,} |" for x in info.files)
    p = info.preprocessing
    return f"""# Featurizer `{f.name}`

Exported by ConvNet Playground {info.versions.get("convnet-playground", "")} from the build of dataset
**{info.dataset.name}** ({info.dataset.n_images} images): model {f.model_name} ({f.weights} weights), layer
`{f.layer_name}`, {f.pooling} pooling, {f.dim} floats per image; search metric {info.metric}.

```
{info.command}
```

## Files

| file | what | bytes |
|---|---|---|
{rows}

## How good it is on {info.dataset.name}

Chosen by: {s.chosen_by}. Mean search score at {s.metric} (k = {s.k}): {num(s.search_score)}; precision@{s.k}:
{num(s.precision_at_k)}; kNN accuracy: {num(s.knn_accuracy, " %")}; linear-probe accuracy:
{num(s.probe_accuracy, " %")}.

## Input and preprocessing

Input: RGB uint8, shape `(batch, {f.input_size}, {f.input_size}, 3)`; output float32 `(batch, {f.dim})`.

- decoding: {p.decode}
- colour: {p.colour}
- resize: {p.resize}
- inside the featurizer: {p.inside}

Checked at export: on {info.check.images} dataset images the `.keras` featurizer's embeddings differ from the
build's by at most {num_e(info.check.keras_max_rel_err)} (relative), the ONNX one's by at most
{num_e(info.check.onnx_max_rel_err)}.

## Embed an image and search the index

Run in this folder (replace the image with yours; `Image.convert("RGB")` drops alpha instead of compositing over
white, the only difference from the build's decoding):

```python
{info.snippet}```

FAISS index: {info.index}.{" Normalise query vectors first (faiss.normalize_L2)." if info.normalise_queries else ""}
The build re-ranks FAISS's float32 candidates exactly in float64, so among near-ties the order may differ.
"""


def num_e(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1e}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ExportResult:
    folder: Path
    info: ExportInfo
    seconds: float


def run_export(
    cfg: BuildConfig,
    *,
    dataset: str,
    model: str | None,
    layer: str | None,
    pooling: str | None,
    metric: str,
    to: Path | None,
    best: str | None = None,
    formats: tuple[str, ...] = FORMATS,
    force: bool = False,
) -> ExportResult:
    """Write the export of one featurizer of the build in ``cfg.out`` to ``to`` (see the module docstring)."""
    from .cache import Cache
    from .images import ImageError, load_rgb
    from .inputs import model_spec, parse_model_arg
    from .summary import package_versions

    t0 = time.perf_counter()
    for fmt in formats:
        if fmt not in FORMATS:
            raise ExportError(f"unknown format '{fmt}'; choose from: {', '.join(FORMATS)}")
    index = BuildIndex.load(cfg)
    summary = _summary(cfg) if cfg.summary_path.is_file() else {}
    c = resolve(
        index, dataset=dataset, model=model, layer=layer, pooling=pooling, metric=metric, best=best, summary=summary
    )
    folder = Path(to) if to is not None else Path(default_folder(c.dataset.slug, c.model.slug, c.layer.slug, c.pooling))
    check_target(folder, force)

    cache = Cache(cfg.cache_dir)
    emb = cache.get_npy("emb", c.view["emb"])
    if emb is None:
        raise ExportError(
            f"the embeddings of {c.dataset.slug}/{c.model.slug}/{c.layer.slug}/{c.pooling} are not in the cache: "
            "run `playground precompute` for this build again"
        )
    emb = np.asarray(emb, np.float32)
    gem_p = float(index.settings["gem_p"])
    p = float(index.settings["minkowski_p"])
    k = int(index.settings["top_k"])
    size = int(c.model.input_size)

    log.info(f"export: building the featurizer {c.model.name} / {c.layer.name} / {c.pooling}")
    spec = model_spec(parse_model_arg(c.model.arg, c.model.weights)[0], cfg.cache_dir)
    base = spec.load(c.model.weights)
    featurizer = build_featurizer(spec, base, c.layer.act_name, c.pooling, gem_p, size)

    n_check = min(CHECK_IMAGES, len(emb))
    try:
        pixels = np.stack([load_rgb(Path(c.dataset.root) / rel, size) for rel in c.dataset.rels[:n_check]])
    except ImageError as exc:
        raise ExportError(f"cannot read the dataset images to check the featurizer: {exc}") from exc
    keras_err = _max_rel_err(featurizer.predict(pixels, verbose=0), emb[:n_check])
    if keras_err > TOLERANCE:
        raise ExportError(
            f"the exported featurizer differs from the build's embeddings by {keras_err:.1e} (relative; limit "
            f"{TOLERANCE:g}): the build may have been made with another version of the model"
        )

    folder.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(folder)
    (folder / "export.json").unlink(missing_ok=True)  # written last: present only when the export is complete
    onnx_err = None
    with tempfile.TemporaryDirectory(prefix="playground-export-") as tmp:
        if "keras" in formats:
            featurizer.save(Path(tmp) / "featurizer.keras")
            _copy_in(Path(tmp) / "featurizer.keras", folder / "featurizer.keras")
        if "onnx" in formats:
            log.info("export: converting to ONNX")
            _fix_normalization(featurizer)
            try:
                with _quiet_stdout():
                    featurizer.export(str(Path(tmp) / "featurizer.onnx"), format="onnx", verbose=False)
            except Exception as exc:
                raise ExportError(
                    f"ONNX conversion failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                    "export --format keras only"
                ) from exc
            onnx_err = _max_rel_err(_onnx_run(Path(tmp) / "featurizer.onnx", pixels), emb[:n_check])
            if onnx_err > TOLERANCE:
                raise ExportError(f"the ONNX featurizer differs from the build's embeddings by {onnx_err:.1e}")
            _copy_in(Path(tmp) / "featurizer.onnx", folder / "featurizer.onnx")

    import faiss

    write_bytes(folder / "embeddings.parquet", _parquet_bytes(emb, c.dataset))
    write_bytes(folder / "embeddings.npy", _npy_bytes(emb))
    fidx, index_text, normalise = _faiss_index(emb, c.metric, p)
    write_bytes(folder / "index.faiss", faiss.serialize_index(fidx).tobytes())

    files = []
    for name in FILES:
        path = folder / name
        if name in ("export.json", "README.md") or not path.is_file():
            continue
        data = path.read_bytes()
        files.append(ExportFile(path=name, what=FILES[name], bytes=len(data), sha256=_sha256(data)))
    sc, pr = _scores_of(summary, c.dataset.slug, c.model.slug, c.layer.name, c.pooling)
    msc = sc.get(c.metric, {})
    command = export_command(c.dataset.slug, c.model.slug, c.layer.slug, c.pooling, c.metric, str(folder))
    if best:
        command = (
            f"playground export --dataset {shlex.quote(c.dataset.slug)} --best {best} "
            + (f"--model {shlex.quote(c.model.slug)} " if model else "")
            + f"--metric {shlex.quote(c.metric)} --to {shlex.quote(str(folder))}"
        )
    first_image = str(Path(c.dataset.root) / c.dataset.rels[0]) if c.dataset.rels else "photo.jpg"
    info = ExportInfo(
        version=EXPORT_VERSION,
        featurizer=Featurizer(
            name=featurizer_name(c.model.slug, c.model.weights, c.layer.slug, c.pooling),
            model=c.model.slug,
            model_name=c.model.name,
            weights=c.model.weights,
            layer=c.layer.slug,
            layer_name=c.layer.name,
            tensor=c.layer.act_name,
            pooling=c.pooling,
            input_size=size,
            dim=int(emb.shape[1]),
        ),
        dataset=ExportDataset(
            slug=c.dataset.slug,
            name=c.dataset.name,
            root=c.dataset.root,
            n_images=int(emb.shape[0]),
            labeled=c.dataset.labeled,
            classes=list(c.dataset.classes),
        ),
        metric=c.metric,
        minkowski_p=p if c.metric == "minkowski" else None,
        index=index_text,
        normalise_queries=normalise,
        preprocessing=preprocessing_text(size, spec),
        scores=ExportScores(
            chosen_by=c.chosen_by,
            metric=c.metric,
            search_score=msc.get("mean_search_score"),
            precision_at_k=msc.get("precision_at_k"),
            knn_accuracy=msc.get("knn_accuracy"),
            probe_accuracy=pr.get("mean"),
            probe_std=pr.get("std"),
            k=k,
        ),
        check=ExportCheck(images=n_check, keras_max_rel_err=keras_err, onnx_max_rel_err=onnx_err),
        files=files,
        command=command,
        snippet=snippet(size, c.metric, first_image, k),
        versions={**package_versions(), **_extra_versions()},
    )
    write_text(folder / "README.md", readme(info))
    write_bytes(folder / "export.json", msgspec.json.format(msgspec.json.encode(info), indent=2) + b"\n")
    return ExportResult(folder, info, time.perf_counter() - t0)


def _extra_versions() -> dict[str, str]:
    from .inputs import package_version

    out = {}
    for pkg in ("onnx", "onnxruntime", "tf2onnx", "pyarrow"):
        v = package_version(pkg)
        if v != "?":
            out[pkg] = v
    return out


def export_zip(folder: Path) -> bytes:
    """The export folder as a zip (deflated), for the served site's download."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in FILES:
            path = folder / name
            if path.is_file():
                z.write(path, f"{folder.name}/{name}")
    return buf.getvalue()
