"""Helpers shared by test modules: a real-image dataset subset, the ONE real site build of a test session
(used by test_site_render and test_browser), and what a browser page did (console errors, dialogs, requests).

The real build (``real_site()``): the real pipeline run once per session on a copy of
``../shared/datasets/iconic200`` plus a generated dataset whose folder, class and file names contain
``<script>``, ``<img onerror>``, quotes and ``&``, with 3 layers per model and two small models (the real
MobileNet(alpha=0.75) ImageNet weights and MobileNet with ``random`` weights) and one model whose weights cannot be
had offline (``vgg16`` with ImageNet weights: a "not built" note, as on a real offline build), the Model Explorer with
``--quick``, then rendered. A failing stage FAILS the tests that use the build: a broken Model Explorer is
an error, never a skip.

Set ``PG_TEST_SITE_OUT=DIR`` to reuse a build made earlier by ``real_site()`` (development only).
"""

from __future__ import annotations

import atexit
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from precompute.site import render_site
from precompute.sitedata import read_data_file

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
ARTIFACTS = REPO / "test-artifacts"

KB = 1024
FIRST_VIEW_BUDGET = 1.5 * 1024 * KB
SWITCH_BUDGET = 100 * KB  # any one file a view switch reads, whatever the dataset size
RANK_BUDGET = 30 * KB  # one rankings shard (contract.RankShard): 256 queries, ids and distances as typed arrays
CALIB_BUDGET = 12 * KB  # one view's calibration under one metric: <= 1,024 knots (contract.CalibrationFile)


def within_budget(size_of: Callable[[str], int], keys: Iterable[str]) -> bool:
    """Whether each data file a view switch reads (``size_of(key)`` bytes) is within its budget: a rankings shard
    ``RANK_BUDGET``, a calibration ``CALIB_BUDGET``."""
    return all(size_of(k) <= (CALIB_BUDGET if k.endswith("/calib") else RANK_BUDGET) for k in keys)


SYNTH_N = 20_000
SYNTH_CLASSES = 200

HOSTILE_DATASET = "hostile<svg onload=window.__pwned=5>"
HOSTILE_CLASSES = (
    '<img src=x onerror="window.__pwned=1">',
    'Tom & Jerry\'s "best"',
    "<script>window.__pwned=2<\\script>",
)
HOSTILE_FILES = (
    "<img src=y onerror=window.__pwned=4> {j}.png",
    "a&amp;b \"q\" '{j}'.png",
    "<b>{j}<\\b>.png",
)
# a model the real build asks for but cannot have offline: the site must say so without local paths
UNAVAILABLE_MODEL = "vgg16"


@dataclass
class Row:
    """Query q's top-k in one view and metric, as the page decodes it from the site's files."""

    ids: np.ndarray
    dist: np.ndarray
    near_ppm: np.ndarray
    bound: np.ndarray  # what the contract says each decoded distance is exact to (RankShard)
    score: float | None
    hits: int | None
    key: str  # the rankings shard it was read from


def rank_shard_key(view: str, q: int) -> str:
    """The shard a page reads for query q of ``<ds>/<model>/<layer>/<pooling>/<metric>``: sqeuclidean's rows come
    from euclidean's shard when that says it ranks the same (``RankShard.squared``)."""
    from precompute.sitefiles import RANK_BLOCK

    return f"{view}/{q // RANK_BLOCK}"


