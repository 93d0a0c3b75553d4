"""The built site in a real browser: Debian's Chromium driven by Playwright (Python).

Everything runs against ONE real build (``tests.helpers.real_site()``: the real pipeline on iconic200
plus a dataset with hostile names, two small models, one with random weights), served from a sub-path
(``/convnet-playground/``, like a GitHub Pages project site) by a local server, and opened from file://.
Every test fails on a console error, an uncaught exception, a JavaScript dialog (what an injected
``alert`` would open) or a request to any host but the site's own. Screenshots go to ``test-artifacts/``.
The same page at real dataset sizes (20,000 and 100,000 images), the pooling choice and the own-image search
are tested on a generated site in ``test_site_scale.py``.

Chromium: ``apt-get install chromium`` (``make browser``); Playwright cannot download browsers here.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from precompute.contract import DATA_FORMAT
from precompute.sitedata import read_data_file
from precompute.sitefiles import decode_map
from tests.helpers import (
    ARTIFACTS,
    DESKTOP,
    FIRST_VIEW_BUDGET,
    HOSTILE_CLASSES,
    PHONE,
    SUBPATH,
    SWITCH_BUDGET,
    TEXT_COLOURS,
    UNAVAILABLE_MODEL,
    Pages,
    SiteBuild,
    Watch,
    axe_violations,
    ciede2000,
    contrast_ratio,
    network_idle,
    read_row,
    real_site,
    serve_site,
    settle,
    srgb_to_lab,
    wait_ready,
    within_budget,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def build() -> SiteBuild:
    return real_site()


@pytest.fixture(scope="session")
def server(build: SiteBuild) -> Iterator[str]:
    """The site served at http://127.0.0.1:PORT/convnet-playground/ (a Pages-like sub-path)."""
    with serve_site(build.site) as url:
        yield url


@pytest.fixture()
def new_page(browser: Any, server: str) -> Iterator[Any]:
    """Factory: new_page(viewport=DESKTOP, origin=server, first_visit=False, ...) -> (page, watch).
    ``first_visit``: a fresh profile (the intro opens); otherwise a returning visitor. Checks run at teardown."""
    pages = Pages(browser, server)

    def make(viewport: dict[str, int] = DESKTOP, **kw: Any) -> tuple[Any, Watch]:
        return pages.make(viewport, **kw)

    yield make
    pages.check()


# ------------------------------------------------------------------------------------------------ helpers
def ready_token(page: Any) -> str | None:
    return page.evaluate("document.body.dataset.ready || null")


def state(page: Any) -> dict[str, Any]:
    return page.evaluate("PG.page.state()")


def data(build: SiteBuild, key: str) -> Any:
    return read_data_file(build.site / "data" / f"{key}.js")


def view_of(s: dict[str, Any]) -> str:
    return f"{s['ds']}/{s['model']}/{s['layer']}/{s['pool']}/{s['metric']}"


def rank_key(s: dict[str, Any], build: SiteBuild) -> str:
    """The rankings shard the page reads for the state's query (sqeuclidean: euclidean's, when it ranks the same)."""
    return read_row(build.site, view_of(s), s["q"]).key


def view_keys(s: dict[str, Any], build: SiteBuild) -> set[str]:
    """What a view switch reads: the query's rankings shard and the view's calibration under its metric."""
    return {rank_key(s, build), f"{view_of(s)}/calib"}


def map_key(s: dict[str, Any]) -> str:
    return f"{s['ds']}/{s['model']}/{s['layer']}/{s['pool']}/map"


def rank_row(build: SiteBuild, s: dict[str, Any]) -> dict[str, Any]:
    """The rankings row of the state's query, decoded from its shard: {ids, dist, near_ppm, score, hits}."""
    r = read_row(build.site, view_of(s), s["q"])
    return {
        "ids": r.ids.tolist(),
        "dist": r.dist.tolist(),
        "near_ppm": r.near_ppm.tolist(),
        "score": r.score,
        "hits": r.hits,
    }


def map_xy(build: SiteBuild, s: dict[str, Any]) -> Any:
    return decode_map(data(build, map_key(s))["xy"])


def label_of(ds: dict[str, Any], i: int) -> int | None:
    """An image's class from the dataset file: ids are sorted by class (class_start)."""
    starts = ds["class_start"]
    if starts is None:
        return None
    return next(c for c in range(len(ds["classes"])) if starts[c] <= i < starts[c + 1])


def file_of(build: SiteBuild, ds: dict[str, Any], i: int) -> str:
    shard = data(build, f"datasets/{ds['slug']}/files/{i // ds['files_block']}")
    return shard["files"][i - shard["first"]]


def requests_after(page: Any, n: int) -> list[str]:
    return page.evaluate("(n) => PG.requests.slice(n)", n)


def n_requests(page: Any) -> int:
    return page.evaluate("PG.requests.length")


def key_bytes(build: SiteBuild, keys: list[str], gz: bool = False) -> int:
    files = [build.site / "data" / f"{k}.js" for k in keys]
    return sum(len(gzip.compress(f.read_bytes(), 9)) if gz else f.stat().st_size for f in files)


