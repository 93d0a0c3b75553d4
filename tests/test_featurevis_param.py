"""Unit tests of the feature-visualization building blocks: parameterisation, transforms, objectives, selection.

Cheap (no pretrained model); the ones touching keras.ops run under both backends (``-m backend``).
"""

from __future__ import annotations

import numpy as np
import pytest

from precompute.featurevis import param, transform
from precompute.featurevis.param import COLOR_CORRELATION_SVD_SQRT, COLOR_DECORRELATION, FourierImage
from precompute.featurevis.render import channel_rng
from precompute.featurevis.stage import select_channels
from precompute.featurevis.transform import Transforms


# ----------------------------------------------------------------------------------------------- colour
def test_colour_matrix_is_lucids_normalised_constant():
    # the published constant, and its normalisation: the largest column has unit norm
    assert COLOR_CORRELATION_SVD_SQRT[0].tolist() == [0.26, 0.09, 0.02]
    norms = np.linalg.norm(COLOR_DECORRELATION, axis=0)
    assert norms.max() == pytest.approx(1.0)
    assert np.allclose(
        COLOR_DECORRELATION * np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0).max(), COLOR_CORRELATION_SVD_SQRT
    )


def test_first_decorrelated_axis_is_luminance():
    # column 0 moves R, G and B together by nearly the same amount; the others are colour-opponent
    lum = COLOR_DECORRELATION[:, 0]
    assert (lum > 0).all() and lum.max() / lum.min() < 1.1
    for j in (1, 2):
        col = COLOR_DECORRELATION[:, j]
        assert col.max() > 0 > col.min()


def test_white_noise_in_decorrelated_space_has_imagenet_colour_correlations():
    # the matrix is the square root of the colour covariance: i.i.d. unit noise mapped through it has
    # covariance M M^T. ImageNet pixels are strongly correlated across R, G, B (>0.75 for every pair).
    rng = np.random.default_rng(0)
    d = rng.standard_normal((200_000, 3))
    rgb = d @ COLOR_DECORRELATION.T
    cov = COLOR_DECORRELATION @ COLOR_DECORRELATION.T
    expected = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    got = np.corrcoef(rgb.T)
    assert np.allclose(got, expected, atol=0.01)
    off = expected[np.triu_indices(3, 1)]
    print("ImageNet colour correlations RG, RB, GB:", np.round(off, 3))
    assert (off > 0.75).all()
    # and the inverse map decorrelates such RGB samples back to independent unit-variance components
    back = rgb @ np.linalg.inv(COLOR_DECORRELATION).T
    assert np.allclose(np.cov(back.T), np.eye(3), atol=0.02)


