"""Search with your own image on the STATIC site: the CNN runs in the visitor's browser (precompute/browsersearch.py,
site_templates/static/search-cnn*.js), against the real site of ``helpers.real_site`` (iconic200 and a dataset with
hostile names x the real MobileNet alpha 0.75 and a random-weights MobileNet), opened from ``file://`` and from a
Pages-style static server (no ``playground serve`` behind it).

The independent side is the CLI: ``playground query --json`` (Keras, the precompute's decoding and resize, the
build's ranking code) on the same image files; the page must give the same top-15 ids at every layer under every
metric, and feed the network the very pixels ``images.load_rgb`` gives.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from precompute.images import load_rgb
from precompute.sitedata import read_key
from tests.helpers import ARTIFACTS, Pages, SiteBuild, browser_runtime, real_site, serve_site, wait_ready
from tests.realdata import dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow]
METRICS = ("cosine", "euclidean", "sqeuclidean", "minkowski")
MODEL = "mobilenet_075"


@pytest.fixture(scope="module")
def build() -> SiteBuild:
    browser_runtime()  # skips, with how, where npm never installed onnxruntime-web
    return real_site()


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The images a visitor drops: a dataset image as it is on disk, a portrait photo, an EXIF-rotated JPEG, a PNG
    with graded alpha, a 1 x 1 image and a CMYK JPEG."""
    root = tmp_path_factory.mktemp("own-images")
    photos = sorted(dataset("iconic200").rglob("*.jpg"))
    out = {"dataset": root / "dataset.jpg"}
    out["dataset"].write_bytes(photos[0].read_bytes())
    portrait = next(p for p in photos if Image.open(p).height > Image.open(p).width)
    out["portrait"] = root / "portrait.jpg"
    out["portrait"].write_bytes(portrait.read_bytes())
    im = Image.open(photos[5]).convert("RGB")
    exif = im.getexif()
    exif[0x0112] = 6  # stored sideways: shown (and embedded) rotated 90 degrees
    out["exif"] = root / "exif6.jpg"
    im.save(out["exif"], exif=exif, quality=90)
    rgba = np.asarray(Image.open(photos[9]).convert("RGBA")).copy()
    rgba[..., 3] = np.linspace(0, 255, rgba.shape[1]).astype(np.uint8)[None, :]
    out["alpha"] = root / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(out["alpha"])
    out["tiny"] = root / "one.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(out["tiny"])
    out["cmyk"] = root / "cmyk.jpg"
    Image.open(photos[12]).convert("CMYK").save(out["cmyk"], quality=90)
    return out


