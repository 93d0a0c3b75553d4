"""The generated ``shapes`` dataset: deterministic, balanced, colour-blind by design, never trained on."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from precompute import shapes
from precompute.datasets import load_dataset


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_arrays_and_prefix_stable() -> None:
    a, la = shapes.generate_arrays(4, 48, seed=5)
    b, lb = shapes.generate_arrays(4, 48, seed=5)
    assert a.dtype == np.uint8 and a.shape == (40, 48, 48, 3)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    # an image depends on (seed, stream, class, index) only, not on how many are drawn
    c, _ = shapes.generate_arrays(2, 48, seed=5)
    assert np.array_equal(c.reshape(10, 2, 48, 48, 3), a.reshape(10, 4, 48, 48, 3)[:, :2])


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    one = shapes.ensure_shapes_dataset(tmp_path / "a", n_per_class=3)
    two = shapes.ensure_shapes_dataset(tmp_path / "b", n_per_class=3)
    assert _tree(one) == _tree(two)
    assert len(_tree(one)) == 3 * len(shapes.CLASSES) + 2  # + README.md and the recipe stamp


def test_different_seed_or_stream_gives_different_images() -> None:
    a, _ = shapes.generate_arrays(3, 48, seed=5)
    b, _ = shapes.generate_arrays(3, 48, seed=6)
    c, _ = shapes.generate_arrays(3, 48, seed=5, stream="val")
    for other in (b, c):
        assert all(not np.array_equal(x, y) for x, y in zip(a, other, strict=True))


def test_classes_balanced_and_labels_class_major() -> None:
    _, labels = shapes.generate_arrays(7, 32, seed=0)
    assert np.bincount(labels).tolist() == [7] * len(shapes.CLASSES)
    assert labels.tolist() == sorted(labels.tolist())
    assert list(shapes.CLASSES) == sorted(shapes.CLASSES)  # = the dataset scanner's class order


def test_site_dataset_layout_and_scan(tmp_path: Path) -> None:
    folder = shapes.ensure_shapes_dataset(tmp_path)
    assert folder == tmp_path / "shapes"
    ds = load_dataset(folder)
    assert ds.classes == shapes.CLASSES
    assert len(ds.images) == 200 and not ds.skipped  # the hidden stamp is not an image
    assert np.bincount(ds.labels).tolist() == [20] * 10
    assert [r.rel for r in ds.images[:2]] == ["arrow/000.png", "arrow/001.png"]
    assert ds.meta["description"] == shapes.META["description"]
    from PIL import Image

    with Image.open(ds.images[0].path) as im:
        assert (im.size, im.mode) == ((96, 96), "RGB")


def test_ensure_skips_when_complete_and_repairs(tmp_path: Path) -> None:
    folder = shapes.ensure_shapes_dataset(tmp_path, n_per_class=2)
    before = _tree(folder)
    first = folder / "star" / "001.png"
    mtime = first.stat().st_mtime_ns
    shapes.ensure_shapes_dataset(tmp_path, n_per_class=2)
    assert first.stat().st_mtime_ns == mtime  # nothing rewritten
    first.write_bytes(b"broken")
    (folder / "circle" / "000.png").unlink()
    shapes.ensure_shapes_dataset(tmp_path, n_per_class=2)
    assert _tree(folder) == before
    # another recipe: files of the old one that the new one does not have are removed
    shapes.ensure_shapes_dataset(tmp_path, n_per_class=1)
    assert sorted(p.name for p in folder.glob("*/*.png")) == ["000.png"] * 10
    assert shapes.is_complete(folder, n_per_class=1) and not shapes.is_complete(folder, n_per_class=2)


def test_shown_images_are_never_training_images() -> None:
    from precompute import playground_net

    site, _ = shapes.generate_arrays(shapes.SITE_N_PER_CLASS, 64, shapes.SITE_SEED, stream="site")
    train, _ = shapes.generate_arrays(30, 64, playground_net.TRAIN["data_seed"], stream="train")
    flat_site = site.reshape(len(site), -1).astype(np.float32)
    flat_train = train.reshape(len(train), -1).astype(np.float32)
    d2 = (flat_site**2).sum(1)[:, None] + (flat_train**2).sum(1)[None, :] - 2 * flat_site @ flat_train.T
    rms = np.sqrt(np.maximum(d2, 0) / flat_site.shape[1])
    assert rms.min() > 10  # not even a near-duplicate (pixel RMS difference on a 0..255 scale)
    assert (playground_net.TRAIN["data_seed"], "train") != (shapes.SITE_SEED, "site")


def test_colour_is_not_a_class_cue() -> None:
    """Nearest-centroid on mean colour (fit on one stream, scored on another) is at chance level."""
    x_fit, y_fit = shapes.generate_arrays(60, 32, seed=11, stream="train")
    x_eval, y_eval = shapes.generate_arrays(60, 32, seed=11, stream="val")
    f_fit = x_fit.reshape(len(x_fit), -1, 3).mean(1)
    f_eval = x_eval.reshape(len(x_eval), -1, 3).mean(1)
    centroids = np.stack([f_fit[y_fit == c].mean(0) for c in range(len(shapes.CLASSES))])
    pred = np.argmin(((f_eval[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    acc = float(np.mean(pred == y_eval))
    print(f"\nnearest-centroid accuracy on mean colour: {acc:.1%} (chance 10%)")
    assert acc < 0.2
