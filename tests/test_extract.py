"""Multi-output extraction equals independent per-layer forward passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precompute.catalog import get_spec, load_model
from precompute.extract import embed_paths
from precompute.images import load_rgb
from precompute.layers import select_layers


def _paths(shared_datasets: Path, n: int) -> list[Path]:
    return sorted((shared_datasets / "iconic200").rglob("*.jpg"))[:n]


@pytest.mark.backend
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_one_pass_equals_one_model_per_layer(shared_datasets: Path, keras_home: Path, pooling: str) -> None:
    import keras

    spec = get_spec("mobilenet_075")
    model = load_model(spec, "imagenet")
    layers = select_layers(model)
    paths = _paths(shared_datasets, 7)
    got = embed_paths(
        model,
        [li.act_name for li in layers],
        paths,
        size=224,
        preprocess=spec.preprocess,
        pooling=pooling,
        batch_size=4,
    )  # 7 images in batches of 4: the last one is padded
    x = spec.preprocess(np.stack([load_rgb(p, 224) for p in paths]).astype(np.float32))
    for li in layers:
        single = keras.Model(model.inputs, model.get_layer(li.act_name).output)
        maps = np.asarray(single.predict(x, verbose=0))
        ref = maps.mean(axis=(1, 2)) if pooling == "avg" else maps.max(axis=(1, 2))
        assert got[li.act_name].shape == (7, li.channels)
        np.testing.assert_allclose(got[li.act_name], ref, rtol=2e-4, atol=2e-5)


def test_flatten_keeps_the_whole_map(shared_datasets: Path) -> None:
    spec = get_spec("mobilenet_075")
    model = load_model(spec, "random")
    li = select_layers(model)[-1]
    got = embed_paths(
        model,
        [li.act_name],
        _paths(shared_datasets, 2),
        size=224,
        preprocess=spec.preprocess,
        pooling="flatten",
        batch_size=2,
    )
    assert got[li.act_name].shape == (2, 7 * 7 * li.channels)
