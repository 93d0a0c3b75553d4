"""The site's images of a dataset: thumbnails packed into sprite sheets, and display images.

Thumbnails: one file per image does not scale (a 100,000-image dataset would be 100,000 files on a static host),
so they are packed into sheets of 512 x 512 px: a grid of ``cols x cols`` square cells of ``cell`` px, where
``cell`` is the largest source side of the dataset capped at 128 px (small images are never upscaled: CIFAR's
32-px images get 32-px cells, 256 per sheet). Image ``id`` is cell ``id % per_sheet`` (row-major) of sheet
``thumbs/<ds>/<id // per_sheet>.webp``; the thumbnail is centred in its cell, aspect kept, on transparency. A sheet
of 128-px cells holds 16 thumbnails, of 64-px cells 64. The site draws one with CSS background-position.

Display images (the large picture of the selected image) follow one rule: ``images/<ds>/<id>.webp`` at most
``DISPLAY_SIDE`` px on the longest side (the figure is about 300 CSS px wide; 640 covers 2x screens), never upscaled,
written only when some source image is larger than a thumbnail cell and the dataset has at most
``DISPLAY_MAX_IMAGES`` images. Otherwise the thumbnail is the largest image the site shows (Tiny ImageNet's 64-px
images gain nothing from a second copy; a 100k dataset would double the site's size for pictures seen one at a time).

Incremental and deterministic: a state file in ``build/cache/site-images/<ds>.json`` (not published) records the
encoder settings and, per sheet, a digest of its members' source sha256s; only sheets whose members changed, and
display images whose source changed, are rewritten. WebP encoding is deterministic for a given Pillow/libwebp and
no metadata is written, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from . import log
from .atomic import write_bytes, write_json
from .datasets import SCAN_WORKERS, Dataset, ImageRecord
from .errors import DatasetError
from .images import decode, encode_webp, fit_size, read_file, sha256_bytes

SHEET_SIDE = 512
THUMB_MAX = 128
DISPLAY_SIDE = 640
DISPLAY_MAX_IMAGES = 20_000
WEBP_QUALITY = 80
LAYOUT_VERSION = 2  # bump when the sheet layout or encoding changes


@dataclass(frozen=True)
class ImageLayout:
    """Where a dataset's images are on the site (see the module docstring)."""

    cell: int
    cols: int
    display: bool

    @property
    def per_sheet(self) -> int:
        return self.cols * self.cols

    def sheets(self, n: int) -> int:
        return (n + self.per_sheet - 1) // self.per_sheet


