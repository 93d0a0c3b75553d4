"""How a dataset folder is read: its layout, where its labels come from, and which files are skipped and why.

Three layouts (documented for users in ``datasets/README.md``):

- **class folders**: ``<dataset>/<class>/**/<image>``. Each top-level subfolder is a class; its images may sit at
  any depth below it (``train/<wnid>/images/*.JPEG``), as Keras' ``image_dataset_from_directory`` and
  torchvision's ``ImageFolder`` read them. Symlinked folders are followed, each real folder once per class (a
  symlink loop is detected and counted, never followed twice).
- **flat**: images directly in the folder and no subfolder with images: unlabelled.
- **labels file**: ``--labels FILE`` (``[datasets.NAME] labels``) or a ``metadata.csv``/``metadata.jsonl`` with a
  ``file_name`` column at the dataset's root (Hugging Face ``imagefolder``): every image anywhere under the folder,
  labelled by its row. The file column holds a path relative to the dataset, a file name, or a file stem (Kaggle's
  ``styles.csv`` ``id``).

Ids are sorted by class, then by the path inside the class folder (the path inside the dataset for a labels file),
compared part by part with :func:`sort_key`; for ``<class>/<image>`` this is the original order.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DatasetError
from .images import is_image_name
from .labels import AUTO_METADATA, read_class_names, read_rows

_IGNORED_NAMES = {"__macosx", "thumbs.db", "desktop.ini"}
_NOTE_STEMS = {"readme", "source", "license", "licence", "notice", "attribution", "citation", "credits"}
EXAMPLES = 5

# Reasons a file is skipped (the keys of ScanReport.skipped), in the order they are reported.
NOT_IMAGE = "not an image file"
UNREADABLE = "unreadable image"
LOOSE = "image beside the class folders"
NO_ROW = "no row in the labels file"
EMPTY_LABEL = "empty label"
LOOP = "symlink loop or repeated folder"
REASONS = (NOT_IMAGE, UNREADABLE, LOOSE, NO_ROW, EMPTY_LABEL, LOOP)


def sort_key(name: str) -> tuple[str, str]:
    """The documented, platform-independent order of class and file names."""
    return unicodedata.normalize("NFC", name), name


def path_key(rel: str) -> tuple[tuple[str, str], ...]:
    return tuple(sort_key(part) for part in rel.split("/"))


def ignored(name: str, is_file: bool) -> bool:
    """Entries skipped silently: hidden files, OS metadata, dataset notes."""
    if name.startswith(".") or name.lower() in _IGNORED_NAMES:
        return True
    return is_file and Path(name).stem.lower() in _NOTE_STEMS and not is_image_name(name)


def names(rels: list[str], limit: int = EXAMPLES) -> str:
    shown = ", ".join(rels[:limit])
    return shown + (f" (+{len(rels) - limit:,} more)" if len(rels) > limit else "")


@dataclass
class Listing:
    """What a scan found before any image is read: candidates in id order and what was left out."""

    layout: str
    labels_source: str
    labeled: bool
    candidates: list[tuple[str | None, Path, str]]  # (class or None, file, rel path inside the dataset)
    warnings: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    label_rows: dict[str, int] = field(default_factory=dict)  # labels-file problems: what -> rows
    display: dict[str, str] = field(default_factory=dict)  # class id -> display name


def walk(top: Path) -> tuple[list[Path], int]:
    """Every non-ignored file under ``top`` (symlinks followed, each real folder once), and how many folders were
    skipped as a loop or a repeat."""
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()
    repeats = 0
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            repeats += 1  # a dangling link
            continue
        if (st.st_dev, st.st_ino) in seen:
            repeats += 1
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: sort_key(e.name))
        except OSError as exc:
            raise DatasetError(f"cannot list dataset folder {folder}: {exc.strerror or exc}") from exc
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if ignored(entry.name, is_file):
                continue
            if is_dir:
                subdirs.append(Path(entry.path))
            elif is_file:
                files.append(Path(entry.path))
        stack.extend(reversed(subdirs))
    return files, repeats


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _top_level(root: Path) -> tuple[list[Path], list[Path]]:
    try:
        entries = sorted(root.iterdir(), key=lambda p: sort_key(p.name))
    except OSError as exc:
        raise DatasetError(f"cannot list dataset folder {root}: {exc.strerror or exc}") from exc
    entries = [e for e in entries if not ignored(e.name, e.is_file())]
    return [e for e in entries if e.is_dir()], [e for e in entries if e.is_file()]


def list_folders(root: Path, name: str, exclude: set[Path]) -> Listing:
    """The class-folder and flat layouts."""
    subdirs, files = _top_level(root)
    per_class: list[tuple[Path, list[Path], list[Path], int]] = []
    for sub in subdirs:
        inner, repeats = walk(sub)
        per_class.append(
            (sub, [f for f in inner if is_image_name(f.name)], [f for f in inner if not is_image_name(f.name)], repeats)
        )
    labeled = any(images for _, images, _, _ in per_class)
    non_images = [f for f in files if not is_image_name(f.name) and f not in exclude]
    out = Listing(layout="flat (unlabelled)", labels_source="none", labeled=labeled, candidates=[])
    if labeled:
        nested = any(f.parent != sub for sub, images, _, _ in per_class for f in images)
        out.layout = "nested class folders" if nested else "class folders"
        out.labels_source = "folder names"
        loose = [f for f in files if is_image_name(f.name)]
        if loose:
            out.skipped[LOOSE] += len(loose)
            out.warnings.append(
                f"{name}: {len(loose)} image(s) at the top level ignored because the folder has class "
                f"subfolders: {names([_rel(f, root) for f in loose])}"
            )
        loops = 0
        for sub, images, others, repeats in per_class:
            non_images += others
            loops += repeats
            if not images:
                out.warnings.append(f"{name}: empty class folder '{sub.name}' ignored (no image files)")
                continue
            inside = sorted(((_rel(f, sub), f) for f in images), key=lambda x: path_key(x[0]))
            out.candidates += [(sub.name, f, _rel(f, root)) for _, f in inside]
        if loops:
            out.skipped[LOOP] += loops
            out.warnings.append(f"{name}: {loops} symlinked folder(s) skipped: a loop, or a folder already read")
    else:
        for sub, _, others, _ in per_class:
            non_images += others
            out.warnings.append(f"{name}: empty folder '{sub.name}' ignored (no image files)")
        out.candidates = [(None, f, f.name) for f in files if is_image_name(f.name)]
    _non_images(out, non_images, root, name)
    return out


def _non_images(out: Listing, files: list[Path], root: Path, name: str) -> None:
    if files:
        out.skipped[NOT_IMAGE] += len(files)
        out.warnings.append(f"{name}: {len(files)} non-image file(s) ignored: {names([_rel(f, root) for f in files])}")


class _Examples:
    """A count and the first few examples of one kind of labels-file problem."""

    def __init__(self) -> None:
        self.n = 0
        self.shown: list[str] = []

    def add(self, text: str) -> None:
        self.n += 1
        if len(self.shown) < EXAMPLES:
            self.shown.append(text)

    def text(self) -> str:
        return ", ".join(self.shown) + (f" (+{self.n - len(self.shown):,} more)" if self.n > len(self.shown) else "")


def find_metadata(root: Path) -> Path | None:
    """A Hugging Face ``metadata.csv``/``metadata.jsonl`` at the dataset's root."""
    return next((root / n for n in AUTO_METADATA if (root / n).is_file()), None)


