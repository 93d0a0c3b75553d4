"""Dataset discovery and scanning: ``Dataset``, ``ImageRecord``, ``ScanReport``, stable ids, content hash.

Layouts (class folders at any depth, flat, a labels file) and the id order are decided in
:mod:`precompute.layouts`; an archive is extracted into the build cache by :mod:`precompute.archives` and then read
like a folder. Rules documented for users in ``datasets/README.md``:

- Hidden entries (``.DS_Store``, ``._*``, ``.git``...), ``__MACOSX``, ``Thumbs.db``/``desktop.ini`` and notes
  named README/SOURCE/LICENSE/LICENCE/NOTICE/ATTRIBUTION/CITATION (any non-image extension) are ignored
  silently. Other files without an image extension are counted in one warning per dataset (5 examples).
- Every candidate file is read and decoded once at scan time (:func:`precompute.images.check_bytes`); an
  unreadable one is skipped with one warning naming it. A class folder left without a readable image is
  ignored with a warning. No readable image at all is a :class:`DatasetError`. :func:`inspect_dataset` gives the
  same report without decoding (stat and header sniffing only).

Ids: images are sorted by class name, then path inside the class folder, each part compared as Python strings of
the NFC-normalised name (Unicode code-point order: case-sensitive, independent of locale and platform;
``"10.jpg"`` sorts before ``"2.jpg"``), the raw name breaking ties; ids are 0-based positions in that order.

``content_hash`` is a sha256 over ``(rel path, file sha256)`` of the kept images in id order, so renaming,
editing, adding or removing an image changes it. There is no scan cache: a scan reads every byte anyway (for the
file hashes), decoding is cheap (JPEGs are checked at 1/8 DCT scale) and runs on a small thread pool.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from precompute import log
from precompute.archives import extract, is_archive
from precompute.config import DatasetOptions
from precompute.errors import DatasetError
from precompute.images import (
    ImageError,
    check_bytes,
    read_file,
    sha256_bytes,
)
from precompute.layouts import (
    REASONS,
    UNREADABLE,
    Listing,
    apply_class_names,
    find_metadata,
    ignored,
    list_folders,
    list_labelled,
    sort_key,
)
from precompute.layouts import names as layout_names
from precompute.manifests import PROJECT_DATASETS_DIR, available_manifests, manifest_meta, read_manifest
from precompute.slugs import dataset_slug

SCAN_WORKERS = min(8, os.cpu_count() or 1)
META_KEYS = ("description", "source", "licence", "attribution")
#: The first bytes of each image format the scan accepts (``inspect`` sniffs these instead of decoding).
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\0", b"MM\0*")
_PNM = {b"P1", b"P2", b"P3", b"P4", b"P5", b"P6"}


@dataclass(frozen=True)
class ImageRecord:
    id: int
    path: Path
    rel: str  # posix path inside the dataset folder, as on disk
    label: int | None  # index into Dataset.classes; None for unlabelled datasets
    sha256: str = ""  # of the file bytes
    width: int = 0  # upright (after EXIF orientation)
    height: int = 0


@dataclass(frozen=True)
class ScanReport:
    """How a dataset was read: what ``playground datasets inspect`` prints and the site's About page shows."""

    layout: str  # class folders | nested class folders | flat (unlabelled) | labels file
    labels_source: str  # folder names | none | FILE (file column -> label column)
    archive: str  # the archive's file name, or "" for a folder
    n_images: int
    n_classes: int
    skipped: tuple[tuple[str, int], ...]  # (reason, files), reasons in layouts.REASONS order
    label_rows: tuple[tuple[str, int], ...] = ()  # labels-file problems: (what, rows)
    named_classes: int = 0  # classes with a display name from --class-names

    @property
    def n_skipped(self) -> int:
        return sum(n for _, n in self.skipped)

    def lines(self) -> list[str]:
        out = [
            f"layout: {self.layout}" + (f" (read from the archive {self.archive})" if self.archive else ""),
            f"labels: {self.labels_source}",
            f"images: {self.n_images:,}",
            f"classes: {self.n_classes:,}"
            + (f" ({self.named_classes:,} with display names)" if self.named_classes else ""),
            "skipped files: " + (", ".join(f"{n:,} {r}" for r, n in self.skipped) if self.skipped else "none"),
        ]
        if self.label_rows:
            out.append("labels-file problems: " + ", ".join(f"{n:,} {w}" for w, n in self.label_rows))
        return out


