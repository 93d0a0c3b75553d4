"""Dataset examples: for each visualized channel, the images of the built datasets that excite it most.

Images are scored by the *same* objective the render maximises (``objectives.pooled`` of the target tensor:
the spatial mean of the pre-activation map, softplus first for targets affine in the pixels), at the model's
native input size with its own preprocessing. All selected layers of a model come from one forward pass per
batch (one multi-output model; batching and decoding are the pipeline's ``extract.iter_batches`` /
``extract.run_extractor``). Scores are cached per dataset content, so adding a dataset scores only that one.

Ranking: descending score; ties keep dataset order, then image id (a stable sort), so the examples are
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..cache import Cache, key
from . import objectives

SCORES_VERSION = 1


def scores_key(model_key: dict[str, Any], dataset: Any, targets: Sequence[objectives.Target], size: int) -> str:
    return key(
        kind="fv-scores",
        version=SCORES_VERSION,
        **model_key,
        dataset=dataset.content_hash,
        targets=[[t.layer, t.describe()] for t in targets],
        size=size,
    )


def dataset_scores(
    model_fn: Callable[[], Any],
    preprocess: Any,
    targets: Sequence[objectives.Target],
    datasets: Sequence[Any],
    *,
    size: int,
    batch_size: int,
    cache: Cache | None = None,
    model_key: dict[str, Any] | None = None,
) -> tuple[list[np.ndarray], list[tuple[str, int]]]:
    """Objective of every channel of every target on every dataset image.

    ``model_fn()`` returns the model at its native input size; it is called only when some dataset's scores
    are not cached.

    Returns (one float32 ``(n_images_total, channels)`` array per target, the ``(dataset slug, image id)`` of
    each row). Datasets are taken in the given order, images in id order.
    """
    from ..extract import iter_batches, run_extractor

    per_target: list[list[np.ndarray]] = [[] for _ in targets]
    refs: list[tuple[str, int]] = []
    extractor = None
    for ds in datasets:
        records = list(ds.images)
        refs.extend((ds.slug, int(rec.id)) for rec in records)
        k = scores_key(model_key, ds, targets, size) if cache is not None and model_key is not None else None
        got = cache.get_arrays("scores", k) if k else None
        if got is None or any(got.get(f"t{i}", np.zeros((0,))).shape[0] != len(records) for i in range(len(targets))):
            if extractor is None:
                extractor = objectives.objective_model(model_fn(), list(targets))
            paths = [rec.path for rec in records]
            bs = max(1, min(batch_size, len(paths)))
            arrays = (
                run_extractor(
                    extractor,
                    iter_batches(paths, size, bs, preprocess),
                    len(targets),
                    total=len(paths),
                    desc=f"examples · {ds.slug}",
                )
                if paths
                else [np.zeros((0, 0), np.float32) for _ in targets]
            )
            got = {f"t{i}": np.asarray(a, np.float32) for i, a in enumerate(arrays)}
            if k:
                cache.put_arrays("scores", k, **got)
        for i in range(len(targets)):
            per_target[i].append(got[f"t{i}"])
    out = [np.concatenate(parts) if parts else np.zeros((0, 0), np.float32) for parts in per_target]
    return out, refs


def top_examples(
    scores: np.ndarray, refs: Sequence[tuple[str, int]], channels: Sequence[int], k: int = 9
) -> list[list[list[Any]]]:
    """Per channel: ``[[dataset slug, image id], ...]`` of the ``k`` highest scores (stable on ties)."""
    out = []
    for c in channels:
        if scores.size == 0:
            out.append([])
            continue
        order = np.argsort(-scores[:, int(c)].astype(np.float64), kind="stable")[:k]
        out.append([[refs[i][0], refs[i][1]] for i in order])
    return out
