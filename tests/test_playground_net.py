"""``playground-net``: the architecture, its catalogue entry, training to the accuracy bar, and the layer
hierarchy measured with the pipeline's own extraction and search score on the 200 ``shapes`` images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from precompute import playground_net, shapes
from precompute.errors import ModelUnavailable
from precompute.inputs import model_spec

K = 15


@pytest.fixture
def use_cache(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@pytest.fixture
def tiny_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A seconds-long training (not for accuracy): exercises train, save, cache and load on any backend."""
    for key, value in {"n_per_class": 6, "val_per_class": 2, "epochs": 1, "batch_size": 20}.items():
        monkeypatch.setitem(playground_net.TRAIN, key, value)


def _weights(model: Any) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.backend
def test_spec_and_architecture(use_cache: Path) -> None:
    from precompute.layers import select_layers

    spec = model_spec("playground-net", use_cache)
    assert isinstance(spec, playground_net.PlaygroundNet) and spec.cache_dir == use_cache
    assert (spec.input_size, spec.preprocess_module) == (64, "unit")
    assert spec.display == "Playground-Net (trained here)"
    assert len(spec.recipe_hash) == 16
    assert spec.weights_id("random") != spec.weights_id("trained")
    # the build's default "imagenet" means the net's own trained weights; random stays random
    assert spec.weights_for("imagenet") == "trained" and spec.weights_for("random") == "random"

    model = spec.load("random")
    layers = select_layers(model)
    assert [li.name for li in layers] == [
        "block1_conv1",
        "block2_conv1",
        "block3_conv1",
        "block3_conv2",
        "block4_conv1",
        "block4_conv2",
        "block5_conv1",
        "block5_conv2",
    ]
    assert [li.act_name for li in layers][-1] == "block5_relu2"
    assert [li.preact_name for li in layers][0] == "block1_bn1"
    assert tuple(model.output.shape[1:]) == (4, 4, 128)  # the trunk: no classifier, like include_top=False
    again = spec.load("random")
    assert all(np.array_equal(a, b) for a, b in zip(_weights(model), _weights(again), strict=True))
    free = spec.load("random", input_shape=(None, None, 3))
    assert free.predict(np.zeros((1, 80, 80, 3), np.float32), verbose=0).shape == (1, 5, 5, 128)
    assert not list(use_cache.iterdir())  # random weights never train anything


def test_recipe_hash_follows_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    before = playground_net.recipe_hash()
    assert playground_net.recipe_hash() == before
    monkeypatch.setitem(playground_net.TRAIN, "epochs", playground_net.TRAIN["epochs"] + 1)
    assert playground_net.recipe_hash() != before
    monkeypatch.undo()
    monkeypatch.setattr(playground_net, "backend_name", lambda: "another-backend")
    assert playground_net.recipe_hash() != before


@pytest.mark.backend
def test_tiny_training_is_cached_and_loaded(use_cache: Path, tiny_recipe: None) -> None:
    import keras

    path, record = playground_net.ensure_trained(use_cache, progress=False)
    assert path == use_cache / "playground-net" / playground_net.recipe_hash() / "model.keras"
    assert record["recipe_hash"] == playground_net.recipe_hash() and record["epochs"] == 1
    assert record["backend"] == keras.backend.backend()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    mtime = path.stat().st_mtime_ns
    assert playground_net.ensure_trained(use_cache, progress=False)[1] == record
    assert path.stat().st_mtime_ns == mtime  # reused, not retrained

    spec = model_spec("playground-net", use_cache)
    trunk = spec.load("trained")
    full = keras.saving.load_model(path, compile=False)
    for name in ("block1_conv1", "block5_bn2"):
        for a, b in zip(trunk.get_layer(name).get_weights(), full.get_layer(name).get_weights(), strict=True):
            assert np.array_equal(a, b)
    from_file = spec.load(str(path))
    assert all(np.array_equal(a, b) for a, b in zip(_weights(trunk), _weights(from_file), strict=True))
    with pytest.raises(ModelUnavailable):
        spec.load("nonsense")


# --------------------------------------------------------------------------------------------- real training


@pytest.mark.slow
def test_trained_net_reaches_the_accuracy_bar(trained: tuple[Path, Path, dict, float]) -> None:
    import keras

    _, path, record, seconds = trained
    model = keras.saving.load_model(path, compile=False)
    # fresh images from a stream the training never saw (neither its train nor its val images)
    x, y = shapes.generate_arrays(100, playground_net.INPUT_SIZE, seed=2024, stream="test")
    acc = playground_net.accuracy(model, x, y)
    print(
        f"\nplayground-net: trained in {seconds:.0f}s ({record['epochs']} epochs, {record['n_train']} images); "
        f"accuracy {record['val_accuracy']:.1%} on its validation set, {acc:.1%} on {len(x)} fresh test images"
    )
    assert record["val_accuracy"] >= playground_net.ACCURACY_BAR
    assert acc >= playground_net.ACCURACY_BAR


@pytest.mark.slow
def test_search_score_hierarchy_on_shapes(trained: tuple[Path, Path, dict, float], tmp_path: Path) -> None:
    """The hierarchy is real: on the 200 shown images, the trained net's last layer finds same-shape images,
    its first layer (colour, texture) does not, and neither does the same architecture untrained."""
    from precompute.datasets import load_dataset
    from precompute.extract import embed_paths
    from precompute.layers import select_layers
    from precompute.search import rank, search_scores

    cache = trained[0]
    ds = load_dataset(shapes.ensure_shapes_dataset(tmp_path))
    labels = np.array(ds.labels)
    paths = [r.path for r in ds.images]
    spec = model_spec("playground-net", cache)
    scores: dict[str, list[float]] = {}
    for weights in ("trained", "random"):
        model = spec.load(weights)
        layers = select_layers(model)
        embs = embed_paths(
            model, [li.act_name for li in layers], paths, size=spec.input_size, preprocess=spec.preprocess
        )
        scores[weights] = [
            float(search_scores(rank(embs[(li.act_name, "avg")], "cosine", K).ids, labels).mean()) for li in layers
        ]
    first, last, random_last = scores["trained"][0], scores["trained"][-1], scores["random"][-1]
    print("\nmean search score (cosine, K=15) per layer on shapes:")
    for weights, row in scores.items():
        print(f"  {weights:8s}" + " ".join(f"{s:5.1f}" for s in row))
    print(f"  trained last {last:.1f} vs trained first {first:.1f} vs random last {random_last:.1f}")
    assert last - first >= 30
    assert last - random_last >= 30
