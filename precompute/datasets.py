"""Dataset discovery and scanning: ``Dataset``, ``ImageRecord``, stable ids, content hash.

Layout rules (documented for users in ``datasets/README.md``):

- A folder whose subfolders contain images is a **labelled** dataset: each subfolder is a class
  (``<name>/<class>/<image>``). Images directly in the top folder are then ignored with one warning (class
  folders win); folders nested inside a class folder are ignored with a warning.
- A folder with images and no such subfolders is an **unlabelled** dataset (``labeled=False``, ``classes=()``,
  every ``label`` is ``None``).
- Hidden entries (``.DS_Store``, ``._*``, ``.git``...), ``__MACOSX``, ``Thumbs.db``/``desktop.ini`` and notes
  named README/SOURCE/LICENSE/LICENCE/NOTICE/ATTRIBUTION/CITATION (any non-image extension) are ignored
  silently. Other files without an image extension are ignored with one warning per dataset.
- Every candidate file is read and decoded once at scan time (:func:`precompute.images.check_bytes`); an
  unreadable one is skipped with one warning naming it. A class folder left without a readable image is
  ignored with a warning. No readable image at all is a :class:`DatasetError`.

Ids: images are sorted by class name, then file name, each compared as Python strings of the NFC-normalised
name (Unicode code-point order: case-sensitive, independent of locale and platform; ``"10.jpg"`` sorts before
``"2.jpg"``), the raw name breaking ties; ids are 0-based positions in that order.

``content_hash`` is a sha256 over ``(rel path, file sha256)`` of the kept images in id order, so renaming,
editing, adding or removing an image changes it. There is no scan cache: a scan reads every byte anyway (for the
file hashes), decoding is cheap (JPEGs are checked at 1/8 DCT scale) and runs on a small thread pool.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from precompute import log
from precompute.errors import DatasetError
from precompute.images import (
    ImageError,
    check_bytes,
    is_image_name,
    read_file,
    sha256_bytes,
)
from precompute.manifests import PROJECT_DATASETS_DIR, available_manifests, manifest_meta, read_manifest
from precompute.slugs import slugify

SCAN_WORKERS = min(8, os.cpu_count() or 1)

_IGNORED_NAMES = {"__macosx", "thumbs.db", "desktop.ini"}
_NOTE_STEMS = {"readme", "source", "license", "licence", "notice", "attribution", "citation", "credits"}
META_KEYS = ("description", "source", "licence", "attribution")


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

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> list[int | None]:
        return [r.label for r in self.images]


def sort_key(name: str) -> tuple[str, str]:
    """The documented, platform-independent order of class and file names."""
    return unicodedata.normalize("NFC", name), name


def _ignored(entry: Path) -> bool:
    """Entries skipped silently: hidden files, OS metadata, dataset notes."""
    name = entry.name
    if name.startswith(".") or name.lower() in _IGNORED_NAMES:
        return True
    return entry.is_file() and entry.stem.lower() in _NOTE_STEMS and not is_image_name(name)


def _listdir(folder: Path) -> tuple[list[Path], list[Path]]:
    """(subfolders, files) of ``folder`` in documented order, ignored entries removed."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: sort_key(p.name))
    except OSError as exc:
        raise DatasetError(f"cannot list dataset folder {folder}: {exc.strerror or exc}") from exc
    entries = [e for e in entries if not _ignored(e)]
    return [e for e in entries if e.is_dir()], [e for e in entries if e.is_file()]


