"""The files of the static own-image search: the CNN runs in the visitor's browser (``data/web/``).

A static copy of the site (opened from disk, or published on GitHub Pages) has no server to turn a visitor's photo
into a vector. So the build ships what the browser needs to do it itself, read only when a visitor drops, pastes
or picks an image (``site_templates/static/search-browser-cnn.js`` and its Web Worker):

- ``web/runtime/{ort,glue,wasm}``: ONNX Runtime Web's wasm backend (npm ``onnxruntime-web``, pinned in
  ``package.json``; ``make install`` runs ``npm ci``), as base64 inside the ``PG.put`` wrapper, because on
  ``file://`` a page can load a ``<script>`` but cannot ``fetch()`` a file or import its ``.mjs`` glue.
- ``web/model/<model>``: each search model as ONNX, the build's own multi-output extractor (every selected layer
  under every pooling of the build, ``preprocess_input`` inside the graph as one per-pixel affine map, uint8 RGB
  in), exported by Keras 3 (``model.export(format="onnx")``, tf2onnx) once and cached by content. Its outputs are
  checked against the build's cached embeddings of real dataset images with ONNX Runtime (``TOLERANCE``).
- ``web/<ds>/<model>/<layer>/<pooling>``: the view's embeddings (float32, the build's cached ones), so the
  browser ranks with the site's metric code; each neighbour's similarity comes from the view's calibration file,
  which the rankings' shards use too (``<view>/<metric>/calib``), as ``playground query`` gives it.
- ``web/index``: what is there, or the one line the page shows when it is not (no runtime, dataset too large).

The step reads the build back through ``BuildIndex`` (``manifest.json`` + the cache), like ``playground query``
does: both answer from the same embeddings, calibration and model.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import contract as c
from . import log
from .buildindex import BuildIndex, ModelRecord
from .cache import Cache, key
from .config import BuildConfig
from .errors import BuildError
from .sitedata import DataDir

#: bump when what is exported changes (part of the ONNX cache key)
BROWSER_VERSION = 1
#: ONNX Runtime against the build's embeddings, relative to each row's largest value (the export's bar)
TOLERANCE = 1e-4
CHECK_IMAGES = 8
#: the wasm backend's three files in ``onnxruntime-web/dist`` (single-threaded SIMD build; pages cannot send the
#: COOP/COEP headers that threads need)
RUNTIME_FILES = {"ort": "ort.wasm.min.js", "glue": "ort-wasm-simd-threaded.mjs", "wasm": "ort-wasm-simd-threaded.wasm"}
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Runtime:
    folder: Path
    version: str


def find_runtime() -> Runtime | None:
    """ONNX Runtime Web's ``dist`` folder: ``$PLAYGROUND_ORT_WEB``, else ``node_modules/onnxruntime-web/dist``."""
    env = os.environ.get("PLAYGROUND_ORT_WEB", "").strip()
    folder = Path(env) if env else REPO_ROOT / "node_modules" / "onnxruntime-web" / "dist"
    if not all((folder / name).is_file() for name in RUNTIME_FILES.values()):
        return None
    try:
        version = json.loads((folder.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        version = "unknown"
    return Runtime(folder, str(version))


def _b64(data: bytes, kind: type[c.BrowserBytes] = c.BrowserBytes) -> c.BrowserBytes:
    return kind(sha256=hashlib.sha256(data).hexdigest(), b64=base64.b64encode(data).decode("ascii"))


def _outputs(model: ModelRecord, poolings: list[str]) -> list[tuple[str, str, str]]:
    """(layer slug, tensor name, pooling) of every extractor output, in the order the ONNX model returns them."""
    return [(la.slug, la.act_name, p) for la in model.layers for p in poolings]


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("keras", "tensorflow", "tf2onnx", "onnx"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = ""
    return out


def export_onnx(model: ModelRecord, index: BuildIndex, cfg: BuildConfig) -> bytes:
    """The ONNX bytes of ``model``'s multi-output extractor (one Keras load and one tf2onnx conversion; the caller
    caches the result)."""
    from .inputs import model_spec, parse_model_arg

    spec = model_spec(parse_model_arg(model.arg, model.weights)[0], cfg.cache_dir)
    outputs = [(t, p) for _, t, p in _outputs(model, list(index.settings["pooling"]))]
    return onnx_extractor(spec, spec.load(model.weights), outputs, float(index.settings["gem_p"]), model.input_size)


def onnx_extractor(spec: Any, base: Any, outputs: list[tuple[str, str]], gem_p: float, size: int) -> bytes:
    """The build's extractor of ``base`` for every ``(tensor, pooling)`` of ``outputs`` (in that order), behind a
    uint8 RGB input and ``preprocess_input`` as one per-pixel affine map, converted to ONNX."""
    import keras

    from .engine import extractor_for
    from .export import _fix_normalization, _quiet_stdout, preprocess_affine

    extractor, back = extractor_for(base, outputs, gem_p)
    a, b = preprocess_affine(spec)
    rgb = keras.Input((size, size, 3), dtype="uint8", name="rgb")
    pre = keras.layers.Dense(3, name="preprocess_input", trainable=False)
    x = pre(keras.ops.cast(rgb, "float32"))
    pre.set_weights([a, b])
    got = extractor.model(x)
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    named = dict(zip([back[k] for k in extractor.keys], got, strict=True))
    featurizer = keras.Model(rgb, [named[o] for o in outputs], name="browser_extractor")
    featurizer.trainable = False
    _fix_normalization(featurizer)
    featurizer(np.zeros((1, size, size, 3), np.uint8))  # Keras exports called models only
    with tempfile.TemporaryDirectory(prefix="playground-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        with _quiet_stdout():
            featurizer.export(str(path), format="onnx", verbose=False)
        return path.read_bytes()


def check_onnx(data: bytes, model: ModelRecord, index: BuildIndex, cache: Cache, poolings: list[str]) -> float:
    """The largest relative difference between ONNX Runtime's outputs and the build's cached embeddings, over
    the first ``CHECK_IMAGES`` images of the model's first dataset (decoded as the precompute decodes them)."""
    import onnxruntime as ort

    from .images import load_rgb

    ds = next(iter(index.datasets.values()))
    n = min(CHECK_IMAGES, ds.n_images)
    pixels = np.stack([load_rgb(Path(ds.root) / rel, model.input_size) for rel in ds.rels[:n]])
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    got = [sess.run(None, {name: pixels[i : i + 1]}) for i in range(n)]  # batch 1, as the browser runs it
    worst = 0.0
    for j, (layer, _, pooling) in enumerate(_outputs(model, poolings)):
        view = index.view(ds.slug, model.slug, layer, pooling)
        emb = cache.get_npy("emb", view["emb"])
        if emb is None:
            return float("inf")  # nothing to check against: not shipped
        want = np.asarray(emb[:n], np.float64)
        mine = np.concatenate([g[j] for g in got]).astype(np.float64)
        scale = np.maximum(np.abs(want).max(axis=1), np.finfo(np.float32).tiny)
        worst = max(worst, float((np.abs(mine - want).max(axis=1) / scale).max()))
    return worst


def model_files(model: ModelRecord, index: BuildIndex, cfg: BuildConfig, cache: Cache) -> tuple[bytes, float] | None:
    """The model's ONNX bytes and their check, from the cache or exported now; None (with a warning) when the
    conversion fails or disagrees with the build."""
    from .inputs import model_spec, parse_model_arg

    poolings = list(index.settings["pooling"])
    spec = model_spec(parse_model_arg(model.arg, model.weights)[0], cfg.cache_dir)
    k = key(
        v=BROWSER_VERSION,
        model=spec.name,
        weights=spec.weights_id(model.weights),
        outputs=[[t, p] for _, t, p in _outputs(model, poolings)],
        gem_p=float(index.settings["gem_p"]),
        size=model.input_size,
        versions=_versions(),
    )
    record = cache.get_json("web-onnx", k)
    path = cache.path("web-onnx", k, ".onnx")
    if record is not None and path.is_file():
        return path.read_bytes(), float(record["max_rel_err"])
    log.info(f"browser search: exporting {model.name} to ONNX")
    try:
        data = export_onnx(model, index, cfg)
    except Exception as exc:  # tf2onnx raises many types; the site then says this model is server-only
        log.warn(f"browser search: {model.name} could not be converted to ONNX ({type(exc).__name__}: {exc})")
        return None
    err = check_onnx(data, model, index, cache, poolings)
    if not err <= TOLERANCE:
        log.warn(f"browser search: {model.name}'s ONNX model differs from the build by {err:.1e}: left out")
        return None
    from .atomic import write_bytes

    write_bytes(path, data)
    cache.put_json("web-onnx", k, {"max_rel_err": err, "bytes": len(data)})
    return data, err


def _float32_b64(emb: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(emb, dtype="<f4").tobytes()).decode("ascii")


def plan_views(
    index: BuildIndex, cache: Cache, datasets: list[Any], max_mb: float
) -> tuple[dict[str, list[str]], list[str]]:
    """Which poolings of each dataset the site ships embeddings for: the build's poolings in order, each with
    every model and layer, while the dataset's view files stay within ``max_mb`` (float32 as base64: 16/3 bytes
    per value). Why float32: with float16 the top-15 changed for 2-47 % of queries per layer at 10,100 images
    (measured on tinyimagenet10k x mobilenet_075), far from the CLI's answer. Returns the plan and one line per
    pooling left out."""
    plan: dict[str, list[str]] = {}
    left: list[str] = []
    for ds in datasets:
        total = 0.0
        plan[ds.slug] = []
        for p in index.settings["pooling"]:
            values = 0
            for model in index.models.values():
                for la in model.layers:
                    path = cache.path("emb", index.view(ds.slug, model.slug, la.slug, p)["emb"], ".npy")
                    n, d = np.load(path, mmap_mode="r").shape
                    values += n * d
            mb = values * 16 / 3 / 1e6
            if total + mb <= max_mb:
                total += mb
                plan[ds.slug].append(p)
            else:
                left.append(
                    f"{ds.slug}: {p} pooling left out of the in-browser search ({mb:,.0f} MB of embeddings; "
                    f"site.browser_search_max_mb = {max_mb:g})"
                )
    return plan, left


def write_browser_files(cfg: BuildConfig) -> c.BrowserIndex:
    """Write ``data/web/`` for the build in ``cfg.out`` (pruning what an earlier build left there)."""
    index = BuildIndex.load(cfg)
    cache = Cache(cfg.cache_dir)
    data = DataDir(cfg.site_dir, owned_prefix="web/")
    runtime = find_runtime()
    limit = cfg.browser_search_max_images
    datasets = [d for d in index.datasets.values() if 0 < d.n_images <= limit]
    models: list[c.BrowserModel] = []
    why = None
    if limit == 0:
        why = "turned off in this build (site.browser_search_max_images = 0)"
    elif runtime is None:
        why = (
            "the build had no ONNX Runtime Web to copy in (run `npm ci` in the project, or set PLAYGROUND_ORT_WEB to "
            "onnxruntime-web's dist folder, and build again)"
        )
    elif not datasets:
        why = f"every dataset of this build is larger than {limit:,} images (site.browser_search_max_images)"
    runtime_bytes = 0
    shipped: dict[str, list[str]] = {}
    left_out: list[str] = []
    if why is None and runtime is not None:
        poolings = list(index.settings["pooling"])
        shipped, left_out = plan_views(index, cache, datasets, cfg.browser_search_max_mb)
        datasets = [d for d in datasets if shipped.get(d.slug)]
        if not datasets:
            why = left_out[0] if left_out else "nothing to ship"
    if why is None and runtime is not None:
        for model in index.models.values():
            got = model_files(model, index, cfg, cache)
            if got is None:
                continue
            onnx, err = got
            data.put(f"web/model/{model.slug}", _b64(onnx, c.BrowserModelBytes))
            outputs = [f"{layer}/{p}" for layer, _, p in _outputs(model, poolings)]
            models.append(
                c.BrowserModel(
                    model=model.slug, size=model.input_size, outputs=outputs, bytes=len(onnx), max_rel_err=err
                )
            )
            for ds in datasets:
                for la in model.layers:
                    for p in shipped[ds.slug]:
                        view = index.view(ds.slug, model.slug, la.slug, p)
                        emb = cache.get_npy("emb", view["emb"])
                        if emb is None:
                            raise BuildError(f"the cache lost {ds.slug}/{model.slug}/{la.slug}/{p}: build again")
                        n, d = emb.shape
                        data.put(
                            f"web/{ds.slug}/{model.slug}/{la.slug}/{p}",
                            c.BrowserView(n=n, d=d, emb=_float32_b64(emb)),
                        )
        if not models:
            why = "no model of this build could be exported to ONNX (see the build's warnings)"
        else:
            for part, name in RUNTIME_FILES.items():
                blob = (runtime.folder / name).read_bytes()
                runtime_bytes += len(blob)
                data.put(f"web/runtime/{part}", _b64(blob))
    out = c.BrowserIndex(
        available=why is None,
        why=why,
        runtime=runtime.version if runtime and why is None else None,
        runtime_bytes=runtime_bytes,
        max_images=limit,
        datasets=[d.slug for d in datasets] if why is None else [],
        poolings={d.slug: shipped[d.slug] for d in datasets} if why is None else {},
        left_out=left_out,
        models=models,
        minkowski_p=float(index.settings["minkowski_p"]),
    )
    data.put("web/index", out)
    data.prune()
    return out
