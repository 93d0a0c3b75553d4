"""The locked environment: requirements.lock / requirements-dev.lock agree with pyproject.toml and with what is
installed, so `make install` on any day gives the versions the tests ran with."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent


def read_lock(path: Path) -> dict[str, list[tuple[Requirement, int]]]:
    """name -> [(requirement with its marker, number of hashes)], from a `uv pip compile --generate-hashes` file."""
    text = path.read_text(encoding="utf-8")
    out: dict[str, list[tuple[Requirement, int]]] = {}
    # a requirement line, then its `--hash=` continuation lines, then `# via` comments
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        line = entry.split("\\\n", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        out.setdefault(canonicalize_name(req.name), []).append((req, entry.count("--hash=sha256:")))
    return out


def pinned(lock: dict[str, list[tuple[Requirement, int]]], name: str) -> str | None:
    """The version the lock installs for ``name`` on this interpreter (None when its markers exclude it)."""
    for req, _ in lock.get(canonicalize_name(name), []):
        if req.marker is None or req.marker.evaluate():
            (spec,) = req.specifier
            assert spec.operator == "==", req
            return spec.version
    return None


@pytest.fixture(scope="module")
def locks() -> tuple[dict, dict]:
    return read_lock(REPO / "requirements.lock"), read_lock(REPO / "requirements-dev.lock")


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_every_pin_is_exact_and_hashed(locks) -> None:
    for lock in locks:
        assert len(lock) > 40  # the whole environment, not only the direct dependencies
        for entries in lock.values():
            for req, hashes in entries:
                assert [s.operator for s in req.specifier] == ["=="], str(req)
                assert hashes >= 1, f"{req} has no hash"


def test_the_locks_satisfy_pyproject_ranges(locks, project) -> None:
    runtime, dev = locks
    for lock, deps in ((runtime, project["dependencies"]), (dev, project["optional-dependencies"]["dev"])):
        for dep in map(Requirement, deps):
            version = pinned(lock, dep.name)
            assert version is not None, f"{dep.name} is not in the lock: run `make lock`"
            assert dep.specifier.contains(version, prereleases=True), f"lock pins {dep.name}=={version}, not {dep}"


def test_runtime_and_dev_locks_agree_on_every_shared_package(locks) -> None:
    runtime, dev = locks
    assert set(runtime) <= set(dev)
    for name in runtime:
        assert pinned(runtime, name) == pinned(dev, name), name


def test_the_installed_environment_is_the_lock(locks) -> None:
    """`make install-dev` installed exactly requirements-dev.lock (CI's weekly newest-versions job sets
    PLAYGROUND_UNLOCKED=1: it installs without the lock on purpose)."""
    if os.environ.get("PLAYGROUND_UNLOCKED", "").strip() not in ("", "0"):
        pytest.skip("PLAYGROUND_UNLOCKED: this environment installs the newest versions, not the lock")
    _, dev = locks
    wrong = {}
    for name in dev:
        want = pinned(dev, name)
        if want is None:
            continue
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have is None or Version(have) != Version(want):
            wrong[name] = (have, want)
    assert wrong == {}, f"installed != lock (installed, lock): {wrong}; run `make install-dev`"
