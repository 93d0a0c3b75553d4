"""Linear probe: equal to a plain scikit-learn cross-validation on the same real embeddings, deterministic,
bounded, and "not available" (never an exception) when there are no usable classes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from precompute.probe import ProbeSettings, linear_probe, stratified_cap


@pytest.fixture(scope="module")
def iconic(shared_datasets: Path, keras_home: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Real MobileNet(alpha=0.75) embeddings (avg) of all 200 iconic200 images at the first and last layer."""
    from precompute.catalog import get_spec, load_model
    from precompute.datasets import load_dataset
    from precompute.extract import embed_paths
    from precompute.layers import select_layers

    ds = load_dataset(shared_datasets / "iconic200")
    spec = get_spec("mobilenet_075")
    model = load_model(spec, "imagenet")
    layers = select_layers(model)
    names = {"first": layers[0].act_name, "last": layers[-1].act_name}
    embs = embed_paths(model, list(names.values()), [r.path for r in ds.images], size=224, preprocess=spec.preprocess)
    return {k: embs[(v, "avg")] for k, v in names.items()}, np.array([r.label for r in ds.images])


def _sklearn_cv(x: np.ndarray, y: np.ndarray, s: ProbeSettings) -> np.ndarray:
    """The probe written out plainly: scaler + logistic regression, stratified shuffled folds, one BLAS thread
    (the probe's documented setting; a thread count can change the last bits of a BLAS product)."""
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(solver="lbfgs", C=s.C, tol=s.tol, max_iter=s.max_iter)),
        ]
    )
    with threadpool_limits(limits=1):
        return cross_val_score(pipe, x, y, cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=s.seed))


def test_probe_equals_plain_scikit_learn_cross_validation(iconic) -> None:
    embs, y = iconic
    s = ProbeSettings()
    for layer, x in embs.items():
        res = linear_probe(x, y)
        scores = _sklearn_cv(x, y, s)
        assert res.fold_accuracies == tuple(scores), layer
        assert res.accuracy == scores.mean() and res.std == scores.std()
        assert (res.n_images, res.n_features, res.n_classes) == (200, x.shape[1], 10)
        assert res.n_images_total == 200 and res.dropped_classes == 0 and res.available and res.reason is None
    first, last = linear_probe(embs["first"], y), linear_probe(embs["last"], y)
    print(f"\nlinear probe iconic200: first layer {first.accuracy:.3f}, last layer {last.accuracy:.3f}")
    assert last.accuracy >= 0.9 and last.accuracy > first.accuracy + 0.2


def test_probe_is_deterministic_and_depends_on_the_seed(iconic) -> None:
    embs, y = iconic
    a, b = linear_probe(embs["first"], y), linear_probe(embs["first"], y)
    assert a == b  # every field, floats exactly
    other = linear_probe(embs["first"], y, replace(ProbeSettings(), seed=1))
    assert other.fold_accuracies != a.fold_accuracies


def test_cap_is_a_stratified_seeded_subsample(iconic) -> None:
    embs, y = iconic
    s = replace(ProbeSettings(), max_images=100)
    idx = stratified_cap(y, 100, 5, 0)
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [10] * 10  # each class keeps its share
    assert np.array_equal(idx, stratified_cap(y, 100, 5, 0))
    assert not np.array_equal(idx, stratified_cap(y, 100, 5, 1))
    # a rare class keeps at least min_per_class images (or all it has)
    rare = np.concatenate([y[y != 0], [0] * 6])
    counts = np.bincount(rare[stratified_cap(rare, 50, 5, 0)])
    assert counts[0] == 5 and counts.min() == 5
    res = linear_probe(embs["last"], y, s)
    assert res.n_images == 100 and res.n_images_total == 200
    assert res.fold_accuracies == tuple(_sklearn_cv(embs["last"][idx], y[idx], s))
    # no cap: every image
    assert linear_probe(embs["first"], y, replace(s, max_images=None)).n_images == 200


def test_classes_with_fewer_than_five_images_are_left_out(iconic) -> None:
    embs, y = iconic
    keep = np.flatnonzero((y != 0) | (np.cumsum(y == 0) <= 3))  # class 0 keeps only 3 images
    x, yk = embs["last"][keep], y[keep]
    res = linear_probe(x, yk)
    assert (res.n_images_total, res.n_images, res.n_classes, res.dropped_classes) == (183, 180, 9, 1)
    rows = yk != 0
    assert res.fold_accuracies == tuple(_sklearn_cv(x[rows], yk[rows], ProbeSettings()))


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (None, "unlabelled"),
        (np.zeros(200, np.int64), "at least 2 classes"),
        (np.array([0] * 197 + [1] * 3), "at least 2 classes"),  # one usable class only
    ],
)
def test_no_probe_without_two_usable_classes(iconic, labels, reason: str) -> None:
    embs, _ = iconic
    res = linear_probe(embs["first"], labels)
    assert res.accuracy is None and res.std is None and not res.available
    assert reason in res.reason and res.n_images == 0 and res.n_features == 24


def test_bad_input_is_a_clear_error(iconic) -> None:
    embs, y = iconic
    with pytest.raises(ValueError, match="200 feature rows but 199 labels"):
        linear_probe(embs["first"], y[:-1])
    with pytest.raises(ValueError, match=r"\(n_images, n_features\)"):
        linear_probe(embs["first"][:, :, None], y)
    bad = embs["first"].copy()
    bad[3, 2] = np.nan
    assert "NaN" in linear_probe(bad, y).reason