def read_row(site: Path, view: str, q: int) -> Row:
    """The rankings row of query q in ``view`` (``<ds>/<model>/<layer>/<pooling>/<metric>``), decoded from the
    site's data files by the contract's rules: ids and distances from its shard, similarity from the view's
    calibration table."""
    from precompute import sitefiles
    from precompute.search import near_ppm
    from precompute.sitedata import read_typed

    base, metric = view.rsplit("/", 1)
    index = read_typed(site, "index")
    square = False
    key = rank_shard_key(view, q)
    if metric == "sqeuclidean" and any(m.slug == "euclidean" for m in index.metrics):
        eu = rank_shard_key(f"{base}/euclidean", q)
        if read_typed(site, eu).squared:
            key, square = eu, True
    shard = read_typed(site, key)
    ids, dist, slack = sitefiles.decode_rankings(shard)
    i = q - shard.first
    d, bound = dist[i], slack[i]  # bound: what the contract says each decoded distance is exact to
    if square:
        d, bound = d**2, 2 * d * bound + bound**2
    near = near_ppm(sitefiles.read_calibration(read_typed(site, f"{view}/calib")).similarity(d, bound))
    # the page's search score and hits: from the ids and the classes (ids are sorted by class)
    starts = read_typed(site, f"datasets/{view.split('/')[0]}").class_start
    score = hits = None
    if starts is not None:
        labels = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
        hit = labels[ids[i]] == labels[q]
        w = (len(hit) - np.arange(len(hit))) / len(hit)  # rank i weighs (k - i) / k
        score, hits = float(100 * (w * hit).sum() / w.sum()), int(hit.sum())
    return Row(ids=ids[i], dist=d, near_ppm=near, bound=bound, score=score, hits=hits, key=key)


def read_rankings(site: Path, base: str, metric: str, n: int) -> dict[str, np.ndarray | None]:
    """Every row of one view joined into arrays: ids, dist, near_ppm, score (or None)."""
    rows = [read_row(site, f"{base}/{metric}", q) for q in range(n)]
    return {
        "ids": np.stack([r.ids for r in rows]),
        "dist": np.stack([r.dist for r in rows]),
        "near_ppm": np.stack([r.near_ppm for r in rows]),
        "bound": np.stack([r.bound for r in rows]),
        "score": None if rows[0].score is None else np.array([r.score for r in rows]),
    }


def small_copy(src: Path, dest: Path, classes: int = 3, per_class: int = 6) -> Path:
    """A real-image subset of a dataset: its first ``classes`` classes, ``per_class`` images each."""
    for cls in sorted(p for p in src.iterdir() if p.is_dir())[:classes]:
        (dest / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:per_class]:
            shutil.copy(f, dest / cls.name / f.name)
    return dest


# ---------------------------------------------------------------------------------------------- real build
@dataclass
class SiteBuild:
    out: Path
    site: Path
    index: dict[str, Any]
    hostile_slug: str
    main_slug: str
    featurevis: bool
    log: str = ""
    local_paths: tuple[str, ...] = ()  # absolute paths of the machine that built it (none may appear in the site)
    extra: dict[str, Any] = field(default_factory=dict)


def make_hostile_dataset(root: Path) -> Path:
    """3 classes x 6 small generated images; every name is an HTML injection attempt."""
    from PIL import Image, ImageDraw

    ds = root / HOSTILE_DATASET
    colours = [(200, 40, 40), (40, 160, 60), (40, 60, 200)]
    for ci, cls in enumerate(HOSTILE_CLASSES):
        folder = ds / cls
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(6):
            im = Image.new("RGB", (96, 96), colours[ci])
            ImageDraw.Draw(im).ellipse((10 + j * 5, 10, 60 + j * 4, 70), fill=(240, 240, 240 - j * 30))
            im.save(folder / HOSTILE_FILES[ci].format(j=j))
    return ds


def _playground() -> list[str]:
    exe = Path(sys.executable).with_name("playground")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from precompute.cli import main; main()"]


def browser_runtime() -> Path:
    """ONNX Runtime Web's dist folder (npm, `make install`): the in-browser search's runtime; skips when npm never
    installed it (CI, where `make test` runs `npm ci`, treats the skip as a failure)."""
    dist = REPO / "node_modules" / "onnxruntime-web" / "dist"
    if not (dist / "ort-wasm-simd-threaded.wasm").is_file():
        pytest.skip("needs onnxruntime-web from npm (`npm ci` in the project; `make install` runs it)")
    return dist


