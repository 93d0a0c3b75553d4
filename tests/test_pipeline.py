"""The precompute stage end to end, on real images (../shared/datasets)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from precompute import catalog, extract, log
from precompute.config import load_config
from precompute.pipeline import BuildError, run_precompute
from precompute.sitedata import read_key
from tests.helpers import small_copy


@pytest.fixture
def two_small(tmp_path: Path, shared_datasets: Path) -> list[Path]:
    return [
        small_copy(shared_datasets / "iconic200", tmp_path / "in" / "iconic_small"),
        small_copy(shared_datasets / "cifar10", tmp_path / "in" / "cifar_small"),
    ]


def cfg_for(out: Path, datasets: list[Path], models: tuple[str, ...] = ("mobilenet_075",), **kw):
    log.configure(quiet=True)
    return load_config(out=out, datasets=tuple(map(str, datasets)), models=models, weights="random", **kw)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_real_weights_beat_random_weights_on_iconic200(tmp_path: Path, shared_datasets: Path, keras_home) -> None:
    ds = [shared_datasets / "iconic200"]
    real = run_precompute(cfg_for(tmp_path / "real", ds, ("mobilenet_075@imagenet",), metrics=("cosine",)))
    rand = run_precompute(cfg_for(tmp_path / "rand", ds, ("mobilenet_075",), metrics=("cosine",)))
    last = real["models"][0]["layers"][-1]
    s_real = real["scores"]["iconic200"]["mobilenet_075"][last]["cosine"]["mean_search_score"]
    s_rand = rand["scores"]["iconic200"]["mobilenet_075"][last]["cosine"]["mean_search_score"]
    print(f"\niconic200, MobileNet(alpha=0.75) {last}, cosine: imagenet {s_real:.1f} vs random {s_rand:.1f}")
    assert real["models"][0]["weights_id"] == "imagenet" and rand["models"][0]["random_weights"]
    assert s_real > 75 and s_real > s_rand + 30
    index = read_key(tmp_path / "rand" / "site", "index")
    assert index["models"][0]["random"] is True and index["models"][0]["weights"] == "random"


@pytest.mark.backend
def test_outputs_match_an_independent_computation(tmp_path: Path, two_small: list[Path]) -> None:
    from scipy.spatial import distance

    from precompute.images import load_rgb

    cfg = cfg_for(tmp_path / "o", two_small[:1], metrics=("euclidean",))
    summary = run_precompute(cfg)
    site = cfg.site_dir
    ds = read_key(site, "datasets/iconic_small")
    assert [im["file"] for im in ds["images"]] == sorted(im["file"] for im in ds["images"])
    labels = np.array([im["label"] for im in ds["images"]])
    # independent embeddings: a plain Keras model to the layer's activation, numpy mean over space
    import keras

    model = catalog.load_model(catalog.get_spec("mobilenet_075"), "random")
    layer = read_key(site, "index")["models"][0]["layers"][-1]
    act = summary["models"][0]["layers"][-1]
    assert act == layer["name"]
    sub = keras.Model(model.inputs, model.get_layer("conv_pw_13_relu").output)
    x = catalog.get_spec("mobilenet_075").preprocess(
        np.stack([load_rgb(two_small[0] / im["file"], 224) for im in ds["images"]]).astype(np.float32)
    )
    emb = np.asarray(sub.predict(x, verbose=0)).mean(axis=(1, 2))
    d = distance.squareform(distance.pdist(emb.astype(np.float64), "euclidean"))
    got = read_key(site, f"iconic_small/mobilenet_075/{layer['slug']}/euclidean")
    for q in range(len(labels)):
        order = sorted((d[q, j], j) for j in range(len(labels)) if j != q)[: got["k"]]
        assert got["ids"][q] == [j for _, j in order]
        np.testing.assert_allclose(
            np.array(got["dist"][q]) * got["dist_scale"], [v for v, _ in order], rtol=5e-3, atol=got["dist_scale"] / 2
        )
        w = (got["k"] - np.arange(got["k"])) / got["k"]
        hits = labels[[j for _, j in order]] == labels[q]
        assert got["score"][q] == pytest.approx(100 * (w * hits).sum() / w.sum(), abs=0.01)
    assert got["k"] == 15 and len(got["ids"]) == 18
    umap = got["xy"]
    assert len(umap) == 18 and all(0 <= v <= 1 for xy in umap for v in xy)


@pytest.mark.slow
def test_rebuild_is_deterministic_incremental_and_loads_no_model(
    tmp_path: Path, two_small: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    run_precompute(cfg_for(out_a, two_small[:1]))
    run_precompute(cfg_for(out_b, two_small[:1]))
    assert tree_digest(out_a / "site") == tree_digest(out_b / "site")  # byte-identical outputs
    assert tree_digest(out_a / "cache") == tree_digest(out_b / "cache")

    # nothing changed: no model is built, no embedding computed, no file rewritten
    def boom(*a, **k):
        raise AssertionError("a no-op rebuild must not load a model")

    monkeypatch.setattr(catalog, "load_model", boom)
    before = tree_digest(out_a / "site")
    summary = run_precompute(cfg_for(out_a, two_small[:1]))
    assert summary["run"]["site_files_written"] == 0 and tree_digest(out_a / "site") == before
    monkeypatch.undo()

    # adding a dataset computes only that dataset
    calls: list[int] = []
    real = extract.embed_paths
    monkeypatch.setattr(
        extract,
        "embed_paths",
        lambda model, names, paths, **kw: (calls.append(len(paths)), real(model, names, paths, **kw))[1],
    )
    run_precompute(cfg_for(out_a, two_small))
    assert calls == [18]  # one pass, over the new dataset's 18 images only


@pytest.mark.slow
def test_interrupted_run_resumes(tmp_path: Path, two_small: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from precompute import pipeline

    cfg = cfg_for(tmp_path / "o", two_small)
    calls = {"n": 0}
    real = pipeline.projection

    def interrupt_third(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(pipeline, "projection", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        run_precompute(cfg)
    monkeypatch.undo()
    for p in (tmp_path / "o").rglob("*"):  # no torn or temporary file left behind
        assert not p.name.endswith(".tmp")
    embedded: list[int] = []
    real_embed = extract.embed_paths
    monkeypatch.setattr(extract, "embed_paths", lambda *a, **k: (embedded.append(1), real_embed(*a, **k))[1])
    summary = run_precompute(cfg)
    assert embedded == []  # every embedding was cached before the interruption
    assert set(summary["scores"]) == {"iconic_small", "cifar_small"}


@pytest.mark.backend
def test_unlabelled_folder_and_bad_images(tmp_path: Path, shared_datasets: Path) -> None:
    flat = tmp_path / "in" / "flat"
    flat.mkdir(parents=True)
    for f in sorted((shared_datasets / "iconic200" / "banana").iterdir())[:5]:
        shutil.copy(f, flat / f.name)
    (flat / "broken.jpg").write_bytes(b"not an image")
    log.reset_warnings()
    summary = run_precompute(cfg_for(tmp_path / "o", [flat], metrics=("cosine",)))
    layer = read_key(tmp_path / "o" / "site", "index")["models"][0]["layers"][0]["slug"]
    got = read_key(tmp_path / "o" / "site", f"flat/mobilenet_075/{layer}/cosine")
    assert got["score"] is None and got["mean_score"] is None and len(got["ids"]) == 5
    assert any("broken.jpg" in w for w in summary["warnings"])


def test_missing_pieces_are_skipped_with_one_warning_each(
    tmp_path: Path, two_small: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog, "_reachable", lambda origin, timeout=3.0: "no network (test)")
    log.reset_warnings()
    cfg = load_config(
        out=tmp_path / "o",
        datasets=(str(two_small[0]), "no_such_dataset"),
        models=("vgg16@imagenet", "mobilenet_075"),
        weights="random",
    )
    summary = run_precompute(cfg)
    whats = [m["what"] for m in summary["missing"]]
    assert whats == ["dataset no_such_dataset", "model vgg16 (imagenet weights)"]
    assert any("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in w for w in summary["warnings"])
    assert [m["name"] for m in summary["models"]] == ["mobilenet_075"]
    assert read_key(tmp_path / "o" / "site", "index")["missing"][1]["what"] == "model vgg16 (imagenet weights)"
    with pytest.raises(BuildError, match="--strict"):
        run_precompute(
            load_config(
                out=tmp_path / "o",
                datasets=(str(two_small[0]),),
                models=("vgg16@imagenet", "mobilenet_075"),
                strict=True,
            )
        )
    with pytest.raises(BuildError, match="nothing to build"):
        run_precompute(
            load_config(out=tmp_path / "o", datasets=(str(two_small[0]),), models=("vgg16",), weights="imagenet")
        )


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
    assert summary["models"][0]["layers"] == ["c1", "c2", "c3"]
    index = read_key(tmp_path / "o" / "site", "index")
    model = index["models"][0]
    assert model["input_size"] == 64 and model["weights"] == "file" and not model["random"]
    assert [la["type"] for la in model["layers"]] == ["Conv2D", "Conv2D", "SeparableConv2D"]
    got = read_key(tmp_path / "o" / "site", f"iconic_small/{model['slug']}/c2/cosine")
    assert len(got["ids"]) == 18


def test_a_dataset_with_one_image_is_skipped_not_fatal(tmp_path: Path, two_small: list[Path]) -> None:
    lonely = tmp_path / "lonely" / "only"
    lonely.mkdir(parents=True)
    first = sorted(two_small[0].rglob("*.jpg"))[0]
    (lonely / first.name).write_bytes(first.read_bytes())
    summary = run_precompute(cfg_for(tmp_path / "o", [two_small[0], lonely.parent], metrics=("cosine",)))
    assert [m["what"] for m in summary["missing"]] == ["dataset " + str(lonely.parent)]
    assert list(summary["scores"]) == ["iconic_small"]
