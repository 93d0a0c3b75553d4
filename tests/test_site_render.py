"""The render step (``precompute.site``): escaping, relative paths, no external URLs, budgets.

Two kinds of site are used:

* a small synthetic data folder written here with the pipeline's own writer (``sitedata.write_data_file``)
  and hostile names everywhere, for the fast unit tests of the templates;
* the REAL build of the session (``tests.helpers.real_site()``, shared with the browser tests). The budgets
  are measured on it (and on ``build/site`` or ``$PG_BUDGET_SITE`` when present), and every one of its files
  is scanned for the build machine's paths.
"""

from __future__ import annotations

import gzip
import html.parser
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from precompute import sitefiles
from precompute.search import calibration_table
from precompute.site import SiteDataMissing, render_site
from precompute.sitedata import read_data_file, write_data_file
from tests.helpers import (
    ARTIFACTS,
    CALIB_BUDGET,
    FIRST_VIEW_BUDGET,
    HOSTILE_CLASSES,
    HOSTILE_DATASET,
    HOSTILE_FILES,
    RANK_BUDGET,
    REPO,
    SWITCH_BUDGET,
    UNAVAILABLE_MODEL,
    read_row,
    real_site,
)
from tests.helpers import synthetic_site as generated_site

# what may legitimately look like a URL inside the site's own code: the SVG namespace, an identifier
ALLOWED_URLS = {"http://www.w3.org/2000/svg"}
URL_RE = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*""", re.I)


# ------------------------------------------------------------------------------------ synthetic data folder
def write_synthetic_site(site: Path, n_images: int = 24, k: int = 5) -> dict[str, Any]:
    """A tiny but complete, contract-conformant data folder with hostile names in every string, written with the
    contract's types (``sitedata.write_data_file`` refuses anything else). No images: the render needs none."""
    from precompute import contract as c

    classes = list(HOSTILE_CLASSES)
    models = []
    for m, random_w in (("m_one", False), ("m_two", True)):
        layers = [
            c.LayerInfoOut(
                slug=f"l{i}",
                name=f'<b>layer{i}</b>&"',
                type="Conv2D",
                depth_index=i * 3,
                conv_index=i,
                n_conv=4,
                params=100 * (i + 1),
                channels=8 * (i + 1),
                output_shape=[None, 8, 8, 8 * (i + 1)],
            )
            for i in range(4)
        ]
        models.append(
            c.ModelOut(
                slug=m,
                name=m,
                display=f'<i>{m}</i> & "co"',
                weights="random" if random_w else "imagenet",
                random=random_w,
                params=12345,
                input_size=224,
                n_layers=12,
                explorer_only=False,
                layers=layers,
            )
        )
    ds = c.DatasetInfo(
        slug="hostile",
        name=HOSTILE_DATASET,
        labeled=True,
        n_images=n_images,
        n_classes=len(classes),
        description="<script>window.__pwned=6</script> described",
        source="https://example.org/x?a=1&b=2",
        licence="<b>CC</b>",
        attribution='"Quote" & <em>co</em>',
        skipped=3,
        layout="<b>nested</b> class folders",
        labels_source="<script>window.__pwned=8</script> (a -> b)",
        archive="x&y.zip",
        skipped_files=[c.SkippedFiles(reason="<i>not an image</i>", count=3)],
        label_rows=[c.LabelRows(problem="rows & <u>dupes</u>", count=1_000_000)],
    )
    index = c.Index(
        build=c.BuildInfo(
            version="<script>v</script>", backend="tensorflow", poolings=["avg"], minkowski_p=3.0, seed=0, k=k
        ),
        datasets=[ds],
        models=models,
        metrics=[c.Choice(slug="cosine", name="cosine", description="<u>angle</u>")],
        poolings=[c.Choice(slug="avg", name="<i>average</i>", description="<b>mean</b> & more")],
        k=k,
        defaults=c.Defaults(dataset="hostile", model="m_one", layer="l3", metric="cosine", pooling="avg"),
        missing=[c.MissingOut(what="<img src=x onerror=alert(7)>", why='because & "so"', how="<code>run</code>")],
        shards=sitefiles.shards(),
    )
    write_data_file(site, "index", index)
    per = n_images // len(classes)
    starts = [i * per for i in range(len(classes))] + [n_images]
    write_data_file(
        site,
        "datasets/hostile",
        c.DatasetFile(
            slug="hostile",
            name=HOSTILE_DATASET,
            n=n_images,
            classes=classes,
            class_names=None,
            class_start=starts,
            files_block=1024,
            thumbs=c.Sprite(url="thumbs/hostile/", cell=32, cols=16, per_sheet=256),
            display=None,
        ),
    )
    labels = [min(len(classes) - 1, i // per) for i in range(n_images)]
    write_data_file(
        site,
        "datasets/hostile/files/0",
        c.FilesShard(
            first=0, files=[f"{classes[labels[i]]}/{HOSTILE_FILES[labels[i]].format(j=i)}" for i in range(n_images)]
        ),
    )
    board = c.Leaderboard(
        score={"hostile": {"avg": {"cosine": {}}}},
        precision={"hostile": {"avg": {"cosine": {}}}},
        knn={"hostile": {"avg": {"cosine": {}}}},
        probe={"hostile": {"avg": {}}},
        probe_std={"hostile": {"avg": {}}},
    )
    for m in models:
        for layer in m.layers:
            ids = np.array([[(q + 1 + j) % n_images for j in range(k)] for q in range(n_images)])
            dist = np.array([[0.1 * (j + 1) for j in range(k)] for _ in range(n_images)])
            write_data_file(
                site,
                f"hostile/{m.slug}/{layer.slug}/avg/cosine/0",
                c.RankShard(
                    first=0,
                    **sitefiles.encode_rankings(ids, dist, n_images),  # type: ignore[arg-type]
                    exact=True,
                    recall=None,
                    squared=None,
                ),
            )
            cal = calibration_table(np.linspace(0.05, 2.0, n_images * (n_images - 1) // 2))
            write_data_file(site, f"hostile/{m.slug}/{layer.slug}/avg/cosine/calib", sitefiles.calibration_file(cal))
        board.score["hostile"]["avg"]["cosine"][m.slug] = [10.0, 20.0, 30.0, 40.0]
        board.precision["hostile"]["avg"]["cosine"][m.slug] = [0.1, 0.2, 0.3, 0.4]
        board.knn["hostile"]["avg"]["cosine"][m.slug] = [30.0, 40.0, 50.0, 60.0]
        board.probe["hostile"]["avg"][m.slug] = [35.0, 45.0, None, 65.0]
        board.probe_std["hostile"]["avg"][m.slug] = [1.0, 1.5, None, 0.5]
    write_data_file(site, "leaderboard", board)
    write_data_file(site, "serve", c.ServeInfo(live=False, api="", max_upload=0, datasets=[]))
    return {"index": ds, "models": models}


@pytest.fixture()
def synthetic_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write_synthetic_site(site)
    render_site(site)
    return site


# ------------------------------------------------------------------------------------------------ helpers
class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text("utf-8"))
    return c


def url_attrs(c: _Collector) -> list[tuple[str, str, str]]:
    out = []
    for tag, attrs in c.elements:
        for a in ("src", "href", "action", "poster", "srcset", "data"):
            v = attrs.get(a)
            if v is not None and not (tag == "html" and a == "data"):
                out.append((tag, a, v))
    return out


def pages(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


# -------------------------------------------------------------------------------------------- unit tests
def test_render_reports_pages_and_hashed_assets(synthetic_site: Path) -> None:
    names = {p.name for p in pages(synthetic_site)}
    assert {"index.html", "explorer.html", "about.html"} <= names
    assets = sorted(p.name for p in (synthetic_site / "assets").iterdir())
    assert assets and all(re.fullmatch(r"[a-z]+(-[a-z]+)*\.[0-9a-f]{10}\.(js|css)", a) for a in assets), assets
    # every script a page loads is one of the hashed assets, in the order the page needs them
    scripts = [a.get("src") for t, a in parse(synthetic_site / "index.html").elements if t == "script"]
    names = [re.sub(r"\.[0-9a-f]{10}\.js$", ".js", Path(src or "").name) for src in scripts]
    assert names[0] == "pg.js" and names[-1] == "search.js", names
    assert names.index("search-data.js") < names.index("search-state.js") < names.index("search-config.js"), names


def test_render_is_deterministic_and_removes_stale_assets(synthetic_site: Path) -> None:
    before = {p: p.read_bytes() for p in synthetic_site.rglob("*") if p.is_file()}
    stale = synthetic_site / "assets" / "site.0000000000.css"
    stale.write_text("old")
    render_site(synthetic_site)
    after = {p: p.read_bytes() for p in synthetic_site.rglob("*") if p.is_file()}
    assert not stale.exists()
    assert after == before


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SiteDataMissing, match="playground precompute"):
        render_site(tmp_path / "nothing")


def test_hostile_names_are_escaped(synthetic_site: Path) -> None:
    for page in pages(synthetic_site):
        text = page.read_text("utf-8")
        c = parse(page)
        # the only scripts are our own files: no inline script, no injected element, no handler attribute
        scripts = [a for t, a in c.elements if t == "script"]
        assert scripts and all((a.get("src") or "").startswith("assets/") for a in scripts), (page.name, scripts)
        for tag, attrs in c.elements:
            assert not any(k.startswith("on") for k in attrs), (page.name, tag, attrs)
            assert "pwned" not in json.dumps(attrs), (page.name, tag, attrs)
        assert "<img src=x" not in text and "<script>window" not in text and "<svg onload" not in text
    about = (synthetic_site / "about.html").read_text("utf-8")
    # the names are there, as text (category names are not in the index: the scripts write them, as text)
    assert "hostile&lt;svg onload=window.__pwned=5&gt;" in about
    assert "&lt;img src=x onerror=alert(7)&gt;" in about
    assert "&lt;i&gt;average&lt;/i&gt;</strong>: &lt;b&gt;mean&lt;/b&gt; &amp; more" in about  # a pooling
    assert "&lt;b&gt;layer0&lt;/b&gt;&amp;&#34;" in about
    text = "".join(parse(synthetic_site / "about.html").text)
    assert "<img src=x onerror=alert(7)>" in text and "<i>average</i>: <b>mean</b> & more" in text  # plain text


def test_about_says_how_each_dataset_was_read(synthetic_site: Path) -> None:
    """Layout, labels source, archive, skipped files by reason and labels-file problems, as escaped text."""
    text = " ".join(" ".join(parse(synthetic_site / "about.html").text).split())
    assert "Read as <b>nested</b> class folders, from the archive x&y.zip" in text
    assert "Labels <script>window.__pwned=8</script> (a -> b)" in text
    assert "Skipped 3 <i>not an image</i>" in text and "3 files skipped" in text
    assert "Labels file 1,000,000 rows & <u>dupes</u>" in text


def test_about_says_where_a_missing_description_would_come_from(synthetic_site: Path, tmp_path: Path) -> None:
    import shutil

    site = tmp_path / "bare-site"
    shutil.copytree(synthetic_site / "data", site / "data")
    import msgspec

    from precompute import contract as c

    index = msgspec.convert(read_data_file(site / "data" / "index.js"), c.Index)
    bare = msgspec.structs.replace(index.datasets[0], description="", source="", licence="", attribution="")
    write_data_file(site, "index", msgspec.structs.replace(index, datasets=[bare, *index.datasets[1:]]))
    render_site(site)
    text = " ".join(" ".join(parse(site / "about.html").text).split())
    assert f"a manifest (datasets/{bare.slug}.json) gives all four" in text
    assert text.count("README.md or SOURCE.txt") == 1  # only the dataset without any


def test_relative_urls_only(synthetic_site: Path) -> None:
    for page in pages(synthetic_site):
        for tag, attr, url in url_attrs(parse(page)):
            if url.startswith("#") or url == "data:,":
                continue
            assert not re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I), (page.name, tag, attr, url)
            assert not url.startswith("/"), (page.name, tag, attr, url)
            target = (synthetic_site / url.split("#")[0]).resolve()
            assert target.is_file(), (page.name, url)
            assert synthetic_site.resolve() in target.parents


def test_base_url_prefixes_every_link(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_synthetic_site(site)
    render_site(site, base_url="/convnet-playground")
    c = parse(site / "index.html")
    urls = [u for _, _, u in url_attrs(c) if not u.startswith("#") and u != "data:,"]
    assert urls and all(u.startswith("/convnet-playground/") for u in urls), urls
    assert any(a.get("data-root") == "/convnet-playground/" for t, a in c.elements if t == "html")


def test_every_page_has_a_strict_content_security_policy(synthetic_site: Path) -> None:
    for page in pages(synthetic_site):
        metas = [a for t, a in parse(page).elements if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
        assert len(metas) == 1, page.name
        csp = metas[0]["content"] or ""
        # connect-src 'self': the own-image search posts to the local server (`playground serve`), never elsewhere;
        # img-src blob: shows the visitor's image (an object URL) before it is sent
        # script-src blob: 'wasm-unsafe-eval' and worker-src blob:: the in-browser own-image search starts its Web
        # Worker and ONNX Runtime's glue from blob URLs of code the page itself shipped, and compiles its wasm;
        # nothing else (no eval of strings, no inline script, no other origin)
        for directive in (
            "default-src 'self'",
            "script-src 'self' blob: 'wasm-unsafe-eval';",
            "worker-src blob:;",
            "connect-src 'self';",
            "object-src 'none'",
            "img-src 'self' data: blob:;",
            "style-src 'self';",
            "base-uri 'none'",
            "form-action 'none'",
        ):
            assert directive in csp, (page.name, directive)
        tokens = csp.replace(";", " ").split()
        assert "'unsafe-inline'" not in tokens and "'unsafe-eval'" not in tokens


def _no_external_urls(site: Path) -> list[str]:
    """URLs in built files that could make a request: site code (scripts, styles, any HTML attribute) must
    have none; a dataset's source URL may appear only as attribution text (index.js "source" etc., shown as
    text in the pages, never as a link)."""
    problems = []
    for path in site.rglob("*"):
        if not path.is_file() or path.suffix not in (".html", ".js", ".css", ".json", ".svg", ".txt"):
            continue
        rel = path.relative_to(site).as_posix()
        if path.suffix == ".html":
            # pages may name a dataset's source as text (attribution); no attribute may hold a URL
            text = json.dumps([attrs for _, attrs in parse(path).elements])
        elif rel == "data/index.js":
            data = read_data_file(path)
            for d in data.get("datasets", []):
                for key in ("source", "attribution", "description", "licence"):
                    d.pop(key, None)
            text = json.dumps(data)
        else:
            text = path.read_text("utf-8", errors="replace")
        for m in URL_RE.finditer(text):
            if m.group(0).rstrip(".,;") not in ALLOWED_URLS:
                problems.append(f"{rel}: {m.group(0)}")
    return problems


def test_no_external_urls_in_synthetic_site(synthetic_site: Path) -> None:
    assert _no_external_urls(synthetic_site) == []
    # the source URL of a dataset is shown as text, never linked
    assert "https://example.org/x?a=1&amp;b=2" in (synthetic_site / "about.html").read_text()
    assert not any("example.org" in (a.get("href") or "") for _, a in parse(synthetic_site / "about.html").elements)


def test_build_notes_are_on_the_about_page_only(synthetic_site: Path) -> None:
    """What was not built (and how to add it) is in About's "About this build", not in front of every visitor."""
    about = (synthetic_site / "about.html").read_text("utf-8")
    assert 'id="this-build"' in about and 'id="not-built"' in about
    assert "&lt;img src=x onerror=alert(7)&gt;" in about and "because &amp; &#34;so&#34;" in about
    for page in ("index.html", "explorer.html"):
        text = (synthetic_site / page).read_text("utf-8")
        assert "alert(7)" not in text and "not built" not in text.lower(), page


def test_a_build_without_the_explorer_says_so_in_the_nav(synthetic_site: Path) -> None:
    """This build has no feature visualizations: the nav still leads to the Model Explorer (its layer table and how
    to add them), marked "(empty)" with a title saying why, on every page."""
    assert not (synthetic_site / "data" / "explorer" / "index.js").exists()
    for page in ("index.html", "explorer.html", "about.html"):
        link = next(a for t, a in parse(synthetic_site / page).elements if t == "a" and a.get("data-nav") == "explorer")
        assert link.get("title") == "This build has no feature visualizations: the page says how to add them", page
        text = (synthetic_site / page).read_text("utf-8")
        assert 'Model Explorer <span class="nav-note">(empty)</span></a>' in text, page


def _meta_description(page: Path) -> str:
    return next(a["content"] or "" for t, a in parse(page).elements if t == "meta" and a.get("name") == "description")


def test_meta_description_names_what_this_build_has(synthetic_site: Path) -> None:
    desc = _meta_description(synthetic_site / "index.html")
    # the synthetic build has two search models and one dataset (hostile names, escaped by Jinja)
    assert '2 models (<i>m_one</i> & "co" and <i>m_two</i> & "co")' in desc, desc
    assert "on 1 image dataset" in desc and "nine" not in desc
    assert _meta_description(synthetic_site / "about.html") == desc


def test_about_says_how_a_build_trained_model_was_trained(tmp_path: Path) -> None:
    """index.models[].training (contract.Training) is shown, and a model trained by the build is not credited as an
    ImageNet model."""
    from precompute import contract as c

    site = tmp_path / "site"
    write_synthetic_site(site)
    index = c.decode(c.kind_of("index"), read_data_file(site / "data" / "index.js"))
    index.models[0].weights = "trained"
    index.models[0].training = c.Training(dataset="shapes", images=8000, val_accuracy=0.978, val_images=1000, epochs=6)
    write_data_file(site, "index", index)
    render_site(site)
    text = " ".join("".join(parse(site / "about.html").text).split())
    assert (
        "trained by this build on 8,000 generated images of shapes (validation accuracy 97.8 % on 1,000 more)" in text
    )
    assert "in 6 epochs" in text
    assert "“pretrained on ImageNet” does not apply to it" in text
    assert "never the images shown on this site" in text
    # only the other model (random weights) is left: no model of this build is pretrained on ImageNet
    assert "pretrained on ImageNet." not in text


# ------------------------------------------------------------------------------------- budgets, real build
def _gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def measure_budgets(site: Path) -> dict[str, Any]:
    """Sizes that bound what a visitor transfers (raw bytes, and gzip as GitHub Pages serves text)."""
    from precompute import contract

    data = site / "data"
    index = read_data_file(data / "index.js")
    d = index["defaults"]
    per_kind: dict[str, list[tuple[int, int, str]]] = {}
    for p in data.rglob("*.js"):
        key = p.relative_to(data).as_posix()[:-3]
        kind = contract.kind_of(key).type.__name__
        per_kind.setdefault(kind, []).append((p.stat().st_size, _gz(p), key))
    html = [site / "index.html"]
    assets = re.findall(r'(?:href|src)="(assets/[^"]+)"', (site / "index.html").read_text())
    ds_key = f"datasets/{d['dataset']}"
    ds = read_data_file(data / f"{ds_key}.js")
    view = f"{d['dataset']}/{d['model']}/{d['layer']}/{d['pooling']}/{d['metric']}"
    row = read_row(site, view, 0)
    rank_key, calib_key = row.key, f"{view}/calib"
    shown = [0, *row.ids.tolist()]
    per = ds["thumbs"]["per_sheet"]
    sheets = sorted({i // per for i in shown} | {0})  # the query's and results' sheets, and the grid's first rows
    first_files = (
        html
        + [site / a for a in assets]
        + [
            data / f"{k}.js"
            for k in ("index", "leaderboard", "serve", ds_key, rank_key, calib_key, f"{ds_key}/files/0")
        ]
        + [site / "images" / d["dataset"] / "0.webp"]
        + [site / ds["thumbs"]["url"] / f"{s}.webp" for s in sheets]
    )
    first_raw = sum(p.stat().st_size for p in first_files if p.exists())
    first_text_gz = sum(
        _gz(p) if p.suffix in (".js", ".css", ".html") else p.stat().st_size for p in first_files if p.exists()
    )
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    result = {
        "site": str(site),
        "n_images_default_dataset": ds["n"],
        "first_view_upper_bound_bytes": first_raw,
        "first_view_upper_bound_gzip_bytes": first_text_gz,
        "first_view_sheets": len(sheets),
        "total_site_bytes": total,
        "files": sum(1 for p in site.rglob("*") if p.is_file()),
    }
    for kind, rows in sorted(per_kind.items()):
        raw, _gzr, key = max(rows)
        result[f"max_{kind}_bytes"] = raw
        result[f"max_{kind}_gzip_bytes"] = max(r[1] for r in rows)
        result[f"max_{kind}_file"] = key
    return result


def _budget_sites() -> list[str]:
    sites = ["real", "synthetic"]
    env = os.environ.get("PG_BUDGET_SITE")
    if env:
        sites.append(env)
    elif (REPO / "build" / "site" / "data" / "index.js").exists() and (REPO / "build" / "site" / "index.html").exists():
        sites.append(str(REPO / "build" / "site"))
    return sites


@pytest.mark.slow
@pytest.mark.parametrize("which", _budget_sites())
def test_budgets_measured_on_a_built_site(which: str) -> None:
    site = {"real": lambda: real_site().site, "synthetic": lambda: generated_site().site}.get(
        which, lambda: Path(which)
    )()
    b = measure_budgets(site)
    ARTIFACTS.mkdir(exist_ok=True)
    name = which if which in ("real", "synthetic") else re.sub(r"[^a-z0-9]+", "_", which.lower()).strip("_")
    (ARTIFACTS / f"budgets-{name}.json").write_text(json.dumps(b, indent=2))
    print(json.dumps(b, indent=2))
    assert b["first_view_upper_bound_bytes"] <= FIRST_VIEW_BUDGET, b
    # one view switch = one rankings shard and its view's calibration, whatever the dataset size; the compare
    # view one compare shard; a dataset's file and its file-name shards are small too (the map is its own file,
    # read while on screen)
    assert b.get("max_RankShard_bytes", 0) <= RANK_BUDGET, b
    assert b.get("max_CalibrationFile_bytes", 0) <= CALIB_BUDGET, b
    for kind in ("CompareShard", "DatasetFile", "FilesShard"):
        assert b.get(f"max_{kind}_bytes", 0) <= SWITCH_BUDGET, (kind, b)


@pytest.mark.slow
def test_real_build_has_no_external_urls_and_escapes_names() -> None:
    build = real_site()
    assert _no_external_urls(build.site) == []
    for page in pages(build.site):
        text = page.read_text("utf-8")
        assert "<svg onload" not in text and "<img src=x" not in text and "<script>window" not in text
        for tag, attrs in parse(page).elements:
            assert not any(k.startswith("on") for k in attrs), (page.name, tag)
        for _tag, _attr, url in url_attrs(parse(page)):
            assert url.startswith(("#", "data:,")) or not re.match(r"^([a-z][a-z0-9+.-]*:|/)", url, re.I), url
    about = (build.site / "about.html").read_text("utf-8")
    assert "hostile&lt;svg onload=window.__pwned=5&gt;" in about


@pytest.mark.slow
def test_real_build_reveals_no_local_path_in_any_file() -> None:
    """No file of a real build (pages, data, scripts, images: every byte) contains an absolute path of the
    machine that built it: the repo, the home folder, the temporary build and dataset folders, KERAS_HOME."""
    build = real_site()
    assert any(m["what"].startswith(f"model {UNAVAILABLE_MODEL}") for m in build.index["missing"])
    needles = [p.encode() for p in build.local_paths]
    found = []
    for path in sorted(build.site.rglob("*")):
        if path.is_file():
            blob = path.read_bytes()
            found += [f"{path.relative_to(build.site)}: {n.decode()}" for n in needles if n in blob]
    assert found == [], found
    about = "".join(parse(build.site / "about.html").text)
    assert UNAVAILABLE_MODEL in about  # the note itself is there, without the path