def record(name: str, values: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "browser-measurements.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old[name] = values
    path.write_text(json.dumps(old, indent=2, sort_keys=True))


def expected_score_text(build: SiteBuild, s: dict[str, Any]) -> tuple[float, str]:
    r = rank_row(build, s)
    return r["score"], f"{r['hits']} / {len(r['ids'])}"


def shown_score(page: Any) -> float:
    return float(page.locator("#score-number").inner_text())


def served_file(build: SiteBuild, url: str) -> Path | None:
    path = unquote(urlparse(url).path)
    marker = f"/{SUBPATH}/"
    if marker not in path:
        return None
    return build.site / path.split(marker, 1)[1]


CHECKED_LAYER = "[...document.querySelectorAll('#tiles-layer [role=radio]')].findIndex(e => e.ariaChecked === 'true')"


def set_hash(page: Any, h: str) -> None:
    page.evaluate("(h) => { location.hash = h; }", h)


def screenshot(page: Any, name: str, full: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full)
    return path


# the element's top edge is on screen, in the upper part of the viewport (where PG.reveal puts it)
IN_VIEW = "(e) => { const r = e.getBoundingClientRect(); return r.top >= -1 && r.top < innerHeight * 0.6; }"


def in_viewport(page: Any, selector: str) -> bool:
    return page.evaluate(f"(sel) => ({IN_VIEW})(document.querySelector(sel))", selector)


# whether map point i is inside the browser's viewport (not only inside the canvas)
POINT_ON_SCREEN = """(i) => { const m = PG.page.map(), r = m.canvas.getBoundingClientRect(), p = m.screenPos(i);
    return r.top + p.y >= 0 && r.top + p.y <= innerHeight && r.left + p.x >= 0 && r.left + p.x <= innerWidth; }"""


def show_map(page: Any) -> None:
    page.locator("#map-section").scroll_into_view_if_needed()
    page.wait_for_function("() => PG.page.map() && PG.page.map().n > 0 && !PG.page.map().anim")


def grid_cell(page: Any, i: int) -> Any:
    """The dataset grid's cell of image i, scrolled into the (virtualised) grid's view first."""
    page.evaluate(
        """(i) => { const g = document.querySelector('#grid'), st = PG.page.grid();
        const y = Math.floor(i / st.cols) * (st.cell + 6); g.scrollTop = Math.max(0, y - 40); }""",
        i,
    )
    page.wait_for_selector(f"#grid .cell[data-id='{i}']")
    return page.locator(f"#grid .cell[data-id='{i}']")


# ------------------------------------------------------------------------------------------------ tests
def test_first_view_basic_search_and_budget(build: SiteBuild, server: str, new_page: Any) -> None:
    page, watch = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    network_idle(page)
    s = state(page)
    d = build.index["defaults"]
    assert (s["ds"], s["model"], s["layer"], s["pool"], s["metric"], s["q"]) == (
        d["dataset"],
        d["model"],
        d["layer"],
        d["pooling"],
        d["metric"],
        0,
    )
    assert page.locator("#results li").count() == 15
    score, hits = expected_score_text(build, s)
    assert abs(shown_score(page) - score) <= 0.051
    assert hits in page.locator("#score-hits").inner_text()
    ds = data(build, f"datasets/{s['ds']}")
    assert page.locator("#query-class").inner_text().strip() == ds["classes"][label_of(ds, 0)]
    page.wait_for_function(  # the file name, from its shard
        "(f) => document.querySelector('#query-file').textContent.includes(f)", arg=file_of(build, ds, 0).split("/")[-1]
    )

    # first view: every byte the browser fetched (uncompressed; the server does not gzip)
    own = [served_file(build, u) for u, st in watch.responses if st == 200]
    first_bytes = sum(p.stat().st_size for p in own if p and p.is_file())
    assert first_bytes <= FIRST_VIEW_BUDGET, first_bytes
    data_keys = page.evaluate("PG.requests.slice()")
    assert not any(k.endswith("/map") for k in data_keys), "the map is off screen: its file is not read"
    assert rank_key(s, build) in data_keys

    # click the 3rd result: it becomes the query; score and hits follow the data
    third = page.locator("#results li .result").nth(2)
    target = int(third.get_attribute("data-id"))
    tok = ready_token(page)
    third.click()
    wait_ready(page, tok)
    s2 = state(page)
    assert s2["q"] == target and f"q={target}" in page.url
    score, hits = expected_score_text(build, s2)
    assert abs(shown_score(page) - score) <= 0.051
    assert hits in page.locator("#score-hits").inner_text()
    ids = rank_row(build, s2)["ids"]
    assert [int(x) for x in page.locator("#results .result").evaluate_all("els => els.map(e => e.dataset.id)")] == ids
    record("first_view", {"bytes": first_bytes, "requests": len(own), "data_requests": data_keys})
    # back restores the previous query
    tok = ready_token(page)
    page.go_back()
    wait_ready(page, tok)
    assert state(page)["q"] == 0


def test_the_page_decodes_rankings_and_similarity_as_the_contract_says(
    build: SiteBuild, server: str, new_page: Any
) -> None:
    """The rows the page shows, from its own decoding of the typed-array shards and calibration files, are the
    Python decoder's to the bit: ids, distances (sqeuclidean from euclidean's shard, squared), near_ppm (the
    staircase among the closest pairs with the row's slack, interpolated beyond), score and hits."""
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    s = state(page)
    layers = [la["slug"] for m in build.index["models"] if m["slug"] == s["model"] for la in m["layers"]]
    checked = 0
    for metric in [m["slug"] for m in build.index["metrics"]]:
        for layer in (layers[0], layers[-1]):
            for q in (0, 7, 199):
                view = {"ds": s["ds"], "model": s["model"], "layer": layer, "pooling": s["pool"], "metric": metric}
                got = page.evaluate("([v, q]) => PG.data.row(v, q)", [view, q])
                want = read_row(build.site, f"{s['ds']}/{s['model']}/{layer}/{s['pool']}/{metric}", q)
                assert got["ids"] == want.ids.tolist(), (metric, layer, q)
                assert got["dist"] == want.dist.tolist(), (metric, layer, q)  # the same float64 operations
                assert got["near"] == want.near_ppm.tolist(), (metric, layer, q)
                assert got["hits"] == want.hits and abs(got["score"] - want.score) < 1e-9, (metric, layer, q)
                checked += 1
    assert checked == 6 * len(build.index["metrics"])


def test_advanced_toggle_each_switch_and_keyboard(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    assert page.locator("#advanced").is_hidden()
    page.click("#adv-toggle")
    assert page.locator("#advanced").is_visible()
    assert page.get_attribute("#adv-toggle", "aria-expanded") == "true" and "adv=1" in page.url
    assert page.locator("#connectors path").count() == 1
    measured: dict[str, Any] = {}

    def switch(selector: str, name: str) -> list[str]:
        n = n_requests(page)
        tok = ready_token(page)
        page.locator(selector).first.click()
        wait_ready(page, tok)
        settle(page)
        keys = requests_after(page, n)
        measured[name] = {"requests": keys, "bytes": key_bytes(build, keys) if keys else 0}
        return keys

    # metric, layer, model: the query's rankings shard (<= 30 KB) and the view's calibration (<= 12 KB), while
    # the map is off screen
    keys = switch("#tiles-metric [role=radio][aria-checked=false]", "metric")
    assert set(keys) == view_keys(state(page), build) and within_budget(lambda k: key_bytes(build, [k]), keys), keys
    layer_before = state(page)["layer"]
    keys = switch("#tiles-layer [role=radio][aria-checked=false]", "layer")
    assert state(page)["layer"] != layer_before
    assert set(keys) == view_keys(state(page), build) and within_budget(lambda k: key_bytes(build, [k]), keys), keys
    model_before = state(page)["model"]
    keys = switch("#tiles-model [role=radio][aria-checked=false]", "model")
    assert state(page)["model"] != model_before
    assert set(keys) == view_keys(state(page), build) and within_budget(lambda k: key_bytes(build, [k]), keys), keys
    # the random-weights model carries its badge in the chips, its tile and the results heading
    if next(m for m in build.index["models"] if m["slug"] == state(page)["model"])["random"]:
        assert page.locator("#config-chips .badge-random").count() == 1
        assert page.locator("#results-config .badge-random").count() == 1
    assert page.locator("#tiles-model .badge-random").count() == sum(m["random"] for m in build.index["models"])
    # dataset: its file (classes, thumbnails) + the rankings shard (+ the shard of the query's file name)
    keys = switch(f"#tiles-dataset [data-value='{build.hostile_slug}']", "dataset")
    s = state(page)
    assert s["ds"] == build.hostile_slug and s["q"] == 0
    allowed = {f"datasets/{s['ds']}", f"datasets/{s['ds']}/files/0"} | view_keys(s, build)
    assert set(keys) <= allowed and view_keys(s, build) <= set(keys)
    assert within_budget(lambda k: key_bytes(build, [k]), keys)

    # details of the layer are shown
    facts = page.locator("#layer-details").inner_text()
    layer = next(
        la for m in build.index["models"] if m["slug"] == s["model"] for la in m["layers"] if la["slug"] == s["layer"]
    )
    assert layer["name"] in facts and str(layer["channels"]) in facts and layer["type"] in facts

    # ←/→ step the last-used control (the dataset now); then a layer tile makes it the layer
    page.locator("#intro-title").click()
    tok = ready_token(page)
    page.keyboard.press("ArrowLeft")
    wait_ready(page, tok)
    assert state(page)["ds"] == build.main_slug
    page.locator("#tiles-layer [role=radio][aria-checked=true]").focus()
    li = page.evaluate(CHECKED_LAYER)
    tok = ready_token(page)
    page.keyboard.press("ArrowLeft" if li > 0 else "ArrowRight")
    wait_ready(page, tok)
    assert page.locator("#kbd-target").inner_text() == "layer"
    li2 = page.evaluate(CHECKED_LAYER)
    assert li2 == (li - 1 if li > 0 else li + 1)
    assert page.evaluate("document.activeElement.getAttribute('aria-checked')") == "true"  # focus follows
    # with the map on screen, a layer switch reads the new layer's map too (it is its own file, read only while
    # the map is on screen): the rankings shard (unless read before) + the map
    show_map(page)
    s = state(page)
    seen = set(page.evaluate("PG.requests.slice()"))
    fresh = next(
        la["slug"]
        for m in build.index["models"]
        if m["slug"] == s["model"]
        for la in m["layers"]
        if map_key({**s, "layer": la["slug"]}) not in seen
    )
    n = n_requests(page)
    tok = ready_token(page)
    set_hash(page, f"ds={s['ds']}&model={s['model']}&layer={fresh}&metric={s['metric']}&q={s['q']}&adv=1")
    wait_ready(page, tok)
    page.wait_for_function("(k) => PG.requests.includes(k) && PG.page.map().anim === null", arg=map_key(state(page)))
    keys = requests_after(page, n)
    measured["layer_with_map"] = {
        "requests": keys,
        "bytes": key_bytes(build, keys),
        "gzip_bytes": key_bytes(build, keys, gz=True),
    }
    new_view = view_keys(state(page), build)
    assert set(keys) == {map_key(state(page))} | (new_view - seen), keys
    assert within_budget(lambda k: key_bytes(build, [k]), new_view)
    record("switches", measured)
    page.click("#adv-toggle")
    assert page.locator("#advanced").is_hidden() and "adv=1" not in page.url


def test_map_hover_highlight_click_and_transition(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    show_map(page)
    m = page.evaluate("(() => { const m = PG.page.map(); return {n: m.n, q: m.query, results: m.results.slice()}; })()")
    ds = data(build, f"datasets/{state(page)['ds']}")
    assert m["n"] == ds["n"]
    assert m["q"] == state(page)["q"] and len(m["results"]) == 15
    assert page.locator("#legend .legend-item").count() == min(16, len(ds["classes"]))

    # an isolated result point, in page coordinates
    pick = page.evaluate(
        """(ids) => {
        const m = PG.page.map(), r = m.canvas.getBoundingClientRect(), R = m.radius() + 6;
        let best = null, bestGap = -1;
        for (const i of ids) {
          const p = m.screenPos(i); let gap = 1e9;
          for (let j = 0; j < m.n; j++) { if (j === i) continue; const o = m.screenPos(j);
            gap = Math.min(gap, Math.hypot(o.x - p.x, o.y - p.y)); }
          const inside = p.x > R && p.y > R && p.x < r.width - R && p.y < r.height - R;
          if (inside && gap > bestGap) { bestGap = gap; best = i; }
        }
        const p = m.screenPos(best);
        return {i: best, x: r.left + p.x, y: r.top + p.y};
    }""",
        m["results"],
    )
    page.mouse.move(pick["x"], pick["y"])
    page.wait_for_function("() => PG.page.map().hover >= 0")
    hovered = page.evaluate("PG.page.map().hover")
    assert page.locator("#map-tip").is_visible()
    page.wait_for_function(  # the file name follows once its shard is read
        "(f) => document.querySelector('#map-tip-text').textContent.includes(f)",
        arg=file_of(build, ds, hovered).split("/")[-1],
    )
    if hovered in m["results"]:
        assert "is-maphover" in (page.locator(f".result[data-id='{hovered}']").get_attribute("class") or "")
    # hovering a result card highlights its point
    page.mouse.move(5, 5)
    card = page.locator("#results .result").nth(4)
    card.scroll_into_view_if_needed()
    card.hover()
    assert page.evaluate("PG.page.map().extHover") == int(card.get_attribute("data-id"))
    # ... and hovering a grid image too
    cell = grid_cell(page, 7)
    cell.hover()
    assert page.evaluate("PG.page.map().extHover") == int(cell.get_attribute("data-id"))

    # zoom and pan keep working; the reset button restores the view
    show_map(page)
    page.click("#map-zoom-in")
    assert page.evaluate("PG.page.map().s") > 1
    page.click("#map-reset")
    assert page.evaluate("PG.page.map().s") == 1

    # clicking a point searches from it
    pick = page.evaluate("""(() => {
        const m = PG.page.map(), r = m.canvas.getBoundingClientRect(), R = m.radius() + 6;
        for (let i = 0; i < m.n; i++) {
          if (i === m.query) continue;
          const p = m.screenPos(i); let gap = 1e9;
          for (let j = 0; j < m.n; j++) { if (j !== i) { const o = m.screenPos(j);
            gap = Math.min(gap, Math.hypot(o.x - p.x, o.y - p.y)); } }
          if (gap > 1 && p.x > R && p.y > R && p.x < r.width - R && p.y < r.height - R)
            return {i, x: r.left + p.x, y: r.top + p.y};
        }
        return null;
    })()""")
    assert pick is not None
    assert not in_viewport(page, "#search")
    y0 = page.evaluate("scrollY")
    tok = ready_token(page)
    page.mouse.click(pick["x"], pick["y"])
    wait_ready(page, tok)
    assert state(page)["q"] == pick["i"] and page.evaluate("PG.page.map().query") == pick["i"]
    # the page stays on the map (it used to scroll up to the results): the answer shows just above the map, the
    # query and its first ten results as in the rankings file, and the point clicked is still on screen
    page.wait_for_function(f"() => ({IN_VIEW})(document.querySelector('#map-results'))", timeout=5000)
    page.wait_for_timeout(400)  # a smooth scroll has ended
    moved = page.evaluate("scrollY") - y0
    assert page.evaluate(POINT_ON_SCREEN, pick["i"]) and abs(moved) < 300, moved
    strip = [int(i) for i in page.locator("#map-results .map-res").evaluate_all("bs => bs.map(b => b.dataset.id)")]
    assert strip == [pick["i"], *rank_row(build, state(page))["ids"][:10]], strip
    page.locator("#map-results .map-res-all").click()
    page.wait_for_function(f"() => ({IN_VIEW})(document.querySelector('#search'))", timeout=5000)
    page.locator("#map-section").scroll_into_view_if_needed()

    # a layer change animates the points to the new layout
    page.locator("#map").focus()
    page.locator("#intro-title").click()
    page.locator("#map-section").scroll_into_view_if_needed()
    page.evaluate("""() => { window.__animSeen = false; const m = PG.page.map();
        const t = setInterval(() => { if (m.anim) { window.__animSeen = true; clearInterval(t); } }, 5); }""")
    s = state(page)
    layers = [la["slug"] for mm in build.index["models"] if mm["slug"] == s["model"] for la in mm["layers"]]
    other = layers[0] if s["layer"] != layers[0] else layers[1]
    tok = ready_token(page)
    set_hash(page, f"ds={s['ds']}&model={s['model']}&layer={other}&metric={s['metric']}&q={s['q']}")
    wait_ready(page, tok)
    page.wait_for_function("() => window.__animSeen === true")
    page.wait_for_function("() => PG.page.map().anim === null")
    xy = map_xy(build, {**s, "layer": other})
    got = page.evaluate("[PG.page.map().x[3], PG.page.map().y[3]]")
    assert abs(got[0] - xy[3][0]) < 1e-3 and abs(got[1] - xy[3][1]) < 1e-3


def _winding_inside(xy: Any, poly: list[tuple[float, float]]) -> list[int]:
    """The points inside a simple polygon by the winding number (not the page's even-odd crossing test)."""
    import math

    inside = []
    for i, (px, py) in enumerate(xy):
        total = 0.0
        for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1], strict=True):
            a, b = math.atan2(ay - py, ax - px), math.atan2(by - py, bx - px)
            d = b - a
            total += d - 2 * math.pi * round(d / (2 * math.pi))
        if abs(total) > math.pi:
            inside.append(i)
    return inside


def _sel_poly(url: str) -> tuple[str, list[tuple[float, float]]]:
    from urllib.parse import parse_qs

    sel = parse_qs(urlparse(url).fragment)["sel"][0]
    layer, pts = sel.split(":")
    v = [int(x) / 1000 for x in pts.split(",")]
    return layer, list(zip(v[0::2], v[1::2], strict=True))


def test_map_lasso_selects_images_into_the_grid_and_the_link_keeps_them(
    build: SiteBuild, server: str, new_page: Any
) -> None:
    """Lasso around the query's category on the map: the link holds the polygon (sel=), the dataset grid shows
    exactly the images inside it (a winding-number test on the map file, not the page's code), in id order; By
    category lists only their categories; the link opened afresh shows the same; another layer keeps the same
    images (drawn where that layer puts them, no outline); Clear brings every image back; a bad sel is said."""
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    show_map(page)
    s = state(page)
    ds = data(build, f"datasets/{s['ds']}")
    page.click("#map-lasso")  # (first: the click may scroll the page)
    assert page.locator("#map-lasso").get_attribute("aria-pressed") == "true"
    path, a, b = page.evaluate(
        """(starts) => {
        const m = PG.page.map(), r = m.canvas.getBoundingClientRect();
        // the category whose centre is farthest inside the map's square (a point on the lasso's edge is neither in
        // nor out, and the lasso stays inside the square)
        const lo = m.toScreen(0, 1), hi = m.toScreen(1, 0);
        let best = null;
        for (let c = 0; c + 1 < starts.length; c++) {
          const [a, b] = [starts[c], starts[c + 1]];
          let x = 0, y = 0;
          for (let i = a; i < b; i++) { const p = m.screenPos(i); x += p.x / (b - a); y += p.y / (b - a); }
          const room = Math.min(x - lo.x - 3, hi.x - x - 3, y - lo.y - 3, hi.y - y - 3);
          if (!best || room > best.room) best = { a, b, x, y, room };
        }
        const { a, b, x, y, room } = best;
        // through the category, not around it: the median distance of its points to their centre, so that points
        // lie on both sides of the lasso
        const d = [];
        for (let i = a; i < b; i++) { const p = m.screenPos(i); d.push(Math.hypot(p.x - x, p.y - y)); }
        d.sort((u, v) => u - v);
        const R = Math.max(6, Math.min(room, d[d.length >> 1]));
        const pts = [];
        for (let t = 0; t <= 48; t++) {
          const u = (2 * Math.PI * t) / 48;
          pts.push([r.left + x + R * Math.cos(u), r.top + y + R * Math.sin(u)]);
        }
        return [pts, a, b];
    }""",
        ds["class_start"],
    )
    page.mouse.move(*path[0])
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(x, y)
    page.mouse.up()
    page.wait_for_function("() => location.hash.includes('sel=')")
    assert page.locator("#map-lasso").get_attribute("aria-pressed") == "false"  # one lasso, then the map pans again
    layer, poly = _sel_poly(page.url)
    assert layer == s["layer"] and 3 <= len(poly) <= 64
    xy = decode_map(data(build, map_key(s))["xy"])
    want = _winding_inside(xy, poly)
    assert 0 < len([i for i in want if a <= i < b]) < b - a, "the lasso cuts through the category"
    page.wait_for_timeout(1500)
    page.wait_for_function("(n) => PG.page.grid().shown === n", arg=len(want))
    cells = page.evaluate("[...document.querySelectorAll('#grid .cell')].map((c) => +c.dataset.id)")
    cols = page.evaluate("PG.page.grid().cols")
    assert set(cells) <= set(want) and sorted(cells)[:cols] == want[:cols]
    assert page.locator("#grid-count").inner_text().startswith(f"{len(want)} of {ds['n']} images, selected on the map")
    assert page.evaluate(
        "(() => { const m = PG.page.map(); return [m.mask.reduce((x, y) => x + y, 0), !!m.outline]; })()"
    ) == [len(want), True]
    # By category: only the selected images' categories
    page.click("#view-cat")
    classes = sorted({label_of(ds, i) for i in want})
    page.wait_for_function("(n) => PG.page.grid().sections === n", arg=len(classes))
    # the link, opened afresh
    link = page.url
    page2, _ = new_page()
    page2.goto(link)
    wait_ready(page2)
    page2.wait_for_function("(n) => PG.page.grid().shown === n", arg=len(want))
    # another layer: the same images, no outline
    model = next(m for m in build.index["models"] if m["slug"] == s["model"])
    other = next(x["slug"] for x in model["layers"] if x["slug"] != s["layer"])
    tok = ready_token(page)
    page.evaluate("(l) => PG.search.set({ layer: l }, true)", other)
    wait_ready(page, tok)
    assert "sel=" in page.url and page.evaluate("PG.page.state().layer") == other
    page.wait_for_function(
        "(n) => { const m = PG.page.map(); return m.mask && m.mask.reduce((x, y) => x + y, 0) === n && !m.outline; }",
        arg=len(want),
    )
    page.wait_for_function("(n) => PG.page.grid().shown === n", arg=len(want))
    page.click("#sel-clear")
    page.wait_for_function("(n) => PG.page.grid().shown === n", arg=ds["n"])
    assert "sel=" not in page.url and page.evaluate("PG.page.map().mask") is None
    tok = ready_token(page)
    set_hash(page, "sel=nope:1,2")
    wait_ready(page, tok)
    assert "map selection" in page.locator("#link-notice").inner_text()


# Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17 and 25 (L*a*b* of each colour, their CIEDE2000)
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
]
CATEGORY_DE_MIN = 25  # CIEDE2000 between any two of the first ten category colours (the old set: 9.7)


