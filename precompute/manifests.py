"""Dataset manifests (``datasets/<name>.json``): the exact files of a standard dataset, with checksums.

A manifest lists ``{"rel": "<class>/<file>", "sha256": ..., "url": ...}`` per file plus the dataset's description,
source, licence and attribution. ``fetch`` downloads or imports by them; ``datasets`` reads their display strings.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import FetchError

#: Where the project's own datasets and manifests live (``datasets/`` at the repo root).
PROJECT_DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"


def _safe_rel(rel: Any) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or rel.startswith("/"):
        return False
    parts = PurePosixPath(rel).parts
    return 1 <= len(parts) <= 2 and all(p not in ("", ".", "..") and not p.startswith(".") for p in parts)


def read_manifest(path: Path) -> dict[str, Any]:
    """Parse and validate a manifest file (paths must stay inside the dataset folder)."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FetchError(f"cannot read manifest {path}: {exc}") from exc
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not files:
        raise FetchError(f"manifest {path} has no 'files' list")
    for entry in files:
        if not isinstance(entry, dict) or not _safe_rel(entry.get("rel")):
            raise FetchError(f"manifest {path}: invalid file entry {entry!r} (need a relative 'class/file' path)")
        if not (entry.get("sha256") or entry.get("pixels_sha256")):
            raise FetchError(f"manifest {path}: {entry['rel']} has no sha256")
    manifest.setdefault("name", path.stem)
    return manifest


def manifest_dirs(datasets_dir: Path) -> list[Path]:
    """Where manifests are looked up: the datasets folder, then the project's ``datasets/``."""
    dirs = [Path(datasets_dir)]
    if PROJECT_DATASETS_DIR.resolve() != Path(datasets_dir).resolve():
        dirs.append(PROJECT_DATASETS_DIR)
    return dirs


def available_manifests(datasets_dir: Path) -> list[str]:
    names: set[str] = set()
    for folder in manifest_dirs(datasets_dir):
        if folder.is_dir():
            names |= {p.stem for p in folder.glob("*.json") if p.is_file() and not p.name.startswith(".")}
    return sorted(names)


def load_manifest(name: str, datasets_dir: Path) -> dict[str, Any]:
    for folder in manifest_dirs(datasets_dir):
        path = folder / f"{name}.json"
        if path.is_file():
            return read_manifest(path)
    known = ", ".join(available_manifests(datasets_dir)) or "(none)"
    raise FetchError(
        f"no manifest for dataset '{name}' (looked for {name}.json in "
        f"{', '.join(str(d) for d in manifest_dirs(datasets_dir))}). Fetchable datasets: {known}. "
        "Any folder of <class>/<image> can also be used directly with --datasets PATH."
    )


def manifest_meta(manifest: dict[str, Any]) -> dict[str, str]:
    """The four display strings (description, source, licence, attribution) of a manifest."""
    source = manifest.get("source", "")
    if isinstance(source, dict):
        text = source.get("summary") or ""
        if not text:
            repo, commit = source.get("repo", ""), source.get("commit", "")
            text = f"{repo} @ {commit[:12]}" if commit else repo
        source = text
    return {
        "description": str(manifest.get("description", "")),
        "source": str(source),
        "licence": str(manifest.get("licence", "")),
        "attribution": str(manifest.get("attribution", "")),
    }
