"""A generated site at real dataset size, written through the REAL site writers (for the browser tests).

``make_site(out, n=20_000, classes=200)`` draws ``n`` small images (32-px coloured shapes, seeded), packs them with
``siteimages.write_site_images``, and writes every data file of the contract with the ``sitefiles`` writers and
the ``contract`` types: dataset files and file-name shards, rankings shards, maps, compare shards, the
leaderboard, the index, the static ``serve`` answer, a small Model Explorer index with one pending layer. Then
``site.render_site``. Nothing here runs a network: the numbers are synthetic but valid, and their structure is
known, so the tests can check what the pages show against an independent computation:

* ids are sorted by class and the class sizes are uneven (``class_start`` is not a multiple of anything);
* the neighbours of a query are mostly in its class (more so at deeper layers), distances grow with the rank
  and some are tied (equal distance and similarity); the calibration makes them near neighbours among
  ``n^2/2`` pairs (``near_ppm`` of a few to a few hundred parts per million), so their similarities differ only
  in the third or fourth decimal of a percentage;
* scores and hits follow from the labels of the neighbours with the search-score formula (``score_of``);
* maps put each class in its own cluster (tighter at deeper layers);
* a second, unlabelled dataset of larger images has display images and no scores (``n/a`` everywhere).

``python -m tests.synthetic OUT [N]`` writes one for looking at (``../shared/tools/look.py OUT/site ...``).
"""

from __future__ import annotations

import hashlib
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from PIL import Image, ImageDraw

from precompute import contract as c
from precompute import perclass, sitefiles
from precompute.datasets import Dataset, ImageRecord
from precompute.search import Calibration
from precompute.site import render_site
from precompute.sitedata import DataDir
from precompute.siteimages import write_site_images

K = 15
METRICS = ("cosine", "euclidean")
POOLINGS = (
    ("avg", "average", "mean of each channel over the image: what the whole image shows"),
    ("gem", "GeM", "generalised mean (p = 3): leans towards the strongest responses, like max"),
)
MODELS = (
    # slug, display, random weights, layer count
    ("net_a", "Net A (alpha 0.5)", False, 3),
    ("net_b", "Net B", True, 2),
)
PLAIN = "plain"  # the unlabelled dataset
VARIANTS = 12  # distinct drawn images per class