def layout_for(ds: Dataset) -> ImageLayout:
    """The sheet geometry and the display-image rule for ``ds`` (from the sizes the scan recorded)."""
    largest = max((max(r.width, r.height) for r in ds.images), default=THUMB_MAX)
    cell = max(8, min(THUMB_MAX, largest))
    cols = max(1, SHEET_SIDE // cell)
    display = largest > cell and len(ds.images) <= DISPLAY_MAX_IMAGES
    return ImageLayout(cell=cell, cols=cols, display=display)


def _params(layout: ImageLayout) -> dict[str, Any]:
    from PIL import __version__ as pillow_version
    from PIL import features

    return {
        "version": LAYOUT_VERSION,
        "cell": layout.cell,
        "cols": layout.cols,
        "display": DISPLAY_SIDE if layout.display else 0,
        "quality": WEBP_QUALITY,
        "pillow": pillow_version,
        "webp": features.version("webp") or "",
    }


def _digest(records: list[ImageRecord]) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(f"{r.id}:{r.sha256}\n".encode())
    return h.hexdigest()[:24]


def _decode(ds: Dataset, rec: ImageRecord) -> Image.Image:
    data = read_file(rec.path)
    if sha256_bytes(data) != rec.sha256:
        raise DatasetError(f"{ds.name}: {rec.rel} changed since the dataset was scanned; run the build again")
    return decode(data, rec.rel)


def sheet_bytes(images: list[Image.Image], layout: ImageLayout) -> bytes:
    """One sheet: ``images`` in row-major cells, each fitted (Lanczos) and centred, on transparency."""
    rows = (len(images) + layout.cols - 1) // layout.cols
    sheet = Image.new("RGBA", (layout.cols * layout.cell, max(1, rows) * layout.cell), (0, 0, 0, 0))
    for i, im in enumerate(images):
        w, h = fit_size(im.width, im.height, layout.cell)
        thumb = im if (w, h) == im.size else im.resize((w, h), Image.Resampling.LANCZOS)
        x = (i % layout.cols) * layout.cell + (layout.cell - w) // 2
        y = (i // layout.cols) * layout.cell + (layout.cell - h) // 2
        sheet.paste(thumb, (x, y))
    buf = io.BytesIO()
    sheet.save(buf, "WEBP", quality=WEBP_QUALITY, alpha_quality=100, method=4)
    return buf.getvalue()


_SHEET = re.compile(r"^\d+\.webp$")


def write_site_images(ds: Dataset, site_dir: Path, state_dir: Path) -> ImageLayout:
    """Write (incrementally) the sprite sheets and display images of ``ds``; returns its layout."""
    layout = layout_for(ds)
    thumbs, full = Path(site_dir) / "thumbs" / ds.slug, Path(site_dir) / "images" / ds.slug
    state_path = Path(state_dir) / f"{ds.slug}.json"
    params = _params(layout)
    state: dict[str, Any] = {}
    if state_path.is_file():
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
    if state.get("params") != params:
        state = {}
    old_sheets: dict[str, str] = state.get("sheets", {})
    old_display: dict[str, str] = state.get("display", {})

    recs = list(ds.images)
    groups = [recs[s : s + layout.per_sheet] for s in range(0, len(recs), layout.per_sheet)]
    sheets = {str(i): _digest(g) for i, g in enumerate(groups)}
    todo_sheets = [
        i
        for i in range(len(groups))
        if old_sheets.get(str(i)) != sheets[str(i)] or not (thumbs / f"{i}.webp").is_file()
    ]
    display = {str(r.id): r.sha256 for r in recs} if layout.display else {}
    todo_display = [
        r
        for r in recs
        if layout.display and (old_display.get(str(r.id)) != r.sha256 or not (full / f"{r.id}.webp").is_file())
    ]

    def do_sheet(i: int) -> None:
        write_bytes(thumbs / f"{i}.webp", sheet_bytes([_decode(ds, r) for r in groups[i]], layout))

    def do_display(rec: ImageRecord) -> None:
        write_bytes(full / f"{rec.id}.webp", encode_webp(_decode(ds, rec), DISPLAY_SIDE, WEBP_QUALITY))

    total = len(todo_sheets) + len(todo_display)
    if total:
        bar = log.bar(desc=f"site images {ds.name}", total=total, unit="file")
        with ThreadPoolExecutor(max_workers=SCAN_WORKERS) as pool:
            for _ in pool.map(do_sheet, todo_sheets):
                bar.update(1)
            for _ in pool.map(do_display, todo_display):
                bar.update(1)
        bar.close()
    _prune(thumbs, {f"{i}.webp" for i in range(len(groups))})
    _prune(full, {f"{r.id}.webp" for r in recs} if layout.display else set())
    new_state = {"params": params, "sheets": sheets, "display": display}
    if new_state != state:
        write_json(state_path, new_state, pretty=True)
    return layout


def _prune(folder: Path, keep: set[str]) -> None:
    """Remove files of ids or sheets that no longer exist, and leftovers of interrupted atomic writes."""
    if not folder.is_dir():
        return
    for f in folder.iterdir():
        stale = _SHEET.match(f.name) and f.name not in keep
        leftover = f.name.startswith(".") and f.name.endswith(".tmp")
        if f.is_file() and (stale or leftover):
            f.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def prune_datasets(site_dir: Path, keep: set[str]) -> None:
    """Remove the images of datasets that are no longer part of the build."""
    import shutil

    for kind in ("thumbs", "images"):
        folder = Path(site_dir) / kind
        for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
            if sub.is_dir() and sub.name not in keep:
                shutil.rmtree(sub)
