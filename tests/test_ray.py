"""The Ray engine (``--engine ray``) writes exactly the local engine's site data and cache: on a local Ray instance
(its session files under ``build/ray``), and on a cluster of two nodes (``ray.cluster_utils.Cluster`` on this
machine, one CPU each), where the model actors run on both nodes and the summary says which node embedded what."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from precompute import log
from precompute.config import BuildConfig, load_config
from precompute.pipeline import run_precompute
from tests.helpers import small_copy

pytestmark = pytest.mark.slow


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> tuple[BuildConfig, Path]:
    """The datasets (on a path every node reads), the settings, and one build with the local engine."""
    root = tmp_path_factory.mktemp("ray")
    ds = [
        small_copy(shared_datasets / "iconic200", root / "in" / "iconic_small", classes=3, per_class=8),
        small_copy(shared_datasets / "cifar10", root / "in" / "cifar_small", classes=2, per_class=8),
    ]
    log.configure(quiet=True)
    base = load_config(datasets=tuple(map(str, ds)), models=("mobilenet_075",), weights="random", batch_size=8)
    base = replace(base, layers={"mobilenet_075": ("conv1", "conv_dw_6", "conv_pw_13")})
    summary = run_precompute(replace(base, out=root / "local", engine="local"))
    assert summary.run["engine"] == "local" and "ray_nodes" not in summary.run
    return base, root / "local"


def _same_bytes(out: Path, local: Path) -> None:
    assert _digest(out / "site" / "data") == _digest(local / "site" / "data")
    assert _digest(out / "cache") == _digest(local / "cache")


def test_a_local_ray_instance_writes_the_local_engines_bytes_and_keeps_its_files_under_build(local) -> None:
    base, local_out = local
    # a short output folder: Ray's Unix sockets live in its session folder, whose path must stay under 108 bytes
    short = Path(tempfile.mkdtemp(prefix="pgray-"))
    try:
        out = short / "build"
        summary = run_precompute(replace(base, out=out, engine="ray"))
        assert summary.run["engine"] == "ray"
        sessions = list((out / "ray").glob("session_*"))
        assert sessions and any(s.is_dir() for s in sessions), "Ray's session files are not under build/ray"
        assert not any((out / "ray").rglob("*.tmp"))
        _same_bytes(out, local_out)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def test_a_two_node_cluster_writes_the_local_engines_bytes(local, tmp_path: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    base, local_out = local
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        nodes = {cluster.head_node.node_id, worker.node_id}
        out = tmp_path / "o"
        summary = run_precompute(replace(base, out=out, engine="ray", ray_address=cluster.address))
        _same_bytes(out, local_out)
        placed = summary.run["ray_nodes"]  # node id -> images it embedded, over every (dataset, model)
        assert set(placed) == nodes, f"the actors ran on {sorted(placed)}, the cluster's nodes are {sorted(nodes)}"
        assert sum(placed.values()) == 24 + 16
    finally:
        ray.shutdown()
        cluster.shutdown()
