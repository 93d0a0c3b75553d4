"""The in-browser search's models (precompute/browsersearch.py): each architecture's ONNX export, run by ONNX
Runtime at batch 1 as the browser runs it, against the build's own path (``extract.embed_images``: Keras, the
model's ``preprocess_input``, the extractor's pooling) on real photos. The real MobileNet alpha 0.75 is checked
by every build that ships it (``check_onnx``, tests/test_browser_cnn.py); these use random weights, the only ones
here for other architectures."""

from __future__ import annotations

import numpy as np
import pytest

from precompute.browsersearch import TOLERANCE, onnx_extractor
from precompute.catalog import CATALOG
from precompute.extract import build_extractor, embed_images
from precompute.images import load_rgb
from precompute.layers import select_layers
from tests.realdata import dataset

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("name", ["efficientnetb0", "resnet50", "densenet121"])
def test_onnx_runtime_gives_the_builds_embeddings(name: str) -> None:
    import onnxruntime as ort

    spec = CATALOG[name]
    base = spec.load("random")
    size = spec.input_size_of(base)
    layers = select_layers(base, 3)
    outputs = [(la.act_name, p) for la in layers for p in ("avg", "grid2", "gem")]
    data = onnx_extractor(spec, base, outputs, 3.0, size)
    photos = sorted(dataset("iconic200").rglob("*.jpg"))[::50]
    pixels = [load_rgb(p, size) for p in photos]
    want = embed_images(
        build_extractor(base, [la.act_name for la in layers], ["avg", "grid2", "gem:3"]),
        pixels,
        size=size,
        preprocess=spec.preprocess,
    )
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = [sess.run(None, {"rgb": px[None]}) for px in pixels]
    assert [o.name for o in sess.get_inputs()] == ["rgb"] and len(sess.get_outputs()) == len(outputs)
    for j, (tensor, pooling) in enumerate(outputs):
        key = (tensor, pooling)  # gem at p = 3 is named plain 'gem' (extract.parse_pooling)
        w = np.asarray(want[key], np.float64)
        g = np.concatenate([r[j] for r in got]).astype(np.float64)
        assert g.shape == w.shape, (tensor, pooling)
        scale = np.maximum(np.abs(w).max(axis=1), np.finfo(np.float32).tiny)
        err = float((np.abs(g - w).max(axis=1) / scale).max())
        assert err <= TOLERANCE, (name, tensor, pooling, err)
