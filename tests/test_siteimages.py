"""Site images: thumbnails in sprite sheets (cells, geometry, content), display images by the documented rule,
determinism, incremental rewrites and pruning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from precompute.datasets import load_dataset
from precompute.siteimages import DISPLAY_SIDE, THUMB_MAX, layout_for, write_site_images


def _png(path: Path, color: tuple[int, int, int], size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_ino, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cell(sheet: Image.Image, index: int, cell: int, cols: int) -> np.ndarray:
    x, y = (index % cols) * cell, (index // cols) * cell
    return np.asarray(sheet.convert("RGBA").crop((x, y, x + cell, y + cell)), dtype=np.int16)


def test_sheets_hold_every_thumbnail_where_the_geometry_says(tmp_path: Path) -> None:
    root = tmp_path / "ds & <b>"
    colours = {}
    for i in range(20):  # 20 images: two sheets of 16 at 128 px cells
        c = (12 * i % 256, 255 - 9 * i, (40 + 31 * i) % 256)
        _png(root / ("a" if i < 10 else "b") / f"{i:02d}.png", c, (300, 150) if i % 2 else (150, 300))
        colours[f"{'a' if i < 10 else 'b'}/{i:02d}.png"] = c
    ds = load_dataset(root)
    layout = write_site_images(ds, tmp_path / "site", tmp_path / "state")
    assert (layout.cell, layout.cols, layout.per_sheet) == (THUMB_MAX, 4, 16) and layout.display
    thumbs = tmp_path / "site" / "thumbs" / ds.slug
    assert sorted(p.name for p in thumbs.iterdir()) == ["0.webp", "1.webp"]
    sheets = [Image.open(thumbs / f"{i}.webp") for i in (0, 1)]
    assert sheets[0].size == (512, 512) and sheets[1].size == (512, 128)  # 4 more images: one row
    for rec in ds.images:
        sheet, index = sheets[rec.id // 16], rec.id % 16
        px = _cell(sheet, index, 128, 4)
        wide = rec.width > rec.height
        # the thumbnail is centred, aspect kept (2:1 -> 128 x 64): the image's colour in the middle ...
        centre = px[64, 64, :3]
        assert np.abs(centre - np.array(colours[rec.rel])).max() <= 8, rec.rel
        # ... and transparency where the cell is not covered
        corner = px[5, 64] if wide else px[64, 5]
        assert corner[3] == 0, rec.rel
    # display images: the sources are larger than a cell, so they exist, fitted to DISPLAY_SIDE, never upscaled
    full = tmp_path / "site" / "images" / ds.slug
    assert Image.open(full / "0.webp").size == (150, 300)  # smaller than DISPLAY_SIDE: kept
    assert max(Image.open(full / "1.webp").size) <= DISPLAY_SIDE


def test_small_sources_get_small_cells_and_no_display_copies(tmp_path: Path) -> None:
    root = tmp_path / "tiny"
    for i in range(70):
        _png(root / "c" / f"{i:03d}.png", (i, i, i), (32, 32))
    ds = load_dataset(root)
    layout = layout_for(ds)
    assert (layout.cell, layout.cols, layout.per_sheet, layout.display) == (32, 16, 256, False)
    write_site_images(ds, tmp_path / "site", tmp_path / "state")
    assert [p.name for p in (tmp_path / "site" / "thumbs" / ds.slug).iterdir()] == ["0.webp"]
    assert not (tmp_path / "site" / "images" / ds.slug).exists()  # the thumbnail is the largest image shown


def test_deterministic_incremental_and_pruned(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for i in range(40):
        _png(root / "c" / f"{i:02d}.png", (i * 5, 100, 200 - i * 4), (200, 200))
    site_a, site_b = tmp_path / "a", tmp_path / "b"
    write_site_images(load_dataset(root), site_a, tmp_path / "sa")
    write_site_images(load_dataset(root), site_b, tmp_path / "sb")
    a = _snapshot(site_a)
    assert {k: v[1] for k, v in a.items()} == {k: v[1] for k, v in _snapshot(site_b).items()}  # byte-identical
    write_site_images(load_dataset(root), site_a, tmp_path / "sa")  # nothing changed: nothing rewritten
    assert _snapshot(site_a) == a

    _png(root / "c" / "05.png", (0, 0, 0), (200, 200))  # an image of the first sheet changes
    for i in range(32, 40):  # the third sheet's images go away
        (root / "c" / f"{i:02d}.png").unlink()
    write_site_images(load_dataset(root), site_a, tmp_path / "sa")
    after = _snapshot(site_a)
    assert "thumbs/ds/2.webp" not in after  # pruned
    assert after["thumbs/ds/1.webp"] == a["thumbs/ds/1.webp"]  # untouched: same inode, same bytes
    assert after["thumbs/ds/0.webp"][1] != a["thumbs/ds/0.webp"][1]  # re-encoded
    assert after["images/ds/6.webp"] == a["images/ds/6.webp"] and after["images/ds/5.webp"] != a["images/ds/5.webp"]
    assert sorted(k for k in after if k.startswith("images/")) == sorted(f"images/ds/{i}.webp" for i in range(32))