def with_browser_runtime(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a build that ships the in-browser search (conftest turns it off for the others)."""
    return {**(os.environ if env is None else env), "PLAYGROUND_ORT_WEB": str(browser_runtime())}


def _run(args: list[str], log: list[str]) -> None:
    # the unavailable model fails at once, no network probe; the real site ships the in-browser search when npm
    # installed its runtime (the tests of that search skip otherwise; the other tests do not need it)
    env = {**os.environ, "PLAYGROUND_OFFLINE": "1"}
    if (REPO / "node_modules" / "onnxruntime-web" / "dist").is_dir():
        env = with_browser_runtime(env)
    proc = subprocess.run(_playground() + args, capture_output=True, text=True, cwd=REPO, timeout=1800, env=env)
    log.append(f"$ playground {' '.join(args)}\n{proc.stdout}\n{proc.stderr[-4000:]}")
    if proc.returncode != 0:
        raise RuntimeError(f"playground {args[1] if len(args) > 1 else args} failed:\n{proc.stdout}\n{proc.stderr}")


def has_featurevis(site: Path) -> bool:
    path = site / "data" / "explorer" / "index.js"
    return path.exists() and any(m.get("layers") for m in read_data_file(path).get("models", []))


@contextmanager
def once_per_run(name: str) -> Iterator[tuple[Path, bool]]:
    """A folder shared by every process of this test run (the pytest-xdist workers of `make test`), held under
    an exclusive lock; yields (folder, done): ``done`` is True when another worker already made it. The caller
    makes it when not done; the folder is marked done when the block exits without an error."""
    import fcntl

    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    root = Path(tempfile.gettempdir()) / f"pg-tests-{uid}" if uid else _session_dir()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = (root / f"{name}.done").exists()
        folder.mkdir(exist_ok=True)
        yield folder, done
        (root / f"{name}.done").touch()


@lru_cache(maxsize=1)
def _session_dir() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="pg-tests-"))
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


@lru_cache(maxsize=1)
def real_site() -> SiteBuild:
    """Run the real pipeline once per test run and render the site (see the module docstring); every xdist
    worker of the run shares the one build."""
    reuse = os.environ.get("PG_TEST_SITE_OUT")
    log: list[str] = []
    if reuse and (Path(reuse) / "site" / "data" / "index.js").exists():
        tmp = out = Path(reuse)
        render_site(out / "site")
    else:
        from tests import realdata

        iconic = realdata.dataset("iconic200")  # ../shared, or fetched; skips with how when neither can be had
        with once_per_run("real-site") as (tmp, done):
            out = Path(reuse) if reuse else tmp / "out"
            if not done:
                dsroot = tmp / "datasets"
                shutil.copytree(iconic, dsroot / "iconic200", ignore=shutil.ignore_patterns("*.txt", "*.md"))
                hostile = make_hostile_dataset(dsroot)
                # the repo's settings with 3 layers per model, what the tests need (a layer switch, a third layer
                # in the compare chart and the heat map) at 3/8 of the cost of the default 8
                cfg = tmp / "playground.toml"
                text = (REPO / "playground.toml").read_text()
                assert "\nlayers_per_model = 8\n" in text
                cfg.write_text(text.replace("\nlayers_per_model = 8\n", "\nlayers_per_model = 3\n"))
                common = ["--datasets", f"{dsroot / 'iconic200'},{hostile}", "--out", str(out)]
                models = f"mobilenet_075@imagenet,mobilenet@random,{UNAVAILABLE_MODEL}@imagenet"
                # one pooling: the pooling choice is driven on the synthetic builds (test_site_scale)
                pg = ["--config", str(cfg), "-q"]
                _run([*pg, "precompute", *common, "--models", models, "--pooling", "avg"], log)
                _run([*pg, "featurevis", *common, "--models", "mobilenet_075", "--weights", "imagenet", "--quick"], log)
                _run([*pg, "render", "--out", str(out)], log)
                render_site(out / "site")  # the render under test, whatever the CLI wiring does
    site = out / "site"
    ARTIFACTS.mkdir(exist_ok=True)
    if log:
        (ARTIFACTS / "real-build.log").write_text("\n".join(log))
    if not has_featurevis(site):
        pytest.fail("the Model Explorer was not built (featurevis failed or skipped its model): see real-build.log")
    index = read_data_file(site / "data" / "index.js")
    slugs = {d["name"]: d["slug"] for d in index["datasets"]}
    hostile_slug = next(s for n, s in slugs.items() if n.startswith("hostile"))
    local = {str(REPO), str(Path.home()), str(tmp), str(out.resolve()), tempfile.gettempdir().rstrip("/") + "/"}
    if os.environ.get("KERAS_HOME"):
        local.add(os.environ["KERAS_HOME"])
    return SiteBuild(
        out=out,
        site=site,
        index=index,
        hostile_slug=hostile_slug,
        main_slug=slugs.get("iconic200", index["defaults"]["dataset"]),
        featurevis=True,
        log="\n".join(log),
        local_paths=tuple(sorted(p for p in local if len(p) > 1)),
    )


# ----------------------------------------------------------------------------------------- generated build
@lru_cache(maxsize=1)
def synthetic_site() -> Any:
    """The generated site of the session (``tests/synthetic.py``: 20,000 images in 200 classes through the real
    writers). ``PG_TEST_SYNTH_OUT=DIR`` keeps it between runs while developing (rebuilt when the generator or the
    templates changed)."""
    import hashlib
    import pickle

    from tests import synthetic

    reuse = os.environ.get("PG_TEST_SYNTH_OUT")
    if reuse:
        out = Path(reuse)
        stamp = out / "synth.pickle"
        digest = hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()
        if stamp.exists() and (out / "digest").exists() and (out / "digest").read_text() == digest:
            render_site(out / "site")
            return pickle.loads(stamp.read_bytes())
        shutil.rmtree(out, ignore_errors=True)
        synth = synthetic.make_site(out, SYNTH_N, SYNTH_CLASSES)
        stamp.write_bytes(pickle.dumps(synth))
        (out / "digest").write_text(digest)
        return synth
    tmp = Path(tempfile.mkdtemp(prefix="pg-synth-"))
    atexit.register(shutil.rmtree, tmp, True)
    return synthetic.make_site(tmp, SYNTH_N, SYNTH_CLASSES)


# ------------------------------------------------------------------------------------------------ browser
@dataclass
class Watch:
    """What a page did: checked after every test."""

    origin: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)  # substrings of errors / URLs a test provokes on purpose

    def foreign(self) -> list[str]:
        """Requests that left the site (a page's own ``blob:`` URLs, e.g. an image the visitor picked, are local)."""
        own = urlsplit(self.origin)
        blob = "blob:null/" if own.scheme == "file" else f"blob:{own.scheme}://{own.netloc}/"  # file://: origin null
        return [u for u in self.requests if not (u.startswith((self.origin, "data:", blob)))]


def attach(page: Any, watch: Watch) -> None:
    """Record console errors and warnings, uncaught exceptions, requests, responses and dialogs of ``page``."""
    page.on(
        "console",
        lambda m: watch.errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    page.on("request", lambda r: watch.requests.append(r.url))
    page.on(
        "requestfailed",
        lambda r: (
            None
            if "ERR_ABORTED" in (r.failure or "")  # cut by a navigation
            else watch.errors.append(f"requestfailed: {r.url} {r.failure}")
        ),
    )
    page.on("response", lambda r: watch.responses.append((r.url, r.status)))

    def on_dialog(d: Any) -> None:
        watch.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)


# The first-visit intro opens by itself on a fresh profile; tests that are not about it start as a returning
# visitor (the intro already seen), exactly as the page records it.
SEEN_INTRO = "try { localStorage.setItem('pg-intro-seen', '1'); } catch (e) {}"


DESKTOP = {"width": 1280, "height": 900}  # the viewports the browser tests use
PHONE = {"width": 375, "height": 812}

SUBPATH = "convnet-playground"  # the site is served under a sub-path, like a GitHub Pages project site


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser closing a connection early (page closed mid-transfer) is not a test failure


@contextmanager
def serve_site(site: Path) -> Iterator[str]:
    """``site`` served at http://127.0.0.1:PORT/convnet-playground/ by a local static server."""
    root = Path(tempfile.mkdtemp(prefix="pg-serve-"))
    (root / SUBPATH).symlink_to(Path(site).resolve(), target_is_directory=True)
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{SUBPATH}/"
    finally:
        httpd.shutdown()
        shutil.rmtree(root, ignore_errors=True)


class Pages:
    """Factory of browser pages for one test: ``make(viewport=..., origin=..., first_visit=False, ...)`` ->
    (page, watch). ``check()`` (at teardown) fails the test on a console error, an uncaught exception, a dialog,
    a request to another host, a 4xx/5xx response (except those in ``watch.expected``) or injected code."""

    def __init__(self, browser: Any, origin: str):
        self.browser = browser
        self.origin = origin
        self.made: list[tuple[Any, Any, Watch]] = []

    def make(
        self,
        viewport: dict[str, int] | None = None,
        origin: str | None = None,
        first_visit: bool = False,
        color_scheme: str = "light",
        reduced_motion: str = "no-preference",
    ) -> tuple[Any, Watch]:
        ctx = self.browser.new_context(
            viewport=viewport or DESKTOP,
            device_scale_factor=1,
            reduced_motion=reduced_motion,
            color_scheme=color_scheme,
        )
        if not first_visit:
            ctx.add_init_script(SEEN_INTRO)
        page = ctx.new_page()
        watch = Watch(origin=origin or self.origin)
        attach(page, watch)
        self.made.append((ctx, page, watch))
        return page, watch

    def check(self) -> None:
        for ctx, page, watch in self.made:
            try:
                errors = [e for e in watch.errors if not any(x in e for x in watch.expected)]
                assert errors == [], errors
                assert watch.dialogs == [], f"a dialog opened (injected script?): {watch.dialogs}"
                assert watch.foreign() == [], f"requests left the site: {watch.foreign()}"
                bad = [(u, s) for u, s in watch.responses if s >= 400 and not any(x in u for x in watch.expected)]
                assert bad == [], bad
                assert page.evaluate("window.__pwned === undefined"), "injected code ran"
            finally:
                ctx.close()


def wait_ready(page: Any, prev: str | None = None, timeout: float = 15000) -> str:
    """Wait until the page rendered a view newer than ``prev`` (body[data-ready] changes, no aria-busy)."""
    page.wait_for_function(
        "(prev) => document.body.dataset.ready && document.body.dataset.ready !== prev"
        " && !document.body.hasAttribute('aria-busy')",
        arg=prev,
        timeout=timeout,
    )
    return page.evaluate("document.body.dataset.ready")


# Every visible text of a part of the page with its colour and the colour behind it (for WCAG contrast checks).
TEXT_COLOURS = """(root) => {
    const rgba = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
        const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
    const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3]));
    const background = (e) => { const stack = [];
        for (let n = e; n; n = n.parentElement) { const cs = getComputedStyle(n);
            if (cs.backgroundImage !== 'none') return null;  // text over a gradient or picture: not judged here
            const c = rgba(cs.backgroundColor); if (c && c[3] > 0) { stack.push(c); if (c[3] >= 1) break; } }
        let bg = [255, 255, 255]; for (let i = stack.length - 1; i >= 0; i--) bg = over(stack[i], bg); return bg; };
    const out = [];
    for (const e of document.querySelectorAll(root + ' *')) {
        if (!e.checkVisibility || !e.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
        if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
        if (e.closest('[aria-hidden=true], .sr-only, canvas, option, [disabled]')) continue;
        const r = e.getBoundingClientRect(); if (r.width < 1 || r.height < 1) continue;
        const cs = getComputedStyle(e), bg = background(e); if (!bg) continue;
        const fg = rgba(cs.color); let op = 1;
        for (let n = e; n; n = n.parentElement) op *= +getComputedStyle(n).opacity;
        out.push({text: e.textContent.trim().slice(0, 30), cls: String(e.className).slice(0, 40),
                  fg: over([...fg.slice(0, 3), fg[3] * op], bg),
                  bg, size: parseFloat(cs.fontSize), weight: +cs.fontWeight});
    }
    return out;
}"""


def contrast_ratio(fg: tuple[float, float, float], bg: tuple[float, float, float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0..255 channels), computed here independently of the site."""

    def lum(c: tuple[float, float, float]) -> float:
        v = [x / 255 for x in c]
        v = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]

    a, b = lum(fg), lum(bg)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def srgb_to_lab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour with 0..255 channels."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (x / 255 for x in rgb)]
    m = ((0.4124, 0.3576, 0.1805), (0.2126, 0.7152, 0.0722), (0.0193, 0.1192, 0.9505))
    xyz = [sum(m[r][c] * lin[c] for c in range(3)) for r in range(3)]

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = (f(v / w) for v, w in zip(xyz, (0.95047, 1.0, 1.08883), strict=True))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """The CIEDE2000 colour difference, written from Sharma, Wu & Dalal (2005), "The CIEDE2000 Color-Difference
    Formula: Implementation Notes", and checked against that paper's test pairs in the tests."""
    import math

    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    cbar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cbar**7 / (cbar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p, h2p = (math.degrees(math.atan2(b, a)) % 360 for a, b in ((a1p, b1), (a2p, b2)))
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    dl, dc = l2 - l1, c2p - c1p
    dhh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbar, cbarp = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hbar = (h1p + h2p) / 2
    else:
        hbar = (h1p + h2p + (360 if h1p + h2p < 360 else -360)) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(hbar - 30))
        + 0.24 * math.cos(math.radians(2 * hbar))
        + 0.32 * math.cos(math.radians(3 * hbar + 6))
        - 0.20 * math.cos(math.radians(4 * hbar - 63))
    )
    rc = 2 * math.sqrt(cbarp**7 / (cbarp**7 + 25**7))
    sl = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbarp, 1 + 0.015 * cbarp * t
    rt = -math.sin(math.radians(60 * math.exp(-(((hbar - 275) / 25) ** 2)))) * rc
    return math.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh))