@dataclass(frozen=True)
class Dataset:
    name: str
    slug: str
    root: Path
    images: tuple[ImageRecord, ...]
    classes: tuple[str, ...]
    labeled: bool
    content_hash: str
    skipped: tuple[str, ...] = ()  # the scan's warnings (one per skipped file or ignored folder)
    meta: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    class_names: tuple[str, ...] = ()  # display names, one per class ("" for none: the id is shown)
    report: ScanReport | None = field(default=None, hash=False, compare=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> list[int | None]:
        return [r.label for r in self.images]

    @property
    def display_names(self) -> tuple[str, ...]:
        return tuple(n or c for c, n in zip(self.classes, self.class_names or ("",) * len(self.classes), strict=True))


def _ignored(entry: Path) -> bool:
    return ignored(entry.name, entry.is_file())


def meta_from_notes(root: Path) -> dict[str, str]:
    for note in ("README.md", "README.txt", "README", "SOURCE.txt"):
        path = root / note
        if path.is_file():
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            first = next((ln.strip().lstrip("#").strip() for ln in lines if ln.strip()), "")
            if first:
                return {"description": first}
    return {}


def dataset_meta(root: Path, rels: set[str], manifest_dirs: list[Path] | None = None) -> dict[str, str]:
    """description/source/licence/attribution for the dataset at ``root``.

    From the manifest ``<name>.json`` beside the folder or in the project's ``datasets/`` (only when every kept
    file is listed in it, so an unrelated folder of the same name does not inherit its licence), else the first
    line of a README/SOURCE.txt, else empty strings.
    """
    dirs = manifest_dirs if manifest_dirs is not None else [root.parent, PROJECT_DATASETS_DIR]
    meta = dict.fromkeys(META_KEYS, "")
    for folder in dirs:
        path = Path(folder) / f"{root.name}.json"
        if not path.is_file():
            continue
        try:
            manifest = read_manifest(path)
        except DatasetError:
            continue
        listed = {f["rel"] for f in manifest["files"]}
        if rels <= listed:
            meta.update(manifest_meta(manifest))
            return meta
    meta.update(meta_from_notes(root))
    return meta


def _find(path: Path | str, root: Path) -> Path:
    """A labels or class-names file: as given, else inside the dataset (a file that came in an archive)."""
    p = Path(path).expanduser()
    if p.is_file() or p.is_absolute():
        return p
    return root / p if (root / p).is_file() else p


def _open_source(path: Path | str, cache_dir: Path | None) -> tuple[Path, str, str]:
    """(dataset folder, default name, archive file name or "") for a folder or an archive."""
    given = Path(path).expanduser()
    if is_archive(given):
        if cache_dir is None:
            raise DatasetError(f"dataset archive {given}: no cache folder to extract it into")
        try:
            ex = extract(given, cache_dir)
        except OSError as exc:
            raise DatasetError(f"dataset archive {given}: cannot extract it ({exc.strerror or exc})") from exc
        return ex.root, ex.name, given.name
    if not given.is_dir():
        raise DatasetError(f"dataset folder not found: {given}")
    return given, given.resolve().name, ""


def list_dataset(root: Path, name: str, options: DatasetOptions | None = None, *, strict: bool = False) -> Listing:
    """The layout, labels and candidate files of the dataset folder ``root``, reading no image."""
    opts = options or DatasetOptions()
    labels: Path | None = _find(opts.labels, root) if opts.labels else None
    if labels is not None and not labels.is_file():
        raise DatasetError(f"dataset '{name}': labels file not found: {labels}")
    class_names = _find(opts.class_names, root) if opts.class_names else None
    if class_names is not None and not class_names.is_file():
        raise DatasetError(f"dataset '{name}': class-names file not found: {class_names}")
    exclude = {p for p in (labels, class_names) if p is not None}
    listing: Listing | None = None
    if labels is not None:
        listing = list_labelled(root, name, labels, opts.file_column, opts.label_column, strict, exclude)
    elif (meta := find_metadata(root)) is not None:
        try:
            listing = list_labelled(root, name, meta, opts.file_column, opts.label_column, strict, exclude | {meta})
        except DatasetError as exc:
            if str(exc).startswith("--strict"):
                raise
            fallback = list_folders(root, name, exclude | {meta})
            fallback.warnings.insert(0, f"{name}: {meta.name} not used ({exc}); labels come from the folders")
            listing = fallback
    else:
        listing = list_folders(root, name, exclude)
    if class_names is not None:
        apply_class_names(listing, class_names, name)
    return listing


def _sniff(item: tuple[str | None, Path, str]) -> str | None:
    """Why a candidate file cannot be an image, from its size and first bytes only; None when it looks fine."""
    _, path, rel = item
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"{rel}: cannot read file ({exc.strerror or exc})"
    if not head:
        return f"{rel}: empty file (0 bytes)"
    if head.startswith(_MAGIC) or head[:2] in _PNM:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return None
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis", b"mif1"):
        return None
    return f"{rel}: not an image (unknown file header)"


def _report(listing: Listing, kept_classes: int, n_images: int, archive: str, unreadable: int) -> ScanReport:
    skipped = Counter(listing.skipped)
    if unreadable:
        skipped[UNREADABLE] += unreadable
    return ScanReport(
        layout=listing.layout,
        labels_source=listing.labels_source,
        archive=archive,
        n_images=n_images,
        n_classes=kept_classes,
        skipped=tuple((r, skipped[r]) for r in REASONS if skipped[r]),
        label_rows=tuple(listing.label_rows.items()),
        named_classes=len(listing.display),
    )


def inspect_dataset(
    path: Path | str,
    name: str | None = None,
    *,
    options: DatasetOptions | None = None,
    strict: bool = False,
    cache_dir: Path | None = None,
) -> tuple[ScanReport, list[str]]:
    """The scan report of a dataset without decoding any image (stat and header sniffing only), and its
    warnings (returned, not logged)."""
    root, default, archive = _open_source(path, cache_dir)
    name = name or default
    listing = list_dataset(root, name, options, strict=strict)
    with ThreadPoolExecutor(max_workers=SCAN_WORKERS) as pool:
        problems = list(pool.map(_sniff, listing.candidates))
    bad = [p for p in problems if p is not None]
    kept = {c for (c, _, _), p in zip(listing.candidates, problems, strict=True) if p is None}
    warnings = list(listing.warnings)
    if bad:
        warnings.append(f"{name}: {len(bad)} file(s) would be skipped as unreadable: {layout_names(bad)}")
    n_classes = len(kept - {None})
    return _report(listing, n_classes, len(listing.candidates) - len(bad), archive, len(bad)), warnings


def load_dataset(
    path: Path | str,
    name: str | None = None,
    *,
    manifest_dirs: list[Path] | None = None,
    options: DatasetOptions | None = None,
    strict: bool = False,
    cache_dir: Path | None = None,
) -> Dataset:
    """Scan the dataset folder or archive at ``path`` (see module docstring). Warnings go through ``log.warn``.

    ``options`` give a labels file and class display names; ``strict`` makes labels-file problems errors;
    ``cache_dir`` is where an archive is extracted (``<cache_dir>/archives/<sha256>``)."""
    root, default, archive = _open_source(path, cache_dir)
    name = name or default
    listing = list_dataset(root, name, options, strict=strict)
    warnings = listing.warnings
    candidates = listing.candidates
    labeled = listing.labeled

    def check(item: tuple[str | None, Path, str]) -> tuple[str | None, Path, str, str, tuple[int, int]] | str:
        cls, file, rel = item
        try:
            data = read_file(file)
            return cls, file, rel, sha256_bytes(data), check_bytes(data, rel)
        except ImageError as exc:
            return f"{name}: skipped {exc}"

    kept: list[tuple[str | None, Path, str, str, tuple[int, int]]] = []
    unreadable = 0
    # Pillow and hashlib release the GIL while decoding/hashing; map() keeps the documented order.
    with ThreadPoolExecutor(max_workers=SCAN_WORKERS) as pool:
        results = pool.map(check, candidates)
        for result in log.progress(results, desc=f"scan {name}", total=len(candidates), unit="img"):
            if isinstance(result, str):
                warnings.append(result)
                unreadable += 1
            else:
                kept.append(result)

    classes: tuple[str, ...] = ()
    if labeled:
        present = {cls for cls, *_ in kept}
        order = list(dict.fromkeys(c for c, _, _ in candidates))
        for cls in order:
            if cls not in present:
                warnings.append(f"{name}: class '{cls}' ignored: none of its images could be read")
        classes = tuple(c for c in order if c in present)  # type: ignore[misc]
    for msg in warnings:
        log.warn(msg)
    if not kept:
        raise DatasetError(
            f"dataset '{name}' ({root}) has no readable image"
            + (f" ({len(candidates)} candidate file(s) failed to decode)" if candidates else "")
            + ". Expected <dataset>/<class>/<image>, a flat folder of images (jpg, png, webp, gif, bmp, tiff) or "
            "a labels file (--labels); `playground datasets inspect PATH` shows how the folder is read."
        )

    index = {c: i for i, c in enumerate(classes)}
    images = tuple(
        ImageRecord(
            id=i, path=file, rel=rel, label=index[cls] if cls is not None else None, sha256=sha, width=w, height=h
        )
        for i, (cls, file, rel, sha, (w, h)) in enumerate(kept)
    )
    digest = hashlib.sha256()
    for rec in images:
        digest.update(unicodedata.normalize("NFC", rec.rel).encode("utf-8") + b"\0" + rec.sha256.encode() + b"\n")
    return Dataset(
        name=name,
        slug=dataset_slug(name),
        root=root,
        images=images,
        classes=classes,
        labeled=labeled,
        content_hash=digest.hexdigest(),
        skipped=tuple(warnings),
        meta=dataset_meta(root, {r.rel for r in images}, manifest_dirs),
        class_names=tuple(listing.display.get(c, "") for c in classes) if listing.display else (),
        report=_report(listing, len(classes), len(images), archive, unreadable),
    )


def discover(datasets_dir: Path) -> list[Path]:
    """Every (non-hidden) subfolder of ``datasets_dir``, sorted by name."""
    datasets_dir = Path(datasets_dir)
    if not datasets_dir.is_dir():
        return []
    return sorted((p for p in datasets_dir.iterdir() if p.is_dir() and not _ignored(p)), key=lambda p: sort_key(p.name))


def resolve(name_or_path: str | Path, datasets_dir: Path) -> Path:
    """A dataset folder from a name under ``datasets_dir``, a folder path or an archive path; a clear error
    otherwise."""
    datasets_dir = Path(datasets_dir)
    text = str(name_or_path)
    candidate = datasets_dir / text
    if "/" not in text and "\\" not in text and candidate.is_dir():
        return candidate
    path = Path(text).expanduser()
    if path.is_dir() or is_archive(path):
        return path
    available = [p.name for p in discover(datasets_dir)]
    fetchable = [n for n in available_manifests(datasets_dir) if n not in available]
    msg = f"unknown dataset '{text}': no folder {candidate} and no folder at that path."
    if text in fetchable:
        raise DatasetError(
            f"dataset '{text}' is not fetched yet: run `playground datasets fetch {text}` "
            f"(or `playground datasets fetch {text} --from DIR` to import a local copy)"
        )
    msg += f" Available in {datasets_dir}: {', '.join(available) if available else '(none)'}"
    if fetchable:
        msg += f"; fetchable: {', '.join(fetchable)}"
    raise DatasetError(msg + ".")


def dataset_json(ds: Any) -> dict[str, Any]:
    """A dataset as the summary and the site's index describe it: names, counts, provenance and how it was read."""
    meta = dict(ds.meta or {})
    return {
        "slug": ds.slug,
        "name": ds.name,
        "labeled": ds.labeled,
        "n_images": len(ds.images),
        "n_classes": len(ds.classes),
        "description": meta.get("description", ""),
        "source": meta.get("source", ""),
        "licence": meta.get("licence", ""),
        "attribution": meta.get("attribution", ""),
        **scan_json(ds),
    }


def scan_json(ds: Any) -> dict[str, Any]:
    """How the dataset was read (``datasets.ScanReport``) for the site's About page and the summary."""
    report = getattr(ds, "report", None)
    if report is None:  # a Dataset built by hand (tests, the built-in generator before a scan)
        return {"skipped": 0, "layout": "", "labels_source": "", "archive": "", "skipped_files": [], "label_rows": []}
    return {
        "skipped": report.n_skipped,
        "layout": report.layout,
        "labels_source": report.labels_source,
        "archive": report.archive,
        "skipped_files": [{"reason": r, "count": n} for r, n in report.skipped],
        "label_rows": [{"problem": w, "count": n} for w, n in report.label_rows],
    }