def test_category_colours_are_far_apart_and_the_same_everywhere(build: SiteBuild, server: str, new_page: Any) -> None:
    """iconic200's ten categories: the colours its map legend shows are pairwise at least CIEDE2000 25 apart
    (beetle and sedan were two greens 9.7 apart), and the map's points and the grid's headings use the same ones."""
    for lab1, lab2, want in SHARMA_PAIRS:
        assert abs(ciede2000(lab1, lab2) - want) < 5e-5, (lab1, lab2, want)
    page, _ = new_page()
    page.goto(server + f"index.html#ds={build.main_slug}&view=cat")
    wait_ready(page)
    show_map(page)
    page.locator("#grid").scroll_into_view_if_needed()
    page.wait_for_selector("#grid .cat-title")
    shown = page.evaluate(
        """() => { const rgb = (e) => getComputedStyle(e).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number);
        const hex = (c) => { const x = document.createElement('i'); x.style.color = c; document.body.append(x);
            const v = getComputedStyle(x).color.match(/\\d+/g).slice(0, 3).map(Number); x.remove(); return v; };
        return {
            legend: [...document.querySelectorAll('#legend .legend-item')].map(b =>
                [+b.dataset.c, b.querySelector('.legend-name').textContent, rgb(b.querySelector('.swatch'))]),
            points: [...Array(PG.page.map().classNames.length).keys()].map(k => hex(PG.page.map().colorOf(k))),
            grid: Object.fromEntries([...document.querySelectorAll('#grid .cat-title')].map(h =>
                [h.querySelector('.cat-name').textContent, rgb(h.querySelector('.swatch'))])),
        }; }"""
    )
    legend = {name: tuple(c) for _, name, c in shown["legend"]}
    info = next(d for d in build.index["datasets"] if d["slug"] == build.main_slug)
    assert len(legend) == info["n_classes"] == 10, legend
    labs = {name: srgb_to_lab(c) for name, c in legend.items()}
    gaps = sorted((ciede2000(labs[a], labs[b]), a, b) for a, b in itertools.combinations(labs, 2))
    print("closest category colours (CIEDE2000):", [(round(d, 1), a, b) for d, a, b in gaps[:3]])
    assert gaps[0][0] >= CATEGORY_DE_MIN, gaps[:3]
    assert [tuple(shown["points"][k]) for k, _, _ in shown["legend"]] == [tuple(c) for _, _, c in shown["legend"]]
    assert all(tuple(shown["grid"][name]) == legend[name] for name in shown["grid"]) and shown["grid"]


