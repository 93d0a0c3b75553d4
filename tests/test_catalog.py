"""The model catalogue: real Keras loading path, offline failures, stable layer selection."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from precompute import catalog
from precompute.catalog import CATALOG, WeightsUnavailable, get_spec, load_model
from precompute.layers import conv_layers, select_layers, select_positions


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as a machine with no network, whatever the machine running the tests has."""
    monkeypatch.setattr(catalog, "_reachable", lambda origin: "no network (test)")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CATALOG if n != "mobilenet_075"])
def test_offline_imagenet_fails_fast_naming_the_file_keras_wants(name: str, offline: None, keras_home) -> None:
    spec = get_spec(name)
    t = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as err:
        load_model(spec, "imagenet")
    elapsed = time.perf_counter() - t
    # the file name comes from Keras' own get_file call: the catalogue's pre-flight name must agree
    assert err.value.fname == spec.weights_file
    assert spec.weights_file in str(err.value) and str(keras_home / "models") in str(err.value)
    assert elapsed < 60  # model construction only; no download attempt hangs
    problem = spec.weights_problem("imagenet")
    assert problem and spec.weights_file in problem


@pytest.mark.backend
def test_real_mobilenet_075_weights_load_offline(keras_home) -> None:
    spec = get_spec("mobilenet_075")
    assert spec.weights_problem("imagenet") is None
    real = load_model(spec, "imagenet")
    rand = load_model(spec, "random")
    w_real = real.get_layer("conv1").get_weights()[0]
    w_rand = rand.get_layer("conv1").get_weights()[0]
    assert w_real.shape == w_rand.shape == (3, 3, 3, 24)
    assert not np.allclose(w_real, w_rand)
    again = load_model(spec, "random")
    np.testing.assert_array_equal(again.get_layer("conv1").get_weights()[0], w_rand)  # seeded


@pytest.mark.slow
def test_inception_layer_names_are_stable_across_builds() -> None:
    spec = get_spec("inceptionv3")
    first = [li.name for li in select_layers(load_model(spec, "random"))]
    load_model(get_spec("vgg16"), "random")
    second = [li.name for li in select_layers(load_model(spec, "random"))]
    assert first == second and first[0] == "conv2d" and len(first) == 8


def test_layer_positions_first_last_and_spread() -> None:
    assert select_positions(27) == [0, 4, 7, 11, 15, 19, 22, 26]  # round(linspace(0, 26, 8))
    assert select_positions(5) == [0, 1, 2, 3, 4]
    pos = select_positions(94)
    assert pos[0] == 0 and pos[-1] == 93 and len(pos) == 8


@pytest.mark.backend
def test_selection_on_mobilenet_and_override() -> None:
    model = load_model(get_spec("mobilenet_075"), "random")
    sel = select_layers(model)
    convs = conv_layers(model)
    assert [li.name for li in sel][0] == convs[0].name and sel[-1].name == convs[-1].name
    assert sel[-1].act_name == "conv_pw_13_relu" and sel[-1].preact_name == "conv_pw_13_bn"
    assert sel[-1].channels == 768 and {li.type for li in sel} <= {"Conv2D", "DepthwiseConv2D"}
    custom = select_layers(model, names=["conv_pw_13", "conv1"])
    assert [li.name for li in custom] == ["conv1", "conv_pw_13"]
    with pytest.raises(ValueError, match="not conv layers"):
        select_layers(model, names=["conv1_relu"])


@pytest.mark.backend
def test_squeeze_and_excitation_convs_are_not_selected_on_the_real_efficientnet_graph() -> None:
    """README "Models and layers": SE convs (``*_se_reduce`` / ``*_se_expand``) compute channel weights from a pooled
    vector, so they are neither embeddings nor visualized. Checked on EfficientNetB0's real graph (random weights)
    against an independent rule: a conv whose output is 1 x 1 at the model's 224 px input."""
    model = load_model(get_spec("efficientnetb0"), "random")
    types = tuple(type(c) for c in conv_layers(load_model(get_spec("mobilenet_075"), "random")))
    all_convs = [la for la in model.layers if isinstance(la, types) and la.trainable_weights]
    pooled = {la.name for la in all_convs if tuple(la.output.shape[1:3]) == (1, 1)}
    assert len(pooled) == 32 and all("_se_" in name for name in pooled)  # 16 blocks x (reduce, expand)
    kept = [la.name for la in conv_layers(model)]
    assert kept == [la.name for la in all_convs if la.name not in pooled]
    sel = select_layers(model)
    assert len(sel) == 8 and not any("_se_" in li.name for li in sel)
    assert sel[0].name == kept[0] and sel[-1].name == kept[-1] == "top_conv"
    assert all(len(li.output_shape) == 3 and li.output_shape[0] > 1 for li in sel)


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(catalog.ModelUnavailable, match="vgg16"):
        get_spec("vgg17")


def test_slugify_is_safe_and_unique() -> None:
    assert catalog.slugify("vgg16") == "vgg16"
    hostile = catalog.slugify('<script>alert("x")</script>')
    assert set(hostile) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")
    assert catalog.slugify("Café") != catalog.slugify("Cafe")


def test_keras_home_matches_keras_own_answer(keras_home: Path) -> None:
    import subprocess
    import sys

    code = (
        "from precompute import catalog; a = catalog.keras_home(); import keras; "
        "from keras.src.backend.config import keras_home; print(a == keras_home(), a)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("True") and str(keras_home) in out
