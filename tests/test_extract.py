"""Extraction: every pooling equals NumPy pooling of the real activation map, all from one forward pass,
paths and decoded arrays give bit-identical embeddings, and the memory estimate fails early."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from precompute import extract
from precompute.catalog import get_spec, load_model
from precompute.images import decode, load_rgb, read_file
from precompute.layers import select_layers

ALL = ["avg", "max", "gem", "gem:4", "grid2", "flatten"]


def _paths(shared_datasets: Path, n: int, dataset: str = "iconic200") -> list[Path]:
    return sorted((shared_datasets / dataset).rglob("*.jpg"))[:n]


@pytest.fixture(scope="module")
def mobilenet(keras_home: Path):
    spec = get_spec("mobilenet_075")
    model = load_model(spec, "imagenet")
    return spec, model, select_layers(model)


def _np_gem(m: np.ndarray, p: float) -> np.ndarray:
    return np.mean(np.maximum(m, extract.GEM_EPS) ** p, axis=(1, 2)) ** (1.0 / p)


def _np_grid2(m: np.ndarray) -> np.ndarray:
    """2x2 adaptive average pooling written out: cell i of an axis of n covers floor(i n/2) .. ceil((i+1) n/2)."""
    n, h, w, c = m.shape
    cells = np.zeros((n, 2, 2, c))
    for i in range(2):
        r0, r1 = math.floor(i * h / 2), math.ceil((i + 1) * h / 2)
        for j in range(2):
            c0, c1 = math.floor(j * w / 2), math.ceil((j + 1) * w / 2)
            cells[:, i, j, :] = m[:, r0:r1, c0:c1, :].mean(axis=(1, 2))
    return cells.reshape(n, 4 * c)  # row-major cells, channels fastest


def _np_pool(m: np.ndarray, pooling: str) -> np.ndarray:
    m = m.astype(np.float64)
    if pooling == "avg":
        return m.mean(axis=(1, 2))
    if pooling == "max":
        return m.max(axis=(1, 2))
    if pooling == "gem":
        return _np_gem(m, 3.0)
    if pooling == "gem:4":
        return _np_gem(m, 4.0)
    if pooling == "grid2":
        return _np_grid2(m)
    if pooling == "flatten":
        return m.reshape(len(m), -1)
    raise AssertionError(pooling)


@pytest.mark.backend
def test_every_pooling_equals_numpy_pooling_of_the_real_activation_map(shared_datasets: Path, mobilenet) -> None:
    """Real MobileNet(alpha=0.75), 5 real images in batches of 4 (the last padded), all 8 selected layers
    (112x112 down to 7x7: the odd 7x7 exercises grid2's shared middle row/column)."""
    import keras

    spec, model, layers = mobilenet
    paths = _paths(shared_datasets, 5)
    names = [li.act_name for li in layers]
    got = extract.embed_paths(model, names, paths, size=224, preprocess=spec.preprocess, poolings=ALL, batch_size=4)
    x = spec.preprocess(np.stack([load_rgb(p, 224) for p in paths]).astype(np.float32))
    # the reference sees the same batches as the extractor (4 + 4, the last padded by repeating the final image):
    # TensorFlow's conv kernels depend on the batch size, so a batch of 5 may differ in the last bits on some CPUs
    x = np.concatenate([x, np.repeat(x[-1:], 3, axis=0)])
    assert len(got) == len(names) * len(ALL)
    for name in names:
        sub = keras.Model(model.inputs, model.get_layer(name).output)
        maps = np.asarray(sub.predict(x, batch_size=4, verbose=0))[: len(paths)]
        for pooling in ALL:
            ref = _np_pool(maps, pooling)
            out = got[(name, pooling)]
            assert out.dtype == np.float32 and out.shape == ref.shape
            assert out.shape[1] == extract.output_dim(pooling, maps.shape)
            if pooling == "flatten":
                np.testing.assert_array_equal(out, maps.reshape(len(maps), -1))  # same values, same order
            else:
                np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()), err_msg=name)
    assert maps.shape[1:3] == (7, 7)  # the last layer: odd size


