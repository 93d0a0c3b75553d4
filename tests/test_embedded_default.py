"""A fresh clone with no network and an empty Keras cache: `playground build` with the DEFAULT config builds
the embedded default (`shapes` x `playground-net`), skips everything else with one warning per missing piece,
and the site works in a real browser and says what is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from precompute.catalog import SEARCH_MODELS
from precompute.sitedata import read_key
from tests.conftest import REPO
from tests.helpers import SEEN_INTRO, Watch, attach, browser_runtime, wait_ready, with_browser_runtime

pytestmark = [pytest.mark.slow]
STANDARD = ["iconic200", "fashion200", "tinyimagenet200", "cifar10"]


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory: pytest.TempPathFactory, trained: tuple) -> tuple[Path, subprocess.CompletedProcess]:
    """The repo's own playground.toml, but datasets/ as a fresh clone has it (manifests only) and an empty
    KERAS_HOME; the trained playground-net is seeded into the cache so the test does not train twice
    (training itself is covered by test_playground_net)."""
    root = tmp_path_factory.mktemp("fresh-clone")
    ddir = root / "datasets"
    ddir.mkdir()
    for manifest in (REPO / "datasets").glob("*.json"):
        shutil.copy(manifest, ddir / manifest.name)
    text = (REPO / "playground.toml").read_text()
    assert 'datasets_dir = "datasets"' in text
    (root / "playground.toml").write_text(text.replace('datasets_dir = "datasets"', f'datasets_dir = "{ddir}"'))
    out = root / "build"
    shutil.copytree(trained[0] / "playground-net", out / "cache" / "playground-net")
    env = {**os.environ, "KERAS_HOME": str(root / "keras-home"), "PLAYGROUND_OFFLINE": "1"}
    if (REPO / "node_modules" / "onnxruntime-web" / "dist").is_dir():  # what `make install` gives (npm ci)
        env = with_browser_runtime(env)
    proc = subprocess.run(
        [sys.executable, "-m", "precompute.cli", "--config", str(root / "playground.toml"), "-q", "build", "--quick"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def test_offline_build_makes_the_embedded_default_and_names_what_is_missing(fresh_build: tuple) -> None:
    out, proc = fresh_build
    assert "built 1 dataset(s) x 1 model(s) x 8 layers x 2 pooling(s) x 4 metrics" in proc.stdout
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    explorer_only = ["mobilenetv2", "nasnetmobile"]  # not part of search: only the explorer stage reports them
    assert len(warnings) == len(STANDARD) + len(SEARCH_MODELS) + len(explorer_only)  # one per missing piece
    for piece in STANDARD + list(SEARCH_MODELS) + explorer_only:
        pattern = rf"skipped (model |dataset )?{re.escape(piece)}[ :]"
        assert sum(bool(re.search(pattern, w)) for w in warnings) == 1, piece
    index = read_key(out / "site", "index")
    assert [d["slug"] for d in index["datasets"]] == ["shapes"]
    assert [m["name"] for m in index["models"]] == ["playground-net"] and index["models"][0]["weights"] == "trained"
    missing = [m["what"] for m in index["missing"]]
    assert missing == [f"dataset {d}" for d in STANDARD] + [f"model {m} (imagenet weights)" for m in SEARCH_MODELS]
    assert all(m["how"] or "datasets fetch" in m["why"] for m in index["missing"])
    summary = json.loads((out / "summary.json").read_text())
    layers = summary["models"][0]["layers"]
    scores = summary["scores"]["shapes"]["playground-net"]
    first, last = (scores[layers[i]]["avg"]["cosine"]["mean_search_score"] for i in (0, -1))
    print(f"\nshapes x playground-net, cosine: first layer {first:.1f}, last layer {last:.1f}")
    assert last >= first + 30
    explorer = read_key(out / "site", "explorer/index")
    assert "playground-net" in json.dumps(explorer)
    assert (out / "site" / "index.html").is_file() and (out / "site" / "explorer.html").is_file()


@pytest.mark.browser
def test_offline_site_works_from_disk_and_shows_the_missing_notes(fresh_build: tuple, browser: Any) -> None:
    out, _ = fresh_build
    site = out / "site"
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        ctx.add_init_script(SEEN_INTRO)
        page = ctx.new_page()
        watch = Watch(origin=site.as_uri())
        attach(page, watch)
        page.goto((site / "index.html").as_uri())
        wait_ready(page)
        assert page.locator("#results li").count() == 15
        assert page.evaluate("PG.page.state()")["ds"] == "shapes"
        assert page.locator("#not-built").count() == 0  # the build notes live on the About page
        first = page.locator("#results li .result").first
        target = int(first.get_attribute("data-id"))
        tok = page.evaluate("document.body.dataset.ready")
        first.click()
        wait_ready(page, tok)
        assert page.evaluate("PG.page.state()")["q"] == target
        page.screenshot(path=str(REPO / "test-artifacts" / "offline-default-search.png"), full_page=True)
        # one model: the compare chart is one wide chart with a 0-100 axis and every layer named under its bar
        page.evaluate("location.hash = 'tab=compare&q=3'")
        page.wait_for_selector(".cmp-model .cmp-names")
        assert "is-single" in page.locator("#compare").get_attribute("class")
        assert page.locator(".cmp-axis span").all_inner_texts() == ["100", "50", "0"]
        names = page.evaluate("PG.data.model(PG.page.state().model).layers.map(l => l.name)")
        assert page.locator(".cmp-names .cmp-name").all_text_contents() == names and len(names) == 8
        assert page.locator(".cmp-bar").count() == 8

        own_image_at_every_layer(page, out)

        page.goto((site / "explorer.html").as_uri())
        page.wait_for_selector("#channels img", timeout=15000)
        shown: Any = page.evaluate(
            "[...document.querySelectorAll('#channels img')].filter(i => i.complete && i.naturalWidth > 0).length"
        )
        assert shown > 0
        page.screenshot(path=str(REPO / "test-artifacts" / "offline-default-explorer.png"), full_page=True)

        page.goto((site / "about.html").as_uri())
        notes = page.locator("#this-build ~ ul.missing-list")
        assert "Not built (13)" in page.locator("#not-built").inner_text()
        assert "iconic200" in notes.inner_text() and "vgg16" in notes.inner_text()
    finally:
        ctx.close()
    assert watch.errors == [] and watch.dialogs == []
    assert all(u.startswith(("file://", "data:", "blob:null/")) for u in watch.requests), watch.requests


def own_image_at_every_layer(page: Any, out: Path) -> None:
    """A visitor's photo (a drawn one: offline there is no other), dropped on the page opened from disk: its
    neighbours at every layer of playground-net are the ones `playground query` gives."""
    browser_runtime()  # where npm never installed onnxruntime-web, the rest of this test still ran
    from PIL import Image, ImageDraw

    photo = out.parent / "my-photo.jpg"
    im = Image.new("RGB", (300, 220), (235, 225, 200))
    ImageDraw.Draw(im).ellipse((80, 40, 220, 180), fill=(30, 90, 200))
    im.save(photo, quality=90)
    proc = subprocess.run(
        [sys.executable, "-m", "precompute.cli", "-q", "query", "--out", str(out), "--dataset", "shapes"]
        + [
            "--model",
            "playground-net",
            "--layer",
            "all",
            "--pooling",
            "avg",
            "--metric",
            "cosine",
            "--json",
            str(photo),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = {la["layer"]: la["ids"] for la in json.loads(proc.stdout)[0]["answer"]["layers"]}
    page.set_input_files("#upload-file", str(photo))
    page.wait_for_function("() => { const u = PG.search.upload(); return u && u.shown; }", timeout=60000)
    got = page.evaluate(
        "(layers) => Promise.all(layers.map((layer) => PG.browserCnn.query({ds: 'shapes', model: 'playground-net',"
        " layer, pooling: 'avg', metric: 'cosine'}, PG.search.upload()).then((r) => r.ids)))",
        list(want),
    )
    assert len(want) == 8 and got == list(want.values())