# Resolves once two animation frames have passed (what a state change schedules has run) and no data file is
# loading: a wait on a condition, where a fixed sleep would be too short on a slow machine and wasted on a fast one.
_SETTLED = """() => new Promise((done) => {
    const check = () => (PG.inflight() === 0 ? done(true) : setTimeout(check, 10));
    requestAnimationFrame(() => requestAnimationFrame(check));
})"""


def settle(page: Any) -> None:
    """Wait until the page has issued what its last change asks for and every data file has arrived."""
    page.evaluate(_SETTLED)


# Playwright's own 30 s. On CI the first view of the 20,000-image site once took longer than that to go quiet,
# with the other worker building a TensorFlow site beside it on two cores (stop 35); alone it takes 1.5 s.
NETWORK_IDLE_TIMEOUT_MS = 120_000


def network_idle(page: Any) -> None:
    """Wait until the page has had no request in flight for 500 ms (Playwright's "networkidle"), allowing for a
    machine that is busy with other tests."""
    page.wait_for_load_state("networkidle", timeout=NETWORK_IDLE_TIMEOUT_MS)


AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
# What a violation must be to fail a test: axe's two worst impact levels (#25: "0 violations of the serious and
# critical kinds"). Moderate and minor ones are printed, so that they can be seen and fixed when they come.
AXE_FAIL = ("serious", "critical")


def axe_violations(page: Any, where: str) -> list[dict[str, Any]]:
    """Run axe-core (the npm devDependency, so its version is locked) on the page as it is now: every rule,
    WCAG 2.x A/AA and best practices. Returns the serious and critical violations, each with up to five of the
    elements it failed on; prints the rest. axe is evaluated through the DevTools protocol, which the page's CSP
    does not govern, so the page under test keeps its real CSP."""
    if not AXE.is_file():
        pytest.skip("axe-core is not installed: `npm ci` in the project (`make install` runs it)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))"""
    )
    minor = [(v["id"], v["impact"], len(v["nodes"])) for v in found if v["impact"] not in AXE_FAIL]
    if minor:
        print(f"axe, {where}: moderate/minor: {minor}")
    return [v for v in found if v["impact"] in AXE_FAIL]
