"""Dataset scanning on generated bad-input folders and on the real reference datasets."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from precompute import log
from precompute.datasets import (
    DatasetError,
    discover,
    load_dataset,
    resolve,
    sort_key,
)
from tests.conftest import SHARED_DATASETS as SHARED  # noqa: E402

# ../shared is part of the test environment (CI clones main beside it): its absence fails, never skips
needs_shared = pytest.mark.usefixtures("shared_datasets")

HOSTILE = "<script>alert('x')"  # a path component cannot hold "/", so no closing tag
HOSTILE_FILE = '<img src=x onerror="alert(1)">'


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    log.reset_warnings()


def _png(path: Path, color: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (12, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _jpeg_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _bad_folder(root: Path) -> Path:
    """A labelled dataset with hostile names, bad files, ignorable files and an empty class."""
    _png(root / "with space" / "b b.png")
    _png(root / "with space" / "a'quote\".png")
    _png(root / "Ünïcödé 日本" / "é.png")
    _png(root / HOSTILE / "x&y.png")
    _png(root / "a & b" / f"{HOSTILE_FILE}.png")
    cls = root / "broken"
    cls.mkdir()
    (cls / "zero.jpg").write_bytes(b"")
    (cls / "text.jpg").write_text("definitely not a jpeg\n")
    (cls / "truncated.jpg").write_bytes(_jpeg_bytes()[:-300])
    (cls / "ok.jpg").write_bytes(_jpeg_bytes())
    (root / "empty class").mkdir()
    only_bad = root / "only bad"
    only_bad.mkdir()
    (only_bad / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    # silently ignored
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (cls / "._ok.jpg").write_bytes(b"AppleDouble")
    (root / "SOURCE.txt").write_text("My test dataset\nline two\n")
    (root / "README.md").write_text("# Hostile names dataset\n")
    # warned about
    (root / "with space" / "notes.csv").write_text("a,b\n")
    _png(root / "loose.png")
    return root


def test_bad_folder_warnings_ids_and_names(tmp_path: Path) -> None:
    root = _bad_folder(tmp_path / "hostile set")
    ds = load_dataset(root)
    assert ds.name == "hostile set"
    assert re.fullmatch(r"[a-z0-9_-]+", ds.slug)
    assert ds.labeled
    expected_classes = sorted(["with space", "Ünïcödé 日本", HOSTILE, "a & b", "broken"], key=sort_key)
    assert ds.classes == tuple(expected_classes)
    assert ds.classes[0] == HOSTILE  # '<' sorts before letters in code-point order
    rels = [r.rel for r in ds.images]
    assert rels == [
        f"{HOSTILE}/x&y.png",
        f"a & b/{HOSTILE_FILE}.png",
        "broken/ok.jpg",
        "with space/a'quote\".png",
        "with space/b b.png",
        "Ünïcödé 日本/é.png",
    ]
    assert [r.id for r in ds.images] == list(range(6))
    assert [ds.classes[r.label] for r in ds.images] == [r.split("/")[0] for r in rels]
    assert all(r.path == root / r.rel and r.path.is_file() for r in ds.images)
    assert all(len(r.sha256) == 64 and r.width == 12 and r.height == 8 for r in ds.images if r.rel.endswith(".png"))

    warned = log.collected_warnings()
    assert list(ds.skipped) == warned
    text = "\n".join(warned)
    for bad in (
        "broken/zero.jpg: empty file",
        "broken/text.jpg: not an image",
        "broken/truncated.jpg: truncated",
        "only bad/junk.png",
    ):
        assert sum(bad in w for w in warned) == 1, bad  # exactly one warning per unreadable file
    assert "empty class folder 'empty class' ignored" in text
    assert "class 'only bad' ignored: none of its images could be read" in text
    assert "image(s) at the top level ignored" in text and "loose.png" in text
    assert "non-image file(s) ignored: with space/notes.csv" in text
    for silent in (".DS_Store", "._ok.jpg", "SOURCE.txt", "README.md"):
        assert silent not in text
    assert len(warned) == 8
    assert ds.meta["description"] == "Hostile names dataset"  # README first line, no manifest


def test_flat_folder_is_unlabelled(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    for i, name in enumerate(["b.png", "a.png", "C.png", "10.png", "2.png"]):
        _png(root / name, (i * 40, 0, 0))
    (root / "empty sub").mkdir()
    ds = load_dataset(root, name="My Flat")
    assert not ds.labeled and ds.classes == ()
    assert [r.rel for r in ds.images] == ["10.png", "2.png", "C.png", "a.png", "b.png"]
    assert all(r.label is None for r in ds.images) and ds.labels == [None] * 5
    assert ds.name == "My Flat" and ds.slug.startswith("my_flat")
    assert ds.skipped == ("My Flat: empty folder 'empty sub' ignored (no image files)",)
    assert ds.meta == {"description": "", "source": "", "licence": "", "attribution": ""}


def test_no_readable_image_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "allbad"
    (root / "cls").mkdir(parents=True)
    (root / "cls" / "a.jpg").write_bytes(b"")
    (root / "cls" / "b.png").write_text("nope")
    with pytest.raises(DatasetError, match=r"dataset 'allbad' .* has no readable image \(2 candidate"):
        load_dataset(root)
    assert sum("allbad: skipped cls/" in w for w in log.collected_warnings()) == 2
    (root / "empty").mkdir()
    with pytest.raises(DatasetError, match="has no readable image"):
        load_dataset(root / "empty")
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_dataset(tmp_path / "missing")


def test_content_hash_tracks_edits_renames_and_additions(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for i in range(4):
        (root / ("cat" if i % 2 else "dog")).mkdir(parents=True, exist_ok=True)
        (root / ("cat" if i % 2 else "dog") / f"{i}.jpg").write_bytes(_jpeg_bytes(i))
    h0 = load_dataset(root).content_hash
    assert load_dataset(root).content_hash == h0  # stable
    copy = tmp_path / "elsewhere" / "other name"
    shutil.copytree(root, copy)
    assert load_dataset(copy).content_hash == h0  # depends on content, not location or name

    (root / "cat" / "1.jpg").write_bytes(_jpeg_bytes(99))  # edit
    h1 = load_dataset(root).content_hash
    (root / "cat" / "1.jpg").rename(root / "cat" / "1b.jpg")  # rename
    h2 = load_dataset(root).content_hash
    (root / "cat" / "5.jpg").write_bytes(_jpeg_bytes(5))  # add
    h3 = load_dataset(root).content_hash
    (root / "cat" / "junk.jpg").write_bytes(b"")  # an unreadable file is not part of the content
    h4 = load_dataset(root).content_hash
    assert len({h0, h1, h2, h3}) == 4 and h4 == h3


@needs_shared
@pytest.mark.parametrize("name", ["iconic200", "fashion200", "tinyimagenet200", "cifar10"])
def test_reference_datasets_scan(name: str) -> None:
    ds = load_dataset(SHARED / name)
    assert len(ds) == 200 and len(ds.classes) == 10 and ds.labeled and ds.skipped == ()
    assert list(ds.classes) == sorted(ds.classes)
    rels = [r.rel for r in ds.images]
    assert rels == sorted(rels, key=lambda r: (sort_key(r.split("/")[0]), sort_key(r.split("/")[1])))
    assert [r.id for r in ds.images] == list(range(200))
    assert all(sum(1 for r in ds.images if r.label == c) == 20 for c in range(10))
    assert "UNVERIFIED" in ds.meta["licence"] or "non-commercial" in ds.meta["licence"]  # from datasets/<name>.json
    assert ds.meta["source"] and ds.meta["description"]
    assert load_dataset(SHARED / name).content_hash == ds.content_hash


@needs_shared
def test_iconic200_ids_and_grey_images() -> None:
    ds = load_dataset(SHARED / "iconic200")
    assert ds.images[0].rel == "arch/140.jpg" and ds.images[0].label == 0 and ds.classes[0] == "arch"
    assert ds.images[-1].rel == "tractor/59.jpg" and ds.classes[ds.images[-1].label] == "tractor"
    tiny = load_dataset(SHARED / "tinyimagenet200")
    grey = [r for r in tiny.images if r.rel in ("faces/n04356056_16.JPEG", "tractor/n04465501_2.JPEG")]
    assert len(grey) == 2 and all((r.width, r.height) == (64, 64) for r in grey)
    # with no manifest to consult, the description is the first line of SOURCE.txt
    assert load_dataset(SHARED / "cifar10", manifest_dirs=[]).meta["description"].startswith("Cifar10 (200)")


def test_discover_and_resolve(tmp_path: Path) -> None:
    ddir = tmp_path / "datasets"
    for name in ("beta", "alpha", ".hidden"):
        (ddir / name).mkdir(parents=True)
    (ddir / "notes.txt").write_text("x")
    (ddir / "gamma.json").write_text('{"files": [{"rel": "a/b.png", "sha256": "00"}]}')
    assert [p.name for p in discover(ddir)] == ["alpha", "beta"]
    assert discover(tmp_path / "nope") == []
    assert resolve("alpha", ddir) == ddir / "alpha"
    other = tmp_path / "my data"
    other.mkdir()
    assert resolve(str(other), ddir) == other
    with pytest.raises(DatasetError, match=r"unknown dataset 'zeta'.*Available in .*: alpha, beta; fetchable: .*gamma"):
        resolve("zeta", ddir)
    with pytest.raises(DatasetError, match=r"'gamma' is not fetched yet: run `playground datasets fetch gamma`"):
        resolve("gamma", ddir)
