"""Per-class truth of one view (a layer under a pooling and a metric): which categories its rankings serve well,
which categories it mixes them up with, and the queries it serves worst.

Everything follows from the rankings' ids and the labels, in O(n * k) time and memory whatever the number of
classes (the confusions are counted as (query class, result class) codes, never as a classes x classes matrix).
The site's "Per class" panel reads it (``contract.ClassesFile``); the numbers are the ones the leaderboard
averages: a class's score is the mean search score of its images as queries, its precision their mean
precision@k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the view's lowest-scoring queries the panel lists
WORST = 12
#: the other classes listed per class, those that take most of its results
CONFUSED = 3


@dataclass(frozen=True)
class ClassSummary:
    """Per class ``c`` (index into the dataset's classes): ``score[c]`` the mean search score (0-100) and
    ``precision[c]`` the mean precision@k of its images, NaN for a class without images; ``confused[c]`` up to
    ``CONFUSED`` (other class, results) pairs, the classes that took most of its images' results, most first (ties:
    lower class first); ``worst_query[c]`` its lowest-scoring image (-1 without images). ``worst``: the view's
    ``WORST`` lowest-scoring queries, lowest first (ties: lower id first), with ``worst_score``; ``k`` the results
    per query."""

    k: int
    score: np.ndarray
    precision: np.ndarray
    confused: list[list[tuple[int, int]]]
    worst_query: np.ndarray
    worst: np.ndarray
    worst_score: np.ndarray


def summarise(
    ids: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    scores: np.ndarray,
    precision: np.ndarray,
    worst: int = WORST,
) -> ClassSummary:
    """The per-class truth of a rankings matrix ``ids`` (n queries x k, query i is image i) under ``labels``, with
    each query's ``scores`` (``search.search_scores``) and ``precision`` (``search.precision_at_k``), which the
    caller has already computed for the view's means."""
    ids = np.asarray(ids)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(ids)
    own = labels[:n]
    prec = np.asarray(precision, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    count = np.bincount(own, minlength=n_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.bincount(own, weights=scores, minlength=n_classes) / count
        precision = np.bincount(own, weights=prec, minlength=n_classes) / count

    got = labels[ids]  # (n, k) result classes
    other = got != own[:, None]
    code = own[:, None].repeat(ids.shape[1], axis=1)[other] * n_classes + got[other]
    pairs, counts = np.unique(code, return_counts=True)
    src, dst = pairs // n_classes, pairs % n_classes
    order = np.lexsort((dst, -counts, src))  # by query class, then most results, then lower class
    confused: list[list[tuple[int, int]]] = [[] for _ in range(n_classes)]
    for j in order:
        row = confused[int(src[j])]
        if len(row) < CONFUSED:
            row.append((int(dst[j]), int(counts[j])))

    by_score = np.lexsort((np.arange(n), scores))  # lowest score first, ties by id
    worst_query = np.full(n_classes, -1, dtype=np.int64)
    first = np.lexsort((np.arange(n), scores, own))  # per class: lowest score first, ties by id
    starts = np.r_[True, own[first][1:] != own[first][:-1]]
    worst_query[own[first][starts]] = first[starts]
    top = by_score[:worst]
    return ClassSummary(int(ids.shape[1]), score, precision, confused, worst_query, top, scores[top])