@dataclass
class Synth:
    """What was written, for the tests: the site folder and the arrays behind its files."""

    out: Path
    site: Path
    n: int
    classes: list[str]
    class_start: list[int]
    labels: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)  # <ds>/<model>/<layer>/<pooling> -> (n, 2)
    seconds: float = 0.0

    def row(self, view: str, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, dist, near_ppm) of query q in view ``<ds>/<model>/<layer>/<pooling>/<metric>``, read back from
        its rankings shard (what the page reads)."""
        from tests.helpers import read_row

        r = read_row(self.site, view, q)
        return r.ids, r.dist, r.near_ppm


def score_of(hit: np.ndarray) -> np.ndarray:
    """The search score of each row of a (queries, k) boolean hit matrix (docs: rank i weighs (k - i) / k)."""
    k = hit.shape[1]
    w = (k - np.arange(k)) / k
    return 100.0 * (hit * w).sum(1) / w.sum()


# ------------------------------------------------------------------------------------------------ images
def _image_bytes(rng: np.random.Generator, cls: int, n_classes: int, side: int) -> bytes:
    hue = (cls * 0.61803398875) % 1.0
    base = tuple(int(255 * v) for v in _hsv(hue, 0.65, 0.85))
    bg = tuple(int(255 * v) for v in _hsv((hue + 0.5) % 1.0, 0.15, 0.25 + 0.5 * rng.random()))
    im = Image.new("RGB", (side, side), bg)
    d = ImageDraw.Draw(im)
    s = side * (0.45 + 0.35 * rng.random())
    x0, y0 = rng.random() * (side - s), rng.random() * (side - s)
    box = (x0, y0, x0 + s, y0 + s)
    shape = cls % 4
    if shape == 0:
        d.ellipse(box, fill=base)
    elif shape == 1:
        d.rectangle(box, fill=base)
    elif shape == 2:
        d.polygon([(x0 + s / 2, y0), (x0, y0 + s), (x0 + s, y0 + s)], fill=base)
    else:
        d.line([(x0, y0), (x0 + s, y0 + s)], fill=base, width=max(2, side // 8))
        d.line([(x0, y0 + s), (x0 + s, y0)], fill=base, width=max(2, side // 8))
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    import colorsys

    return colorsys.hsv_to_rgb(h, s, v)


def make_dataset(
    root: Path,
    name: str,
    sizes: list[int] | None,
    n_plain: int = 0,
    side: int = 32,
    *,
    slug: str | None = None,
    class_names: list[str] | None = None,
    file_names: list[str] | None = None,
) -> Dataset:
    """Write the images of a dataset and return it as the scanner would (ids sorted by class). ``class_names`` and
    ``file_names`` (formats with ``{j}``, one per class) replace the generated names (hostile names, for
    example)."""
    slug = slug or name
    rng = np.random.default_rng(len(slug))
    folder = root / slug
    recs: list[ImageRecord] = []
    classes: tuple[str, ...] = ()
    if sizes is not None:
        classes = tuple(
            class_names
            or [f"class {i:03d}" + (" · long name of a category" if i % 37 == 5 else "") for i in range(len(sizes))]
        )
        fmt = file_names or ["img_{j:05d}.png"] * len(sizes)
        items = [(ci, f"{classes[ci]}/{fmt[ci].format(j=j)}") for ci, size in enumerate(sizes) for j in range(size)]
    else:
        items = [(None, f"photo_{j:05d}.png") for j in range(n_plain)]
    variants: dict[tuple[int | None, int], tuple[Path, str]] = {}
    for i, (ci, rel) in enumerate(items):
        key = (ci, i % VARIANTS)  # VARIANTS drawn images per class, shared by its records (fewer files to write)
        if key not in variants:
            path = folder / "_src" / f"{ci}_{key[1]}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = _image_bytes(rng, ci if ci is not None else i % 7, len(classes) or 7, side)
            path.write_bytes(data)
            variants[key] = (path, hashlib.sha256(data).hexdigest())
        path, sha = variants[key]
        recs.append(ImageRecord(id=i, path=path, rel=rel, label=ci, sha256=sha, width=side, height=side))
    digest = hashlib.sha256("".join(r.sha256 for r in recs).encode()).hexdigest()
    return Dataset(
        name=name,
        slug=slug,
        root=folder,
        images=tuple(recs),
        classes=classes,
        labeled=sizes is not None,
        content_hash=digest,
        meta={
            "description": f"A generated dataset of {len(recs)} images.",
            "source": "tests/synthetic.py",
            "licence": "CC0",
            "attribution": "generated",
        },
    )


def class_sizes(n: int, classes: int, rng: np.random.Generator) -> list[int]:
    """Uneven class sizes summing to ``n`` (between about half and one and a half times the mean)."""
    w = 0.5 + rng.random(classes)
    sizes = np.maximum(1, np.floor(w / w.sum() * n)).astype(int)
    sizes[: n - sizes.sum()] += 1 if n > sizes.sum() else 0
    while sizes.sum() > n:
        sizes[np.argmax(sizes)] -= 1
    return sizes.tolist()


# ------------------------------------------------------------------------------------------------ rankings
def rankings(
    labels: np.ndarray | None,
    starts: np.ndarray | None,
    n: int,
    purity: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, dist) of every query: ``purity`` of the neighbours in the query's class, never the query itself,
    distances growing with the rank with ties (see module doc)."""
    rng = np.random.default_rng(seed)
    q = np.arange(n)
    j = np.arange(K)
    if labels is None:
        ids = (q[:, None] + rng.integers(1, n - K + 1, size=(n, 1)) + j) % n
    else:
        lo, size = starts[labels], starts[labels + 1] - starts[labels]
        r = 1 + (rng.random(n) * np.maximum(1, size - K)).astype(np.int64)
        same = lo[:, None] + ((q - lo + r)[:, None] + j) % size[:, None]
        other = rng.integers(0, n, size=(n, K))
        ids = np.where(rng.random((n, K)) < purity, same, other)
    # rare: a random pick equal to the query or to another pick; replace those by ids after the query
    bad = (ids == q[:, None]).any(1) | (np.sort(ids, 1)[:, 1:] == np.sort(ids, 1)[:, :-1]).any(1)
    for row in np.nonzero(bad)[0]:
        seen: list[int] = []
        for v in ids[row].tolist() + [(row + i) % n for i in range(1, 3 * K)]:
            if v != row and v not in seen:
                seen.append(v)
        ids[row] = seen[:K]
    steps = 0.02 + 0.05 * rng.random((n, K))
    steps[:, 3] = 0.0  # a tie at ranks 3 and 4
    dist = 0.2 + np.cumsum(steps, axis=1)
    return ids.astype(np.int64), dist


