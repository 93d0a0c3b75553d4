"""The precompute stage end to end on real images: every output against an independent computation, poolings,
incremental rebuilds and their cache keys, missing pieces, bad inputs, and the early fit check."""

from __future__ import annotations

import base64
import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from precompute import extract, log
from precompute.catalog import CATALOG
from precompute.config import load_config
from precompute.errors import BuildError
from precompute.pipeline import run_precompute
from precompute.sitedata import read_key, read_typed
from precompute.sitefiles import decode_map
from tests.helpers import read_rankings, read_row, small_copy

LAYERS = ("conv1", "conv_pw_13")  # the first and the last layer: two views per pooling keep the tests quick


@pytest.fixture
def two_small(tmp_path: Path, shared_datasets: Path) -> list[Path]:
    return [
        small_copy(shared_datasets / "iconic200", tmp_path / "in" / "iconic_small"),
        small_copy(shared_datasets / "cifar10", tmp_path / "in" / "cifar_small"),
    ]


def cfg_for(out: Path, datasets: list[Path], models: tuple[str, ...] = ("mobilenet_075",), **kw):
    log.configure(quiet=True)
    kw.setdefault("weights", "random")
    cfg = load_config(out=out, datasets=tuple(map(str, datasets)), models=models, **kw)
    return replace(cfg, layers={"mobilenet_075": LAYERS, **cfg.layers})


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def rankings(site: Path, base: str, metric: str, n: int) -> dict[str, np.ndarray]:
    """All shards of one view decoded back into arrays, with each distance's stated bound."""
    return read_rankings(site, base, metric, n)  # type: ignore[return-value]


def calibration(site: Path, view: str):
    from precompute.sitefiles import read_calibration

    return read_calibration(read_typed(site, f"{view}/calib"))