@pytest.mark.backend
def test_gem_clamps_negative_activations() -> None:
    """A linear conv (no activation) has negative outputs: GeM clamps them at eps instead of giving NaN."""
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((9, 9, 3))
    conv = keras.layers.Conv2D(6, 3, name="lin")(inp)
    model = keras.Model(inp, conv)
    x = np.random.default_rng(0).normal(size=(4, 9, 9, 3)).astype(np.float32)
    ex = extract.build_extractor(model, ["lin"], ["gem", "grid2"])
    outs = dict(zip(ex.keys, ex.predict(x), strict=True))
    maps = np.asarray(model.predict(x, verbose=0)).astype(np.float64)
    assert maps.min() < 0 and (maps.max(axis=(1, 2)) > 0).all()
    np.testing.assert_allclose(outs[("lin", "gem")], _np_gem(maps, 3.0), rtol=1e-5)
    np.testing.assert_allclose(outs[("lin", "grid2")], _np_grid2(maps), rtol=1e-5, atol=1e-6)  # 7x7 map
    assert np.isfinite(outs[("lin", "gem")]).all()


@pytest.mark.backend
@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 5), (2, 9), (6, 3), (5, 5)])
def test_grid2_on_odd_and_tiny_maps(h: int, w: int) -> None:
    """grid2's one pooling op reproduces the adaptive bins on every kind of size: 1 (both cells the whole
    axis), even (disjoint halves), odd (the middle row/column in both cells)."""
    import keras

    inp = keras.Input((h, w, 5))
    model = keras.Model(inp, keras.layers.Activation("linear", name="map")(inp))
    ex = extract.build_extractor(model, ["map"], ["grid2"])
    x = np.random.default_rng(h * 10 + w).normal(size=(3, h, w, 5)).astype(np.float32)
    np.testing.assert_allclose(ex.predict(x)[0], _np_grid2(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_all_outputs_come_from_one_forward_pass(shared_datasets: Path) -> None:
    spec = get_spec("mobilenet_075")
    model = load_model(spec, "random")
    layers = select_layers(model)
    names = [li.act_name for li in layers]
    ex = extract.build_extractor(model, names, ["avg", "grid2", "gem"])
    # one model, one input, 8 x 3 outputs, and the backbone's layers once (not one copy per output)
    assert len(ex.model.inputs) == 1 and len(ex.model.outputs) == 24 == len(ex.keys)
    assert ex.keys == tuple((n, p) for n in names for p in ("avg", "grid2", "gem"))
    convs = [ly.name for ly in model.layers if "conv" in ly.name]
    assert [ly.name for ly in ex.model.layers if "conv" in ly.name] == convs
    # the model runs once per batch: 7 images in batches of 3 -> 3 calls, each with the full batch shape
    calls: list[tuple] = []
    real = ex.model.predict_on_batch
    ex.model.predict_on_batch = lambda b: (calls.append(b.shape), real(b))[1]
    rows: list[tuple[int, int, set]] = []
    done = extract.stream_paths(
        ex,
        _paths(shared_datasets, 7),
        lambda first, batch: rows.append((first, len(batch[ex.keys[0]]), set(batch))),
        size=224,
        preprocess=spec.preprocess,
        batch_size=3,
    )
    assert done == 7 and calls == [(3, 224, 224, 3)] * 3
    assert [(f, n) for f, n, _ in rows] == [(0, 3), (3, 3), (6, 1)]  # the padding never reaches the writer
    assert all(keys == set(ex.keys) for _, _, keys in rows)


@pytest.mark.backend
def test_decoded_arrays_give_bit_identical_embeddings_to_paths(shared_datasets: Path, mobilenet) -> None:
    """The live server's path: one decoded image alone (padded to the batch size) equals the same image
    embedded from its file among others, bit for bit, at every layer and pooling."""
    spec, model, layers = mobilenet
    paths = _paths(shared_datasets, 6)
    names = [li.act_name for li in layers]
    pools = ["avg", "max", "gem", "grid2"]
    batched = extract.embed_paths(
        model, names, paths, size=224, preprocess=spec.preprocess, poolings=pools, batch_size=4
    )
    ex = extract.build_extractor(model, names, pools)  # a second, separately built extractor
    for i in (1, 5):  # inside a full batch; in the padded last batch
        full = np.asarray(decode(read_file(paths[i]), draft_size=224))  # the decoded upload, original size
        assert full.shape[:2] != (224, 224)  # so the resize runs too
        alone = extract.embed_images(ex, [full], size=224, preprocess=spec.preprocess, batch_size=4)
        for key in ex.keys:
            assert alone[key].shape == (1, batched[key].shape[1])
            np.testing.assert_array_equal(alone[key][0], batched[key][i], err_msg=str(key))


def test_resize_rgb_is_load_rgb_after_decoding(shared_datasets: Path) -> None:
    for p in _paths(shared_datasets, 3, "fashion200"):
        arr = np.asarray(decode(read_file(p), draft_size=224))
        np.testing.assert_array_equal(extract.resize_rgb(arr, 224), load_rgb(p, 224))
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        extract.resize_rgb(np.zeros((4, 4), np.uint8), 224)


def test_grid_bins_and_output_dims() -> None:
    assert extract.grid_bins(7) == [(0, 4), (3, 7)]  # the middle row belongs to both cells
    assert extract.grid_bins(6) == [(0, 3), (3, 6)]
    assert extract.grid_bins(1) == [(0, 1), (0, 1)]
    shape = (None, 112, 112, 24)  # MobileNet(alpha=0.75) conv1 with the batch axis
    dims = {p: extract.output_dim(p, shape) for p in ALL}
    assert dims == {"avg": 24, "max": 24, "gem": 24, "gem:4": 24, "grid2": 96, "flatten": 112 * 112 * 24}
    assert extract.output_dim("flatten", (7, 7, 768)) == 37632
    assert extract.output_dim("grid2", (1024,)) == 1024  # a vector passes through
    with pytest.raises(ValueError, match="fixed spatial size"):
        extract.output_dim("flatten", (None, None, 8))


def test_pooling_registry_and_parsing() -> None:
    assert list(extract.POOLINGS) == ["avg", "max", "gem", "grid2", "flatten"]
    for kind in extract.POOLINGS.values():
        assert kind.title and kind.description and "\n" not in kind.description and len(kind.description) < 160
        assert extract.parse_pooling(kind.name).name == kind.name
    assert extract.parse_pooling("gem") == extract.Pooling("gem", 3.0)
    assert extract.parse_pooling("GeM:4").name == "gem:4"
    assert "p = 4" in extract.parse_pooling("gem:4").description
    for bad, msg in [
        ("mean", "unknown pooling"),
        ("gem:0.5", "between 1 and 100"),
        ("gem:x", "number"),
        ("avg:2", "no parameter"),
    ]:
        with pytest.raises(ValueError, match=msg):
            extract.parse_pooling(bad)


def test_flatten_of_a_large_map_fails_early_with_a_clear_message() -> None:
    spec = get_spec("mobilenet_075")
    model = load_model(spec, "random")
    outs = extract.plan_outputs(model, ["conv1_relu", "conv_pw_13_relu"], ["avg", "flatten"])
    flat = [o for o in outs if o.key == ("conv1_relu", "flatten")]
    assert flat[0].dim == 112 * 112 * 24 and flat[0].map_shape == (112, 112, 24)
    assert extract.embedding_bytes(100_000, flat) == 100_000 * 301_056 * 4  # 120 GB
    with pytest.raises(extract.EmbeddingsTooLarge) as err:
        extract.check_memory(100_000, outs, budget=16 * 10**9)
    msg = str(err.value)
    assert "120.4 GB" in msg and "'flatten' of layer 'conv1_relu'" in msg and "112x112x24" in msg and "avg" in msg
    one = extract.plan_outputs(model, ["conv1_relu"], "grid2")  # a bare name is one pooling, not 5 letters
    assert [(o.key, o.dim) for o in one] == [(("conv1_relu", "grid2"), 96)]
    small = [o for o in outs if o.pooling == "avg"]
    assert extract.check_memory(100_000, small, budget=16 * 10**9) == 100_000 * (24 + 768) * 4


@pytest.mark.slow
def test_search_score_of_every_pooling_on_real_datasets(shared_datasets: Path, mobilenet) -> None:
    """The report's claim that pretrained layers are good featurizers, per pooling: the real weights, the
    last layer, cosine, K = 15, every image of iconic200 and fashion200."""
    from precompute.datasets import load_dataset
    from precompute.search import rank, search_scores

    spec, model, layers = mobilenet
    last = layers[-1].act_name
    pools = ["avg", "max", "gem", "grid2", "flatten"]
    table: dict[str, dict[str, float]] = {}
    for name in ("iconic200", "fashion200"):
        ds = load_dataset(shared_datasets / name)
        labels = np.array([rec.label for rec in ds.images])
        embs = extract.embed_paths(
            model, [last], [rec.path for rec in ds.images], size=224, preprocess=spec.preprocess, poolings=pools
        )
        table[name] = {p: float(search_scores(rank(embs[(last, p)], "cosine", 15).ids, labels).mean()) for p in pools}
    print(f"\nmean search score, MobileNet(alpha=0.75) {last}, cosine, K=15")
    print(f"{'':12s}" + "".join(f"{p:>9s}" for p in pools))
    for name, row in table.items():
        print(f"{name:12s}" + "".join(f"{row[p]:9.1f}" for p in pools))
    assert max(table["fashion200"].values()) >= 81.3
    assert table["iconic200"]["avg"] >= 85