def calibration(n: int) -> Calibration:
    """A similarity calibration for these distances: near neighbours (0.2 to ~1.3) are the closest 20 to ~700
    parts per million of n^2/2 pairs, the farthest pair at 3 (interpolated between knots)."""
    pairs = n * (n - 1) // 2
    knots = np.unique(np.concatenate([np.linspace(0.2, 1.6, 700), np.linspace(1.6, 3.0, 300)]).astype(np.float32))
    d = knots.astype(np.float64)
    frac = np.where(d <= 1.6, 2e-5 * 50.0 ** ((d - 0.2) / 1.2), 0.0)
    top = 2e-5 * 50.0 ** (1.4 / 1.2)
    frac = np.where(d > 1.6, top + (1 - top) * (d - 1.6) / 1.4, frac)
    count = np.maximum(1, np.round(frac * pairs)).astype(np.int64)
    count[-1] = pairs
    return Calibration(d, np.maximum.accumulate(count), pairs, 0)


def cluster_map(labels: np.ndarray | None, n: int, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.clip(rng.normal(0.5, 0.18, size=(n, 2)), 0, 1)
    nc = int(labels.max()) + 1
    side = int(np.ceil(np.sqrt(nc)))
    centres = (np.stack([np.arange(nc) % side, np.arange(nc) // side], 1) + 0.5) / side
    centres += rng.normal(0, 0.15 / side, size=centres.shape)
    xy = centres[labels] + rng.normal(0, spread / side, size=(n, 2))
    return np.clip(xy, 0, 1)


# ------------------------------------------------------------------------------------------------ the site
def _layer(i: int, n_layers: int) -> c.LayerInfoOut:
    return c.LayerInfoOut(
        slug=f"conv{i + 1}",
        name=f"block{i + 1}_conv",
        type="Conv2D",
        depth_index=4 * i + 1,
        conv_index=i,
        n_conv=n_layers,
        params=1000 * (i + 1),
        channels=16 * 2**i,
        output_shape=[None, 32 // 2**i, 32 // 2**i, 16 * 2**i],
    )


@dataclass(frozen=True)
class Extra:
    """A further small labelled dataset: its name, slug, class names, file-name formats (``{j}``) and size per
    class (e.g. one whose every name is an HTML injection attempt)."""

    name: str
    slug: str
    classes: list[str]
    files: list[str]
    per_class: int
    side: int = 96


def make_site(
    out: Path,
    n: int = 20_000,
    classes: int = 200,
    *,
    plain: int = 240,
    extra: tuple[Extra, ...] = (),
    with_explorer: bool = True,
) -> Synth:
    """Write the generated site into ``out/site`` (images under ``out/datasets``); see the module docstring."""
    t0 = time.perf_counter()
    # a throwaway test site needs no durability: the writers run unchanged except that fsync is skipped
    # (5 ms per file on a shared disk: most of the time of ~3,000 files)
    with mock.patch("precompute.atomic.os.fsync"):
        synth = _make_site(Path(out), n, classes, plain=plain, extra=extra, with_explorer=with_explorer)
    synth.seconds = time.perf_counter() - t0
    return synth


def _make_site(out: Path, n: int, classes: int, *, plain: int, extra: tuple[Extra, ...], with_explorer: bool) -> Synth:
    site = out / "site"
    rng = np.random.default_rng(7)
    ds = make_dataset(out / "datasets", "synth", class_sizes(n, classes, rng))
    dsets = [ds]
    if plain:
        dsets.append(make_dataset(out / "datasets", PLAIN, None, n_plain=plain, side=160))
    for e in extra:
        dsets.append(
            make_dataset(
                out / "datasets",
                e.name,
                [e.per_class] * len(e.classes),
                side=e.side,
                slug=e.slug,
                class_names=e.classes,
                file_names=e.files,
            )
        )
    data = DataDir(site)
    layouts = {d.slug: write_site_images(d, site, out / "state") for d in dsets}
    labels = np.array([r.label for r in ds.images])
    starts = np.array(sitefiles.class_starts(ds))
    synth = Synth(out=out, site=site, n=n, classes=list(ds.classes), class_start=starts.tolist(), labels=labels)

    board = c.Leaderboard(score={}, precision={}, knn={}, probe={}, probe_std={})
    models_out: list[c.ModelOut] = []
    seed = 0
    for d in dsets:
        sitefiles.write_dataset(data, d, layouts[d.slug])
        lab = np.array([r.label for r in d.images]) if d.labeled else None
        st = np.array(sitefiles.class_starts(d)) if d.labeled else None
        nd = len(d.images)
        for pooling, _, _ in POOLINGS:
            cmp_scores: dict[str, dict[str, list[np.ndarray | None]]] = {m: {} for m in METRICS}
            for slug, _display, random_w, n_layers in MODELS:
                per_class: dict[str, list[tuple[str, perclass.ClassSummary]]] = {m: [] for m in METRICS}
                for metric in METRICS:
                    cmp_scores[metric][slug] = []
                for li in range(n_layers):
                    layer = _layer(li, n_layers).slug
                    depth = (li + 1) / n_layers
                    purity = (0.25 + 0.7 * depth) * (0.5 if random_w else 1.0) * (1.1 if pooling == "gem" else 1.0)
                    view = sitefiles.view_key(d.slug, slug, layer, pooling)
                    seed += 1
                    xy = cluster_map(lab, nd, 1.2 - 0.9 * depth, seed)
                    sitefiles.write_map(data, view, xy)
                    if d is ds:
                        synth.maps[view] = xy
                    for metric in METRICS:
                        seed += 1
                        ids, dist = rankings(lab, st, nd, min(0.98, purity - (0.05 if metric != "cosine" else 0)), seed)
                        if lab is not None:
                            hit = lab[ids] == lab[:, None]
                            scores, hits = score_of(hit), hit.sum(1)
                        else:
                            scores = hits = None
                        exact = not (metric == "euclidean" and random_w)  # one approximate kind of view
                        sitefiles.write_rankings(
                            data, view, metric, ids, dist, n_images=nd, exact=exact, recall=None if exact else 0.9731
                        )
                        sitefiles.write_calibration(data, view, metric, calibration(nd))
                        cmp_scores[metric][slug].append(scores)
                        if lab is not None:
                            per_class[metric].append(
                                (
                                    view,
                                    perclass.summarise(
                                        ids, lab, len(d.classes), scores=scores, precision=hits / ids.shape[1]
                                    ),
                                )
                            )
                            sitefiles.write_scores(data, view, metric, scores)
                        for kind, value in (
                            ("score", None if scores is None else round(float(scores.mean()), 2)),
                            ("precision", None if hits is None else round(float(hits.mean() / K), 4)),
                            ("knn", None if lab is None else round(min(99.0, 40 + 55 * purity), 2)),
                        ):
                            getattr(board, kind).setdefault(d.slug, {}).setdefault(pooling, {}).setdefault(
                                metric, {}
                            ).setdefault(slug, []).append(value)
                    probe = None if lab is None else round(min(99.5, 30 + 60 * purity + 3 * li), 2)
                    board.probe.setdefault(d.slug, {}).setdefault(pooling, {}).setdefault(slug, []).append(probe)
                    board.probe_std.setdefault(d.slug, {}).setdefault(pooling, {}).setdefault(slug, []).append(
                        None if lab is None else round(0.4 + 0.3 * li, 2)
                    )
                for metric, views in per_class.items():
                    by_layer = [summary.score for _, summary in views]
                    for view, summary in views:
                        data.put(f"{view}/{metric}/classes", sitefiles.classes_file(summary, by_layer))
            models = [(slug, [_layer(i, nl).slug for i in range(nl)]) for slug, _, _, nl in MODELS]
            for metric in METRICS:
                sitefiles.write_compare(data, d, pooling, metric, models, cmp_scores[metric])
    for slug, display, random_w, n_layers in MODELS:
        models_out.append(
            c.ModelOut(
                slug=slug,
                name=slug,
                display=display,
                weights="random" if random_w else "imagenet",
                random=random_w,
                params=250_000 * n_layers,
                input_size=96,
                n_layers=4 * n_layers + 2,
                explorer_only=False,
                layers=[_layer(i, n_layers) for i in range(n_layers)],
            )
        )
    data.put("leaderboard", board)
    from precompute.datasets import dataset_json

    data.put(
        "index",
        c.Index(
            build=c.BuildInfo(
                version="synthetic",
                backend="tensorflow",
                poolings=[p for p, _, _ in POOLINGS],
                minkowski_p=3.0,
                seed=0,
                k=K,
                format=c.DATA_FORMAT,  # the pages refuse data of another format
            ),
            datasets=[c.DatasetInfo(**dataset_json(d)) for d in dsets],
            models=models_out,
            metrics=[c.Choice(slug=m, name=m, description=f"{m} distance between embeddings") for m in METRICS],
            poolings=[c.Choice(slug=s, name=nm, description=desc) for s, nm, desc in POOLINGS],
            k=K,
            defaults=c.Defaults(
                dataset=ds.slug, model="net_a", layer=_layer(2, 3).slug, metric="cosine", pooling="avg"
            ),
            missing=[],
            shards=sitefiles.shards(),
        ),
    )
    sitefiles.write_serve_stub(data)
    # every build writes web/index (browsersearch.py); the generated networks have no ONNX model to ship
    data.put(
        "web/index",
        c.BrowserIndex(
            available=False,
            why="the generated test site has no network to run",
            runtime=None,
            runtime_bytes=0,
            max_images=0,
            datasets=[],
            poolings={},
            left_out=[],
            models=[],
            minkowski_p=3,
        ),
    )
    if with_explorer:
        _explorer(data, site)
    render_site(site)
    return synth


def _layer_table(n_layers: int) -> list[dict[str, Any]]:
    """Every layer of the model (layers.LayerRow.to_json): the selected conv layers among the others."""
    rows = [{"index": 0, "name": "input", "type": "InputLayer", "params": 0, "output_shape": [None, 96, 96, 3]}]
    for i in range(n_layers):
        la = _layer(i, n_layers)
        rows += [
            {
                "index": la.depth_index,
                "name": la.name,
                "type": la.type,
                "params": la.params,
                "output_shape": la.output_shape,
            },
            {
                "index": la.depth_index + 1,
                "name": f"block{i + 1}_relu",
                "type": "ReLU",
                "params": 0,
                "output_shape": la.output_shape,
            },
        ]
    return rows


def _explorer(data: DataDir, site: Path) -> None:
    """A Model Explorer index for net_a: its first layer rendered (3 channels), the others pending."""
    slug, display, _, n_layers = MODELS[0]
    layers: list[c.ExplorerLayerInfo] = []
    for i in range(n_layers):
        la = _layer(i, n_layers)
        pending = i > 0
        channels = [0, 2, 5]
        rows = []
        for ch in channels:
            rel = None
            if not pending:
                rel = f"fv/{slug}/{la.slug}/{ch}.webp"
                img = Image.new("RGB", (48, 48), (40 * ch % 255, 120, 200 - 20 * ch))
                path = site / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                img.save(path, "WEBP", quality=80)
            rows.append(
                c.ExplorerChannel(
                    channel=ch,
                    image=rel,
                    examples=[["synth", 3 + ch], ["synth", 900 + ch]],
                    activation=None if pending else 1.5,
                )
            )
        data.put(
            f"explorer/{slug}/{la.slug}",
            c.ExplorerLayer(model=slug, layer=la.slug, name=la.name, quick=True, pending=pending, channels=rows),
        )
        layers.append(
            c.ExplorerLayerInfo(
                slug=la.slug,
                name=la.name,
                type=la.type,
                depth_index=la.depth_index,
                conv_index=la.conv_index,
                params=la.params,
                channels=la.channels,
                output_shape=la.output_shape,
                visualized=channels,
                dead=1,
                target={"kind": "channel"},
                data=f"explorer/{slug}/{la.slug}",
                images=f"fv/{slug}/{la.slug}/",
                pending=pending,
            )
        )
    data.put(
        "explorer/index",
        c.ExplorerIndex(
            version=1,
            quick=True,
            profile="quick",
            settings={"channels": 3},
            backend="tensorflow",
            datasets=["synth"],
            models=[
                c.ExplorerModel(
                    slug=slug,
                    name=slug,
                    display=display,
                    weights="imagenet",
                    weights_id="imagenet",
                    random=False,
                    quick=True,
                    params=750_000,
                    input_size=96,
                    render_size=64,
                    steps=64,
                    n_layers=4 * n_layers + 2,
                    layers=layers,
                    layer_table=_layer_table(n_layers),
                )
            ],
            pending=n_layers - 1,
        ),
    )


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path("build/synthetic")
    n = int(argv[1]) if len(argv) > 1 else 20_000
    s = make_site(out, n)
    files = sum(1 for p in s.site.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in s.site.rglob("*") if p.is_file())
    print(f"{s.site}: {n} images, {files} files, {size / 2**20:.1f} MiB, {s.seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])


__all__: list[Any] = ["make_site", "Synth", "score_of"]
