"""Shared test setup.

Before anything imports Keras, point ``KERAS_HOME`` at a private, writable copy of ``../shared/keras``
(the real MobileNet(alpha=0.75) ImageNet weights), so tests load real weights offline and never write to
the user's cache. ``../shared/datasets`` is read in place, never copied into the repo.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO.parent / "shared").resolve()
SHARED_DATASETS = SHARED / "datasets"
SHARED_KERAS = SHARED / "keras"
CHROMIUM = "/usr/bin/chromium"  # Debian's package (`make browser`); Playwright cannot download browsers here
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
_keras_home = Path(tempfile.mkdtemp(prefix="pg-keras-home-"))
if SHARED_KERAS.is_dir():
    shutil.copytree(SHARED_KERAS / "models", _keras_home / "models")
os.environ["KERAS_HOME"] = str(_keras_home)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_keras_home, ignore_errors=True)


@pytest.fixture(scope="session")
def keras_home() -> Path:
    """The private Keras cache holding the real MobileNet(alpha=0.75) weights."""
    if not (_keras_home / "models" / "mobilenet_7_5_224_tf_no_top.h5").exists():
        pytest.fail(f"real MobileNet weights missing: expected ../shared/keras beside the repo ({SHARED_KERAS})")
    return _keras_home


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The four real 200-image datasets in ../shared/datasets (read-only)."""
    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"../shared/datasets not found beside the repo ({SHARED_DATASETS})")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, float]:
    """One full training of playground-net per test session, in a temporary cache:
    (cache folder, model file, training record, seconds it took)."""
    from precompute import playground_net

    cache = tmp_path_factory.mktemp("playground_net_cache")
    t = time.perf_counter()
    path, record = playground_net.ensure_trained(cache, progress=False)
    return cache, path, record, time.perf_counter() - t


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session (Playwright allows one sync driver per process)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
