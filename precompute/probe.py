"""Linear-probe accuracy: how linearly separable a dataset's classes are in one (layer, pooling) embedding.

For each labelled dataset x model x layer x pooling: a multinomial logistic regression
(``sklearn.linear_model.LogisticRegression``) on standardised features (a ``Pipeline`` whose
``StandardScaler`` is fitted inside each training fold, so no test statistics leak into training), scored by
stratified ``FOLDS``-fold cross-validation (``StratifiedKFold``, shuffled with a fixed seed). The result is
the mean and the standard deviation of the fold accuracies, and how many images, features and classes were
used. It complements the search score: the search score asks whether an image's *nearest neighbours* share
its class under a fixed distance; the probe asks whether the classes can be told apart by *any* linear
readout of the same features.

Bounded cost (the defaults, :class:`ProbeSettings`):

* at most about ``max_images`` (2,000) images: a seeded stratified subsample, each class keeping its share
  of the cap (rounded) but never fewer than ``FOLDS`` images (or all it has). The subsample is drawn before
  the folds; datasets under the cap are used whole. Cost grows with images x features x classes.
* classes with fewer than ``FOLDS`` (5) images are left out (a stratified fold could not hold them); the
  result counts them. With fewer than 2 classes left, or an unlabelled dataset, there is no probe: the result
  says why (``accuracy`` is None) instead of raising.
* solver ``lbfgs`` (full multinomial loss on dense features; no randomness), ``tol`` = 1e-3 (against
  1e-4: the same accuracy within half a point, at a third to a quarter of the iterations), ``C`` = 0.1
  (measured as good as C = 1 and better than 0.01 at middle layers), at most ``max_iter`` = 100 iterations
  per fold (the fits measured below stop after 9-44). The result records whether every fold converged.
* one BLAS thread while fitting (``threadpoolctl``): these matrices are small, and multi-threaded OpenBLAS
  on a busy machine spins: measured 51.5 s with 2 threads vs 3.4 s with 1 for the same 5 folds (identical
  results). It also makes the numbers independent of the machine's core count.

Measured with these defaults (2-core CPU shared with other work, load average 7.5; real MobileNet(alpha=0.75)
embeddings of 10,100 Tiny ImageNet images, 202 classes x 50): one (layer, pooling) costs 1.0-3.7 CPU s
(2.9-8.0 s wall) for d = 24 ... 3,072 (the 2x2 grid of the last layer); uncapped, 3-31 s wall. The cap lowers
the accuracy (last layer 0.392 capped vs 0.523 on all 10,100 images; conv1 0.035 vs 0.040; grid2 0.384 vs
0.512), because 8 instead of 40 training images per class are left, but it ranks the 9 (layer, pooling)
pairs measured exactly as the uncapped probe does (Spearman 1.0). Compare probe numbers with the same
settings and image count only.

Deterministic: the subsample, the folds and lbfgs are seeded or exact, and the thread count is fixed, so
the same inputs and settings give identical numbers (for one BLAS build).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FOLDS = 5


@dataclass(frozen=True)
class ProbeSettings:
    folds: int = FOLDS
    seed: int = 0
    max_images: int | None = 2000  # None: no cap
    min_per_class: int = FOLDS
    C: float = 0.1
    tol: float = 1e-3
    max_iter: int = 100
    blas_threads: int = 1  # BLAS threads while fitting (see the module docstring)


@dataclass(frozen=True)
class ProbeResult:
    """Cross-validated linear-probe accuracy, or why there is none (``accuracy is None``, ``reason`` set)."""

    accuracy: float | None  # mean fold accuracy in [0, 1]
    std: float | None  # standard deviation of the fold accuracies (population, ddof = 0)
    fold_accuracies: tuple[float, ...]
    n_images: int  # images used (after dropping small classes and the cap)
    n_features: int
    n_classes: int  # classes used
    n_images_total: int  # labelled images given
    dropped_classes: int  # classes left out for having fewer than ``min_per_class`` images
    converged: bool  # every fold's lbfgs stopped before max_iter
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.accuracy is not None


def _unavailable(reason: str, n_total: int, n_features: int, dropped: int = 0) -> ProbeResult:
    return ProbeResult(None, None, (), 0, n_features, 0, n_total, dropped, False, reason)


def stratified_cap(labels: np.ndarray, max_images: int | None, min_per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded stratified subsample of at most about ``max_images`` images: each class
    keeps ``round(count * max_images / n)`` of its images, but at least ``min_per_class`` (or all it has).

    Written here rather than ``train_test_split(stratify=...)`` because that gives rare classes fewer than
    ``min_per_class`` images (and refuses caps below the class count), which would break the folds."""
    n = len(labels)
    if max_images is None or n <= max_images:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep = []
    for cls in np.unique(labels):  # sorted: the draw order is fixed
        idx = np.flatnonzero(labels == cls)
        quota = min(len(idx), max(min_per_class, round(len(idx) * max_images / n)))
        keep.append(rng.permutation(idx)[:quota])
    return np.sort(np.concatenate(keep))


