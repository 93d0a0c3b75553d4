"""The README's promises about whole runs, each checked in separate processes as a user runs them:

* a build killed with SIGKILL in the middle of a write, at every kind of write (each cache kind, the site files,
  the Model Explorer's checkpoints, the rendered pages), resumes without redoing what was finished, and the result
  is byte for byte the uninterrupted build's, with no temporary file left behind;
* a no-op rebuild imports no TensorFlow (nor Keras) and writes nothing anywhere in the build folder (same inodes
  and mtimes);
* two separate builds give byte-identical outputs (site, cache, feature visualizations); only summary.json's
  ``run`` block differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import small_copy

pytestmark = pytest.mark.slow

ARGS = (
    "--models",
    "mobilenet_075",
    "--weights",
    "random",
    "--metrics",
    "cosine,euclidean,minkowski",
    "--pooling",
    "avg,grid2",
    "-q",
)


def _config(tmp: Path) -> Path:
    """Two layers of MobileNet(alpha=0.75) keep the runs short; everything else is the default build."""
    cfg = tmp / "p.toml"
    cfg.write_text(
        '[layers]\nmobilenet_075 = ["conv1", "conv_dw_6", "conv_pw_13"]\n[featurevis.quick]\n'
        "channels = 2\nsteps = 4\nsize = 32\n"
    )
    return cfg


def _cmd(cfg: Path, stage: str, out: Path, datasets: list[Path], *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "precompute.cli",
        "--config",
        str(cfg),
        stage,
        "--datasets",
        ",".join(map(str, datasets)),
        "--out",
        str(out),
        *ARGS,
        *extra,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("resume")
    ds = [
        small_copy(shared_datasets / "iconic200", root / "in" / "iconic_small", classes=3, per_class=8),
        small_copy(shared_datasets / "fashion200", root / "in" / "fashion_small", classes=3, per_class=8),
    ]
    return _config(root), ds


@pytest.fixture(scope="module")
def reference(inputs: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted precompute."""
    cfg, ds = inputs
    out = tmp_path_factory.mktemp("ref") / "o"
    subprocess.run(_cmd(cfg, "precompute", out, ds), check=True, env=_env(), capture_output=True)
    return out


def state(root: Path) -> dict[str, tuple[int, int]]:
    """Every finished file under ``root``: (inode, mtime). A file rewritten or recomputed gets a new inode."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".tmp")
    }


def _killed_at(cmd: list[str], fragment: str, out: Path) -> None:
    """Run ``cmd`` with ``PLAYGROUND_KILL_AT=fragment`` (``precompute/atomic.py``): the whole build (its view
    workers too) is SIGKILLed by its first write to a path containing ``fragment``, after that file's temp file is
    written and before it is moved into place. Then check that it really was interrupted there, and that every file
    finished before this run is still the same file (same inode and mtime: nothing finished was redone)."""
    before = state(out) if out.exists() else {}
    proc = subprocess.run(
        cmd,
        env={**_env(), "PLAYGROUND_KILL_AT": fragment},
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,  # its own process group: the kill takes the build and nothing else
    )
    assert proc.returncode == -signal.SIGKILL, f"not killed at {fragment!r} (exit {proc.returncode}): {proc.stderr}"
    torn = [p for p in out.rglob("*.tmp") if fragment in p.parent.joinpath(p.name[1:]).as_posix()]
    assert torn, f"no half-written file at {fragment!r}"
    after = state(out)
    assert {k: after.get(k) for k in before} == before, f"finished files were redone before {fragment!r}"


# The precompute's writes in the order a build makes them: thumbnails, embeddings, then per view the similarity
# calibration, the ranking, its site files, the UMAP map and the probe, then the build-wide site files.
PRECOMPUTE_KILLS = (
    "/site/thumbs/",
    "/cache/emb/",
    "/cache/calibration/",
    "/cache/rank/",
    "/site/data/iconic_small/",
    "/cache/umap/",
    "/cache/probe/",
    "/site/data/index.js",
)


def test_a_build_killed_in_the_middle_of_a_write_at_every_stage_resumes_to_the_same_bytes(
    inputs, reference, reference_build, tmp_path: Path
) -> None:
    """Killed at each kind of write in turn, each run resuming the last: precompute at every cache kind and site
    file kind, then ``featurevis`` in its first checkpoint, then ``build`` while it renders the site. Every run
    keeps what the runs before it finished, and the end is byte for byte the uninterrupted build."""
    cfg, ds = inputs
    out = tmp_path / "o"
    for fragment in PRECOMPUTE_KILLS:
        _killed_at(_cmd(cfg, "precompute", out, ds), fragment, out)
    assert not (out / "summary.json").exists()  # really interrupted, every time
    before = state(out)
    done = subprocess.run(_cmd(cfg, "precompute", out, ds), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {k: state(out).get(k) for k in before} == before
    assert digest(out / "site") == digest(reference / "site")
    assert digest(out / "cache") == digest(reference / "cache")
    # the Model Explorer stage, then the whole build (killed while it renders the pages, before the explorer)
    _killed_at(_cmd(cfg, "featurevis", out, ds, "--quick"), "/cache/featurevis/", out)
    _killed_at(_cmd(cfg, "build", out, ds, "--quick"), "/site/assets/", out)
    done = subprocess.run(_cmd(cfg, "build", out, ds, "--quick"), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert digest(out / "site") == digest(reference_build / "site")
    assert digest(out / "cache") == digest(reference_build / "cache")
    assert [p for p in out.rglob("*") if p.name.endswith(".tmp")] == []


def test_a_no_op_rebuild_imports_no_tensorflow_and_writes_nothing(inputs, reference, tmp_path: Path) -> None:
    cfg, ds = inputs
    out = tmp_path / "o"
    subprocess.run(["cp", "-a", str(reference), str(out)], check=True)

    before = state(out)  # the whole build folder: cache, site, summary.json, manifest.json
    assert {"summary.json", "manifest.json"} <= set(before)
    code = (
        "import sys\n"
        "from precompute.cli import cli\n"
        f"cli.main({_cmd(cfg, 'precompute', out, ds)[3:]!r}, standalone_mode=False)\n"
        "print('IMPORTED', sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "IMPORTED []" in proc.stdout
    assert state(out) == before


@pytest.fixture(scope="module")
def reference_build(inputs: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted ``build --quick`` that compiles UMAP's kernels into its own build/jit, as a user's does."""
    cfg, ds = inputs
    out = tmp_path_factory.mktemp("ref-build") / "a"
    own_jit = {k: v for k, v in _env().items() if k != "NUMBA_CACHE_DIR"}
    subprocess.run(_cmd(cfg, "build", out, ds, "--quick"), check=True, env=own_jit, capture_output=True)
    return out


def test_two_separate_builds_are_byte_identical(inputs, reference_build: Path, tmp_path: Path) -> None:
    cfg, ds = inputs
    a, b = reference_build, tmp_path / "b"
    # b loads the test run's shared numba cache (conftest.py): compiled or loaded, the outputs are the same
    subprocess.run(_cmd(cfg, "build", b, ds, "--quick"), check=True, env=_env(), capture_output=True)
    assert any((a / "jit").rglob("*.nbi"))  # compiled code is kept beside the cache, not in it
    assert digest(a / "site") == digest(b / "site")
    assert any(k.startswith("fv/") for k in digest(a / "site"))  # feature visualizations included
    assert digest(a / "cache") == digest(b / "cache")
    sa, sb = (json.loads((o / "summary.json").read_text()) for o in (a, b))
    sa.pop("run"), sb.pop("run")  # timings differ between runs; nothing else may
    assert sa == sb
