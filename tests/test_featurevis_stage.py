"""The ``featurevis`` stage end to end with the real MobileNet(alpha=0.75): outputs and their format, the quick
label, resume after an interruption without re-rendering finished layers, byte-identical reruns, a time budget
that stops between layers and leaves the rest pending, and dataset examples equal to an independent top-9."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import small_copy

LAYERS = ("conv1", "conv_dw_6", "conv_pw_13")  # the rectified first layer, a middle and the last layer


def _inputs(cfg, datasets):
    from precompute.inputs import BuildInputs, resolve_models

    models, missing = resolve_models(cfg, ["mobilenet_075@imagenet"])
    assert not missing
    return BuildInputs(list(datasets), models, [])


def _cfg(out: Path, quick: bool = False, **fv):
    """Tiny settings; with ``quick`` they come in as the quick profile (as ``--quick`` would apply them)."""
    from precompute.config import load_config

    cfg = load_config(out=out)
    settings = {"channels": 3, "steps": 6, "size": 48, **fv}
    if quick:
        feat = replace(cfg.featurevis, quick=True, quick_profile=settings, examples=9, seed=0)
    else:
        feat = replace(cfg.featurevis, examples=9, seed=0, **settings)
    return replace(cfg, layers={"mobilenet_075": LAYERS}, featurevis=feat)


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory, shared_datasets):
    from precompute.datasets import load_dataset

    root = tmp_path_factory.mktemp("fv-datasets")
    a = small_copy(shared_datasets / "iconic200", root / "iconic_small", classes=3, per_class=5)
    b = small_copy(shared_datasets / "fashion200", root / "fashion_small", classes=2, per_class=4)
    return [load_dataset(a), load_dataset(b)]


def _files(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


class _Counter:
    """Counts (and optionally interrupts) Renderer.render calls."""

    def __init__(self, monkeypatch, fail_at: int | None = None):
        from precompute.featurevis import render

        self.calls: list[str] = []
        original = render.Renderer.render

        def counted(renderer, channels, key, **kw):
            self.calls.append(key)
            if fail_at is not None and len(self.calls) == fail_at:
                raise KeyboardInterrupt("simulated kill")
            return original(renderer, channels, key, **kw)

        monkeypatch.setattr(render.Renderer, "render", counted)


@pytest.mark.slow
@pytest.mark.backend
def test_stage_outputs_resume_and_determinism(tmp_path, two_datasets, keras_home, monkeypatch):
    from PIL import Image

    from precompute.featurevis.stage import run_featurevis
    from precompute.sitedata import read_key

    # 1. interrupted run: the kill arrives while the second layer renders
    out = tmp_path / "a"
    with pytest.MonkeyPatch.context() as mp:
        killer = _Counter(mp, fail_at=2)
        with pytest.raises(KeyboardInterrupt):
            run_featurevis(cfg := _cfg(out, quick=True), _inputs(cfg, two_datasets))
    assert len(killer.calls) == 2
    assert len(list((out / "cache" / "featurevis" / "layer").rglob("*.npz"))) == 1  # the first layer's checkpoint

    # 2. resume: only the two unfinished layers are rendered
    resume = _Counter(monkeypatch)
    summary = run_featurevis(cfg := _cfg(out, quick=True), _inputs(cfg, two_datasets))
    assert resume.calls == ["mobilenet_075/conv_dw_6", "mobilenet_075/conv_pw_13"]
    stats = summary.models["mobilenet_075"]
    assert stats["rendered_layers"] == 2 and stats["cached_layers"] == 1 and stats["skipped"] is None
    assert stats["channels"] == 9 and summary.quick is True and summary.profile == "quick"

    # 3. a finished run renders nothing, and rewrites identical bytes
    before = _files(out / "site")
    again = _Counter(monkeypatch)
    run_featurevis(cfg := _cfg(out, quick=True), _inputs(cfg, two_datasets))
    assert again.calls == []
    assert _files(out / "site") == before

    # 4. an uninterrupted run elsewhere gives the same bytes (same seed and settings)
    fresh = tmp_path / "b"
    run_featurevis(cfg := _cfg(fresh, quick=True), _inputs(cfg, two_datasets))
    assert _files(fresh / "site") == before

    # 5. the outputs and their format
    site = out / "site"
    index = read_key(site, "explorer/index")
    assert index["quick"] is True and index["profile"] == "quick"
    assert index["datasets"] == ["iconic_small", "fashion_small"]
    (model,) = index["models"]
    assert model["slug"] == "mobilenet_075" and model["weights"] == "imagenet" and model["random"] is False
    assert [layer["name"] for layer in model["layers"]] == list(LAYERS)
    assert len(model["layer_table"]) == model["n_layers"] > 80
    assert {"index", "name", "type", "params", "output_shape"} <= set(model["layer_table"][1])
    first = model["layers"][0]
    # dead channels, derived independently: conv1's filters whose weights are all (numerically) zero
    import keras

    keras.backend.clear_session()
    net = keras.applications.MobileNet(alpha=0.75, include_top=False, weights="imagenet", input_shape=(224, 224, 3))
    kernel = net.get_layer("conv1").get_weights()[0]  # (3, 3, 3, 24)
    kernel_dead = {int(c) for c in np.flatnonzero(np.abs(kernel).max(axis=(0, 1, 2)) < 1e-6)}
    assert len(kernel_dead) >= 1
    assert first["type"] == "Conv2D" and first["channels"] == 24 and first["dead"] == len(kernel_dead)
    assert first["target"] == {"tensor": "conv1_bn", "linearised": False, "objective": "mean(softplus(x))"}
    assert model["layers"][2]["target"]["objective"] == "mean(x)"
    for layer in model["layers"]:
        assert len(layer["visualized"]) == 3 and layer["visualized"] == sorted(layer["visualized"])
        data = read_key(site, layer["data"])
        assert data["quick"] is True
        assert [c["channel"] for c in data["channels"]] == layer["visualized"]
        for ch in data["channels"]:
            assert ch["image"] == f"fv/mobilenet_075/{layer['slug']}/{ch['channel']}.webp"
            with Image.open(site / ch["image"]) as im:
                assert im.format == "WEBP" and im.size == (48, 48)
            assert len(ch["examples"]) == 9
            assert all(ds in ("iconic_small", "fashion_small") and isinstance(i, int) for ds, i in ch["examples"])
    assert not kernel_dead & set(first["visualized"])  # dead channels are never chosen
    assert model["render_size"] == 48 and index["pending"] == 0 and not any(la["pending"] for la in model["layers"])


@pytest.mark.slow
def test_a_time_budget_stops_between_layers_and_the_next_run_finishes(tmp_path, two_datasets, keras_home, monkeypatch):
    """The budget runs out after the first layer: the stage stops cleanly, writes the rest as pending (and the
    site shows it), and the next run renders only the pending layers, ending with the same bytes as a run that
    was never stopped."""
    import time

    from precompute.featurevis import stage
    from precompute.featurevis.stage import run_featurevis
    from precompute.sitedata import read_key

    out = tmp_path / "a"
    cfg = _cfg(out, quick=True)
    clock = {"now": 1000.0}
    monkeypatch.setattr(stage.time, "monotonic", lambda: clock["now"])
    real_render = stage._render_layer

    def slow_render(*a, **k):  # every layer "takes" 100 s of the budget
        clock["now"] += 100.0
        return real_render(*a, **k)

    monkeypatch.setattr(stage, "_render_layer", slow_render)
    summary = run_featurevis(cfg, _inputs(cfg, two_datasets), deadline=1000.0 + 150.0)
    assert summary.pending_layers == 2 and summary.models["mobilenet_075"]["rendered_layers"] == 1
    index = read_key(out / "site", "explorer/index")
    assert index["pending"] == 2 and [la["pending"] for la in index["models"][0]["layers"]] == [False, True, True]
    pending = read_key(out / "site", "explorer/mobilenet_075/conv_dw_6")
    assert pending["pending"] is True and pending["channels"] == []
    monkeypatch.setattr(stage.time, "monotonic", time.monotonic)
    monkeypatch.setattr(stage, "_render_layer", real_render)

    resume = _Counter(monkeypatch)
    summary = run_featurevis(cfg, _inputs(cfg, two_datasets))
    assert resume.calls == ["mobilenet_075/conv_dw_6", "mobilenet_075/conv_pw_13"] and summary.pending_layers == 0
    fresh = tmp_path / "b"
    run_featurevis(cfg_b := _cfg(fresh, quick=True), _inputs(cfg_b, two_datasets))
    assert _files(out / "site") == _files(fresh / "site")


@pytest.mark.slow
def test_dataset_examples_equal_an_independent_top9(tmp_path, two_datasets, keras_home):
    """Top-9 recomputed with a plain Keras MobileNet at 224 px, its own preprocess_input and numpy pooling."""
    import keras

    from precompute.featurevis.stage import run_featurevis
    from precompute.images import load_rgb
    from precompute.sitedata import read_key

    out = tmp_path / "ex"
    run_featurevis(cfg := _cfg(out, channels=8, steps=2), _inputs(cfg, two_datasets))
    site = out / "site"

    keras.backend.clear_session()
    net = keras.applications.MobileNet(alpha=0.75, include_top=False, weights="imagenet", input_shape=(224, 224, 3))
    refs = [(ds.slug, rec.id) for ds in two_datasets for rec in ds.images]
    pixels = np.stack([load_rgb(rec.path, 224) for ds in two_datasets for rec in ds.images]).astype(np.float32)
    x = keras.applications.mobilenet.preprocess_input(pixels)
    for name, tensor, rectify in (
        ("conv1", "conv1_bn", True),
        ("conv_dw_6", "conv_dw_6_bn", False),
        ("conv_pw_13", "conv_pw_13_bn", False),
    ):
        maps = np.asarray(keras.Model(net.input, net.get_layer(tensor).output).predict(x, verbose=0), np.float64)
        scores = (np.logaddexp(0, maps) if rectify else maps).mean(axis=(1, 2))
        data = read_key(site, f"explorer/mobilenet_075/{name}")
        assert len(data["channels"]) == 8
        for ch in data["channels"]:
            c = ch["channel"]
            expected = [refs[i] for i in np.argsort(-scores[:, c], kind="stable")[:9]]
            got = [tuple(e) for e in ch["examples"]]
            if got != expected:  # only a float-level near-tie may swap neighbours
                got_scores = [scores[refs.index(g), c] for g in got]
                exp_scores = [scores[refs.index(e), c] for e in expected]
                assert np.allclose(got_scores, exp_scores, rtol=1e-5, atol=1e-6), (name, c, got, expected)
