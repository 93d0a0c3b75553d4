"""A dataset given as an archive (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``).

The archive is streamed once into the build cache, ``<cache>/archives/<sha256 of the archive bytes>/``, and read
from there with the same rules as a folder; the next build with the same archive bytes reuses the extraction
(a ``.complete`` marker is written last, so a killed extraction is redone). When everything in the archive sits in
one top folder (the usual "zip of a folder"), that folder is the dataset.

Refused, with the member named (a :class:`DatasetError`; nothing is written outside the cache folder):

- a member whose path would escape the target: absolute (``/x``, ``C:\\x``), with a ``..`` part, or a link
  (symlink or hard link) whose target is absolute or leaves the archive;
- a zip bomb: more than :data:`MAX_MEMBERS` members, more than :data:`MAX_TOTAL_BYTES` uncompressed, or more than
  :data:`MAX_RATIO` times the archive's own size once past :data:`RATIO_FLOOR_BYTES`. Sizes are counted on the
  bytes actually written, not on the sizes the headers claim.

Links that stay inside the archive, devices and FIFOs are not extracted (counted in one warning).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .errors import DatasetError

#: Archive suffixes read as datasets (lower case).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
#: Most members an archive may hold.
MAX_MEMBERS = 1_000_000
#: Most bytes an archive may expand to (all members together).
MAX_TOTAL_BYTES = 64 * 2**30
#: Most expansion ratio (uncompressed / archive bytes) once the output is past ``RATIO_FLOOR_BYTES``: image
#: datasets barely compress (JPEG/PNG/WebP are compressed already), a zip bomb expands thousands of times.
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 32 * 2**20
_CHUNK = 2**20
_IGNORED_TOP = {"__macosx"}


@dataclass(frozen=True)
class Extracted:
    root: Path  # the dataset folder inside the extraction
    name: str  # the dataset's default name: the archive's name without its suffix
    sha256: str
    skipped_links: int  # links/devices not extracted


def is_archive(path: Path) -> bool:
    name = Path(path).name.lower()
    return Path(path).is_file() and name.endswith(ARCHIVE_SUFFIXES)


def archive_stem(path: Path) -> str:
    name = Path(path).name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return Path(path).stem


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_member(name: str, archive: str) -> PurePosixPath | None:
    """The relative path a member extracts to, or None for the archive's own root entry; a path that would escape
    the target is a :class:`DatasetError` naming it."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise DatasetError(f"archive {archive}: member '{name}' has an absolute path; refused (nothing extracted)")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DatasetError(f"archive {archive}: member '{name}' would escape the target folder; refused")
    return PurePosixPath(*parts) if parts else None


class _Budget:
    """Counts what the extraction writes against the zip-bomb limits."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.size = max(1, archive.stat().st_size)
        self.total = 0
        self.members = 0

    def member(self) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise DatasetError(f"archive {self.archive.name} has more than {MAX_MEMBERS:,} members; refused")

    def add(self, n: int) -> None:
        self.total += n
        if self.total > MAX_TOTAL_BYTES:
            raise DatasetError(
                f"archive {self.archive.name} expands past {MAX_TOTAL_BYTES / 2**30:.0f} GiB; refused as a possible "
                "zip bomb"
            )
        if self.total > RATIO_FLOOR_BYTES and self.total > MAX_RATIO * self.size:
            raise DatasetError(
                f"archive {self.archive.name} ({self.size:,} bytes) expands more than {MAX_RATIO}x "
                f"(past {self.total:,} bytes); refused as a possible zip bomb"
            )


def _copy(src: BinaryIO, dest: Path, budget: _Budget) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        while chunk := src.read(_CHUNK):
            budget.add(len(chunk))
            out.write(chunk)


def _link_inside(member: PurePosixPath, target: str, archive: str) -> None:
    text = target.replace("\\", "/")
    parts = [*member.parent.parts]
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise DatasetError(f"archive {archive}: link '{member}' points outside it ({target}); refused")
    for part in text.split("/"):
        if part == "..":
            if not parts:
                raise DatasetError(f"archive {archive}: link '{member}' points outside it ({target}); refused")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)


def _extract_zip(path: Path, dest: Path, budget: _Budget) -> int:
    links = 0
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"archive {path.name} is not a readable zip file ({exc})") from exc
    with zf:
        for info in zf.infolist():
            budget.member()
            rel = safe_member(info.filename, path.name)
            if rel is None:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                _link_inside(rel, zf.read(info).decode("utf-8", "replace"), path.name)
                links += 1
                continue
            if info.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            try:
                with zf.open(info) as src:
                    _copy(src, dest / rel, budget)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise DatasetError(f"archive {path.name}: cannot read member '{info.filename}' ({exc})") from exc
    return links


def _extract_tar(path: Path, dest: Path, budget: _Budget) -> int:
    links = 0
    try:
        tf = tarfile.open(path, mode="r|*")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as exc:
        raise DatasetError(f"archive {path.name} is not a readable tar file ({exc})") from exc
    try:
        with tf:
            for member in tf:
                budget.member()
                rel = safe_member(member.name, path.name)
                if rel is None:
                    continue
                if member.issym() or member.islnk():
                    target = member.linkname
                    if member.islnk():  # a hard link's target is a path from the archive root
                        _link_inside(PurePosixPath("x"), target, path.name)
                    else:
                        _link_inside(rel, target, path.name)
                    links += 1
                    continue
                if member.isdir():
                    (dest / rel).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    links += 1
                    continue
                src = tf.extractfile(member)
                if src is not None:
                    _copy(src, dest / rel, budget)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"archive {path.name}: cannot read it ({exc})") from exc
    return links


def _dataset_root(folder: Path) -> Path:
    entries = [e for e in folder.iterdir() if not e.name.startswith(".") and e.name.lower() not in _IGNORED_TOP]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


@contextmanager
def _fresh(folder: Path) -> Iterator[Path]:
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def extract(path: Path, cache_dir: Path) -> Extracted:
    """Extract the archive at ``path`` into ``cache_dir/archives/<sha256>`` once (see module docstring)."""
    path = Path(path)
    sha = file_sha256(path)
    folder = Path(cache_dir) / "archives" / sha
    marker = folder / ".complete"
    if not marker.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        with _fresh(folder) as tmp:
            budget = _Budget(path)
            content = tmp / "content"
            content.mkdir()
            is_zip = zipfile.is_zipfile(path)
            try:
                links = (_extract_zip if is_zip else _extract_tar)(path, content, budget)
            except OSError as exc:  # e.g. a member that is both a file and a folder
                raise DatasetError(f"archive {path.name}: cannot extract it ({exc.strerror or exc})") from exc
            (tmp / ".complete").write_text(f"{links}\n")
            os.replace(tmp, folder)
    try:
        links = int(marker.read_text().strip() or 0)
    except (OSError, ValueError):
        links = 0
    return Extracted(root=_dataset_root(folder / "content"), name=archive_stem(path), sha256=sha, skipped_links=links)
