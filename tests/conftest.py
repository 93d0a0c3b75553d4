"""Shared test setup.

Before anything imports Keras, ``KERAS_HOME`` points at a private copy of ``../shared/keras`` (the real
MobileNet(alpha=0.75) ImageNet weights) or, on a clone without ``../shared``, at a persistent test cache that
Keras fills when online (``tests/realdata.py``). Tests that need real data skip with a reason when it cannot be
had; with ``PLAYGROUND_NO_SKIPS=1`` (CI) any skip is a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import realdata
from tests.realdata import REPO, SHARED, SHARED_DATASETS, SHARED_KERAS  # noqa: F401  (re-exported for tests)

# Debian's package (`make browser`; Playwright cannot download browsers here), or the browser PLAYGROUND_CHROMIUM
# names (GitHub's runners: their Chrome; Ubuntu's apt chromium is a snap)
CHROMIUM = os.environ.get("PLAYGROUND_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Builds made by tests leave the in-browser search out (its ONNX export costs seconds per model and build) unless
# a test asks for it with `helpers.with_browser_runtime` (the real site, test_browser_cnn)
os.environ["PLAYGROUND_ORT_WEB"] = str(REPO / "build" / "no-onnxruntime-web-in-tests")


def _share_the_cores() -> None:
    """Under pytest-xdist each worker gets its share of the cores for TensorFlow, XLA, BLAS, OpenMP (FAISS) and
    numba, and so do the builds it runs in child processes (they inherit the environment). Left alone, every
    worker and child starts one thread per core, and the oversubscribed thread pools spin against each other.
    Set before anything imports those libraries; an explicit setting in the environment wins."""
    # one disk cache of numba's compiled kernels (UMAP's above all, ~10 s to compile) for every process of every
    # test run, the TensorFlow and the JAX pass of `make test` alike; a build keeps its own in build/jit/
    # (precompute/projection.py), which tests/test_pipeline.py and test_resume.py check
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / "build" / "test-jit"))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers <= 1:
        return
    share = str(max(1, (os.cpu_count() or 1) // workers))
    for var in (
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        os.environ.setdefault(var, share)
    if "XLA_FLAGS" not in os.environ and share == "1":
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


_share_the_cores()
_keras_home = realdata.prepare_keras_home()


def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller names the run (its workers share ``helpers.once_per_run`` folders under that name)."""
    if not hasattr(config, "workerinput") and getattr(config.option, "testrunuid", "") is None:
        import uuid

        config.option.testrunuid = uuid.uuid4().hex


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, costliest scope first, with the shared-build groups of ``tests/scheduling.py``."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.scheduling import CostFirstScheduling

    return CostFirstScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Costliest scope first (a stable sort: every worker gets the same order, tests keep theirs in a file)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from tests.scheduling import order_key

        items.sort(key=lambda item: order_key(item.nodeid))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Clean up; and in CI (``PLAYGROUND_NO_SKIPS=1``), where every input exists, a skipped test fails the run."""
    realdata.cleanup_keras_home(_keras_home)
    uid = getattr(session.config.option, "testrunuid", None)
    if uid and not hasattr(session.config, "workerinput"):  # the controller, after every worker finished
        import shutil
        import tempfile

        shutil.rmtree(Path(tempfile.gettempdir()) / f"pg-tests-{uid}", ignore_errors=True)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and os.environ.get("PLAYGROUND_NO_SKIPS", "").strip() not in ("", "0"):
        reporter.write_line(f"PLAYGROUND_NO_SKIPS: {len(skipped)} test(s) skipped, which CI forbids:", red=True)
        for rep in skipped:
            reporter.write_line(f"  {rep.nodeid}: {rep.longrepr[-1] if rep.longrepr else ''}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def keras_home() -> Path:
    """The Keras cache holding the real MobileNet(alpha=0.75) weights (skips, with how, when they cannot be had)."""
    realdata.mobilenet_weights(_keras_home)
    return _keras_home


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """A folder with the four real 200-image datasets (../shared/datasets, or fetched; read-only)."""
    return realdata.datasets_root()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, float]:
    """One full training of playground-net per test run, in a temporary cache shared by the xdist workers:
    (cache folder, model file, training record, seconds it took; ~0 for a worker that found it trained)."""
    from precompute import playground_net
    from tests.helpers import once_per_run

    with once_per_run("playground-net") as (cache, _done):  # one training per run, shared by the xdist workers
        t = time.perf_counter()
        path, record = playground_net.ensure_trained(cache, progress=False)
        return cache, path, record, time.perf_counter() - t


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session (Playwright allows one sync driver per process)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no browser at {CHROMIUM}: run `make browser` (apt-get install chromium), or set PLAYGROUND_CHROMIUM "
            "to a Chromium or Chrome executable"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
