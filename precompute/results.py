"""The typed results of the derived steps (``views``), read by the site writers and the summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .perclass import ClassSummary


@dataclass(frozen=True)
class MetricResult:
    """One metric of one view: means, per-query search scores (compare view), and how exact the ranking is."""

    metric: str
    mean_score: float | None
    mean_precision: float | None
    knn_accuracy: float | None  # percent
    scores: np.ndarray | None  # float32 per query
    exact: bool
    recall: float | None
    index: str = "flat"  # search.Ranking.index
    index_note: str | None = None
    classes: ClassSummary | None = None  # the per-class truth (labelled datasets)


@dataclass(frozen=True)
class ProbeResult:
    mean: float  # accuracy, percent
    std: float
    n_images: int
    n_features: int
    n_classes: int
    folds: int
    converged: bool


@dataclass(frozen=True)
class ViewResult:
    dataset: str
    model: str
    layer: str  # slug
    layer_name: str
    pooling: str
    metrics: dict[str, MetricResult]
    probe: ProbeResult | None
    probe_note: str | None  # why there is no probe (unlabelled, too few images per class)
