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


def _args(ds: Path, out: Path, *extra: str) -> tuple[str, ...]:
    return (
        "--config",
        str(_layers_config(out.parent)),
        "build",
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
        "--pooling",
        "avg",
        "--out",
        str(out),
        *extra,
    )


def _layers_config(folder: Path) -> Path:
    cfg = folder / "two-layers.toml"
    cfg.write_text('[layers]\nmobilenet_075 = ["conv1", "conv_pw_13"]\n')
    return cfg


@pytest.mark.slow
def test_build_then_noop_rebuild_via_cli(tmp_path: Path, shared_datasets: Path) -> None:
    """Not quiet, so the log shows what runs: the first build loads the model, the second nothing at all."""
    ds = small_copy(shared_datasets / "fashion200", tmp_path / "fashion_small", classes=2, per_class=6)
    out = tmp_path / "o"
    first = playground(*_args(ds, out, "--no-featurevis"))
    assert "built 1 dataset(s) x 1 model(s) x 2 layers x 1 pooling(s) x 2 metrics" in first.stdout
    assert "loading mobilenet_075 (random weights)" in first.stderr
    assert not (out / "site" / "data" / "explorer").exists() and not (out / "site" / "fv").exists()
    second = playground(*_args(ds, out, "--no-featurevis"))
    assert "built 1 dataset(s)" in second.stdout
    assert "loading" not in second.stderr and "embedding" not in second.stderr
    summary = (out / "summary.json").read_text()
    assert '"minkowski_p": 4' in summary and '"random_weights": true' in summary


@pytest.mark.slow
def test_ctrl_c_exits_130_with_the_resume_hint(tmp_path: Path, shared_datasets: Path) -> None:
    import signal
    import time

    ds = small_copy(shared_datasets / "iconic200", tmp_path / "iconic_small", classes=3, per_class=10)
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "precompute.cli", *_args(ds, out, "-q")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not any((out / "cache").rglob("*.npy")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted: finished work is cached; run the same command again to resume." in err
    assert "Traceback" not in err


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
