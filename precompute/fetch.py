"""Fetching datasets: downloads checked against their manifests (sha256), and ``--from DIR`` imports.

A manifest lists the exact files of a standard dataset: ``{"rel": "<class>/<file>", "sha256": ..., "url": ...}``.
``fetch_dataset`` puts them into ``<datasets_dir>/<name>/<class>/<file>``:

- online: each missing file is downloaded (urllib, 30 s timeout, 2 retries), its sha256 checked, and written
  atomically. Files already present with the right hash are kept, so an interrupted fetch resumes. Before any
  download a connectivity probe (a few seconds at most) makes an offline machine fail fast with one message that
  explains ``--from DIR``. ``PLAYGROUND_OFFLINE=1`` skips the probe and fails at once.
- ``from_dir``: the files are copied from a local folder with the same layout (or its parent), after **every**
  listed file has been verified; a missing or mismatching file is an error naming the files, and nothing is
  written then.

A file matches its entry when the sha256 of its bytes equals ``sha256``, or, for entries that also carry
``pixels_sha256`` (images we encode ourselves, whose encoder bytes may differ between zlib builds), when the
sha256 of its decoded RGB pixel bytes (``H x W x 3`` uint8, row-major) equals ``pixels_sha256``.

CIFAR-10 has no per-image URLs: its manifest has an ``archive`` entry (the official python tarball, with its
md5). The fetcher downloads the tarball, checks the md5, reads ``test_batch`` with an unpickler that only accepts
numpy arrays, turns the listed rows (3x32x32 planar) into HWC PNGs and verifies their pixel hashes. ``--from DIR``
accepts PNG copies or a folder holding ``cifar-10-python.tar.gz`` / ``cifar-10-batches-py/test_batch``.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from precompute import log
from precompute.atomic import write_bytes
from precompute.datasets import discover, list_dataset, meta_from_notes
from precompute.errors import DatasetError, FetchError
from precompute.images import ImageError, decode
from precompute.manifests import available_manifests, load_manifest, manifest_meta
from precompute.network import probe

DOWNLOAD_TIMEOUT = 30.0
RETRIES = 2
RETRY_BACKOFF = 1.0  # seconds, times the attempt number
WORKERS = 8  # parallel downloads (I/O bound)
USER_AGENT = "convnet-playground-fetch/0.1 (+https://github.com/)"


# --- verification ------------------------------------------------------------------------------------------


def pixels_sha256(data: bytes, label: str = "image") -> tuple[str, tuple[int, int]]:
    """sha256 of the decoded RGB pixel bytes and the ``(width, height)``; raises ``ImageError``."""
    im = decode(data, label)
    return hashlib.sha256(im.tobytes()).hexdigest(), im.size


def check_entry(data: bytes, entry: dict[str, Any]) -> str | None:
    """None when ``data`` matches the manifest entry, else a short reason."""
    actual = hashlib.sha256(data).hexdigest()
    if entry.get("sha256") == actual:
        return None
    if entry.get("pixels_sha256"):
        try:
            pix, size = pixels_sha256(data, entry["rel"])
        except ImageError as exc:
            return f"not a readable image ({exc})"
        if pix == entry["pixels_sha256"]:
            return None
        return f"pixel checksum mismatch (got {pix[:12]}..., expected {entry['pixels_sha256'][:12]}..., size {size})"
    return f"checksum mismatch (sha256 {actual[:12]}..., expected {str(entry.get('sha256'))[:12]}...)"


def _present_ok(path: Path, entry: dict[str, Any]) -> bool:
    try:
        return path.is_file() and check_entry(path.read_bytes(), entry) is None
    except OSError:
        return False


def _problem_list(problems: list[str], limit: int = 20) -> str:
    lines = problems[:limit] + ([f"... and {len(problems) - limit} more"] if len(problems) > limit else [])
    return "\n  " + "\n  ".join(lines)


# --- connectivity ------------------------------------------------------------------------------------------


def _offline_message(name: str, reason: str) -> str:
    return (
        f"cannot download dataset '{name}': no network ({reason}). To import a local copy instead, run "
        f"`playground datasets fetch {name} --from DIR`, where DIR holds the {name} files as <class>/<file> "
        f"(DIR may also be their parent folder); every file is checked against the manifest's sha256."
    )


def _download(url: str, entry: dict[str, Any] | None = None) -> bytes:
    """GET ``url`` with retries; when ``entry`` is given a checksum mismatch is retried too."""
    last = ""
    for attempt in range(RETRIES + 1):
        if attempt:
            time.sleep(RETRY_BACKOFF * attempt)
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT) as resp:
                data = resp.read()
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if exc.code in (401, 403, 404, 410):
                break
            continue
        except (urllib.error.URLError, OSError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            continue
        if entry is None:
            return data
        problem = check_entry(data, entry)
        if problem is None:
            return data
        last = problem
    raise FetchError(f"{url}: {last}")


# --- CIFAR-10 python batches -------------------------------------------------------------------------------


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only (a CIFAR batch), never arbitrary callables."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")


def cifar_rows(batch: bytes) -> np.ndarray:
    """Decode a CIFAR-10 python batch to ``N x 32 x 32 x 3`` uint8 (rows are 3x32x32 planar, R then G then B)."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(batch), encoding="latin1").load()
    except Exception as exc:
        raise FetchError(f"not a readable CIFAR-10 batch file ({type(exc).__name__}: {exc})") from exc
    data = obj.get("data", obj.get(b"data")) if isinstance(obj, dict) else None
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        raise FetchError("not a CIFAR-10 batch file: no N x 3072 'data' array")
    return np.ascontiguousarray(data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "PNG")
    return buf.getvalue()