def test_map_coloured_by_search_score(build: SiteBuild, server: str, new_page: Any) -> None:
    """Colour by search score: every point's band (0-19 ... 80-100) is its image's search score at the view, by hand
    from the rankings shards; the legend counts the bands; another metric recolours with its own scores; the
    choice is in the link; the category colours come back."""
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    show_map(page)
    tok = ready_token(page)
    page.select_option("#map-color", "score")
    wait_ready(page, tok)
    assert "color=score" in page.url

    def bands_by_hand(s: dict[str, Any]) -> list[int]:
        ds = data(build, f"datasets/{s['ds']}")
        k = build.index["k"]
        w = [(k - i) / k for i in range(k)]
        out = []
        for q in range(ds["n"]):
            ids = read_row(build.site, view_of(s), q).ids.tolist()
            score = 100 * sum(wi for wi, j in zip(w, ids, strict=True) if label_of(ds, j) == label_of(ds, q)) / sum(w)
            out.append(min(4, int(round(score) // 20)))
        return out

    def shown_bands() -> list[int]:
        return page.evaluate("(() => { const m = PG.page.map(); return m.palette ? Array.from(m.cls) : null; })()")

    want = bands_by_hand(state(page))
    page.wait_for_function("(n) => PG.page.map().palette && PG.page.map().cls.length === n", arg=len(want))
    assert shown_bands() == want
    counts = [int(t.split()[-1]) for t in page.locator("#legend .legend-item").all_inner_texts()]
    assert counts == [want.count(b) for b in range(5)] and len(set(want)) > 1
    other = next(m["slug"] for m in build.index["metrics"] if m["slug"] != state(page)["metric"])
    tok = ready_token(page)
    page.evaluate("(m) => PG.search.set({ metric: m }, true)", other)
    wait_ready(page, tok)
    want2 = bands_by_hand(state(page))
    page.wait_for_function(
        "(w) => { const m = PG.page.map(); return m.palette && Array.from(m.cls).join() === w; }",
        arg=",".join(map(str, want2)),
    )
    tok = ready_token(page)
    page.select_option("#map-color", "class")
    wait_ready(page, tok)
    page.wait_for_function("() => !PG.page.map().palette")
    assert "color=" not in page.url


def test_compare_view(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    s = state(page)
    q = 70
    tok = ready_token(page)
    set_hash(page, f"ds={s['ds']}&model={s['model']}&layer={s['layer']}&metric={s['metric']}&q={q}")
    wait_ready(page, tok)
    n = n_requests(page)
    page.click("#tab-compare")
    assert "tab=compare" in page.url
    page.wait_for_selector(".cmp-model")
    keys = [k for k in requests_after(page, n) if "/compare/" in k]  # (the map may load too: it scrolled by)
    assert len(keys) == 1 and key_bytes(build, keys) <= SWITCH_BUDGET, keys
    cmp = data(build, keys[0])
    off = q - cmp.get("first", 0)
    assert page.locator(".cmp-model").count() == len(cmp["models"])
    assert len(cmp["models"]) > 1 and "is-single" not in page.locator("#compare").get_attribute("class")
    assert page.locator(".cmp-model").first.locator(".cmp-axis span").all_inner_texts() == ["100", "50", "0"]
    vals = {(m, i): rows[i][off] for m, rows in cmp["score"].items() for i in range(len(rows))}
    best = max(vals.values())
    best_label = page.locator(".cmp-bar.is-best").first.get_attribute("aria-label")
    assert abs(float(best_label.split(": ")[1].split(",")[0]) - best) <= 0.051 and "best" in best_label
    assert page.locator(".cmp-bar").count() == len(vals)
    # a query in the same chunk needs no new request; clicking a bar switches model and layer
    n = n_requests(page)
    tok = ready_token(page)
    page.locator("#results .result").first.click()
    wait_ready(page, tok)
    if state(page)["q"] // 64 == q // 64:
        assert not any("/compare/" in k for k in requests_after(page, n))
    bar = page.locator(".cmp-model").last.locator(".cmp-bar").nth(1)
    bar.scroll_into_view_if_needed()
    assert not in_viewport(page, "#search")
    tok = ready_token(page)
    bar.click()
    wait_ready(page, tok)
    page.wait_for_function(f"() => ({IN_VIEW})(document.querySelector('#search'))", timeout=5000)
    s2 = state(page)
    assert s2["model"] == cmp["models"][-1] and s2["layer"] == cmp["layers"][cmp["models"][-1]][1]


def test_leaderboard(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    s = state(page)
    lb = data(build, "leaderboard")
    score = lb["score"][s["ds"]][s["pool"]][s["metric"]]
    models = [m for m in build.index["models"] if not m.get("explorer_only")]
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == len(models)
    for r, m in enumerate(models):
        cells = rows.nth(r).locator(".heat-value").all_inner_texts()
        want = [v for v in score[m["slug"]] if v is not None]
        assert len(cells) == len(want)
        assert all(abs(float(c) - v) <= 0.051 for c, v in zip(cells, want, strict=True)), (cells, m)
    allv = [v for vs in score.values() for v in vs if v is not None]
    assert abs(float(page.locator(".heat-cell.all-best .heat-value").first.inner_text()) - max(allv)) <= 0.051
    assert page.locator(".heat-cell.is-current").count() == 1
    page.click("#lb-prec")
    prec = lb["precision"][s["ds"]][s["pool"]][s["metric"]]
    first = rows.nth(0).locator(".heat-value").first.inner_text()
    assert abs(float(first) - prec[models[0]["slug"]][0]) <= 0.0051 and "lb=precision" in page.url
    # the linear probe (when the build has it) with its spread
    page.click("#lb-probe")
    probe = lb["probe"][s["ds"]][s["pool"]][models[0]["slug"]]
    if any(v is not None for v in probe):
        got = rows.nth(0).locator(".heat-value").all_inner_texts()
        assert [float(x) for x in got] == pytest.approx([v for v in probe if v is not None], abs=0.051)
    page.click("#lb-score")
    target = rows.nth(len(models) - 1).locator(".heat-cell").nth(2)
    target.scroll_into_view_if_needed()
    assert not in_viewport(page, "#search"), "the test must start with the results off screen"
    tok = ready_token(page)
    target.click()
    wait_ready(page, tok)
    # visible feedback: the new results scroll into view
    page.wait_for_function(f"() => ({IN_VIEW})(document.querySelector('#search'))", timeout=5000)
    assert state(page)["model"] == models[-1]["slug"] and state(page)["layer"] == models[-1]["layers"][2]["slug"]


def _per_class_by_hand(build: SiteBuild, s: dict[str, Any], k: int) -> dict[str, Any]:
    """The per-class truth of a view from its rankings shards, by loops (not perclass.summarise)."""
    ds = data(build, f"datasets/{s['ds']}")
    n = ds["n"]
    rows = [read_row(build.site, view_of(s), q).ids.tolist() for q in range(n)]
    label = [label_of(ds, i) for i in range(n)]
    w = [(k - i) / k for i in range(k)]
    score = [
        100 * sum(wi for wi, j in zip(w, row, strict=True) if label[j] == label[q]) / sum(w)
        for q, row in enumerate(rows)
    ]
    out: dict[str, Any] = {"score": {}, "precision": {}, "confused": {}, "worst_query": {}}
    for c, name in enumerate(ds["class_names"] or ds["classes"]):
        mine = [q for q in range(n) if label[q] == c]
        out["score"][name] = sum(score[q] for q in mine) / len(mine)
        out["precision"][name] = sum(sum(label[j] == c for j in rows[q]) for q in mine) / (k * len(mine))
        counts: dict[int, int] = {}
        for q in mine:
            for j in rows[q]:
                if label[j] != c:
                    counts[label[j]] = counts.get(label[j], 0) + 1
        out["confused"][name] = sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:3]
        out["worst_query"][name] = min(mine, key=lambda q: (score[q], q))
    out["worst"] = sorted(range(n), key=lambda q: (score[q], q))[:12]
    out["names"] = ds["class_names"] or ds["classes"]
    out["size"] = {name: len([q for q in range(n) if label[q] == c]) for c, name in enumerate(out["names"])}
    return out


def test_per_class_table_worst_queries_and_their_searches(build: SiteBuild, server: str, new_page: Any) -> None:
    """Deep link tab=classes: one request (the view's classes file); every category's score, precision@k and the
    classes that take its results equal a by-hand computation from the rankings shards; worst first and A-Z; the
    filter; a category searches with its lowest-scoring image, a worst image with itself; a layer switch reloads."""
    page, _ = new_page()
    page.goto(server + "index.html#tab=classes")
    wait_ready(page)
    s = state(page)
    page.wait_for_selector("#classes tbody tr")
    want = _per_class_by_hand(build, s, build.index["k"])
    assert [k for k in page.evaluate("PG.requests") if k.endswith("/classes")] == [f"{view_of(s)}/classes"]
    rows = page.locator("#classes tbody tr")
    assert rows.count() == len(want["names"]) == 10
    shown = []
    for r in range(rows.count()):
        cells = rows.nth(r).locator("th, td").all_inner_texts()
        name = cells[0]
        shown.append(name)
        assert int(cells[1]) == want["size"][name]
        assert abs(float(cells[2]) - want["score"][name]) <= 0.051, (name, cells)
        assert abs(float(cells[3]) - want["precision"][name]) <= 0.0051, (name, cells)
        total = want["size"][name] * build.index["k"]
        confused = ", ".join(
            f"{want['names'][d]} {'<1' if m / total < 0.005 else round(100 * m / total)} %"
            for d, m in want["confused"][name]
        )
        assert cells[5] == (confused or "—"), (name, cells[5], confused)
        layers = next(m for m in build.index["models"] if m["slug"] == s["model"])["layers"]
        assert rows.nth(r).locator(".cls-slot").count() == len(layers) >= 3
        assert rows.nth(r).locator(".cls-bar.is-current").count() == 1
    assert shown == sorted(shown, key=lambda x: (want["score"][x], want["names"].index(x)))  # worst first
    worst = [int(b.get_attribute("data-id")) for b in page.locator("#worst .worst").all()]
    assert worst == want["worst"]
    # A-Z, in the URL
    page.click("#cls-name")
    page.wait_for_function("() => location.hash.includes('cls=name')")
    page.wait_for_function(
        "(first) => document.querySelector('#classes tbody th').innerText === first", arg=sorted(shown)[0]
    )
    page.fill("#cls-filter", "tow")
    page.wait_for_function("() => document.querySelectorAll('#classes tbody tr').length === 1")
    assert page.locator("#classes tbody th").inner_text() == "eiffeltower"
    # a category searches with its lowest-scoring image
    tok = ready_token(page)
    page.locator("#classes tbody th button").click()
    wait_ready(page, tok)
    assert state(page)["q"] == want["worst_query"]["eiffeltower"]
    tok = ready_token(page)
    page.locator("#worst .worst").nth(2).click()
    wait_ready(page, tok)
    assert state(page)["q"] == want["worst"][2] and "tab=classes" in page.url
    # another layer: its own file, its own numbers
    model = build.index["models"][0]
    layer = model["layers"][0]["slug"]
    tok = ready_token(page)
    set_hash(page, f"ds={s['ds']}&model={model['slug']}&layer={layer}&metric={s['metric']}&tab=classes")
    wait_ready(page, tok)
    s2 = state(page)
    want2 = _per_class_by_hand(build, s2, build.index["k"])
    page.wait_for_function(
        "(w) => [...document.querySelectorAll('#worst .worst')].map((b) => +b.dataset.id).join() === w",
        arg=",".join(map(str, want2["worst"])),
    )
    # the filter stays (the same dataset), the numbers are the new layer's
    assert page.locator("#classes tbody th").all_inner_texts() == ["eiffeltower"]
    assert abs(float(page.locator("#classes tbody td").nth(1).inner_text()) - want2["score"]["eiffeltower"]) <= 0.051
    page.fill("#cls-filter", "")
    page.wait_for_function("() => document.querySelectorAll('#classes tbody tr').length === 10")
    first = page.locator("#classes tbody tr").first.locator("td").nth(1).inner_text()
    assert abs(float(first) - min(want2["score"].values())) <= 0.051
    # on a phone the table fits its card (it scrolled sideways to 648 px at 375): four columns, and each category's
    # size and confusions under its name
    phone, _ = new_page(PHONE)
    phone.goto(server + f"index.html#adv=1&tab=classes&ds={build.main_slug}")
    phone.wait_for_selector("#classes tbody tr")
    fit = phone.evaluate("""() => { const t = document.querySelector('#classes');
        return [t.scrollWidth, t.parentElement.clientWidth,
                [...t.querySelectorAll('thead th')].filter(th => th.getBoundingClientRect().width > 0).length]; }""")
    assert fit[0] <= fit[1] and fit[2] == 4, fit
    subs = phone.locator("#classes tbody th .cls-sub").all_inner_texts()
    assert len(subs) == 10 and all(re.fullmatch(r"20 images( · mostly .+)?", t) for t in subs), subs


def test_k_shows_fewer_results_scored_at_that_k(build: SiteBuild, server: str, new_page: Any) -> None:
    """k=5 in the link: 5 results, the search score and hits at k = 5 (the formula by hand on the first 5 of the
    shard's row), every "k" in the help; the menu offers 1 .. the build's k; a k the build did not keep is said."""
    page, _ = new_page()
    page.goto(server + "index.html#q=45&k=5")
    wait_ready(page)
    s = state(page)
    assert s["k"] == 5 and page.locator("#results .result").count() == 5
    ds = data(build, f"datasets/{s['ds']}")
    ids = rank_row(build, s)["ids"][:5]
    hits = [label_of(ds, j) == label_of(ds, 45) for j in ids]
    w = [(5 - i) / 5 for i in range(5)]
    assert abs(shown_score(page) - 100 * sum(wi for wi, h in zip(w, hits, strict=True) if h) / sum(w)) <= 0.051
    assert page.locator("#score-hits").inner_text().startswith(f"{sum(hits)} / 5")
    assert set(page.locator(".k-now").all_inner_texts()) == {"5"} and page.locator("#k-one").inner_text() == "33.3"
    K = build.index["k"]
    options = [int(v) for v in page.locator("#k-select option").evaluate_all("(os) => os.map((o) => o.value)")]
    assert options[0] == 1 and options[-1] == K and options == sorted(options)
    tok = ready_token(page)
    page.select_option("#k-select", str(K))
    wait_ready(page, tok)
    assert page.locator("#results .result").count() == K and "k=" not in page.url  # the default is not written
    assert abs(shown_score(page) - rank_row(build, state(page))["score"]) <= 0.051
    tok = ready_token(page)
    set_hash(page, "q=45&k=99")
    wait_ready(page, tok)
    assert "k=99 is not between 1 and" in page.locator("#link-notice").inner_text()
    assert page.locator("#results .result").count() == K


def test_dataset_browser(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    s = state(page)
    ds = data(build, f"datasets/{s['ds']}")
    info = next(d for d in build.index["datasets"] if d["slug"] == s["ds"])
    # virtualised: only the rows in view (and a few around them) are in the DOM
    grid = page.evaluate("PG.page.grid()")
    assert 0 < page.locator("#grid .cell").count() == grid["cells"] <= ds["n"]
    if info.get("description"):
        assert page.locator("#browser-desc").inner_text() == info["description"]
    if info.get("attribution"):
        assert info["attribution"][:40] in (page.locator("#browser-attr").text_content() or "")
        page.click("#browser-attr-box summary")
        assert page.locator("#browser-attr").is_visible()
    assert page.locator("#grid .cell.is-query").count() == 1
    ids = rank_row(build, s)["ids"]
    for r, i in enumerate(ids):  # each result carries its rank in the grid
        c = grid_cell(page, i)
        assert "is-result" in c.get_attribute("class") and c.locator(".cell-rank").inner_text() == str(r + 1)
    tok = ready_token(page)
    page.click("#view-cat")
    wait_ready(page, tok)
    assert "view=cat" in page.url
    assert page.evaluate("PG.page.grid().sections") == len(ds["classes"])
    titles = page.locator("#grid .cat-title .cat-name").all_inner_texts()
    assert titles and titles == ds["classes"][: len(titles)]
    page.fill("#grid-filter", ds["classes"][3])
    page.wait_for_function("() => PG.page.grid().sections >= 1")
    target = ds["class_start"][3] + 2
    cell = page.locator(f"#grid .cell[data-id='{target}']")
    tok = ready_token(page)
    cell.click()
    wait_ready(page, tok)
    assert state(page)["q"] == target
    assert label_of(ds, target) == 3


def test_deep_link_restores_state(build: SiteBuild, server: str, new_page: Any) -> None:
    models = [m for m in build.index["models"] if not m.get("explorer_only")]
    m = next((x for x in models if x["random"]), models[-1])
    layer = m["layers"][2]["slug"]
    metric = build.index["metrics"][1]["slug"]
    ds = build.main_slug
    h = f"ds={ds}&model={m['slug']}&layer={layer}&metric={metric}&q=37&adv=1&view=cat&tab=compare"
    page, _ = new_page()
    page.goto(server + "index.html#" + h)
    wait_ready(page)
    page.wait_for_selector(".cmp-model")
    for _ in range(2):  # and again after a reload
        s = state(page)
        assert (s["ds"], s["model"], s["layer"], s["metric"], s["q"], s["adv"], s["view"], s["tab"]) == (
            ds,
            m["slug"],
            layer,
            metric,
            37,
            True,
            "cat",
            "compare",
        )
        assert page.locator("#advanced").is_visible()
        assert page.get_attribute(f"#tiles-layer [data-value='{layer}']", "aria-checked") == "true"
        assert page.get_attribute(f"#tiles-metric [data-value='{metric}']", "aria-checked") == "true"
        assert page.get_attribute("#view-cat", "aria-selected") == "true"
        assert page.locator("#panel-compare").is_visible() and page.locator("#panel-leaderboard").is_hidden()
        name = file_of(build, data(build, f"datasets/{ds}"), 37).split("/")[-1]
        page.wait_for_function("(f) => document.querySelector('#query-file').textContent.includes(f)", arg=name)
        score, _hits = expected_score_text(build, s)
        assert abs(shown_score(page) - score) <= 0.051
        assert m["display"] in page.locator("#config-chips").inner_text()
        page.reload()
        wait_ready(page)
        page.wait_for_selector(".cmp-model")
    # an invalid link falls back to defaults instead of breaking, says so and corrects the address bar
    page.goto("about:blank")
    page.goto(server + "index.html#ds=nope&model=%3Cscript%3E&layer=zz&metric=x&q=-4")
    wait_ready(page)
    assert state(page)["ds"] == build.index["defaults"]["dataset"] and state(page)["q"] == 0
    note = page.locator("#link-notice [role=status]")
    assert note.is_visible() and "<script>" in note.inner_text()  # shown as text
    assert "nope" not in page.url and "%3Cscript" not in page.url and "q=0" in page.url


def test_model_explorer(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "explorer.html")
    page.wait_for_function("() => document.body.dataset.ready")
    tiles = page.locator("#ex-models [role=radio]")
    assert tiles.count() >= 1
    s = page.evaluate("PG.page.state()")
    models = page.evaluate("PG.page.models().map(m => ({slug: m.slug, hasFv: m.hasFv, n: m.layers.length}))")
    cur = next(m for m in models if m["slug"] == s["model"])
    assert page.locator("#ex-layers [role=radio]").count() == cur["n"]
    assert build.featurevis and cur["hasFv"]  # a broken Model Explorer build fails real_site(), never skips
    chans = data(build, f"explorer/{s['model']}/{s['layer']}")
    chans = chans if isinstance(chans, list) else chans["channels"]
    page.wait_for_selector("#channels .channel")
    assert page.locator("#channels .channel").count() == len(chans)
    # keyboard: layer tiles step with the arrow keys
    page.locator("#ex-layers [aria-checked=true]").focus()
    tok = ready_token(page)
    page.keyboard.press("ArrowRight")
    wait_ready(page, tok)
    s2 = page.evaluate("PG.page.state()")
    assert s2["layer"] != s["layer"] and f"layer={s2['layer']}" in page.url
    chans = data(build, f"explorer/{s2['model']}/{s2['layer']}")
    chans = chans if isinstance(chans, list) else chans["channels"]
    page.wait_for_function("(n) => document.querySelectorAll('#channels .channel').length === n", arg=len(chans))
    # enlarge a channel: layer, channel index / count and its dataset examples
    first = page.locator("#channels .channel").first
    first.focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.ch") == str(chans[1]["channel"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#dlg-channel[open]")
    layer = next(
        la for m in build.index["models"] if m["slug"] == s2["model"] for la in m["layers"] if la["slug"] == s2["layer"]
    )
    facts = page.locator("#dlg-facts").inner_text()
    assert f"number {chans[1]['channel']} of the layer's {layer['channels']}" in facts and layer["name"] in facts
    assert page.locator("#dlg-pos").inner_text() == f"2 of the {len(chans)} channels shown"
    sub = page.locator("#ex-ch-sub").inner_text()
    assert f"This layer has {layer['channels']} channels" in sub and "live channels" in sub, sub
    assert page.locator("#dlg-examples .example").count() == len(chans[1]["examples"])
    page.wait_for_function(  # category names replace "ds #id" once the dataset listing is loaded
        "() => [...document.querySelectorAll('#dlg-examples figcaption')].every(f => !f.textContent.includes('#'))"
    )
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(c) => PG.page.state().ch === c", arg=chans[2]["channel"])
    assert f"ch={chans[2]['channel']}" in page.url
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#dlg-channel').open && PG.page.state().ch === null")
    assert "ch=" not in page.url
    # the full layer table
    page.click("#ex-table-open")
    page.wait_for_selector("#dlg-table[open]")
    assert page.locator("#layer-table tbody tr").count() >= cur["n"]
    assert page.locator("#layer-table tr.is-selected").count() == cur["n"] and "table=1" in page.url
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#dlg-table').open && !PG.page.state().table")
    assert page.evaluate("document.activeElement.id") == "ex-table-open"  # focus returns to the opener
    # other models, by keyboard
    if len(models) > 1:
        page.locator("#ex-models [aria-checked=true]").focus()
        tok = ready_token(page)
        page.keyboard.press("End")
        wait_ready(page, tok)
        assert page.evaluate("PG.page.state().model") == models[-1]["slug"]
    # deep link with an open channel
    page.goto(server + f"explorer.html#model={s2['model']}&layer={s2['layer']}&ch={chans[0]['channel']}")
    page.reload()
    page.wait_for_selector("#dlg-channel[open]")
    assert str(chans[0]["channel"]) in page.locator("#dlg-channel-title").inner_text()


def test_works_from_file_url(build: SiteBuild, new_page: Any) -> None:
    origin = build.site.resolve().as_uri() + "/"
    page, watch = new_page(origin=origin)
    page.goto(origin + "index.html")
    wait_ready(page)
    assert page.locator("#results li").count() == 15
    tok = ready_token(page)
    page.locator("#results .result").nth(1).click()
    wait_ready(page, tok)
    show_map(page)
    page.click("#tab-compare")
    page.wait_for_selector(".cmp-model")
    page.click("nav a[data-nav=explorer]")
    page.wait_for_function("() => document.body.dataset.ready")
    assert page.url.endswith("explorer.html") or "explorer.html#" in page.url
    page.click("nav a[data-nav=about]")
    page.wait_for_selector("h1")
    assert "About" in page.locator("h1").inner_text()
    assert all(u.startswith("file://") or u.startswith("data:") for u in watch.requests), watch.foreign()


def test_pages_older_or_newer_than_the_data_say_so(build: SiteBuild, new_page: Any, tmp_path: Path) -> None:
    """``playground precompute`` writes data; the pages are written by ``render``. A site whose data/index.js
    is of another format than its pages (here: data of before the format was recorded) says what to run, rather
    than failing on a shard it cannot read."""
    site = tmp_path / "site"
    shutil.copytree(build.site, site)
    index = site / "data" / "index.js"
    text = index.read_text(encoding="utf-8")
    old = re.sub(rf',"format":{DATA_FORMAT}\b', "", text, count=1)
    assert old != text
    index.write_text(old, encoding="utf-8")
    origin = site.resolve().as_uri() + "/"
    page, _ = new_page(origin=origin)
    page.goto(origin + "index.html")
    page.wait_for_selector("#page-error")
    msg = page.locator("#page-error").inner_text()
    assert f"the pages read data format {DATA_FORMAT}, data/index.js is format 1" in msg, msg
    assert "playground render" in msg and page.locator("#results li").count() == 0


def test_hostile_dataset_executes_nothing(build: SiteBuild, server: str, new_page: Any) -> None:
    page, watch = new_page()
    page.goto(server + f"index.html#ds={build.hostile_slug}&view=cat&adv=1")
    wait_ready(page)
    ds = data(build, f"datasets/{build.hostile_slug}")
    assert sorted(ds["classes"]) == sorted(HOSTILE_CLASSES)
    # the names are shown literally, as text
    shown = page.locator("#grid .cat-title .cat-name").all_inner_texts()
    assert shown == ds["classes"]
    assert page.locator("#query-class").inner_text().strip() == ds["classes"][label_of(ds, 0)]
    assert page.locator("#tiles-dataset [aria-checked=true] .tile-title").inner_text().startswith("hostile<svg")
    # walk every view that prints a name
    show_map(page)
    assert page.evaluate("PG.page.map().n") == ds["n"]
    page.locator("#legend .legend-item").first.hover()
    box = page.locator("#map").bounding_box()
    for fx in (0.3, 0.5, 0.7):
        for fy in (0.3, 0.5, 0.7):
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    page.click("#tab-compare")
    page.wait_for_selector(".cmp-model")
    tok = ready_token(page)
    page.locator("#results .result").first.click()
    wait_ready(page, tok)
    injected = page.evaluate("""() => ({
        pwned: window.__pwned,
        imgs: document.querySelectorAll('img[src="x"], img[src="y"]').length,
        handlers: [...document.querySelectorAll('*')]
            .filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
        scripts: [...document.scripts].filter(s => !s.src).length,
    })""")
    assert injected == {"pwned": None, "imgs": 0, "handlers": 0, "scripts": 0}, injected
    for p in ("about.html", "explorer.html"):
        page.goto(server + p)
        network_idle(page)
        assert page.evaluate("window.__pwned === undefined")
    assert watch.dialogs == []


def test_accessibility_basics(build: SiteBuild, server: str, new_page: Any) -> None:
    for viewport in (DESKTOP, PHONE):
        page, _ = new_page(viewport)
        for p in ("index.html", "explorer.html", "about.html"):
            page.goto(server + p + ("#adv=1" if p == "index.html" else ""))
            network_idle(page)
            if p != "about.html":
                page.wait_for_function("() => document.body.dataset.ready")
            res = page.evaluate("""() => ({
                noAlt: [...document.images].filter(i => !i.hasAttribute('alt')).map(i => i.src),
                unnamed: [...document.querySelectorAll('button, a[href], [role=radio], [role=tab]')]
                    .filter(e => e.offsetParent !== null && !(e.getAttribute('aria-label') || e.textContent.trim()))
                    .map(e => e.outerHTML.slice(0, 80)),
                overflow: document.documentElement.scrollWidth - window.innerWidth,
                lang: document.documentElement.lang,
            })""")
            assert res["noAlt"] == [] and res["unnamed"] == [], (p, res)
            assert res["overflow"] <= 0, (p, viewport, res["overflow"])
            assert res["lang"] == "en"
            # keyboard: the skip link first, then every focused element shows a visible outline
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.className") == "skip-link"
            for _ in range(8):
                page.keyboard.press("Tab")
                style = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
                    return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }""")
                assert style[1] != "none" and style[2] != "0px", (p, style)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violations(build: SiteBuild, server: str, new_page: Any, scheme: str) -> None:
    """axe-core on every page and the states a visitor reaches: the first view, each analysis tab, the map with
    a lasso selection and the grid by category, an open help popup, a channel dialog in the explorer; at 1280 and
    375 px, in the light and the dark scheme (axe's colour-contrast rule judges each)."""
    failures: dict[str, list[dict[str, Any]]] = {}

    def check(page: Any, where: str) -> None:
        found = axe_violations(page, where)
        if found:
            failures[where] = found

    for label, viewport in (("1280", DESKTOP), ("375", PHONE)):
        page, _ = new_page(viewport, color_scheme=scheme)
        page.goto(server + "index.html#adv=1")
        wait_ready(page)
        network_idle(page)
        check(page, f"search {label}")
        for tab in ("compare", "classes"):
            tok = ready_token(page)
            page.locator(f"#tab-{tab}").click()
            page.wait_for_function("(t) => PG.page.state().tab === t", arg=tab)
            settle(page)
            check(page, f"search tab={tab} {label}")
        s = state(page)
        tok = ready_token(page)
        set_hash(page, f"ds={s['ds']}&q={s['q']}&adv=1&view=cat&sel={s['layer']}:100,100,600,100,600,600,100,600")
        wait_ready(page, tok)
        show_map(page)
        page.locator("#grid").scroll_into_view_if_needed()
        settle(page)
        check(page, f"search map+lasso+grid {label}")
        page.locator(".help-btn:visible").first.click()
        page.wait_for_selector(".help-btn[aria-expanded=true]")
        check(page, f"search help popup {label}")
        page.goto(server + "explorer.html")
        page.wait_for_function("() => document.body.dataset.ready")
        page.wait_for_selector("#channels .channel")
        check(page, f"explorer {label}")
        page.locator("#channels .channel").first.click()
        page.wait_for_selector("#dlg-channel[open]")
        check(page, f"explorer channel dialog {label}")
        page.goto(server + "about.html")
        network_idle(page)
        check(page, f"about {label}")
    assert failures == {}, json.dumps(failures, indent=1)


def test_screenshots(build: SiteBuild, server: str, new_page: Any) -> None:
    """Each screenshot state is checked, not just saved: its key elements are on screen and inside the viewport
    horizontally, and nothing overflows sideways. The PNGs go to test-artifacts/ for people to look at."""

    def check(page: Any, name: str, selectors: list[str], full: bool = True) -> None:
        res = page.evaluate(
            """(sels) => ({
                overflow: document.documentElement.scrollWidth - innerWidth,
                boxes: sels.map(s => { const e = document.querySelector(s); if (!e) return [s, null];
                    const r = e.getBoundingClientRect(); return [s, [r.left, r.right, r.width, r.height]]; }),
            })""",
            selectors,
        )
        assert res["overflow"] <= 0, (name, res)
        width = page.viewport_size["width"]
        for sel, box in res["boxes"]:
            assert box is not None, (name, sel)
            left, right, w, h = box
            assert w > 0 and h > 0 and left >= -0.5 and right <= width + 0.5, (name, sel, box)
        screenshot(page, name, full=full)

    for label, viewport in (("desktop", DESKTOP), ("375", PHONE)):
        page, _ = new_page(viewport)
        page.goto(server + "index.html")
        wait_ready(page)
        show_map(page)  # render the map, then the whole page
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(700)
        network_idle(page)
        check(page, f"search-{label}.png", [".query-figure", "#results .result", "#config-chips", "#map", "#grid"])
        tok = ready_token(page)
        page.click("#adv-toggle")
        wait_ready(page, tok)
        network_idle(page)
        check(page, f"search-advanced-{label}.png", ["#tiles-layer [aria-checked=true]", "#layer-details"], False)
        page.locator("#analysis").scroll_into_view_if_needed()
        page.click("#tab-compare")
        page.wait_for_selector(".cmp-model")
        check(page, f"search-compare-{label}.png", [".cmp-model", ".cmp-bar.is-best"], False)
        tok = ready_token(page)
        set_hash(page, f"ds={build.hostile_slug}&view=cat")
        wait_ready(page, tok)
        show_map(page)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(700)  # the results' fade-in
        network_idle(page)
        check(page, f"search-hostile-{label}.png", ["#results .result", "#grid .cat-title"])
        page.goto(server + "explorer.html")
        page.wait_for_function("() => document.body.dataset.ready")
        network_idle(page)
        check(page, f"explorer-{label}.png", ["#ex-models [aria-checked=true]", "#channels .channel"])
        page.locator("#channels .channel").first.click()
        page.wait_for_selector("#dlg-channel[open]")
        network_idle(page)
        check(page, f"explorer-channel-{label}.png", ["#dlg-img", "#dlg-examples .example"], False)
        fits = page.evaluate(
            "(() => { const d = document.querySelector('#dlg-channel'); return d.scrollWidth <= d.clientWidth + 1; })()"
        )
        assert fits, f"the channel dialog overflows at {viewport['width']} px"
        page.keyboard.press("Escape")
        page.goto(server + "about.html")
        network_idle(page)
        check(page, f"about-{label}.png", ["h1", "#this-build"])


# ------------------------------------------------------------------------------ what a first-time visitor meets
def test_query_image_is_shown_whole(build: SiteBuild, server: str, new_page: Any) -> None:
    """The selected image is never cropped: its rendered picture lies inside the figure, at desktop and phone."""
    sizes = {}
    for label, viewport in (("1280", DESKTOP), ("375", PHONE)):
        page, _ = new_page(viewport)
        page.goto(server + "index.html#q=5")
        wait_ready(page)
        ds = data(build, f"datasets/{state(page)['ds']}")
        if ds["display"] is None:
            # no display images: the thumbnail's sprite cell (the image centred in it, aspect kept) fills the
            # square figure exactly: one cell of the sheet scaled to the figure's width
            r = page.evaluate("""() => { const t = document.querySelector('#query-thumb');
                const f = t.parentElement.getBoundingClientRect(), b = t.getBoundingClientRect();
                return {fig: [f.left, f.top, f.width, f.height], box: [b.left, b.top, b.width, b.height],
                        size: getComputedStyle(t).backgroundSize, img: document.querySelector('#query-img').hidden};
            }""")
            assert (
                r["img"]
                and r["box"] == pytest.approx(r["fig"], abs=0.5)
                and r["fig"][2] == pytest.approx(r["fig"][3], abs=0.5)
            )
            assert r["size"] == f"{ds['thumbs']['cols'] * 100}% auto", r
            sizes[label] = [round(r["fig"][2]), round(r["fig"][3])]
            continue
        page.wait_for_function("() => document.querySelector('#query-img').naturalWidth > 0")
        r = page.evaluate("""() => {
            const img = document.querySelector('#query-img'), fig = img.parentElement;
            const f = fig.getBoundingClientRect(), i = img.getBoundingClientRect();
            // the drawn picture inside the img box (object-fit: contain keeps the aspect ratio)
            const s = getComputedStyle(img), k = Math.min(i.width / img.naturalWidth, i.height / img.naturalHeight);
            const fit = s.objectFit === 'contain' ? k : s.objectFit === 'cover' ? Math.max(i.width / img.naturalWidth,
                i.height / img.naturalHeight) : null;
            const w = fit === null ? i.width : img.naturalWidth * fit;
            const h = fit === null ? i.height : img.naturalHeight * fit;
            const x = i.left + (i.width - w) / 2, y = i.top + (i.height - h) / 2;
            return {fig: [f.left, f.top, f.right, f.bottom], pic: [x, y, x + w, y + h], fit: s.objectFit,
                    natural: [img.naturalWidth, img.naturalHeight]};
        }""")
        fl, ft, fr, fb = r["fig"]
        pl, pt, pr, pb = r["pic"]
        assert pl >= fl - 0.5 and pt >= ft - 0.5 and pr <= fr + 0.5 and pb <= fb + 0.5, (label, r)
        assert r["fit"] != "cover", r
        # and it uses the figure: the longer side fills it
        assert max(pr - pl, pb - pt) >= min(fr - fl, fb - ft) - 1, (label, r)
        sizes[label] = [round(fr - fl), round(fb - ft)]
    print("query figure CSS px (width, height):", sizes)
    record("query_figure_css_px", sizes)


def _spread(xy: list[list[float]], labels: list[int | None]) -> dict[int, float]:
    """Independent of the site: RMS distance of each category to its centroid / RMS of all points to theirs."""
    import numpy as np

    p = np.asarray(xy, float)
    whole = np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean())
    out = {}
    for c in sorted({lab for lab in labels if lab is not None}):
        q = p[[i for i, lab in enumerate(labels) if lab == c]]
        out[c] = float(np.sqrt(((q - q.mean(0)) ** 2).sum(1).mean()) / whole)
    return out


def _overlaps(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    bad = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if (
                a["x"] < b["x"] + b["w"]
                and b["x"] < a["x"] + a["w"]
                and a["y"] < b["y"] + b["h"]
                and b["y"] < a["y"] + a["h"]
            ):
                bad.append((a["text"], b["text"]))
    return bad


def test_map_labels_never_overlap_and_skip_spread_out_categories(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    s = state(page)
    model = next(m for m in build.index["models"] if m["slug"] == s["model"])
    ds = data(build, f"datasets/{s['ds']}")
    labels = [label_of(ds, i) for i in range(ds["n"])]
    threshold = page.evaluate("PG.Scatter.COMPACT")
    spread_out_seen = 0
    for layer in model["layers"]:
        tok = ready_token(page)
        set_hash(page, f"ds={s['ds']}&model={s['model']}&layer={layer['slug']}&metric={s['metric']}&q=0")
        if layer["slug"] != state(page)["layer"]:
            wait_ready(page, tok)
        show_map(page)
        xy = map_xy(build, {**s, "layer": layer["slug"]}).tolist()
        page.wait_for_function(  # the new layer's layout is drawn (the transition has ended)
            "(p) => { const m = PG.page.map(); return !m.anim && Math.abs(m.x[1] - p[0]) < 1e-3"
            " && Math.abs(m.y[1] - p[1]) < 1e-3; }",
            arg=xy[1],
        )
        drawn = page.evaluate("PG.page.map().labels.map(l => ({c: l.c, text: l.text, x: l.x, y: l.y, w: l.w, h: l.h}))")
        assert _overlaps(drawn) == [], (layer["name"], drawn)
        spread = _spread(xy, labels)
        for lab in drawn:
            assert spread[lab["c"]] <= threshold + 1e-3, (layer["name"], lab, spread)
        spread_out_seen += sum(v > threshold + 1e-3 for v in spread.values())
    assert spread_out_seen > 0, "no layer of the real build has a spread-out category: the check proved nothing"
    # synthetic: ten categories piled on one spot (all compact) -> one label; one category spread over the map
    # -> none; a compact category far away -> its own label
    res = page.evaluate("""() => {
        const box = document.createElement('div'); box.style.cssText = 'width:600px;height:400px;position:fixed;top:0';
        const c = document.createElement('canvas'); c.style.cssText = 'width:100%;height:100%'; box.appendChild(c);
        document.body.appendChild(box);
        const s = new PG.Scatter(c, {}); s.resize();
        let seed = 3; const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
        const xy = [], cls = [];
        for (let k = 0; k < 10; k++) for (let i = 0; i < 20; i++) {
            xy.push([0.3 + rnd() * 0.04, 0.5 + rnd() * 0.04]); cls.push(k); }
        for (let i = 0; i < 60; i++) { xy.push([rnd(), rnd()]); cls.push(10); }
        for (let i = 0; i < 20; i++) { xy.push([0.85 + rnd() * 0.03, 0.2 + rnd() * 0.03]); cls.push(11); }
        s.setData(xy.map(p => p[0]), xy.map(p => p[1]), cls, Array.from({length: 12}, (_, i) => 'category ' + i),
                  false);
        s.draw();
        const out = s.labels.map(l => l.c); box.remove(); return out;
    }""")
    assert 10 not in res and 11 in res and len([c for c in res if c < 10]) == 1, res


def test_foreign_deep_link_is_named_and_corrected(build: SiteBuild, server: str, new_page: Any) -> None:
    """A link naming a model this build lacks: a visible message, the defaults shown, the address bar fixed."""
    assert all(m["slug"] != UNAVAILABLE_MODEL for m in build.index["models"])
    d = build.index["defaults"]
    page, _ = new_page()
    page.goto(server + f"index.html#ds={d['dataset']}&model={UNAVAILABLE_MODEL}&layer=block5_conv3&q=3")
    wait_ready(page)
    note = page.locator("#link-notice [role=status]")
    assert note.is_visible()
    text = note.inner_text()
    default_model = next(m for m in build.index["models"] if m["slug"] == d["model"])
    assert f"“{UNAVAILABLE_MODEL}” is not a model in this build; showing {default_model['display']}" in text, text
    assert f"model={d['model']}" in page.url and UNAVAILABLE_MODEL not in page.url and "q=3" in page.url
    assert state(page)["model"] == d["model"] and state(page)["q"] == 3
    # a later edit of the hash too
    set_hash(page, f"ds={d['dataset']}&model={d['model']}&layer={d['layer']}&metric=chebyshev&q=3")
    page.wait_for_function("() => !location.hash.includes('chebyshev')")
    assert "“chebyshev” is not a distance metric" in note.inner_text() and "metric=chebyshev" not in page.url
    # a setting the page does not have (with a hint for a name people write), and a bad layer without a model
    set_hash(page, f"dataset={d['dataset']}&layer=zzz&q=4")
    page.wait_for_function("() => !location.hash.includes('zzz')")
    text = note.inner_text()
    assert "“dataset” is not a setting of this page (did you mean “ds=”?)" in text, text
    assert "“zzz” is not one of" in text and "dataset=" not in page.url and state(page)["q"] == 4, text
    page.click("#link-notice .notice-close")
    assert page.locator("#link-notice").count() == 0
    # the Model Explorer
    page.goto(server + f"explorer.html#model={UNAVAILABLE_MODEL}&layer=block1_conv1")
    page.wait_for_function("() => document.body.dataset.ready")
    text = page.locator("#link-notice [role=status]").inner_text()
    assert f"“{UNAVAILABLE_MODEL}” is not a model in this build" in text, text
    page.wait_for_function("(m) => !location.hash.includes(m)", arg=UNAVAILABLE_MODEL)
    assert f"model={page.evaluate('PG.page.state().model')}" in page.url
    # a layer named without a model, and a channel the layer does not show: named, and dropped from the address
    page.goto(server + "explorer.html#layer=zzz")
    page.wait_for_function("() => document.body.dataset.ready && !location.hash.includes('zzz')")
    assert "“zzz” is not one of" in page.locator("#link-notice [role=status]").inner_text()
    page.goto(server + "explorer.html#ch=99999")
    page.wait_for_function("() => document.body.dataset.ready && !location.hash.includes('ch=')")
    text = page.locator("#link-notice [role=status]").inner_text()
    assert "channel 99999 is not among the" in text and page.evaluate("PG.page.state().ch") is None, text


def test_first_visit_intro_is_shown_once_and_reachable_again(build: SiteBuild, new_page: Any) -> None:
    origin = build.site.resolve().as_uri() + "/"  # from disk: localStorage works there too
    page, _ = new_page(origin=origin, first_visit=True)
    page.goto(origin + "index.html")
    page.wait_for_selector("#intro[open]")
    intro = page.locator("#intro")
    assert intro.locator(".intro-steps li").count() >= 3 and "layer" in intro.inner_text()
    page.keyboard.press("Escape")  # dismissible like any dialog
    page.wait_for_function("() => !document.querySelector('#intro').open")
    page.reload()
    wait_ready(page)
    page.wait_for_timeout(300)
    assert not page.evaluate("document.querySelector('#intro').open"), "the intro came back after it was seen"
    page.click("#intro-open")  # the "How it works" control
    page.wait_for_selector("#intro[open]")
    page.locator("#intro .intro-actions [data-close]").click()
    page.goto(origin + "explorer.html")
    page.wait_for_function("() => document.body.dataset.ready")
    assert not page.evaluate("document.querySelector('#intro').open")
    page.locator("#intro-open").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#intro[open]")


def test_help_for_score_sim_and_d_by_keyboard(build: SiteBuild, server: str, new_page: Any) -> None:
    page, _ = new_page()
    page.goto(server + "index.html")
    wait_ready(page)
    for control, words in (
        ("help-score", "rank 1 weighs"),
        ("help-sim", "pairs of images"),
        ("help-d", "raw distance"),
    ):
        btn = page.locator(f".help-btn[aria-controls={control}]")
        assert btn.get_attribute("aria-label").startswith("What")
        btn.focus()
        page.keyboard.press("Enter")
        assert btn.get_attribute("aria-expanded") == "true"
        pop = page.locator(f"#{control}")
        assert pop.is_visible() and words in pop.inner_text()
        box = pop.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"]
        page.keyboard.press("Escape")
        assert pop.is_hidden() and btn.get_attribute("aria-expanded") == "false"
        assert page.evaluate("document.activeElement.getAttribute('aria-controls')") == control


def test_phone_layout_nothing_clipped_selected_tile_and_best_score_visible(
    build: SiteBuild, server: str, new_page: Any
) -> None:
    page, _ = new_page(PHONE)
    d = build.index["defaults"]
    page.goto(server + f"index.html#adv=1&model={d['model']}&layer={d['layer']}")
    wait_ready(page)
    page.wait_for_timeout(300)
    clipped = page.evaluate("""() => [...document.querySelectorAll(
            '#config-chips .chip-value, #config-chips .chip-label,'
            + '.tile .tile-title, .tile .tile-meta, .tile .tile-name')]
        .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 0.5)
        .map(e => [e.className, e.textContent, e.scrollWidth, e.clientWidth])""")
    assert clipped == [], clipped
    for row in ("dataset", "model", "layer", "metric"):
        vis = page.evaluate(
            """(row) => { const box = document.querySelector('#tiles-' + row);
                const t = box.querySelector('[aria-checked=true]');
                const b = box.getBoundingClientRect(), r = t.getBoundingClientRect();
                return r.left >= b.left - 0.5 && r.right <= b.right + 0.5 && r.left >= 0 && r.right <= innerWidth; }""",
            row,
        )
        assert vis, f"the selected {row} tile is scrolled out of view"
    page.locator("#analysis").scroll_into_view_if_needed()
    best = page.evaluate("""() => { const c = document.querySelector('.heat-cell.all-best');
        const r = c.getBoundingClientRect();
        const sc = c.closest('.table-scroll');
        return {left: r.left, right: r.right, scroll: sc.scrollWidth - sc.clientWidth, w: innerWidth}; }""")
    assert best["scroll"] <= 0 and best["left"] >= 0 and best["right"] <= best["w"], best
    # the "?" buttons are drawn at 22 px but take a tap 15 px from their centre (a 32 px target)
    page.evaluate("window.scrollTo(0, 0)")
    misses = page.evaluate("""() => [...document.querySelectorAll('.help-btn')].filter(b => b.offsetParent !== null)
        .flatMap(b => { b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect();
            const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
            return [[15, 0], [-15, 0], [0, 15], [0, -15]]
                .filter(([dx, dy]) => document.elementFromPoint(cx + dx, cy + dy)?.closest('.help-btn') !== b)
                .map(([dx, dy]) => [b.getAttribute('aria-controls'), dx, dy, r.width]); })""")
    assert misses == [], misses
    # the configuration chips (dataset, model, layer, pooling when there are two, metric): compact, not one per
    # line, each at least a 32 px tap target
    chips = page.evaluate("""() => { const c = document.querySelector('#config-chips');
        return {h: c.getBoundingClientRect().height, n: c.children.length,
                min: Math.min(...[...c.children].map(e => e.getBoundingClientRect().height))}; }""")
    assert chips["n"] >= 4 and chips["min"] >= 32 and chips["h"] < chips["n"] * (chips["min"] + 6) - 6, chips


def _hex(c: str) -> tuple[int, int, int]:
    c = c.strip().lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(build: SiteBuild, server: str, new_page: Any, scheme: str) -> None:
    """Contrast >= 4.5:1 (3:1 for large text) for every visible text on the main views, the leaderboard's cells
    and the map's labels, computed here from the computed colours (WCAG 2 formula, tests.helpers)."""
    page, _ = new_page(color_scheme=scheme)
    bad: list[Any] = []
    for url, ready in (("index.html#adv=1", True), ("explorer.html", True), ("about.html", False)):
        page.goto(server + url)
        if ready:
            page.wait_for_function("() => document.body.dataset.ready")
        page.wait_for_timeout(300)
        for t in page.evaluate(TEXT_COLOURS, "body"):
            large = t["size"] >= 24 or (t["size"] >= 18.66 and t["weight"] >= 700)
            ratio = contrast_ratio(tuple(t["fg"]), tuple(t["bg"]))
            if ratio < (3.0 if large else 4.5):
                bad.append((url, t["cls"], t["text"], round(ratio, 2)))
    page.goto(server + "index.html")
    wait_ready(page)
    show_map(page)
    cells = [c for c in page.evaluate(TEXT_COLOURS, "#leaderboard") if "heat-value" in c["cls"]]
    assert len(cells) >= sum(len(m["layers"]) for m in build.index["models"] if not m.get("explorer_only"))
    low = min(cells, key=lambda c: float(c["text"].replace("★", "")))
    if scheme == "dark":  # the lowest cell sits near the dark background, not near white
        assert contrast_ratio(tuple(low["bg"]), (255, 255, 255)) > 8, low
    labels = page.evaluate("PG.page.map().labels.map(l => l.color)")
    map_bg = page.evaluate(
        TEXT_COLOURS.replace(
            "for (const e of document.querySelectorAll(root + ' *'))", "for (const e of [document.querySelector(root)])"
        ),
        "#map-status",
    )
    assert labels, "no map label drawn on the default view"
    wrap = page.evaluate("getComputedStyle(document.querySelector('#map-wrap')).backgroundColor")
    wrap_rgb = tuple(int(x) for x in wrap[wrap.index("(") + 1 : wrap.index(")")].split(",")[:3])
    for colour in labels:
        ratio = contrast_ratio(_hex(colour), wrap_rgb)
        if ratio < 4.5:
            bad.append(("map label", colour, wrap, round(ratio, 2)))
    del map_bg
    assert bad == [], bad


def test_use_this_layer_dialog(build: SiteBuild, server: str, new_page: Any) -> None:
    """ "Use this layer" on the results and on a leaderboard cell: a modal dialog reached by keyboard, with the
    exact `playground export` command for the view (hostile names quoted for the shell and shown as text), the
    export README's snippet, and no download on a static copy; Escape gives focus back."""
    import shlex

    page, _ = new_page()
    page.goto(server + f"index.html#ds={build.hostile_slug}")
    wait_ready(page)
    s = state(page)
    page.focus("#use-layer")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dlg-export[open]")
    assert page.evaluate("document.getElementById('dlg-export').contains(document.activeElement)")
    words = shlex.split(page.text_content("#export-cmd"))
    opts = dict(zip(words[2::2], words[3::2], strict=True))
    assert words[:2] == ["playground", "export"]
    want = {"--dataset": s["ds"], "--model": s["model"], "--layer": s["layer"], "--pooling": s["pool"]}
    assert {k: opts[k] for k in want} == want and opts["--metric"] == s["metric"]
    ds_name = next(d["name"] for d in build.index["datasets"] if d["slug"] == s["ds"])
    assert ds_name in page.text_content("#export-what")  # the raw name, as text
    assert page.locator("#export-what *").count() == 0
    size = next(m["input_size"] for m in build.index["models"] if m["slug"] == s["model"])
    snippet = page.text_content("#export-snippet")
    assert f"({size}, {size})" in snippet and 'faiss.read_index("index.faiss")' in snippet
    assert page.locator("#export-zip").is_hidden()  # a static copy: no server to zip the export
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.getElementById('dlg-export').open")
    assert page.evaluate("document.activeElement.id") == "use-layer"
    # a leaderboard cell's own button: that cell's model, layer and pooling
    btn = page.locator("#leaderboard .use-layer-btn").last
    btn.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#dlg-export[open]")
    words = shlex.split(page.text_content("#export-cmd"))
    opts = dict(zip(words[2::2], words[3::2], strict=True))
    layers = {m["slug"]: [la["slug"] for la in m["layers"]] for m in build.index["models"]}
    assert opts["--dataset"] == s["ds"] and opts["--layer"] in layers[opts["--model"]]
    assert opts["--pooling"] == btn.evaluate("b => b.previousElementSibling.getAttribute('data-pool')")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.getElementById('dlg-export').open")
    assert page.evaluate("document.activeElement.classList.contains('use-layer-btn')")
