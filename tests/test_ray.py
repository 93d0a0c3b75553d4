"""The Ray engine (``--engine ray``) on a local Ray instance writes exactly the local engine's site data and cache."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from precompute import log
from precompute.config import load_config
from precompute.pipeline import run_precompute
from tests.helpers import small_copy

pytestmark = pytest.mark.slow


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_ray_and_local_engines_write_byte_identical_outputs(tmp_path: Path, shared_datasets: Path) -> None:
    ds = [
        small_copy(shared_datasets / "iconic200", tmp_path / "in" / "iconic_small", classes=3, per_class=12),
        small_copy(shared_datasets / "cifar10", tmp_path / "in" / "cifar_small", classes=4, per_class=9),
    ]
    log.configure(quiet=True)
    base = load_config(datasets=tuple(map(str, ds)), models=("mobilenet_075",), weights="random", batch_size=8)
    base = replace(base, layers={"mobilenet_075": ("conv1", "conv_dw_6", "conv_pw_13")})
    local = run_precompute(replace(base, out=tmp_path / "local", engine="local"))
    ray = run_precompute(replace(base, out=tmp_path / "ray", engine="ray"))
    assert local.run["engine"] == "local" and ray.run["engine"] == "ray"
    assert _digest(tmp_path / "ray" / "site" / "data") == _digest(tmp_path / "local" / "site" / "data")
    ray_cache = {k: v for k, v in _digest(tmp_path / "ray" / "cache").items()}
    assert ray_cache == _digest(tmp_path / "local" / "cache")
    assert not (tmp_path / "ray" / "ray").exists() or not any((tmp_path / "ray" / "ray").rglob("*.tmp"))
