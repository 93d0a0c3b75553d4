"""The project's one bilinear resize (precompute/resize.py) against Pillow's own one-axis resizes, which every
Pillow version computes the same: the width pass, then the height pass, as two separate ``Image.resize`` calls."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from precompute import images
from precompute.resize import coefficients, resize_bilinear
from tests.realdata import dataset


def pillow_two_step(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    im = Image.fromarray(arr)
    if im.width != width:
        im = im.resize((width, im.height), Image.Resampling.BILINEAR)
    if im.height != height:
        im = im.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(im)


SIZES = [
    ((375, 500), (224, 224)),  # landscape photo, shrink
    ((500, 333), (224, 224)),  # portrait photo: Pillow 13's own resize runs the vertical pass first here
    ((64, 64), (224, 224)),  # enlarge
    ((1, 1), (224, 224)),
    ((224, 224), (224, 224)),  # nothing to do: a copy
    ((3000, 17), (7, 5)),  # extreme shrink factors, both ways
    ((17, 3000), (299, 1)),
    ((331, 331), (96, 331)),  # one axis only
]


@pytest.mark.parametrize(("shape", "out"), SIZES)
def test_equals_pillows_width_then_height_resizes(shape: tuple[int, int], out: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape) + sum(out))
    noise = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    ramp = (np.add.outer(np.arange(shape[0]) * 3, np.arange(shape[1]) * 7) % 256).astype(np.uint8)
    for arr in (noise, np.repeat(ramp[..., None], 3, axis=2), np.full((*shape, 3), 255, np.uint8)):
        got = resize_bilinear(arr, out[1], out[0])
        assert got.shape == (*out, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, pillow_two_step(arr, out[1], out[0]))
    assert resize_bilinear(noise, out[1], out[0]) is not noise


def test_pillows_own_resize_of_a_portrait_image_is_not_the_canonical_one() -> None:
    """Why the module exists: with Pillow >= 13 a one-call resize of a portrait image rounds differently (if a
    future Pillow computes it like the two-step form again, this fails and the module docstring must say so)."""
    arr = np.random.default_rng(0).integers(0, 256, (500, 333, 3), dtype=np.uint8)
    one_call = np.asarray(Image.fromarray(arr).resize((224, 224), Image.Resampling.BILINEAR))
    if int(Image.__version__.split(".")[0]) >= 13:
        assert not np.array_equal(one_call, resize_bilinear(arr, 224))
    landscape = np.ascontiguousarray(arr.transpose(1, 0, 2))
    one_call = np.asarray(Image.fromarray(landscape).resize((224, 224), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(one_call, resize_bilinear(landscape, 224))


def test_coefficients_sum_to_one_in_fixed_point_and_stay_in_the_image() -> None:
    for n_in, n_out in [(500, 224), (64, 224), (1, 7), (3000, 7)]:
        first, length, weights = coefficients(n_in, n_out)
        assert (first >= 0).all() and (first + length <= n_in).all() and (length >= 1).all()
        sums = weights.sum(axis=1)
        assert (abs(sums - (1 << 22)) <= length).all()  # each weight rounded once
    with pytest.raises(ValueError, match="cannot resize"):
        resize_bilinear(np.zeros((4, 4, 3), np.uint8), 0)


def test_the_precompute_decodes_jpegs_at_full_resolution_then_resizes_canonically(tmp_path) -> None:
    """A real iconic200 photo enlarged to 1280 px, so that the old reduced-DCT draft decoding would apply (a
    browser cannot decode at a reduced scale): ``load_rgb`` is the full decode followed by the canonical resize."""
    photo = Image.open(sorted(dataset("iconic200").rglob("*.jpg"))[0]).convert("RGB")
    path = tmp_path / "big.jpg"
    photo.resize((1280, 960 * photo.height // photo.width * 4 // 3)).save(path, quality=92)
    full = np.asarray(images.decode(path.read_bytes()))
    assert full.shape[1] == 1280
    np.testing.assert_array_equal(images.load_rgb(path, 224), resize_bilinear(full, 224))
    drafted = Image.open(io.BytesIO(path.read_bytes()))
    drafted.draft("RGB", (224, 224))
    assert drafted.size[0] < 1280  # the draft decodes it at a smaller scale: other pixels