def _names(paths: list[Path], root: Path, limit: int = 5) -> str:
    shown = ", ".join(p.relative_to(root).as_posix() for p in paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")


def list_candidates(root: Path, name: str, warnings: list[str]) -> tuple[bool, list[tuple[str | None, Path]]]:
    """Decide labelled/unlabelled and list ``(class or None, file)`` candidates in id order."""
    subdirs, files = _listdir(root)
    class_files: list[tuple[Path, list[Path], list[Path], list[Path]]] = []
    for sub in subdirs:
        nested, inner = _listdir(sub)
        images = [f for f in inner if is_image_name(f.name)]
        others = [f for f in inner if not is_image_name(f.name)]
        class_files.append((sub, images, others, nested))
    labeled = any(images for _, images, _, _ in class_files)
    non_images: list[Path] = [f for f in files if not is_image_name(f.name)]
    out: list[tuple[str | None, Path]] = []
    if labeled:
        loose = [f for f in files if is_image_name(f.name)]
        if loose:
            warnings.append(
                f"{name}: {len(loose)} image(s) at the top level ignored because the folder has class "
                f"subfolders: {_names(loose, root)}"
            )
        for sub, images, others, nested in class_files:
            non_images += others
            if nested:
                warnings.append(f"{name}: nested folder(s) inside class '{sub.name}' ignored: {_names(nested, root)}")
            if not images:
                warnings.append(f"{name}: empty class folder '{sub.name}' ignored (no image files)")
                continue
            out += [(sub.name, f) for f in images]
    else:
        for sub, _, _, _ in class_files:
            warnings.append(f"{name}: empty folder '{sub.name}' ignored (no image files)")
        out = [(None, f) for f in files if is_image_name(f.name)]
    if non_images:
        warnings.append(f"{name}: {len(non_images)} non-image file(s) ignored: {_names(non_images, root)}")
    return labeled, out


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


def load_dataset(path: Path | str, name: str | None = None, *, manifest_dirs: list[Path] | None = None) -> Dataset:
    """Scan the dataset folder at ``path`` (see module docstring). Warnings go through ``log.warn``."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    name = name or root.resolve().name
    warnings: list[str] = []
    labeled, candidates = list_candidates(root, name, warnings)

    def check(item: tuple[str | None, Path]) -> tuple[str | None, Path, str, str, tuple[int, int]] | str:
        cls, file = item
        rel = file.relative_to(root).as_posix()
        try:
            data = read_file(file)
            return cls, file, rel, sha256_bytes(data), check_bytes(data, rel)
        except ImageError as exc:
            return f"{name}: skipped {exc}"

    kept: list[tuple[str | None, Path, str, str, tuple[int, int]]] = []
    # Pillow and hashlib release the GIL while decoding/hashing; map() keeps the documented order.
    with ThreadPoolExecutor(max_workers=SCAN_WORKERS) as pool:
        results = pool.map(check, candidates)
        for result in log.progress(results, desc=f"scan {name}", total=len(candidates), unit="img"):
            if isinstance(result, str):
                warnings.append(result)
            else:
                kept.append(result)

    classes: tuple[str, ...] = ()
    if labeled:
        present = {cls for cls, *_ in kept}
        for cls in dict.fromkeys(c for c, _ in candidates):
            if cls not in present:
                warnings.append(f"{name}: class '{cls}' ignored: none of its images could be read")
        classes = tuple(c for c in dict.fromkeys(c for c, _ in candidates) if c in present)
    for msg in warnings:
        log.warn(msg)
    if not kept:
        raise DatasetError(
            f"dataset '{name}' ({root}) has no readable image"
            + (f" ({len(candidates)} candidate file(s) failed to decode)" if candidates else "")
            + ". Expected <dataset>/<class>/<image> or a flat folder of images (jpg, png, webp, gif, bmp, tiff)."
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
        slug=slugify(name),
        root=root,
        images=images,
        classes=classes,
        labeled=labeled,
        content_hash=digest.hexdigest(),
        skipped=tuple(warnings),
        meta=dataset_meta(root, {r.rel for r in images}, manifest_dirs),
    )


def discover(datasets_dir: Path) -> list[Path]:
    """Every (non-hidden) subfolder of ``datasets_dir``, sorted by name."""
    datasets_dir = Path(datasets_dir)
    if not datasets_dir.is_dir():
        return []
    return sorted((p for p in datasets_dir.iterdir() if p.is_dir() and not _ignored(p)), key=lambda p: sort_key(p.name))


def resolve(name_or_path: str | Path, datasets_dir: Path) -> Path:
    """A dataset folder from a name under ``datasets_dir`` or a folder path; a clear error otherwise."""
    datasets_dir = Path(datasets_dir)
    text = str(name_or_path)
    candidate = datasets_dir / text
    if "/" not in text and "\\" not in text and candidate.is_dir():
        return candidate
    path = Path(text).expanduser()
    if path.is_dir():
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
