"""Approximate rankings of large views: an HNSW graph's candidates, re-ranked exactly, with a measured recall.

Exact search costs n²·d (``search``'s flat FAISS search plus its certificate): at 101,000 images and d = 3,072
(grid2 of a 768-channel layer) about 23 minutes per view for cosine and euclidean on 2 cores. Above
``APPROX_MIN_WORK`` of n²·d (or with ``index = "approximate"``), each kind of search (cosine; the euclidean family,
which also gives approximate minkowski its candidates) goes through an HNSW graph instead:

1. **Graph.** ``faiss.IndexHNSWFlat`` with ``GRAPH_LINKS`` links per node and efConstruction
   ``search.GRAPH_BUILD_EF``, over the same prepared float32 rows as the exact index (its flat storage serves the
   exact searches below: one copy of the rows). Built on one thread, so the graph, hence every answer, is the same
   on every run (``search._Index``): FAISS's parallel insertion links nodes while other threads change the lists
   it reads. FAISS's own deterministic parallel build (``hnsw_deterministic_build``, 2026) is not in the locked
   1.15.1. At 101,000 x 768 the one-thread build takes 35 s, two threads 19 s; a search of every row 18-23 s.
2. **Candidates, re-ranked exactly.** The graph returns K + 8 + K/4 candidates per query; each is re-ranked with
   the exact float64 formulas and sorted by (distance, id), as exact search does. An answer's distances are
   therefore exact; only a true neighbour the graph never reached can be missing.
3. **efSearch chosen by measurement.** On ``TUNE_QUERIES`` seeded dataset rows the exact top-k (flat search and
   certificate) is computed once; efSearch is the first of ``EF_STEPS`` whose recall@k there reaches
   ``TARGET_RECALL`` plus ``TUNE_MARGIN`` for every metric of the kind (and, where minkowski takes its candidates
   from the graph, whose recall of the euclidean top 64 does too).
4. **Recall measured on other queries.** The chosen efSearch is then measured on ``MEASURE_QUERIES`` other seeded
   rows against their exact top-k: that recall is what the summary and the site show. If it misses
   ``TARGET_RECALL`` (or no efSearch reached it in step 3), the kind stays exact, and the ranking says why
   (``Ranking.index_note``).

Minkowski is approximate at these sizes anyway (``search``, step 4 there): its candidates are the euclidean
family's top-65, from the graph when the graph is used; its recall is measured against exact minkowski as before.

Live queries (``playground serve``/``query``) stay exact: one query costs n·d.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import search
from .search import Ranking

INDEX_CHOICES = ("auto", "exact", "approximate")
#: n²·d above which "auto" ranks through the graph. At 2 cores exact cosine + euclidean cost ~4.4e-11 s per unit
#: (10,100 real MobileNet rows, d = 3,072: 13.8 s), so this is ~45 s per view; tinyimagenet10k (at most 3.1e11)
#: stays exact, 101,000 images from d = 99 up go approximate.
APPROX_MIN_WORK = 1e12
GRAPH_LINKS = 32  # HNSW M
EF_STEPS = (32, 64, 128, 256, 512)
TARGET_RECALL = 0.99
#: what the tuning rows must reach: 256 queries x 15 estimate a recall of 0.99 to about +-0.0016 (one standard
#: error), so a search that only just passes them often misses the target on the measuring rows (seen: 0.9892)
TUNE_MARGIN = 0.003
TUNE_QUERIES = 256
MEASURE_QUERIES = 512
CANDIDATES = "minkowski candidates"  # a KindPlan's recall of the top 64 that approximate minkowski re-ranks
VERSION = 1  # joins the cache key of an approximate ranking: bump when the method changes


def uses_graph(n: int, d: int, index: str = "auto") -> bool:
    """Whether a view of ``n`` rows of ``d`` dimensions ranks through the graph under the ``index`` setting."""
    if index not in INDEX_CHOICES:
        raise ValueError(f"index must be one of {INDEX_CHOICES}, not {index!r}")
    if index == "exact" or n < 3:
        return False
    return index == "approximate" or float(n) * n * d > APPROX_MIN_WORK


def key_part(n: int, d: int, index: str) -> dict[str, object]:
    """What an approximate ranking adds to its cache key (nothing for an exact one: their keys stay valid)."""
    if not uses_graph(n, d, index):
        return {}
    return {"index": {"version": VERSION, "links": GRAPH_LINKS, "ef": list(EF_STEPS), "target": TARGET_RECALL}}


@dataclass(frozen=True)
class KindPlan:
    """How one kind of search ("ip" or "l2") was run: the chosen efSearch, or None (exact), and the recalls."""

    kind: str
    ef: int | None
    tune_recall: dict[str, float]  # metric -> recall@k on the tuning rows at the chosen (or largest) efSearch
    recall: dict[str, float]  # metric -> recall@k on the measuring rows (empty when no efSearch passed tuning)

    @property
    def description(self) -> str:
        return "flat" if self.ef is None else f"hnsw M={GRAPH_LINKS} efSearch={self.ef}"

    def note(self) -> str | None:
        """Why a kind the size asked to approximate stayed exact (None when it is approximate)."""
        if self.ef is not None:
            return None
        worst = min((self.recall or self.tune_recall).values())
        where = "on other sampled queries" if self.recall else f"at efSearch {EF_STEPS[-1]}"
        return f"exact: the approximate search's recall@k was {worst:.4f} {where}, below {TARGET_RECALL}"


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of each row of ``truth`` (exact top-k ids) present in the same row of ``found``."""
    hits = sum(len(np.intersect1d(f, t, assume_unique=True)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def _samples(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint seeded tuning and measuring rows (a third and two thirds of them on small data)."""
    order = np.random.default_rng([seed, 0xA77]).permutation(n)
    tune = min(TUNE_QUERIES, max(1, n // 3))
    measure = min(MEASURE_QUERIES, n - tune)
    return np.sort(order[:tune]), np.sort(order[tune : tune + measure])


def _without_self(found: list[tuple[np.ndarray, ...]], rows: np.ndarray, k: int) -> list[tuple[np.ndarray, ...]]:
    out = []
    for ids, vals in found:
        ids, vals = search._drop_self(ids, vals, rows)
        out.append((ids[:, :k], vals[:, :k]))
    return out


def _plan(
    index: search._Index, x: np.ndarray, items: Sequence[tuple[str, search.Finish, int]], K: int, seed: int
) -> KindPlan:
    """Steps 3 and 4 of the module docstring for one kind. ``items``: (name, finish, how many of the top to
    compare): a metric's top k, or ``CANDIDATES``, the top 64 that approximate minkowski re-ranks."""
    tune, measure = _samples(len(x), seed)
    finishes = [f for _, f, _ in items]
    names = [m for m, _, _ in items]
    rows = np.concatenate([tune, measure])
    truth = _without_self(index.topk(x[rows], K, finishes)[0], rows, K - 1)
    t_truth = [ids[: len(tune), :top] for (ids, _), (_, _, top) in zip(truth, items, strict=True)]
    m_truth = [ids[len(tune) :, :top] for (ids, _), (_, _, top) in zip(truth, items, strict=True)]

    def recalls(sample: np.ndarray, ef: int, exact_ids: list[np.ndarray]) -> dict[str, float]:
        got = _without_self(index.approx_topk(x[sample], K, finishes, ef)[0], sample, K - 1)
        return {m: _recall(ids[:, : t.shape[1]], t) for m, (ids, _), t in zip(names, got, exact_ids, strict=True)}

    tuned: dict[str, float] = {}
    for ef in EF_STEPS:
        tuned = recalls(tune, ef, t_truth)
        if min(tuned.values()) >= min(1.0, TARGET_RECALL + TUNE_MARGIN):
            measured = recalls(measure, ef, m_truth) if len(measure) else dict(tuned)
            ok = min(measured.values()) >= TARGET_RECALL
            return KindPlan(index.kind, ef if ok else None, tuned, measured)
    return KindPlan(index.kind, None, tuned, {})


def rank_all(
    emb: np.ndarray,
    metrics: Sequence[str],
    k: int = 15,
    p: float = 3.0,
    *,
    seed: int = 0,
    index: str = "auto",
    block: int = search.QUERY_BLOCK,
) -> dict[str, Ranking]:
    """``search.rank_all``, through the graph where ``uses_graph`` says so (see the module docstring)."""
    x = search._rows(emb)
    n, d = x.shape
    if not uses_graph(n, d, index):
        return search.rank_all(x, metrics, k, p, seed=seed, block=block)
    metrics = list(dict.fromkeys(metrics))
    for m in metrics:
        search._check(m, p)
    k = min(k, n - 1)
    kq = k + 1  # the query itself comes back and is dropped
    finishes = search._finishes(metrics, p)
    lp_exact = "minkowski" in metrics and search.minkowski_exact(n, d, p)
    groups: dict[str, list[tuple[str, search.Finish]]] = {}
    for m in metrics:
        kind, finish = finishes[m]
        if m == "minkowski":
            if lp_exact:
                continue
            kind, finish = "l2", search._same  # the euclidean family's candidates, re-ranked by minkowski
        groups.setdefault(kind, []).append((m, finish))
    kc = min(n, max(search.APPROX_CANDIDATES, k) + 1)
    ids = {m: np.empty((n, k), dtype=np.int32) for m in metrics}
    dist = {m: np.empty((n, k)) for m in metrics}
    fallbacks = dict.fromkeys(metrics, 0)
    plans: dict[str, KindPlan] = {}
    for kind, items in groups.items():
        idx = search._Index(x, kind, p, graph=GRAPH_LINKS)
        # minkowski's candidates are the euclidean family's top kc - 1: the graph must find those too (its recall
        # of a top 64 is lower than of a top 15 at the same efSearch)
        judged = [(CANDIDATES if m == "minkowski" else m, f, kc - 1 if m == "minkowski" else k) for m, f in items]
        K = max([kq] + [kc for m, _ in items if m == "minkowski"])
        plans[kind] = plan = _plan(idx, x, judged, K, seed)
        for s in range(0, n, block):
            e = min(n, s + block)
            q, rows = x[s:e], np.arange(s, e)
            fs = [f for _, f in items]
            found, fb = idx.topk(q, K, fs) if plan.ef is None else idx.approx_topk(q, K, fs, plan.ef)
            for (m, _), (fi, fv) in zip(items, found, strict=True):
                if m == "minkowski":
                    fi = fi[:, :kc]
                    fi, fv = search._sort_rows(fi, search._root(idx.rerank(q, None, fi, "lp"), p), kc)
                else:
                    fi, fv = fi[:, :kq], fv[:, :kq]
                fi, fv = search._drop_self(fi, fv, rows)
                ids[m][s:e], dist[m][s:e] = fi[:, :k], fv[:, :k]
                fallbacks[m] += fb
        del idx
    if lp_exact:
        exact_lp = search.rank_all(x, ["minkowski"], k, p, seed=seed, block=block)["minkowski"]
        ids["minkowski"], dist["minkowski"] = exact_lp.ids, exact_lp.dist
    pairs = search.pair_distances(x, metrics, p, seed=seed)
    out = {}
    for m in metrics:
        plan = plans.get("l2" if m == "minkowski" else finishes[m][0])
        if m == "minkowski" and lp_exact:  # FAISS's exact Lp search is cheap enough at this size
            exact, recall, desc, note = True, None, "flat", None
        elif m == "minkowski":
            exact, recall = False, search.minkowski_recall(x, ids[m], p, seed=seed)
            desc = "exact-L2 candidates re-ranked" if plan is None or plan.ef is None else plan.description
            desc = f"minkowski from the euclidean family's top {kc - 1} ({desc})"
            note = None
        elif plan is None or plan.ef is None:
            exact, recall, desc = True, None, "flat"
            note = None if plan is None else plan.note()
        else:
            exact, recall, desc, note = False, plan.recall[m], plan.description, None
        out[m] = Ranking(
            ids[m],
            dist[m],
            search.similarity(dist[m], pairs[m]),
            exact,
            recall,
            fallbacks[m],
            search.calibration_table(pairs[m]),
            index=desc,
            index_note=note,
        )
    return out