def _md5(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def _batch_from_tarball(path: Path, archive: dict[str, Any]) -> bytes:
    if archive.get("md5") and _md5(path) != archive["md5"]:
        raise FetchError(f"{path}: md5 does not match the official archive ({archive['md5']}); delete it and retry")
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.extractfile(archive["member"])
            if member is None:
                raise KeyError(archive["member"])
            return member.read()
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise FetchError(f"{path}: cannot read {archive['member']} from the archive ({exc})") from exc


def _write_from_batch(name: str, batch: bytes, dest: Path, missing: list[dict[str, Any]]) -> None:
    rows = cifar_rows(batch)
    problems: list[str] = []
    encoded: list[tuple[dict[str, Any], bytes]] = []
    for entry in missing:
        index = int(entry["index"])
        if not 0 <= index < len(rows):
            problems.append(f"{entry['rel']}: row {index} not in the batch ({len(rows)} rows)")
            continue
        data = _png_bytes(rows[index])
        problem = check_entry(data, entry)
        if problem:
            problems.append(f"{entry['rel']}: {problem}")
        encoded.append((entry, data))
    if problems:
        raise FetchError(f"{name}: the CIFAR-10 batch does not give the listed images:{_problem_list(problems)}")
    for entry, data in encoded:
        write_bytes(dest / entry["rel"], data)


def _fetch_archive(name: str, manifest: dict[str, Any], dest: Path, missing: list[dict[str, Any]]) -> None:
    archive = manifest["archive"]
    reason = probe([archive["url"]])
    if reason:
        raise FetchError(_offline_message(name, reason))
    # inside the (git-ignored) dataset folder; hidden, so a scan never sees it
    part = dest / f".{Path(urllib.parse.urlparse(archive['url']).path).name}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        req = urllib.request.Request(archive["url"], headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            bar = log.bar(desc=f"download {name}", total=total, unit="B")
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
                bar.update(len(chunk))
            bar.close()
        batch = _batch_from_tarball(part, archive)
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"{name}: download of {archive['url']} failed ({exc}); run the command again") from exc
    finally:
        part.unlink(missing_ok=True)
    _write_from_batch(name, batch, dest, missing)


def _local_batch(src: Path, archive: dict[str, Any]) -> bytes | None:
    tarball = src / Path(urllib.parse.urlparse(archive["url"]).path).name
    if tarball.is_file():
        return _batch_from_tarball(tarball, archive)
    member = PurePosixPath(archive["member"])
    for candidate in (src / member, src / member.name):
        if candidate.is_file():
            return candidate.read_bytes()
    return None


# --- fetch / import ----------------------------------------------------------------------------------------


def _import_from(name: str, manifest: dict[str, Any], src: Path, dest: Path, missing: list[dict[str, Any]]) -> None:
    files = manifest["files"]
    if not src.is_dir():
        raise FetchError(f"--from {src}: not a folder")
    if (src / name).is_dir() and not any((src / f["rel"]).is_file() for f in files):
        src = src / name
    if manifest.get("archive") and not any((src / f["rel"]).is_file() for f in files):
        batch = _local_batch(src, manifest["archive"])
        if batch is not None:
            _write_from_batch(name, batch, dest, missing)
            return
    problems: list[str] = []
    for entry in log.progress(files, desc=f"verify {name}", total=len(files), unit="file"):
        path = src / entry["rel"]
        if not path.is_file():
            problems.append(f"{entry['rel']}: missing")
            continue
        problem = check_entry(path.read_bytes(), entry)
        if problem:
            problems.append(f"{entry['rel']}: {problem}")
    if problems:
        raise FetchError(
            f"cannot import '{name}' from {src}: {len(problems)} of {len(files)} file(s) do not match the manifest "
            f"(nothing was copied):{_problem_list(problems)}"
        )
    for entry in log.progress(missing, desc=f"import {name}", total=len(missing), unit="file"):
        data = (src / entry["rel"]).read_bytes()
        if check_entry(data, entry) is not None:  # changed between the two passes
            raise FetchError(f"{src / entry['rel']} changed while importing; run the command again")
        write_bytes(dest / entry["rel"], data)