def independent_embeddings(dataset: Path, files: list[str], layer: str) -> dict[str, np.ndarray]:
    """A plain Keras model to the layer's activation, numpy pooling: avg and the 2x2 adaptive grid."""
    import keras

    from precompute.images import load_rgb

    spec = CATALOG["mobilenet_075"]
    model = spec.load("random")
    sub = keras.Model(model.inputs, model.get_layer(f"{layer}_relu").output)
    x = spec.preprocess(np.stack([load_rgb(dataset / f, 224) for f in files]).astype(np.float32))
    maps = np.asarray(sub.predict(x, verbose=0), dtype=np.float64)
    h, w = maps.shape[1:3]
    cells = []
    for r0, r1 in ((0, -(-h // 2)), (h // 2, h)):
        for c0, c1 in ((0, -(-w // 2)), (w // 2, w)):
            cells.append(maps[:, r0:r1, c0:c1, :].mean(axis=(1, 2)))
    return {"avg": maps.mean(axis=(1, 2)), "grid2": np.concatenate(cells, axis=1)}


# ------------------------------------------------------------------------------------------------ outputs
@pytest.mark.backend
def test_outputs_match_an_independent_computation(tmp_path: Path, two_small: list[Path]) -> None:
    from scipy.spatial.distance import cdist

    cfg = cfg_for(tmp_path / "o", two_small[:1], metrics=("cosine", "euclidean", "sqeuclidean", "minkowski"))
    summary = run_precompute(cfg)
    site = cfg.site_dir
    ds = read_key(site, "datasets/iconic_small")
    files = [f for b in range(1) for f in read_key(site, f"datasets/iconic_small/files/{b}")["files"]]
    assert files == sorted(files) and len(files) == ds["n"] == 18
    labels = np.repeat(np.arange(len(ds["classes"])), np.diff(ds["class_start"]))
    assert [f.split("/")[0] for f in files] == [ds["classes"][c] for c in labels]
    n, k = 18, 15
    independent: dict[tuple[str, str], dict[str, list]] = {}
    for layer in LAYERS:
        emb = independent_embeddings(two_small[0], files, layer)
        for pooling in ("avg", "grid2"):
            base = f"iconic_small/mobilenet_075/{layer}/{pooling}"
            exact_scores: dict[str, list[float]] = {}
            # sqeuclidean ranks as euclidean does: the page reads it from euclidean's shards, distances squared
            assert read_typed(site, f"{base}/euclidean/0").squared is True
            assert not (site / "data" / base / "sqeuclidean" / "0.js").exists()
            for metric in ("cosine", "euclidean", "sqeuclidean", "minkowski"):
                d = cdist(emb[pooling], emb[pooling], metric, **({"p": 3} if metric == "minkowski" else {}))
                got = rankings(site, base, metric, n)
                pairs = np.sort(d[np.triu_indices(n, 1)])
                for q in range(n):
                    order = sorted((d[q, j], j) for j in range(n) if j != q)[:k]
                    assert got["ids"][q].tolist() == [j for _, j in order], (base, metric, q)
                    # distances: scipy's on these embeddings (Keras's own predict, not the build's batches: float32
                    # sums in another order); the stored ones are within the contract's bound of the build's own
                    # (test_rank_shards_decode_within_their_stated_bound)
                    want = np.array([v for v, _ in order])
                    np.testing.assert_allclose(got["dist"][q], want, rtol=1e-5, atol=got["bound"][q].max() + 1e-6)
                    # similarity: parts per million of all pairs at most this far apart, rounded up, from the
                    # view's calibration (153 pairs: every one is a knot, counted one by one)
                    cal = calibration(site, f"{base}/{metric}")
                    assert cal.head == len(cal.dist) == len(np.unique(pairs.astype(np.float32)))
                    for v, got_near, slack in zip(want, got["near_ppm"][q], got["bound"][q], strict=True):
                        exact = np.ceil(1e6 * np.searchsorted(pairs, v * (1 + 1e-9), "right") / len(pairs))
                        # the pairs the stored distance cannot tell apart from this one (and these embeddings)
                        w = 2 * slack + 1e-5 * v  # stored up to slack off, counted up to slack on; JAX sums
                        close = np.searchsorted(pairs, v + w, "right") - np.searchsorted(pairs, v - w, "left")
                        assert abs(got_near - exact) <= 1 + 1e6 * max(0, close - 1) / len(pairs), (v, got_near, exact)
                    w = (k - np.arange(k)) / k
                    hits = labels[[j for _, j in order]] == labels[q]
                    exact = 100 * (w * hits).sum() / w.sum()
                    exact_scores.setdefault(metric, []).append(exact)
                    assert got["score"][q] == pytest.approx(exact, abs=0.01)
                    independent.setdefault((pooling, metric), {}).setdefault(layer, []).append(
                        (q, exact, [int(labels[j]) for _, j in order])
                    )
            # every image's score as one byte, for colouring the map
            for metric, want_scores in exact_scores.items():
                got_scores = np.frombuffer(base64.b64decode(read_key(site, f"{base}/{metric}/scores")["score"]), "u1")
                assert got_scores.tolist() == [round(x) for x in want_scores], (base, metric)
            # the map: UMAP with the documented settings on the exact cosine graph, in the unit square
            xy = decode_map(read_key(site, f"{base}/map")["xy"])
            assert xy.shape == (n, 2) and xy.min() >= 0 and xy.max() <= 1
            s = summary.scores["iconic_small"]["mobilenet_075"][layer][pooling]["cosine"]
            # the summary's mean (3 decimals) is the mean of the exact scores, not of the site's rounded ones
            assert s["mean_search_score"] == pytest.approx(np.mean(exact_scores["cosine"]), abs=1e-3)
            assert s["exact"] is True and s["recall"] is None
    # the per-class files, from the independent rankings above in plain Python
    classes = len(ds["classes"])
    for (pooling, metric), by_layer in independent.items():
        means = {layer: _class_truth(rows, labels, classes, k) for layer, rows in by_layer.items()}
        for layer in LAYERS:
            f = read_key(site, f"iconic_small/mobilenet_075/{layer}/{pooling}/{metric}/classes")
            want = means[layer]
            assert f["k"] == k
            np.testing.assert_allclose(f["score"], want["score"], atol=0.05 + 1e-9)
            np.testing.assert_allclose(f["precision"], want["precision"], atol=5e-4 + 1e-9)
            assert f["confused"] == want["confused"], (layer, pooling, metric)
            assert f["worst_query"] == want["worst_query"] and f["worst"] == want["worst"]
            np.testing.assert_allclose(f["worst_score"], want["worst_score"], atol=0.05 + 1e-9)
            np.testing.assert_allclose(f["by_layer"], [means[x]["score"] for x in LAYERS], atol=0.05 + 1e-9)
    board = read_key(site, "leaderboard")
    assert set(board["score"]["iconic_small"]) == {"avg", "grid2"}
    assert len(board["probe"]["iconic_small"]["avg"]["mobilenet_075"]) == 2
    base = "iconic_small/mobilenet_075/conv1/avg"
    for kind in (
        "index",
        "leaderboard",
        "datasets/iconic_small",
        f"{base}/map",
        f"{base}/cosine/0",
        f"{base}/cosine/calib",
        f"{base}/cosine/classes",
    ):
        read_typed(site, kind)  # every file matches its contract type strictly


def _class_truth(rows: list[tuple[int, float, list[int]]], labels: np.ndarray, classes: int, k: int) -> dict:
    """Per class, from (query, exact search score, result labels) rows: the ClassesFile's fields, by loops."""
    out: dict = {"score": [], "precision": [], "confused": [], "worst_query": []}
    for c in range(classes):
        mine = [r for r in rows if labels[r[0]] == c]
        out["score"].append(sum(r[1] for r in mine) / len(mine))
        out["precision"].append(sum(r[2].count(c) for r in mine) / (k * len(mine)))
        counts: dict[int, int] = {}
        for r in mine:
            for got in r[2]:
                if got != c:
                    counts[got] = counts.get(got, 0) + 1
        out["confused"].append([[d, m] for d, m in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:3]])
        out["worst_query"].append(min(mine, key=lambda r: (r[1], r[0]))[0])
    worst = sorted(rows, key=lambda r: (r[1], r[0]))[:12]
    out["worst"] = [r[0] for r in worst]
    out["worst_score"] = [r[1] for r in worst]
    return out


@pytest.mark.backend
def test_umap_and_pca_fallback_equal_independent_runs(tmp_path: Path, two_small: list[Path]) -> None:
    """The map of a view equals umap-learn run with the documented settings on the exact cosine graph of the
    view's embeddings (scipy's distances, self as first neighbour); a dataset under 10 images gets PCA instead,
    equal to numpy's SVD. (The embeddings themselves are checked in the test above; UMAP's optimisation is
    chaotic, so both runs must start from the same numbers.)"""
    import json

    import umap
    from scipy.spatial.distance import cdist

    from precompute.cache import Cache

    tiny = small_copy(two_small[0], tmp_path / "in" / "tiny", classes=3, per_class=2)
    cfg = cfg_for(tmp_path / "o", [two_small[0], tiny], metrics=("cosine",), pooling="avg")
    run_precompute(cfg)
    views = json.loads(cfg.manifest_path.read_text())["views"]
    for name, n in (("iconic_small", 18), ("tiny", 6)):
        emb = Cache(cfg.cache_dir).get_npy("emb", views[name]["mobilenet_075"]["conv_pw_13"]["avg"]["emb"])
        emb = emb.astype(np.float64)
        assert emb.shape[0] == n
        got = decode_map(read_key(cfg.site_dir, f"{name}/mobilenet_075/conv_pw_13/avg/map")["xy"])
        if n >= 10:
            d = cdist(emb, emb, "cosine")
            np.fill_diagonal(d, -1)  # self first
            knn = np.argsort(d, axis=1, kind="stable")[:, :15]
            dist = np.take_along_axis(np.maximum(d, 0), knn, axis=1)
            xy = (
                umap.UMAP(
                    n_neighbors=15,
                    min_dist=0.5,
                    metric="cosine",
                    random_state=42,
                    init="spectral",
                    transform_seed=42,
                    precomputed_knn=(knn, dist.astype(np.float32), None),
                )
                .fit_transform(emb.astype(np.float32))
                .astype(np.float64)
            )
        else:
            x = emb - emb.mean(axis=0)
            _, _, vt = np.linalg.svd(x, full_matrices=False)
            comps = vt[:2] * np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(axis=1)])[:, None]
            xy = x @ comps.T
        xy = xy - xy.min(axis=0)
        xy = xy / xy.max()
        xy = xy + (1 - xy.max(axis=0)) / 2
        np.testing.assert_allclose(got, xy, atol=2e-4, err_msg=name)


def test_large_maps_start_from_umaps_pca_layout() -> None:
    """Above ``SPECTRAL_MAX`` images the map starts from UMAP's PCA layout (the spectral start has no useful time
    bound on nearly disconnected graphs): equal to umap-learn run with ``init="pca"``, and not to the spectral
    start. Checked on 400 generated points with the threshold lowered."""
    import umap

    from precompute.projection import SPECTRAL_MAX, init_for, umap_2d

    assert init_for(SPECTRAL_MAX) == "spectral" and init_for(SPECTRAL_MAX + 1) == "pca"
    rng = np.random.default_rng(3)
    emb = (rng.normal(size=(8, 24))[rng.integers(0, 8, 400)] + rng.normal(scale=0.3, size=(400, 24))).astype(np.float32)
    u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d = 1 - u.astype(np.float64) @ u.T.astype(np.float64)
    np.fill_diagonal(d, -1)  # self first
    knn = np.argsort(d, axis=1, kind="stable")[:, :15]
    dist = np.take_along_axis(np.maximum(d, 0), knn, axis=1)
    got = umap_2d(emb, knn=(knn[:, 1:], dist[:, 1:]), spectral_max=399)

    def independent(init: str) -> np.ndarray:
        xy = umap.UMAP(
            n_neighbors=15,
            min_dist=0.1,
            metric="cosine",
            random_state=42,
            init=init,
            transform_seed=42,
            precomputed_knn=(knn.astype(np.int32), dist.astype(np.float32), None),
        ).fit_transform(emb)
        xy = xy.astype(np.float64) - xy.min(axis=0)
        xy = xy / xy.max()
        return xy + (1 - xy.max(axis=0)) / 2

    np.testing.assert_allclose(got, independent("pca"), atol=2e-4)
    assert not np.allclose(got, independent("spectral"), atol=1e-2)


_JIT_PROBE = """
import hashlib, sys
sys.modules["tensorflow"] = None  # as in a view worker: umap would import it for its parametric variant
from pathlib import Path
import numpy as np
from precompute.projection import umap_2d
e = np.random.default_rng(0).normal(size=(60, 16)).astype(np.float32)
u = e / np.linalg.norm(e, axis=1, keepdims=True)
d = 1 - u @ u.T
np.fill_diagonal(d, np.inf)
ids = np.argsort(d, axis=1, kind="stable")[:, :20]
xy = umap_2d(e, knn=(ids, np.take_along_axis(d, ids, 1)), jit_cache=Path(sys.argv[1]))
import umap.umap_
stats = umap.umap_.smooth_knn_dist.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), hashlib.sha256(xy.tobytes()).hexdigest())
"""


def test_umaps_compiled_kernels_are_cached_on_disk_for_the_next_process(tmp_path: Path) -> None:
    """A build keeps UMAP's compiled numba kernels in its jit folder: the next process loads them (no compile)
    and draws the same map."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    jit = tmp_path / "jit"
    runs = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", _JIT_PROBE, str(jit)], env=env, capture_output=True, text=True, check=True
        )
        hits, misses, digest = proc.stdout.split()
        runs.append((int(hits), int(misses), digest))
    assert runs[0][:2] == (0, 1)  # compiled, and saved
    assert runs[1][:2] == (1, 0)  # loaded from disk
    assert runs[0][2] == runs[1][2]
    assert len(list(jit.rglob("*.nbi"))) >= 3  # the three kernels a precomputed graph uses


# ------------------------------------------------------------------------------------------------ settings
def test_minkowski_p_reaches_the_rankings_and_the_cache_key(tmp_path: Path, two_small: list[Path]) -> None:
    out = tmp_path / "o"
    ds = two_small[:1]
    base = "iconic_small/mobilenet_075/conv_pw_13/avg"
    run_precompute(cfg_for(out, ds, metrics=("euclidean", "minkowski"), minkowski_p=2, pooling="avg"))
    euclid, p2 = rankings(out / "site", base, "euclidean", 18), rankings(out / "site", base, "minkowski", 18)
    assert (p2["ids"] == euclid["ids"]).all()  # p = 2 is the euclidean distance
    np.testing.assert_allclose(p2["dist"], euclid["dist"], rtol=1e-3, atol=0)
    summary = run_precompute(cfg_for(out, ds, metrics=("euclidean", "minkowski"), minkowski_p=3, pooling="avg"))
    p3 = rankings(out / "site", base, "minkowski", 18)
    assert not np.allclose(p3["dist"], p2["dist"], rtol=1e-3, atol=0)  # recomputed: p is part of the cache key
    assert summary.settings["minkowski_p"] == 3
    assert "= 3" in read_key(out / "site", "index")["metrics"][1]["description"]
    browser_search_says_why_it_is_not_there(cfg_for(out, ds, metrics=("euclidean", "minkowski"), pooling="avg"))


def browser_search_says_why_it_is_not_there(cfg) -> None:
    """``data/web/index`` of a build without the in-browser search: the one line the page shows, and no file of
    the search (the runtime is what conftest hides from test builds; the limit and off are settings)."""
    from precompute.browsersearch import write_browser_files
    from tests.helpers import with_browser_runtime

    web = read_key(cfg.site_dir, "web/index")
    assert not web["available"] and "no ONNX Runtime Web" in web["why"] and "npm ci" in web["why"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLAYGROUND_ORT_WEB", with_browser_runtime()["PLAYGROUND_ORT_WEB"])
        small = write_browser_files(replace(cfg, browser_search_max_images=5))
        assert not small.available and small.why and "larger than 5 images" in small.why and small.datasets == []
        off = write_browser_files(replace(cfg, browser_search_max_images=0))
        assert not off.available and off.why and "turned off" in off.why
    files = sorted(
        p.relative_to(cfg.site_dir / "data" / "web").as_posix() for p in (cfg.site_dir / "data" / "web").rglob("*.js")
    )
    assert files == ["index.js"]


def test_pooling_max_and_flatten_end_to_end_and_their_cache_keys(
    tmp_path: Path, two_small: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o"
    ds = two_small[:1]
    run_precompute(cfg_for(out, ds, metrics=("cosine",), pooling="max"))
    emb_dir = out / "cache" / "emb"
    first = {p.name for p in emb_dir.rglob("*.npy")}
    assert len(first) == 2  # 2 layers x 1 pooling
    summary = run_precompute(cfg_for(out, ds, metrics=("cosine",), pooling="max,flatten"))
    both = {p.name for p in emb_dir.rglob("*.npy")}
    assert first < both and len(both) == 4  # only flatten was added
    sizes = {np.load(p, mmap_mode="r").shape[1] for p in emb_dir.rglob("*.npy")}
    assert {24, 768, 112 * 112 * 24, 7 * 7 * 768} == sizes
    assert set(summary.scores["iconic_small"]["mobilenet_075"]["conv_pw_13"]) == {"max", "flatten"}

    # a different input size is a different embedding: nothing cached may be reused
    calls: list[int] = []
    real = extract.stream_paths
    monkeypatch.setattr(extract, "stream_paths", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    monkeypatch.setitem(CATALOG, "mobilenet_075", replace(CATALOG["mobilenet_075"], input_size=192))
    run_precompute(cfg_for(out, ds, metrics=("cosine",), pooling="max"))
    assert calls == [1]


def test_a_build_too_large_for_the_machine_fails_early_naming_the_setting(
    tmp_path: Path, two_small: list[Path]
) -> None:
    cfg = cfg_for(tmp_path / "o", two_small[:1], pooling="flatten", memory_limit_gb=0.01)
    with pytest.raises(BuildError, match=r"too large.*'flatten'.*conv1.*--pooling") as err:
        run_precompute(cfg)
    assert "GB" in str(err.value)
    assert not (tmp_path / "o" / "cache" / "emb").exists()  # nothing was computed first


# ------------------------------------------------------------------------------------------------ rebuilds
@pytest.mark.slow
def test_rebuild_is_incremental_and_loads_no_model(
    tmp_path: Path, two_small: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "a"
    run_precompute(cfg_for(out, two_small[:1]))

    def boom(*a, **k):
        raise AssertionError("a no-op rebuild must not load a model")

    monkeypatch.setattr(type(CATALOG["mobilenet_075"]), "load", boom)
    before = tree_digest(out / "site")
    summary = run_precompute(cfg_for(out, two_small[:1]))
    assert summary.run["site_files_written"] == 0 and tree_digest(out / "site") == before
    monkeypatch.undo()

    # adding a dataset computes only that dataset
    calls: list[int] = []
    real = extract.stream_paths
    monkeypatch.setattr(
        extract, "stream_paths", lambda ex, paths, *a, **k: (calls.append(len(paths)), real(ex, paths, *a, **k))[1]
    )
    run_precompute(cfg_for(out, two_small))
    assert calls == [18]  # one pass, over the new dataset's 18 images only


# ------------------------------------------------------------------------------------------------ inputs
@pytest.mark.backend
def test_unlabelled_folder_and_bad_images(tmp_path: Path, shared_datasets: Path) -> None:
    flat = tmp_path / "in" / "flat"
    flat.mkdir(parents=True)
    for f in sorted((shared_datasets / "iconic200" / "banana").iterdir())[:12]:
        shutil.copy(f, flat / f.name)
    (flat / "broken.jpg").write_bytes(b"not an image")
    log.reset_warnings()
    summary = run_precompute(cfg_for(tmp_path / "o", [flat], metrics=("cosine",), pooling="avg"))
    got = read_row(tmp_path / "o" / "site", "flat/mobilenet_075/conv1/avg/cosine", 0)
    assert got.score is None and got.hits is None and len(got.ids) == 11 and 0 not in got.ids
    assert read_typed(tmp_path / "o" / "site", "flat/mobilenet_075/conv1/avg/cosine/0").rows == 12
    assert read_key(tmp_path / "o" / "site", "datasets/flat")["class_start"] is None
    assert any("broken.jpg" in w for w in summary.warnings)
    assert summary.probe["flat"]["mobilenet_075"]["conv1"]["avg"] == {"not_available": "the dataset has no categories"}


def test_missing_pieces_are_skipped_with_one_warning_each(
    tmp_path: Path, two_small: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from precompute import catalog

    monkeypatch.setattr(catalog, "_reachable", lambda origin: "no network (test)")
    log.reset_warnings()
    cfg = cfg_for(
        tmp_path / "o",
        [two_small[0], Path("no_such_dataset")],
        models=("vgg16@imagenet", "mobilenet_075"),
        metrics=("cosine",),
        pooling="avg",
    )
    summary = run_precompute(cfg)
    assert [m["what"] for m in summary.missing] == ["dataset no_such_dataset", "model vgg16 (imagenet weights)"]
    assert sum("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in w for w in summary.warnings) == 1
    assert [m["name"] for m in summary.models] == ["mobilenet_075"]
    index = read_key(tmp_path / "o" / "site", "index")
    assert index["missing"][1]["what"] == "model vgg16 (imagenet weights)"
    published = str(index["missing"])
    for local in (str(Path.home()), "/tmp", str(tmp_path), str(Path(__file__).resolve().parent.parent)):
        assert local not in published, local  # no path of this machine on the site
    with pytest.raises(BuildError, match="--strict"):
        run_precompute(replace(cfg, strict=True))
    with pytest.raises(BuildError, match="nothing to build"):
        run_precompute(replace(cfg, models=("vgg16@imagenet",)))


@pytest.mark.backend
def test_a_saved_keras_model_is_a_model(tmp_path: Path, two_small: list[Path]) -> None:
    import keras

    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, name="c2")(x)
    x = keras.layers.BatchNormalization(name="c2_bn")(x)
    x = keras.layers.ReLU(name="c2_relu")(x)
    x = keras.layers.SeparableConv2D(16, 3, name="c3")(x)
    path = tmp_path / "my net.keras"
    keras.Model(inputs, x).save(path)
    summary = run_precompute(cfg_for(tmp_path / "o", two_small[:1], models=(str(path),), metrics=("cosine",)))
    assert summary.models[0]["layers"] == ["c1", "c2", "c3"]
    model = read_key(tmp_path / "o" / "site", "index")["models"][0]
    assert model["input_size"] == 64 and model["weights"] == "file" and not model["random"]
    assert [la["type"] for la in model["layers"]] == ["Conv2D", "Conv2D", "SeparableConv2D"]
    got = read_typed(tmp_path / "o" / "site", f"iconic_small/{model['slug']}/c2/grid2/cosine/0")
    assert got.rows == 18 and got.k == 15


def test_a_dataset_with_one_image_is_skipped_not_fatal(tmp_path: Path, two_small: list[Path]) -> None:
    lonely = tmp_path / "lonely" / "only"
    lonely.mkdir(parents=True)
    first = sorted(two_small[0].rglob("*.jpg"))[0]
    (lonely / first.name).write_bytes(first.read_bytes())
    summary = run_precompute(cfg_for(tmp_path / "o", [two_small[0], lonely.parent], metrics=("cosine",), pooling="avg"))
    assert [m["what"] for m in summary.missing] == ["dataset " + str(lonely.parent)]


@pytest.mark.slow
def test_real_weights_beat_random_weights_on_iconic200(tmp_path: Path, shared_datasets: Path, keras_home) -> None:
    ds = [shared_datasets / "iconic200"]
    real = run_precompute(
        cfg_for(tmp_path / "real", ds, ("mobilenet_075@imagenet",), metrics=("cosine",), pooling="avg")
    )
    rand = run_precompute(cfg_for(tmp_path / "rand", ds, ("mobilenet_075",), metrics=("cosine",), pooling="avg"))
    s_real = real.scores["iconic200"]["mobilenet_075"]["conv_pw_13"]["avg"]["cosine"]["mean_search_score"]
    s_rand = rand.scores["iconic200"]["mobilenet_075"]["conv_pw_13"]["avg"]["cosine"]["mean_search_score"]
    print(f"\niconic200, MobileNet(alpha=0.75) conv_pw_13, cosine: imagenet {s_real:.1f} vs random {s_rand:.1f}")
    assert real.models[0]["weights_id"] == "imagenet" and rand.models[0]["random_weights"]
    assert s_real > 75 and s_real > s_rand + 30
    model = read_key(tmp_path / "rand" / "site", "index")["models"][0]
    assert model["random"] is True and model["weights"] == "random"


@pytest.mark.backend
def test_the_index_setting_reaches_rankings_summary_and_shards(tmp_path: Path, two_small: list[Path]) -> None:
    """``index = "approximate"`` ranks through the graph at any size: the summary and the site's shards say
    approximate, with the measured recall; it is its own cache entry, and ``exact`` reads the exact one back."""
    out, ds = tmp_path / "o", two_small[:1]
    base = "iconic_small/mobilenet_075/conv_pw_13/avg"
    kw = {"metrics": ("cosine", "euclidean"), "pooling": "avg"}
    exact = run_precompute(cfg_for(out, ds, **kw))
    exact_ids = {m: rankings(out / "site", base, m, 18)["ids"] for m in kw["metrics"]}
    approx = run_precompute(cfg_for(out, ds, index="approximate", **kw))
    for metric in kw["metrics"]:
        e = exact.scores["iconic_small"]["mobilenet_075"]["conv_pw_13"]["avg"][metric]
        a = approx.scores["iconic_small"]["mobilenet_075"]["conv_pw_13"]["avg"][metric]
        assert e["exact"] is True and e["index"] == "flat" and e["recall"] is None
        # 18 rows: the graph returns every candidate, so nothing can be missed
        assert a["exact"] is False and a["index"].startswith("hnsw") and a["recall"] == 1.0
        shard = read_typed(out / "site", f"{base}/{metric}/0")
        assert shard.exact is False and shard.recall == 1.0
        assert (rankings(out / "site", base, metric, 18)["ids"] == exact_ids[metric]).all()
    assert approx.settings["index"] == "approximate"
    again = run_precompute(cfg_for(out, ds, index="exact", **kw))
    assert again.scores == exact.scores  # the exact entry, from the cache
    assert read_typed(out / "site", f"{base}/cosine/0").exact is True