# ----------------------------------------------------------------------------------------------- Fourier
@pytest.mark.parametrize("h,w", [(16, 16), (15, 12), (12, 9)])
def test_irfft2_bases_equal_numpy_irfft2(h, w):
    rng = np.random.default_rng(1)
    spec = rng.standard_normal((h, w // 2 + 1)) + 1j * rng.standard_normal((h, w // 2 + 1))
    ch, sh, cw, sw = param.irfft2_bases(h, w)
    zr = ch @ spec.real - sh @ spec.imag
    zi = sh @ spec.real + ch @ spec.imag
    ours = zr @ cw - zi @ sw
    assert np.allclose(ours, np.fft.irfft2(spec, s=(h, w), norm="ortho"), atol=1e-10)


def test_spectrum_scale_is_one_over_f():
    freqs = param.rfft2d_freqs(128, 128)
    scale = param.spectrum_scale(128, 128)
    assert freqs.shape == scale.shape == (128, 65)
    assert scale[0, 0] == pytest.approx(128.0)  # DC gets the lowest non-zero frequency's scale
    assert scale[0, 32] == pytest.approx(4.0)  # f = 32/128 = 0.25 cycles/pixel
    assert scale[32, 32] == pytest.approx(1 / np.hypot(0.25, 0.25))
    nz = freqs > 1 / 128
    assert np.allclose(scale[nz] * freqs[nz], 1.0)
    assert np.allclose(param.spectrum_scale(64, 64, decay_power=2.0)[0, 16], 16.0)


def test_random_parameters_give_one_over_f_images():
    # white-noise parameters -> spatial images whose amplitude spectrum falls off as 1/f (natural images)
    size = 128
    img = FourierImage(size)
    p = img.init(np.random.default_rng(2), 16).astype(np.float64)
    spec = (p[:, 0] + 1j * p[:, 1]) * param.spectrum_scale(size, size)
    spatial = np.fft.irfft2(spec, s=(size, size), norm="ortho")
    amp = np.abs(np.fft.rfft2(spatial, norm="ortho")).mean(axis=(0, 1))
    freqs = param.rfft2d_freqs(size, size)
    sel = (freqs > 0.02) & (freqs < 0.45)
    slope = np.polyfit(np.log(freqs[sel]), np.log(amp[sel]), 1)[0]
    print(f"log-log slope of the amplitude spectrum: {slope:.3f} (1/f is -1)")
    assert -1.1 < slope < -0.9


@pytest.mark.backend
def test_to_rgb_matches_numpy_reference_and_shapes():
    from keras import ops

    img = FourierImage(24, amplitude=0.25)
    assert img.param_shape == (2, 3, 24, 13)
    p = img.init(np.random.default_rng(3), 5) * 40  # large enough to leave the linear range of the sigmoid
    assert p.shape == (5, 2, 3, 24, 13) and p.dtype == np.float32
    ours = np.asarray(ops.convert_to_numpy(img.to_rgb(ops.convert_to_tensor(p))))
    ref = img.to_rgb_numpy(p)
    assert ours.shape == (5, 24, 24, 3)
    assert np.allclose(ours, ref, atol=2e-5)
    assert ours.min() > 0.0 and ours.max() < 1.0 and ours.std() > 0.05
    # the init is a faint grey: std 0.01 coefficients stay near the sigmoid's midpoint
    start = img.to_rgb_numpy(img.init(np.random.default_rng(4), 2))
    assert abs(start.mean() - 0.5) < 0.02 and start.std() < 0.05


def test_to_uint8_rounds_and_clips():
    x = np.array([-0.1, 0.0, 0.5 / 255, 1.5 / 255, 0.5, 1.0, 1.2])
    assert param.to_uint8(x).tolist() == [0, 0, 0, 2, 128, 255, 255]


# ----------------------------------------------------------------------------------------------- transforms
def _dot_image(size: int, y: int, x: int) -> np.ndarray:
    img = np.zeros((1, size, size, 1), np.float32)
    img[0, y, x, 0] = 1.0
    return img


def _argmax2d(a: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(int(np.argmax(a[0, :, :, 0])), a.shape[1:3])
    return int(y), int(x)


@pytest.mark.backend
@pytest.mark.parametrize(
    "forward,src,dst",
    [
        (transform.translation(3, -2), (10, 10), (8, 13)),  # dx=+3 columns, dy=-2 rows
        (transform.rotation(90, 10.0), (10, 15), (15, 10)),  # about the centre (10, 10): x+5 -> y+5
        (transform.scaling(2.0, 10.0), (10, 13), (10, 16)),  # 3 px right of the centre -> 6 px
    ],
)
def test_affine_moves_content_as_documented(forward, src, dst):
    from keras import ops

    img = _dot_image(21, *src)
    mats = transform.to_projective(forward)[None].astype(np.float32)
    out = np.asarray(
        ops.convert_to_numpy(transform.affine(ops.convert_to_tensor(img), ops.convert_to_tensor(mats), fill=0.0))
    )
    assert _argmax2d(out) == dst


@pytest.mark.backend
def test_transforms_shapes_padding_and_identity():
    from keras import ops

    t = Transforms()
    assert t.canvas(128) == 152
    img = np.random.default_rng(5).random((2, 16, 16, 3)).astype(np.float32)
    ident = np.tile(transform.to_projective(np.eye(3)), (2, 1)).astype(np.float32)
    out = np.asarray(ops.convert_to_numpy(t.apply(ops.convert_to_tensor(img), ops.convert_to_tensor(ident))))
    assert out.shape == (2, 40, 40, 3)
    assert np.allclose(out[:, 12:28, 12:28], img, atol=1e-6)  # identity: the image, untouched
    assert np.allclose(out[:, :12], 0.5) and np.allclose(out[:, :, -12:], 0.5)  # grey padding


def test_transform_sampling_ranges_and_determinism():
    t = Transforms()
    a = t.sample([channel_rng(0, "k", c) for c in range(4)], 128)
    b = t.sample([channel_rng(0, "k", c) for c in range(4)], 128)
    assert a.shape == (4, 8) and a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a[0], a[1])  # each image gets its own transform
    rng = np.random.default_rng(6)
    centre = (t.canvas(128) - 1) / 2
    for _ in range(200):
        fwd = t.sample_forward(rng, 128)
        lin = fwd[:2, :2]
        s = np.sqrt(abs(np.linalg.det(lin)))
        angle = np.degrees(np.arctan2(lin[1, 0], lin[0, 0]))
        assert 0.9 - 1e-9 <= s <= 1.1 + 1e-9 and -10 - 1e-6 <= angle <= 10 + 1e-6
        moved = fwd @ np.array([centre, centre, 1.0])
        bound = np.sqrt(2) * (1.1 * t.jitter / 2 + t.jitter_after / 2)  # |R S d1| + |d2|
        assert np.linalg.norm(moved[:2] - centre) <= bound + 1e-9


# ----------------------------------------------------------------------------------------------- objectives
@pytest.mark.backend
def test_diagonal_objective_picks_each_images_channel():
    from keras import ops

    from precompute.featurevis import objectives

    maps = np.random.default_rng(7).standard_normal((3, 5, 4, 6)).astype(np.float32)
    chans = np.array([0, 5, 2], np.int32)
    got = np.asarray(ops.convert_to_numpy(objectives.diagonal_objective(ops.convert_to_tensor(maps), chans)))
    assert np.allclose(got, [maps[i, :, :, c].mean() for i, c in enumerate(chans)], atol=1e-6)
    soft = np.asarray(ops.convert_to_numpy(objectives.diagonal_objective(ops.convert_to_tensor(maps), chans, True)))
    assert np.allclose(soft, [np.logaddexp(0, maps[i, :, :, c]).mean() for i, c in enumerate(chans)], atol=1e-5)
    loss, values = objectives.loss(ops.convert_to_tensor(maps), chans)
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(-got.sum(), abs=1e-5)


@pytest.mark.backend
def test_targets_linearise_builtin_activations_and_rectify_first_layer():
    import keras

    from precompute.featurevis import objectives
    from precompute.layers import select_layers

    inp = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    x = keras.layers.Conv2D(5, 3, name="c2")(x)
    x = keras.layers.BatchNormalization(name="c2_bn")(x)
    x = keras.layers.ReLU(name="c2_relu")(x)
    model = keras.Model(inp, x)
    infos = {i.name: i for i in select_layers(model)}
    t1, t2 = objectives.make_target(model, infos["c1"]), objectives.make_target(model, infos["c2"])
    assert t1.linearised and t1.rectify  # built-in ReLU removed; affine in the pixels
    assert not t2.linearised and not t2.rectify and t2.tensor == "c2_bn"
    lin = keras.Model(inp, objectives.target_tensor(model, t1))
    x = np.random.default_rng(8).random((2, 16, 16, 3)).astype(np.float32) * 255
    pre = np.asarray(lin.predict(x, verbose=0))
    post = np.asarray(keras.Model(inp, model.get_layer("c1").output).predict(x, verbose=0))
    assert (pre < 0).any() and np.allclose(np.maximum(pre, 0), post, atol=1e-5)


# ----------------------------------------------------------------------------------------------- selection
def test_channel_selection_is_seeded_sorted_and_skips_dead_channels():
    live = np.ones(100, bool)
    live[[3, 50, 51]] = False
    a = select_channels(live, 30, 0, "m/l")
    assert a == select_channels(live, 30, 0, "m/l") and a == sorted(a) and len(set(a)) == 30
    assert not {3, 50, 51} & set(a)
    assert a != select_channels(live, 30, 1, "m/l") and a != select_channels(live, 30, 0, "m/other")
    assert select_channels(live[:10], 30, 0, "m/l") == [0, 1, 2, 4, 5, 6, 7, 8, 9]  # all live when fewer


def test_channel_rngs_are_stable_and_distinct():
    a = channel_rng(0, "m/l", 5).standard_normal(4)
    assert np.array_equal(a, channel_rng(0, "m/l", 5).standard_normal(4))
    assert not np.array_equal(a, channel_rng(0, "m/l", 6).standard_normal(4))
    assert not np.array_equal(a, channel_rng(1, "m/l", 5).standard_normal(4))


def test_sample_steps_draws_what_step_by_step_sampling_draws():
    # the loop's transforms are drawn before it: they must be the numbers a per-step draw gives
    t = Transforms()
    keys = [3, 17, 4]
    ahead = t.sample_steps([channel_rng(0, "m/l", c) for c in keys], 96, 25)
    rngs = [channel_rng(0, "m/l", c) for c in keys]
    stepwise = np.stack([t.sample(rngs, 96) for _ in range(25)])
    assert ahead.shape == (25, 3, 8) and ahead.dtype == np.float32
    assert np.array_equal(ahead, stepwise)
    # a channel's draws do not depend on the others in its batch
    alone = t.sample_steps([channel_rng(0, "m/l", 17)], 96, 25)
    assert np.array_equal(alone[:, 0], ahead[:, 1])
    assert t.sample_steps(rngs, 96, 0).shape == (0, 3, 8)


# ----------------------------------------------------------------------------------------------- quality
def test_clipped_fraction_counts_each_colour_channel_ends():
    from precompute.featurevis.render import clipped_fraction

    img = np.full((2, 4, 5, 3), 128, np.uint8)
    img[0, 0, :, 0] = 0  # 5 of 20 red pixels at 0
    img[0, 1, :2, 2] = 255  # 2 of 20 blue pixels at 255
    img[1, :, :, 1] = 253  # all green pixels near the top, none exactly clipped
    got = clipped_fraction(img)
    assert got.shape == (2, 3)
    assert np.allclose(got, [[0.25, 0.0, 0.1], [0.0, 0.0, 0.0]])
    near = clipped_fraction(img, margin=2)
    assert np.allclose(near[1], [0.0, 1.0, 0.0])
    with pytest.raises(ValueError):
        clipped_fraction(img.astype(np.float32))


@pytest.mark.backend
def test_rms_cap_bounds_the_logits_and_leaves_images_inside_the_ball_alone():
    from keras import ops

    capped = FourierImage(32, max_rms=1.5)
    free = FourierImage(32)
    rng = np.random.default_rng(9)
    big = capped.init(rng, 3) * 2000  # far outside: the uncapped image is saturated
    small = capped.init(rng, 3)  # the faint start image: well inside the ball

    def logits(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return np.log(x / (1 - x))

    out = np.asarray(ops.convert_to_numpy(capped.to_rgb(ops.convert_to_tensor(big))))
    rms = np.sqrt((logits(out) ** 2).mean(axis=(1, 2, 3)))
    assert np.allclose(rms, 1.5, atol=1e-3)
    assert np.allclose(out, capped.to_rgb_numpy(big), atol=2e-5)
    uncapped = free.to_rgb_numpy(big)
    assert ((uncapped < 0.5 / 255) | (uncapped > 254.5 / 255)).mean() > 0.3  # what the cap prevents
    # same direction: logits are linear in the parameters, so the capped image is the uncapped image of the
    # parameters scaled by 1.5 / rms (rms measured on the unscaled, unsaturated start image)
    r0 = np.sqrt((logits(free.to_rgb_numpy(big / 2000)) ** 2).mean(axis=(1, 2, 3)))
    expected = free.to_rgb_numpy(big / 2000 * (1.5 / r0)[:, None, None, None, None])
    assert np.allclose(out, expected, atol=1e-4)
    inside = np.asarray(ops.convert_to_numpy(capped.to_rgb(ops.convert_to_tensor(small))))
    assert np.array_equal(inside, np.asarray(ops.convert_to_numpy(free.to_rgb(ops.convert_to_tensor(small)))))


@pytest.mark.backend
@pytest.mark.parametrize("size", [param.DFT_MATMUL_MAX_SIZE, param.DFT_MATMUL_MAX_SIZE + 1, 224])
def test_to_rgb_matches_numpy_on_both_sides_of_the_fft_switch(size):
    # dense DFT matrices up to DFT_MATMUL_MAX_SIZE, FFTs above: both are numpy's irfft2 (ortho)
    from keras import ops

    img = FourierImage(size)
    p = img.init(np.random.default_rng(11), 2) * 40
    ours = np.asarray(ops.convert_to_numpy(img.to_rgb(ops.convert_to_tensor(p))))
    assert ours.shape == (2, size, size, 3)
    assert np.allclose(ours, img.to_rgb_numpy(p), atol=2e-5)
    assert ours.std() > 0.05