@pytest.fixture(scope="module")
def cli(build: SiteBuild, fixtures: dict[str, Path]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``playground query --json --layer all`` for every fixture and metric: (file name, layer, metric) -> answer."""
    ds = build.main_slug
    answers = {}
    for metric in METRICS:
        cmd = [sys.executable, "-m", "precompute.cli", "-q", "query", "--out", str(build.out), "--dataset", ds]
        cmd += ["--model", MODEL, "--layer", "all", "--pooling", "avg", "--metric", metric, "--json"]
        proc = subprocess.run([*cmd, *map(str, fixtures.values())], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        for item in json.loads(proc.stdout):
            for la in item["answer"]["layers"]:
                answers[(Path(item["image"]).name, la["layer"], metric)] = la
    return answers


@pytest.fixture()
def pages(browser: Any) -> Iterator[Pages]:
    p = Pages(browser, "")
    yield p
    p.check()


def open_site(pages: Pages, origin: str) -> Any:
    page, _ = pages.make(origin=origin)
    page.goto(origin + "index.html")
    wait_ready(page)
    return page


def drop(page: Any, path: Path) -> None:
    """Choose ``path`` in the upload panel and wait until its results are on the page."""
    page.set_input_files("#upload-file", str(path))
    page.wait_for_function(
        "(n) => { const u = PG.search.upload(); return u && u.shown && u.name === n; }", arg=path.name, timeout=60000
    )


def browser_row(page: Any, ds: str, model: str, layer: str, metric: str) -> dict[str, Any]:
    return page.evaluate(
        "([ds, model, layer, metric]) => PG.browserCnn.query({ds, model, layer, pooling: 'avg', metric},"
        " PG.search.upload()).then((r) => ({ids: r.ids, dist: r.dist, near: r.near, labels: r.labels}))",
        [ds, model, layer, metric],
    )


def test_from_disk_every_layer_and_metric_gives_the_clis_top15(
    build: SiteBuild, fixtures: dict[str, Path], cli: dict, pages: Pages
) -> None:
    origin = build.site.resolve().as_uri() + "/"
    page = open_site(pages, origin)
    mode = page.evaluate("() => PG.data.serve()")
    assert mode["mode"] == "browser" and build.main_slug in mode["datasets"], mode
    assert "stays in your browser" in page.locator("#upload-where").inner_text()
    layers = [la["slug"] for la in next(m for m in build.index["models"] if m["slug"] == MODEL)["layers"]]
    differ, total = [], 0
    for name, path in fixtures.items():
        drop(page, path)
        status = page.locator("#upload-status").inner_text()
        assert path.name in status and "Could not" not in status, status
        for layer in layers:
            for metric in METRICS:
                got = browser_row(page, build.main_slug, MODEL, layer, metric)
                want = cli[(path.name, layer, metric)]
                total += 1
                if got["ids"] != want["ids"]:
                    differ.append((name, layer, metric, got["ids"], want["ids"]))
                # ONNX Runtime's float32 against TensorFlow's: ~1e-5 of the distances' scale
                scale = max(max(want["dist"]), 1e-12)
                assert np.allclose(got["dist"], want["dist"], rtol=1e-4, atol=1e-4 * scale), (name, layer, metric)
                assert got["labels"] == want["labels"] or got["ids"] != want["ids"]
        if name == "dataset":  # a dataset image finds itself first, at (nearly: ONNX Runtime's float32) 0
            row = browser_row(page, build.main_slug, MODEL, layers[-1], "euclidean")
            assert row["ids"][0] == 0 and row["dist"][0] < 1e-3 and row["near"][0] == 0
    print(f"\nidentical top-15 in {total - len(differ)} of {total} (image x layer x metric)")
    assert differ == [], differ
    stats = page.evaluate("() => PG.browserCnn.stats()")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-cnn.json").write_text(json.dumps({"file": stats}, indent=2))
    keys = [x["key"] for x in stats["loads"]]
    # loaded lazily: the runtime, this model, and only the layers asked for (no other model, no other pooling)
    assert {"web/runtime/wasm", f"web/model/{MODEL}"} <= set(keys)
    assert not any(k.startswith("web/model/") and not k.endswith(MODEL) for k in keys)


def test_the_network_gets_the_precomputes_pixels_bit_for_bit(
    build: SiteBuild, fixtures: dict[str, Path], pages: Pages
) -> None:
    """Decoding (EXIF, alpha over white, CMYK) and the resize in the worker equal ``images.load_rgb``."""
    page = open_site(pages, build.site.resolve().as_uri() + "/")
    photos = sorted(dataset("iconic200").rglob("*.jpg"))[::10] + sorted(dataset("fashion200").rglob("*.jpg"))[::10]
    bad = []
    for path in [*fixtures.values(), *photos]:
        b64 = base64.b64encode(path.read_bytes()).decode()
        got = page.evaluate(
            """([b64, size]) => { const bin = atob(b64); const u = new Uint8Array(bin.length);
               for (let i = 0; i < u.length; i++) u[i] = bin.charCodeAt(i);
               return PG.browserCnn.pixels(new Blob([u]), size).then((r) => {
                 let s = ''; for (const v of r.rgb) s += String.fromCharCode(v); return btoa(s); }); }""",
            [b64, 224],
        )
        js = np.frombuffer(base64.b64decode(got), np.uint8).reshape(224, 224, 3)
        if not np.array_equal(js, load_rgb(path, 224)):
            bad.append(path.name)
    assert bad == [], bad
    assert len(photos) >= 30


def test_a_pages_style_static_server_and_the_compare_chart(
    build: SiteBuild, fixtures: dict[str, Path], cli: dict, pages: Pages
) -> None:
    """The same search from http (a static server, as GitHub Pages), and the Compare tab computed in the page for
    every model x layer with an in-browser model."""
    with serve_site(build.site) as url:
        page = open_site(pages, url)
        assert page.evaluate("() => PG.data.serve().mode") == "browser"
        drop(page, fixtures["portrait"])
        last = [la["slug"] for la in next(m for m in build.index["models"] if m["slug"] == MODEL)["layers"]][-1]
        assert (
            browser_row(page, build.main_slug, MODEL, last, "cosine")["ids"]
            == cli[("portrait.jpg", last, "cosine")]["ids"]
        )
        page.click("#tab-compare")
        page.wait_for_selector(".cmp-model", timeout=60000)
        web = read_key(build.site, "web/index")
        assert page.locator(".cmp-model").count() == len(web["models"]) >= 2


def test_the_build_says_what_it_shipped(build: SiteBuild) -> None:
    web = read_key(build.site, "web/index")
    assert web["available"] and web["why"] is None and web["runtime"]
    assert sorted(web["datasets"]) == sorted(d["slug"] for d in build.index["datasets"])
    models = {m["model"]: m for m in web["models"]}
    assert set(models) == {
        m["slug"] for m in build.index["models"] if not m.get("explorer_only") and m["slug"] in models
    }
    mob = models[MODEL]
    assert mob["max_rel_err"] <= 1e-4 and mob["bytes"] > 1e6
    layers = [la["slug"] for la in next(m for m in build.index["models"] if m["slug"] == MODEL)["layers"]]
    assert mob["outputs"] == [f"{la}/avg" for la in layers]
    view = read_key(build.site, f"web/{build.main_slug}/{MODEL}/{layers[-1]}/avg")
    emb = np.frombuffer(base64.b64decode(view["emb"]), "<f4").reshape(view["n"], view["d"])
    assert emb.shape[0] == 200 and np.isfinite(emb).all()
    # its similarity comes from the view's calibration files, one per metric, which the rankings use too
    base = f"{build.main_slug}/{MODEL}/{layers[-1]}/avg"
    assert all((build.site / "data" / f"{base}/{m}/calib.js").is_file() for m in METRICS)
    assert os.environ["PLAYGROUND_ORT_WEB"].endswith("no-onnxruntime-web-in-tests")  # only the real site ships it
