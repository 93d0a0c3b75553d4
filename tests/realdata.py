"""Real data for the tests, on any machine: ../shared when it is beside the checkout, else the project's own ways.

* Datasets: ``../shared/datasets/<name>`` (read in place), else ``playground datasets fetch <name>`` into
  ``build/test-cache/datasets`` (downloads checked against the committed manifests) when the machine is online.
* Weights: ``../shared/keras`` (copied to a private ``KERAS_HOME``), else Keras' own download into a persistent
  ``build/test-cache/keras`` when online.

Offline with neither, a test that needs them is skipped with one line that says how to provide them. CI has
``../shared`` and sets ``PLAYGROUND_NO_SKIPS=1`` (``.ci/run``), which turns any skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO.parent / "shared").resolve()
SHARED_DATASETS = SHARED / "datasets"
SHARED_KERAS = SHARED / "keras"
TEST_CACHE = REPO / "build" / "test-cache"
MOBILENET_075 = "mobilenet_7_5_224_tf_no_top.h5"
STANDARD = ("iconic200", "fashion200", "tinyimagenet200", "cifar10")


def prepare_keras_home() -> Path:
    """Point KERAS_HOME at a private copy of ../shared/keras, or at the persistent test cache (before Keras is
    imported anywhere)."""
    if SHARED_KERAS.is_dir():
        home = Path(tempfile.mkdtemp(prefix="pg-keras-home-"))
        shutil.copytree(SHARED_KERAS / "models", home / "models")
    else:
        home = TEST_CACHE / "keras"
        (home / "models").mkdir(parents=True, exist_ok=True)
    os.environ["KERAS_HOME"] = str(home)
    return home


def cleanup_keras_home(home: Path) -> None:
    if home.parent != TEST_CACHE:
        shutil.rmtree(home, ignore_errors=True)


def mobilenet_weights(home: Path) -> Path:
    """The real MobileNet(alpha=0.75) no-top weights in ``home``: from ../shared, or downloaded by Keras."""
    path = home / "models" / MOBILENET_075
    if path.is_file():
        return path
    from precompute.catalog import CATALOG
    from precompute.errors import WeightsUnavailable

    try:
        CATALOG["mobilenet_075"].load("imagenet")
    except WeightsUnavailable as exc:
        pytest.skip(
            f"needs the real MobileNet(alpha=0.75) weights: put ../shared/keras beside the checkout, or run "
            f"online once so Keras downloads {MOBILENET_075} ({exc.args[0].split(' (')[0]})"
        )
    return path


def dataset(name: str) -> Path:
    """A real standard dataset folder: ../shared/datasets/<name>, or fetched into build/test-cache."""
    shared = SHARED_DATASETS / name
    if shared.is_dir():
        return shared
    target = TEST_CACHE / "datasets" / name
    if target.is_dir() and any(target.iterdir()):
        return target
    from precompute.errors import FetchError
    from precompute.fetch import fetch_dataset

    try:
        return fetch_dataset(name, TEST_CACHE / "datasets")
    except FetchError as exc:
        pytest.skip(
            f"needs the real dataset {name}: put ../shared/datasets beside the checkout, or run online "
            f"once (`playground datasets fetch {name}`) — {str(exc).split(':')[0]}"
        )


def datasets_root() -> Path:
    """A folder holding the four standard datasets (../shared/datasets, or the test cache filled by fetching)."""
    if SHARED_DATASETS.is_dir():
        return SHARED_DATASETS
    for name in STANDARD:
        dataset(name)
    return TEST_CACHE / "datasets"
