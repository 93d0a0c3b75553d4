"""The README's promises about whole runs, each checked in separate processes as a user runs them:

* a build killed with SIGKILL at any stage (embedding, ranking, writing site files) resumes, and the result is
  byte for byte the uninterrupted build's, with no temporary file left behind;
* a no-op rebuild imports no TensorFlow (nor Keras) and writes nothing (same inodes and mtimes);
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
import time
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


def _kill_when(cmd: list[str], ready: callable, timeout: float = 300) -> None:
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if ready():
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return
            if proc.poll() is not None:
                pytest.fail("the build finished before the kill point was reached")
            time.sleep(0.002)
        pytest.fail("kill point not reached in time")
    finally:
        if proc.poll() is None:
            proc.kill()


def _first(folder: Path, pattern: str) -> callable:
    return lambda: folder.is_dir() and any(folder.rglob(pattern))


@pytest.mark.parametrize("stage", ["embedding", "ranking", "site files"])
def test_a_build_killed_at_any_stage_resumes_to_the_same_bytes(stage: str, inputs, reference, tmp_path: Path) -> None:
    cfg, ds = inputs
    out = tmp_path / "o"
    ready = {
        "embedding": _first(out / "cache" / "emb", "*.npy"),  # the first embedding is on disk, more are coming
        "ranking": _first(out / "cache" / "rank", "*.npz"),
        "site files": _first(out / "site" / "data" / "iconic_small", "*.js"),
    }[stage]
    _kill_when(_cmd(cfg, "precompute", out, ds), ready)
    assert not (out / "summary.json").exists()  # really interrupted
    done = subprocess.run(_cmd(cfg, "precompute", out, ds), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert digest(out / "site") == digest(reference / "site")
    assert digest(out / "cache") == digest(reference / "cache")
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_no_op_rebuild_imports_no_tensorflow_and_writes_nothing(inputs, reference, tmp_path: Path) -> None:
    cfg, ds = inputs
    out = tmp_path / "o"
    subprocess.run(["cp", "-a", str(reference), str(out)], check=True)

    def state(root: Path) -> dict[str, tuple[int, int]]:
        return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*")}

    before = {k: state(out / k) for k in ("cache", "site")}
    code = (
        "import sys\n"
        "from precompute.cli import cli\n"
        f"cli.main({_cmd(cfg, 'precompute', out, ds)[3:]!r}, standalone_mode=False)\n"
        "print('IMPORTED', sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "IMPORTED []" in proc.stdout
    assert {k: state(out / k) for k in ("cache", "site")} == before


def test_two_separate_builds_are_byte_identical(inputs, tmp_path: Path) -> None:
    cfg, ds = inputs
    outs = [tmp_path / "a", tmp_path / "b"]
    # a compiles UMAP's kernels into its own build/jit (as a user's build does); b loads the test run's shared
    # numba cache (conftest.py): compiled or loaded, the outputs are the same
    own_jit = {k: v for k, v in _env().items() if k != "NUMBA_CACHE_DIR"}
    for out, env in zip(outs, (own_jit, _env()), strict=True):
        subprocess.run(_cmd(cfg, "build", out, ds, "--quick"), check=True, env=env, capture_output=True)
    a, b = outs
    assert any((a / "jit").rglob("*.nbi"))  # compiled code is kept beside the cache, not in it
    assert digest(a / "site") == digest(b / "site")
    assert any(k.startswith("fv/") for k in digest(a / "site"))  # feature visualizations included
    assert digest(a / "cache") == digest(b / "cache")
    sa, sb = (json.loads((o / "summary.json").read_text()) for o in outs)
    sa.pop("run"), sb.pop("run")  # timings differ between runs; nothing else may
    assert sa == sb