def list_labelled(
    root: Path,
    name: str,
    labels: Path,
    file_column: str | None,
    label_column: str | None,
    strict: bool,
    exclude: set[Path],
) -> Listing:
    """The labels-file layout (see module docstring)."""
    files, repeats = walk(root)
    images = [f for f in files if is_image_name(f.name)]
    others = [f for f in files if not is_image_name(f.name) and f not in exclude]
    by_rel: dict[str, str] = {}
    by_name: dict[str, list[str]] = defaultdict(list)
    paths: dict[str, Path] = {}
    for f in images:
        rel = _rel(f, root)
        paths[rel] = f
        by_rel[unicodedata.normalize("NFC", rel)] = rel
        by_name[unicodedata.normalize("NFC", f.name)].append(rel)
        stem = unicodedata.normalize("NFC", f.stem)
        if stem != f.name:
            by_name[stem].append(rel)
    label_of: dict[str, str] = {}
    empty: set[str] = set()
    missing, ambiguous, dupes, blank, bad = (_Examples() for _ in range(5))
    conflicts = 0
    for row in read_rows(labels, file_column, label_column):
        if not row.file:
            bad.add(f"line {row.line}")
            continue
        key = unicodedata.normalize("NFC", row.file.replace("\\", "/").removeprefix("./"))
        rel = by_rel.get(key)
        if rel is None:
            hits = by_name.get(key, []) if "/" not in key else []
            if len(hits) > 1:
                ambiguous.add(f"{row.file!r} ({len(hits)} files)")
                continue
            if not hits:
                missing.add(repr(row.file))
                continue
            rel = hits[0]
        if rel in label_of or rel in empty:
            dupes.add(repr(row.file))
            if rel in label_of and row.label is not None and row.label != label_of[rel]:
                conflicts += 1
            continue
        if row.label is None or not row.label.strip():
            empty.add(rel)
            blank.add(f"line {row.line} ({row.file!r})")
            continue
        label_of[rel] = row.label
    no_row = [rel for rel in paths if rel not in label_of and rel not in empty]
    source = f"{labels.name} ({file_column or 'file_name'} -> {label_column or 'label'})"
    out = Listing(layout="labels file", labels_source=source, labeled=True, candidates=[])
    problems: list[str] = []
    where = labels.name
    if missing.n:
        problems.append(f"{missing.n:,} row(s) of {where} name a file that is not in the dataset: {missing.text()}")
        out.label_rows["rows naming a missing file"] = missing.n
    if ambiguous.n:
        problems.append(f"{ambiguous.n:,} row(s) of {where} match several files (skipped): {ambiguous.text()}")
        out.label_rows["rows matching several files"] = ambiguous.n
    if dupes.n:
        extra = f" ({conflicts:,} with a different label)" if conflicts else ""
        problems.append(f"{dupes.n:,} duplicate row(s) in {where}{extra}, the first row kept: {dupes.text()}")
        out.label_rows["duplicate rows"] = dupes.n
    if blank.n:
        problems.append(f"{blank.n:,} row(s) of {where} have an empty label (their images skipped): {blank.text()}")
        out.label_rows["rows with an empty label"] = blank.n
        out.skipped[EMPTY_LABEL] += blank.n
    if bad.n:
        problems.append(f"{bad.n:,} row(s) of {where} have no file name or cannot be read: {bad.text()}")
        out.label_rows["unreadable rows"] = bad.n
    if no_row:
        no_row.sort(key=path_key)
        problems.append(f"{len(no_row):,} image(s) have no row in {where} (skipped): {names(no_row)}")
        out.skipped[NO_ROW] += len(no_row)
    if strict and problems:
        raise DatasetError(f"--strict: dataset '{name}': " + "; ".join(problems))
    out.warnings += [f"{name}: {p}" for p in problems]
    _case_clashes(out, set(label_of.values()), name)
    if repeats:
        out.skipped[LOOP] += repeats
        out.warnings.append(f"{name}: {repeats} symlinked folder(s) skipped: a loop, or a folder already read")
    _non_images(out, others, root, name)
    out.candidates = [
        (label, paths[rel], rel)
        for rel, label in sorted(label_of.items(), key=lambda x: (sort_key(x[1]), path_key(x[0])))
    ]
    return out


