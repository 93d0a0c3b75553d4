"""The GPU check script runs end to end on the CPU with its tiny profile (``--dry``), under KERAS_BACKEND=jax as on
the GPU machines, and writes every section of its JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

# a benchmark's smoke run: `make bench-smoke` and CI's weekly job run it, `make test` does not
pytestmark = [pytest.mark.slow, pytest.mark.bench]
REPO = Path(__file__).resolve().parent.parent


def test_gpu_check_dry_run_writes_every_figure(tmp_path: Path, shared_datasets: Path, keras_home: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "KERAS_HOME": str(keras_home)}
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry", "--datasets", str(shared_datasets)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads((tmp_path / "gpu_check.json").read_text())
    assert got["dry"] is True and got["device"]["backend"] == "jax"
    pc = got["precompute"]
    assert pc["images"] == 8 and pc["stages_s"]["embeddings_s"] > 0
    assert set(pc["images_per_s_by_model"]) == {"mobilenet_075", "mobilenet"}
    (ex,) = got["extraction"]
    assert ex["model"] == "mobilenet_075" and ex["multi_img_s"] > 0 and ex["limit_img_s"] > 0
    assert ex["multi_vs_original"] > 1  # one pass for 8 layers beats 8 predicts per image, even here
    fv = got["featurevis"]["models"]["mobilenet_075"]
    assert fv["layers"] == 2 and fv["channels"] > 0 and fv["seconds"] > 0 and fv["compile_seconds"] > 0
    extra = got["extrapolation"]
    assert set(extra["models"]) >= {"vgg16", "nasnetmobile", "mobilenetv2"}
    assert {m["how"] for m in extra["models"].values()} == {"extrapolated"}  # mobilenet_075 is not an explorer model
    assert extra["total_s"] > 0