def make_pipeline(settings: ProbeSettings):
    """StandardScaler + LogisticRegression with the probe's settings (a fresh, unfitted estimator)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "logreg",
                LogisticRegression(solver="lbfgs", C=settings.C, tol=settings.tol, max_iter=settings.max_iter),
            ),
        ]
    )


def select(labels: Sequence | np.ndarray | None, settings: ProbeSettings) -> tuple[np.ndarray, int, str | None]:
    """Rows the probe uses (sorted indices), how many classes were dropped, and a reason when none can be."""
    if labels is None:
        return np.zeros(0, np.int64), 0, "unlabelled dataset: no classes to probe"
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    small = classes[counts < settings.min_per_class]
    usable = np.flatnonzero(~np.isin(y, small))
    if len(classes) - len(small) < 2:
        return (
            np.zeros(0, np.int64),
            len(small),
            f"needs at least 2 classes with {settings.min_per_class} or more images "
            f"({len(classes)} class(es), {len(small)} with fewer)",
        )
    sub = stratified_cap(y[usable], settings.max_images, settings.min_per_class, settings.seed)
    return usable[sub], len(small), None


def linear_probe(
    features: np.ndarray, labels: Sequence | np.ndarray | None, settings: ProbeSettings = ProbeSettings()
) -> ProbeResult:
    """Cross-validated linear-probe accuracy of ``features`` ``(n, d)`` for ``labels`` (see module docstring)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from threadpoolctl import threadpool_limits

    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be (n_images, n_features), got shape {x.shape}")
    n_total = len(x) if labels is None else len(labels)
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{len(x)} feature rows but {len(labels)} labels")
    rows, dropped, reason = select(labels, settings)
    if reason:
        return _unavailable(reason, n_total, x.shape[1], dropped)
    if not np.isfinite(x[rows]).all():
        return _unavailable("features contain NaN or infinite values", n_total, x.shape[1], dropped)
    xs, ys = x[rows], np.asarray(labels)[rows]
    folds = StratifiedKFold(n_splits=settings.folds, shuffle=True, random_state=settings.seed)
    with warnings.catch_warnings(), threadpool_limits(limits=settings.blas_threads):
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported as ``converged`` instead
        cv = cross_validate(make_pipeline(settings), xs, ys, cv=folds, scoring="accuracy", return_estimator=True)
    scores = np.asarray(cv["test_score"], dtype=np.float64)
    converged = all(int(np.max(est[-1].n_iter_)) < settings.max_iter for est in cv["estimator"])
    return ProbeResult(
        accuracy=float(scores.mean()),
        std=float(scores.std()),
        fold_accuracies=tuple(float(s) for s in scores),
        n_images=len(rows),
        n_features=x.shape[1],
        n_classes=len(np.unique(ys)),
        n_images_total=n_total,
        dropped_classes=dropped,
        converged=converged,
    )
