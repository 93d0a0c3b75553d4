"""The `playground` command line: stages, selection flags, clear errors (no tracebacks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import small_copy


def playground(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "precompute.cli", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"playground {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_help_lists_every_stage() -> None:
    out = playground("--help").stdout
    for cmd in ("build", "precompute", "featurevis", "render", "serve", "datasets", "models"):
        assert cmd in out


def test_models_lists_the_catalogue() -> None:
    out = playground("models").stdout
    for name in ("vgg16", "efficientnetb5", "inceptionv3", "mobilenet_075", "mobilenetv2", "nasnetmobile"):
        assert name in out
    assert "456" in out and "299" in out


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    proc = playground(
        "precompute",
        "--datasets",
        str(tmp_path / "nope"),
        "--models",
        "mobilenet_075",
        "--weights",
        "random",
        "--out",
        str(tmp_path / "o"),
        "-q",
        check=False,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "nothing to build" in proc.stderr and "nope" in proc.stderr
    proc = playground(
        "precompute", "--models", "vgg17", "--datasets", str(tmp_path), "--out", str(tmp_path / "o"), check=False
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "unknown model 'vgg17'" in proc.stderr
    proc = playground("precompute", "--metrics", "hamming", check=False)
    assert proc.returncode == 1 and "unknown metric" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_precompute_then_noop_rebuild_via_cli(tmp_path: Path, shared_datasets: Path) -> None:
    ds = small_copy(shared_datasets / "fashion200", tmp_path / "fashion_small", classes=2, per_class=5)
    args = (
        "precompute",
        "--datasets",
        str(ds),
        "--models",
        "mobilenet_075",
        "--weights",
        "random",
        "--metrics",
        "cosine,minkowski",
        "--minkowski-p",
        "4",
        "--out",
        str(tmp_path / "o"),
        "-q",
    )
    first = playground(*args)
    assert "built 1 dataset(s) x 1 model(s) x 8 layers x 2 metrics" in first.stdout
    second = playground(*args)
    assert "built 1 dataset(s)" in second.stdout and "loading" not in second.stderr
    summary = (tmp_path / "o" / "summary.json").read_text()
    assert '"minkowski_p": 4' in summary and '"random_weights": true' in summary


def test_datasets_fetch_from_local_copy_and_list(tmp_path: Path, shared_datasets: Path) -> None:
    cfg = tmp_path / "p.toml"
    ddir = tmp_path / "datasets"
    ddir.mkdir()
    repo_manifest = Path(__file__).resolve().parent.parent / "datasets" / "tinyimagenet200.json"
    (ddir / "tinyimagenet200.json").write_bytes(repo_manifest.read_bytes())
    cfg.write_text(f'[build]\ndatasets_dir = "{ddir}"\n')
    listed = playground("--config", str(cfg), "datasets", "list").stdout
    assert "tinyimagenet200" in listed
    out = playground(
        "--config", str(cfg), "datasets", "fetch", "tinyimagenet200", "--from", str(shared_datasets / "tinyimagenet200")
    ).stdout
    assert "ready" in out
    assert (
        len(list((ddir / "tinyimagenet200").rglob("*.JPEG")) + list((ddir / "tinyimagenet200").rglob("*.jpg"))) == 200
    )