def _download_files(name: str, dest: Path, missing: list[dict[str, Any]]) -> None:
    reason = probe([e["url"] for e in missing])
    if reason:
        raise FetchError(_offline_message(name, reason))
    failures: list[str] = []
    bar = log.bar(desc=f"fetch {name}", total=len(missing), unit="img")

    def one(entry: dict[str, Any]) -> None:
        try:
            write_bytes(dest / entry["rel"], _download(entry["url"], entry))
        except FetchError as exc:
            failures.append(f"{entry['rel']}: {exc}")
        finally:
            bar.update(1)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(one, missing))
    bar.close()
    if failures:
        raise FetchError(
            f"{len(failures)} of {len(missing)} file(s) of '{name}' could not be downloaded (the others are in "
            f"{dest}; run the same command again to resume):{_problem_list(sorted(failures))}"
        )


def fetch_dataset(name: str, datasets_dir: Path, from_dir: Path | None = None) -> Path:
    """Make ``<datasets_dir>/<name>`` hold every file of the manifest, verified; return that folder.

    Files already present with the right checksum are kept (resumable). ``from_dir`` imports a local copy
    instead of downloading. Raises :class:`FetchError` with what to do.
    """
    manifest = load_manifest(name, datasets_dir)
    dest = Path(datasets_dir) / name
    files = manifest["files"]
    missing = [e for e in files if not _present_ok(dest / e["rel"], e)]
    if not missing:
        log.info(f"{name}: all {len(files)} files present and verified in {dest}")
        return dest
    if from_dir is not None:
        _import_from(name, manifest, Path(from_dir).expanduser(), dest, missing)
    elif manifest.get("archive"):
        _fetch_archive(name, manifest, dest, missing)
    else:
        _download_files(name, dest, missing)
    log.info(f"{name}: {len(files)} files verified in {dest} ({len(missing)} new)")
    return dest


def _count_images(folder: Path) -> tuple[int, int]:
    """(image files, classes) by file name only, without decoding (for listings)."""
    if not folder.is_dir():
        return 0, 0
    try:
        listing = list_dataset(folder, folder.name)
    except DatasetError:
        return 0, 0
    classes = {c for c, _, _ in listing.candidates} if listing.labeled else set()
    return len(listing.candidates), len(classes)


def list_datasets(datasets_dir: Path) -> list[dict[str, Any]]:
    """Rows for ``playground datasets list``: every manifest and every folder in ``datasets_dir``.

    Each row: ``name``, ``status`` (``ready`` | ``partial`` | ``not fetched`` | ``custom folder``), ``images``
    (verified files for manifest datasets, image files for custom folders), ``expected`` (manifest file count or
    None), ``classes``, ``source``, ``path``.
    """
    datasets_dir = Path(datasets_dir)
    folders = {p.name: p for p in discover(datasets_dir)}
    manifests = set(available_manifests(datasets_dir))
    rows = []
    for name in sorted(folders.keys() | manifests):
        folder = folders.get(name, datasets_dir / name)
        if name in manifests:
            manifest = load_manifest(name, datasets_dir)
            files = manifest["files"]
            ok = sum(_present_ok(folder / e["rel"], e) for e in files)
            if ok == len(files):
                status = "ready"
            elif ok == 0 and _count_images(folder)[0] == 0:
                status = "not fetched"
            else:
                status = "partial"
            n_classes = len(manifest.get("classes") or {PurePosixPath(e["rel"]).parent for e in files})
            rows.append(
                {
                    "name": name,
                    "status": status,
                    "images": ok,
                    "expected": len(files),
                    "classes": n_classes,
                    "source": manifest_meta(manifest)["source"],
                    "path": str(folder),
                }
            )
        else:
            images, classes = _count_images(folder)
            rows.append(
                {
                    "name": name,
                    "status": "custom folder",
                    "images": images,
                    "expected": None,
                    "classes": classes,
                    "source": meta_from_notes(folder).get("description", ""),
                    "path": str(folder),
                }
            )
    return rows


def make_manifest(folder: Path, name: str | None = None, url_base: str | None = None, **meta: Any) -> dict[str, Any]:
    """A manifest for the dataset folder ``folder`` (readable images only), for adding a fetchable dataset.

    ``url_base`` + the URL-quoted rel path gives each file's URL; ``meta`` adds description/source/licence/...
    """
    from precompute.datasets import load_dataset

    ds = load_dataset(folder, name, manifest_dirs=[])
    files = []
    for rec in ds.images:
        entry: dict[str, Any] = {"rel": rec.rel, "sha256": rec.sha256}
        if url_base:
            entry["url"] = url_base.rstrip("/") + "/" + urllib.parse.quote(rec.rel)
        files.append(entry)
    return {"name": ds.name, "classes": list(ds.classes), **meta, "files": files}
