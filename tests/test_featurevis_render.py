"""Real-behaviour tests of the render with the real MobileNet(alpha=0.75) ImageNet weights.

* activation: a channel's visualization excites it more than every image of ../shared/datasets/iconic200
  (>= 90% of the visualized channels of an early and a late layer);
* selectivity: channel c's image excites c more than the images made for the other channels of its layer;
* determinism: same seed and settings -> identical WebP bytes (both backends);
* batching: a channel rendered in a batch equals the same channel rendered alone (Lucid's way);
* dead channels (all-zero filters) are detected and never rendered;
* no posterization: rendered images (the uint8 arrays that become the WebPs) keep exactly clipped pixels
  (0 or 255) at most 10% in every colour channel of every image and 1% on average over a layer
  (``render.clipped_fraction``), for every layer of the trained
  playground-net and MobileNet(alpha=0.75)'s conv1 and conv_dw_4, while the uncapped method (the logit RMS
  cap off) fails the same bound;
* the on-device loop (transforms drawn before the loop; on JAX one ``fori_loop`` program) gives what the
  step-by-step loop with per-step host sampling gives: the same bytes on TensorFlow, within float noise on JAX;
  compiled programs are reused across renders of the same shapes.

Every measurement is independent of the render code: a plain ``keras.Model`` up to the target tensor, the
model's own ``preprocess_input`` and numpy pooling; the visualizations are scored as the site shows them
(WebP-decoded, 128 px), the dataset images at the native 224 px (as the examples are ranked).

The early layer (``conv_dw_4``, the 3rd of the 8 selected, a quarter of the way up) is rendered exactly as a
build renders it: all 30 channels the stage selects, 512 steps. The last layer uses 12 channels and 256 steps
to keep the suite's time modest (it passes with a wide margin). Measured on a full build, every layer
(docs/featurevis.md): conv1 11/14, conv_pw_2 27/30, all others >= 29/30. conv1 is not asserted: its
objective is affine in the pixels (see objectives.py) and its brightness channels are maximised by flat black
or white, which studio photos with plain backgrounds reach exactly; conv_pw_2 sits at the 90% line.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest

# MobileNet notes that it loads its 224-px weights for an unspecified input size: intended here
pytestmark = pytest.mark.filterwarnings("ignore:.*input_shape. is undefined or non-square:UserWarning")

#: layer -> (channels, steps)
TESTED = {"conv_dw_4": (12, 512), "conv_pw_13": (10, 192)}


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


@pytest.fixture(scope="module")
def mobilenet(keras_home):
    from precompute.catalog import get_spec, load_model
    from precompute.layers import select_layers

    spec = get_spec("mobilenet_075")
    model = load_model(spec, "imagenet", input_shape=(None, None, 3))
    return spec, model, {info.name: info for info in select_layers(model)}


def _plain_scores(model, spec, target, images: np.ndarray) -> np.ndarray:
    """Objective of every channel for ``images`` (uint8 RGB), computed without the featurevis code path."""
    import keras

    layer = model.get_layer(target.tensor)
    plain = keras.Model(model.inputs, layer.output)
    maps = np.asarray(
        plain.predict(spec.preprocess(images.astype(np.float32)), batch_size=32, verbose=0), dtype=np.float64
    )
    return (_softplus(maps) if target.rectify else maps).mean(axis=(1, 2))


def _webp_roundtrip(images: np.ndarray) -> np.ndarray:
    from PIL import Image

    from precompute.featurevis.stage import webp_bytes

    return np.stack([np.asarray(Image.open(io.BytesIO(webp_bytes(im))).convert("RGB")) for im in images])


@pytest.fixture(scope="module")
def renders(mobilenet):
    """Per tested layer: the target, the selected channels and their rendered (WebP-decoded) images."""
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings
    from precompute.featurevis.stage import select_channels

    spec, model, infos = mobilenet
    out = {}
    for name, (n_channels, steps) in TESTED.items():
        target = make_target(model, infos[name])
        renderer = Renderer(model, target, preprocess_fn(spec.preprocess_module), RenderSettings(steps=steps))
        channels = select_channels(renderer.live_channels(), n_channels, 0, f"mobilenet_075/{name}")
        result = renderer.render(channels, f"mobilenet_075/{name}")
        out[name] = (target, channels, _webp_roundtrip(result.images))
    return out


@pytest.fixture(scope="module")
def iconic_images(shared_datasets):
    from precompute.images import load_rgb

    paths = sorted(p for p in (shared_datasets / "iconic200").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(paths) == 200
    return np.stack([load_rgb(p, 224) for p in paths])


@pytest.mark.slow
def test_dead_channels_are_detected(mobilenet):
    """conv1 of this MobileNet has filters with all weights ~0: constant maps that no image can excite."""
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings

    spec, model, infos = mobilenet
    kernel = model.get_layer("conv1").get_weights()[0]
    gamma, _, _, var = model.get_layer("conv1_bn").get_weights()
    gain = np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0) * gamma / np.sqrt(var + 1e-3)
    zero = gain < 1e-4 * np.median(gain)  # largest input -> preact weight, after BatchNorm
    r = Renderer(
        model, make_target(model, infos["conv1"]), preprocess_fn(spec.preprocess_module), RenderSettings(steps=1)
    )
    live = r.live_channels()
    print(f"conv1: {zero.sum()} of {len(zero)} filters are ~0, {int((~live).sum())} channels detected dead")
    assert zero.sum() >= 5
    assert np.array_equal(live, ~zero)


@pytest.mark.slow
def test_visualizations_excite_their_channel_more_than_every_dataset_image(mobilenet, renders, iconic_images):
    spec, model, _ = mobilenet
    fractions = {}
    for name, (target, channels, images) in renders.items():
        synth = _plain_scores(model, spec, target, images)  # (n_images, C) at the render size, 128 px
        data = _plain_scores(model, spec, target, iconic_images)  # (200, C) at the native 224 px
        own = np.array([synth[i, c] for i, c in enumerate(channels)])
        best = data[:, channels].max(axis=0)
        wins = own > best
        fractions[name] = float(wins.mean())
        print(
            f"{name}: {wins.sum()}/{len(wins)} visualizations beat all 200 iconic200 images "
            f"(median ratio to the best image {np.median(own / np.maximum(best, 1e-6)):.2f})"
        )
    for name, frac in fractions.items():
        assert frac >= 0.9, f"{name}: only {frac:.0%} of the visualizations beat every dataset image"


@pytest.mark.slow
def test_visualizations_are_selective(mobilenet, renders):
    spec, model, _ = mobilenet
    overall = []
    for name, (target, channels, images) in renders.items():
        scores = _plain_scores(model, spec, target, images)[:, channels]  # [image j, channel i]
        # channel i's own image vs the images made for the other channels of the layer
        own = np.diag(scores)
        others = np.where(np.eye(len(channels), dtype=bool), -np.inf, scores).max(axis=0)
        wins = own > others
        overall.extend(wins.tolist())
        print(f"{name}: selectivity {wins.sum()}/{len(wins)} ({wins.mean():.0%})")
        assert wins.mean() >= 0.8, name
    print(f"selectivity over the tested layers: {np.mean(overall):.0%}")


@pytest.mark.slow
@pytest.mark.backend
def test_same_seed_same_bytes_and_batching_does_not_change_a_channel(mobilenet):
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings
    from precompute.featurevis.stage import webp_bytes

    spec, model, infos = mobilenet
    target = make_target(model, infos["conv_dw_8"])
    settings = RenderSettings(steps=24, size=64)
    channels = [3, 40, 200]

    def run(seed: int = 0, batch_size: int | None = None) -> tuple[list[bytes], np.ndarray]:
        r = Renderer(model, target, preprocess_fn(spec.preprocess_module), replace(settings, seed=seed))
        res = r.render(channels, "mobilenet_075/conv_dw_8", batch_size=batch_size)
        return [webp_bytes(im) for im in res.images], res.images

    a, img_a = run()
    b, _ = run()
    assert a == b, "same seed and settings must give identical image bytes"
    c, img_c = run(seed=1)
    assert all(x != y for x, y in zip(a, c, strict=True)), "another seed gives other images"
    _, single = run(batch_size=1)
    diff = np.abs(single.astype(int) - img_a.astype(int))
    corr = np.corrcoef(single.reshape(len(channels), -1).astype(float), img_a.reshape(len(channels), -1))
    same = np.diag(corr[: len(channels), len(channels) :])
    print(
        f"batched vs one-at-a-time: mean |diff| {diff.mean():.3f}, max {diff.max()} (uint8 levels), "
        f"correlation {np.round(same, 4)}"
    )
    # the same optimisation: only float summation order differs (bit-equal on TF/CPU; XLA fuses a batch of 1
    # differently, and 24 Adam steps amplify last-bit differences to about one grey level)
    assert diff.mean() < 3.0 and (same > 0.98).all()


@pytest.mark.slow
@pytest.mark.backend
def test_optimisation_raises_the_objective_far_above_the_start(mobilenet):
    """A short render under the current backend: the step is compiled, gradients flow, Adam climbs."""
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings

    spec, model, infos = mobilenet
    target = make_target(model, infos["conv_pw_13"])
    channels = [5, 100, 700]
    start = Renderer(model, target, preprocess_fn(spec.preprocess_module), RenderSettings(steps=0, size=96))
    after = Renderer(model, target, preprocess_fn(spec.preprocess_module), RenderSettings(steps=48, size=96))
    v0 = start.render(channels, "k").activation
    v1 = after.render(channels, "k").activation
    print("objective at start:", np.round(v0, 2), "after 48 steps:", np.round(v1, 2))
    assert (v1 > v0 + 5.0).all()


# --------------------------------------------------------------------------------------------- quality
#: every image, every colour channel: at most this fraction of pixels exactly at 0 or 255; over a layer's images
#: at most LAYER_CLIP_BOUND on average (docs/featurevis.md). Before the cap: up to 0.56 and 0.28.
CLIP_BOUND = 0.10
LAYER_CLIP_BOUND = 0.01


@pytest.fixture(scope="module")
def toy_net(trained):
    from precompute import playground_net

    cache, _, _, _ = trained
    return playground_net.load("trained", (None, None, 3), cache)


def _render_clipped(model, info, preprocess, settings, n_channels, key):
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, clipped_fraction
    from precompute.featurevis.stage import select_channels

    r = Renderer(model, make_target(model, info), preprocess, settings)
    channels = select_channels(r.live_channels(), n_channels, 0, key)
    result = r.render(channels, key)
    return clipped_fraction(result.images), result


@pytest.mark.slow
def test_playground_net_renders_are_not_posterized_at_any_layer(toy_net):
    """Reduced profile (64 px = the net's own input size, 8 channels, 128 steps): the first layer is already
    posterized after 128 steps without the cap, so the profile shows the difference."""
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.render import RenderSettings
    from precompute.layers import select_layers

    infos = select_layers(toy_net)
    assert len(infos) == 8
    settings = RenderSettings(steps=128, size=64)
    worst, mean = {}, {}
    for info in infos:
        clipped, _ = _render_clipped(toy_net, info, preprocess_fn("unit"), settings, 8, f"playground-net/{info.name}")
        worst[info.name] = float(clipped.max())
        mean[info.name] = float(clipped.mean())
    print("worst clipped fraction per layer:", {k: round(v, 4) for k, v in worst.items()})
    uncapped, _ = _render_clipped(
        toy_net, infos[0], preprocess_fn("unit"), replace(settings, max_rms=None), 8, f"playground-net/{infos[0].name}"
    )
    print(f"without the cap, {infos[0].name}: worst {uncapped.max():.3f}, mean {uncapped.mean():.3f}")
    assert max(worst.values()) <= CLIP_BOUND, worst
    assert max(mean.values()) <= LAYER_CLIP_BOUND, mean
    # the criterion sees the posterization the cap removes
    assert uncapped.max() > CLIP_BOUND and uncapped.mean() > LAYER_CLIP_BOUND


@pytest.mark.slow
def test_mobilenet_early_layers_are_not_posterized(mobilenet):
    """conv1 (all live channels) and conv_dw_4 (the channel 7 that used to come out black-and-white clipped,
    among 11 more of its 96), 128 px as built, 192 steps."""
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings, clipped_fraction

    spec, model, infos = mobilenet
    settings = RenderSettings(steps=192)
    for name, channels in (("conv1", None), ("conv_dw_4", [3, 7, 12, 20, 31, 45, 50, 58, 66, 80, 88, 95])):
        r = Renderer(model, make_target(model, infos[name]), preprocess_fn(spec.preprocess_module), settings)
        if channels is None:
            channels = [int(c) for c in np.flatnonzero(r.live_channels())]
        clipped = clipped_fraction(r.render(channels, f"mobilenet_075/{name}").images)
        print(
            f"{name}: {len(channels)} channels, worst clipped fraction {clipped.max():.4f}, mean {clipped.mean():.4f}"
        )
        assert clipped.max() <= CLIP_BOUND, (name, clipped.max(axis=1))
        assert clipped.mean() <= LAYER_CLIP_BOUND, (name, clipped.mean())


# --------------------------------------------------------------------------------------------- the loop
def _reference_loop(renderer, channels, key):
    """The loop as it was: transforms drawn on the host every step, one compiled step per call."""
    from keras import ops

    from precompute.featurevis.param import to_uint8
    from precompute.featurevis.render import channel_rng

    s = renderer.settings
    rngs = [channel_rng(s.seed, key, c) for c in channels]
    params = ops.convert_to_tensor(np.concatenate([renderer.image.init(r, 1) for r in rngs]))
    m, v = ops.zeros_like(params), ops.zeros_like(params)
    chans = ops.convert_to_tensor(np.asarray(channels, np.int32))
    sub = renderer.submodel
    if renderer.backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=False)
        def step(params, m, v, t, mats, chans):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, _ = renderer._objective(params, mats, chans, lambda x: sub(x, training=False))
            return renderer._adam(params, tape.gradient(loss, params), m, v, t)

        run = step
    else:
        import jax

        tv = [w.value for w in sub.trainable_variables]
        ntv = [w.value for w in sub.non_trainable_variables]

        def objective(params, mats, chans):
            return renderer._objective(params, mats, chans, lambda x: sub.stateless_call(tv, ntv, x, training=False)[0])

        grad_fn = jax.grad(lambda *a: objective(*a)[0])

        @jax.jit
        def run(params, m, v, t, mats, chans):
            return renderer._adam(params, grad_fn(params, mats, chans), m, v, t)

    for i in range(s.steps):
        mats = ops.convert_to_tensor(renderer.transforms.sample(rngs, s.size))
        params, m, v = run(params, m, v, ops.convert_to_tensor(np.float32(i + 1)), mats, chans)
    return to_uint8(ops.convert_to_numpy(renderer.image.to_rgb(params)))


@pytest.mark.backend
def test_on_device_loop_equals_the_step_by_step_loop_and_reuses_programs():
    from precompute import playground_net
    from precompute.catalog import preprocess_fn
    from precompute.featurevis import render
    from precompute.featurevis.objectives import make_target
    from precompute.layers import select_layers

    net = playground_net.load("random", (None, None, 3))
    info = select_layers(net)[2]
    target = make_target(net, info)
    settings = render.RenderSettings(steps=10, size=32)
    render.clear_program_cache()
    r = render.Renderer(net, target, preprocess_fn("unit"), settings)
    channels = [0, 5, 9]
    ticks = []
    res = r.render(channels, "toy/l3", on_steps=ticks.append, progress_every=4)
    assert sum(ticks) == 10 and res.batches == 1
    ref = _reference_loop(r, channels, "toy/l3")
    diff = np.abs(res.images.astype(int) - ref.astype(int))
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(res.images, ref, strict=True)]
    print(f"{r.backend}: on-device vs step-by-step loop: mean |diff| {diff.mean():.4f}, max {diff.max()}, corr {corr}")
    if r.backend == "tensorflow":
        assert np.array_equal(res.images, ref)
    else:  # XLA compiles the fused loop body differently: float rounding, amplified by Adam's sign-like steps
        assert diff.mean() < 2.0 and min(corr) > 0.98
    assert res.compile_seconds > 0
    # the same shapes again -- another renderer of the same layer, other channels -- compile nothing
    again = render.Renderer(net, target, preprocess_fn("unit"), settings).render([1, 2, 3], "toy/l3")
    if r.backend == "jax":
        assert again.compile_seconds == 0.0
    assert r.render([1, 2, 3], "toy/l3").compile_seconds == 0.0
    # a padded last batch (3 channels in batches of 2) gives the same images
    split = r.render(channels, "toy/l3", batch_size=2)
    assert split.batches == 2
    d = np.abs(split.images.astype(int) - res.images.astype(int))
    if r.backend == "tensorflow":
        assert np.array_equal(split.images, res.images)
    else:
        assert d.mean() < 2.0


@pytest.mark.backend
@pytest.mark.parametrize("size", [64, 224, 299])
def test_renderer_works_at_any_size(size):
    """The stage renders every model at its own input size: 64 (playground-net), 224, 299 (Inception/Xception)."""
    from precompute import playground_net
    from precompute.catalog import preprocess_fn
    from precompute.featurevis.objectives import make_target
    from precompute.featurevis.render import Renderer, RenderSettings
    from precompute.layers import select_layers

    net = playground_net.load("random", (None, None, 3))
    info = select_layers(net)[1]
    r = Renderer(net, make_target(net, info), preprocess_fn("unit"), RenderSettings(steps=3, size=size))
    res = r.render([0, 4], f"toy/{size}")
    assert res.images.shape == (2, size, size, 3) and res.images.dtype == np.uint8
    assert res.images.std() > 0  # moved away from the grey start
    assert np.isfinite(res.activation).all()


@pytest.mark.backend
def test_prepare_compiles_ahead_on_an_executor_and_render_uses_it():
    import concurrent.futures

    from precompute import playground_net
    from precompute.catalog import preprocess_fn
    from precompute.featurevis import render
    from precompute.featurevis.objectives import make_target
    from precompute.layers import select_layers

    net = playground_net.load("random", (None, None, 3))
    render.clear_program_cache()
    settings = render.RenderSettings(steps=3, size=32)
    layers = select_layers(net)
    renderers = [  # the first, a middle and the last layer: compiling all 8 adds time, not coverage
        render.Renderer(net, make_target(net, info), preprocess_fn("unit"), settings)
        for info in (layers[0], layers[len(layers) // 2], layers[-1])
    ]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for r in renderers:
            r.prepare(3, pool)
        jax = renderers[0].backend == "jax"
        # JAX: forward + loop per layer, compiled ahead on the executor, none evicted; TensorFlow traces its step
        # at the first call, so nothing is prepared ahead
        assert len(render._PROGRAMS) == (2 * len(renderers) if jax else 0)
        for r in renderers:
            first = r.render([0, 1], "k", batch_size=3)
            assert first.compile_seconds > 0  # JAX: the executor's compile, counted where it is used; TF: the trace
            assert r.render([1, 2, 0], "k").compile_seconds == 0.0
        assert len(render._PROGRAMS) == (2 * len(renderers) if jax else 0)  # compiled nothing else