def _case_clashes(out: Listing, labels: set[str], name: str) -> None:
    groups: dict[str, list[str]] = defaultdict(list)
    for label in labels:
        groups[" ".join(label.split()).casefold()].append(label)
    clashes = [sorted(g, key=sort_key) for g in groups.values() if len(g) > 1]
    if clashes:
        clashes.sort()
        shown = "; ".join(" / ".join(repr(x) for x in g) for g in clashes[:EXAMPLES])
        more = f" (+{len(clashes) - EXAMPLES} more)" if len(clashes) > EXAMPLES else ""
        out.warnings.append(
            f"{name}: {len(clashes)} group(s) of labels differ only by case or whitespace and are kept as separate "
            f"classes: {shown}{more}"
        )


def apply_class_names(out: Listing, path: Path, name: str) -> None:
    """Display names for the classes from an ``id<TAB>name`` file; ids stay the class names."""
    mapping, bad = read_class_names(path)
    classes = list(dict.fromkeys(c for c, _, _ in out.candidates if c is not None))
    out.display = {c: mapping[c] for c in classes if c in mapping}
    unnamed = [c for c in classes if c not in mapping]
    if classes and not out.display:
        out.warnings.append(f"{name}: the class-names file {path.name} names none of the {len(classes)} classes")
    elif unnamed:
        out.warnings.append(
            f"{name}: {len(unnamed)} class(es) have no display name in {path.name} (their id is shown): "
            f"{names(sorted(unnamed, key=sort_key))}"
        )
    if bad:
        out.warnings.append(f"{name}: {bad} line(s) of {path.name} are not 'id<TAB>name' (ignored)")
