"""``playground serve`` and ``playground query``: exact answers on a real build, every error a clear 4xx, no path
out of the site, and a server that survives a thousand hostile requests."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from precompute.config import load_config
from precompute.serve.child import free_port, serve_child
from precompute.sitedata import read_key, read_typed
from precompute.sitefiles import decode_map, read_calibration
from tests.helpers import read_row, small_copy

pytestmark = pytest.mark.slow

METRICS = ("cosine", "euclidean", "sqeuclidean", "minkowski")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path, keras_home: Path):
    """A real build: two small real datasets x MobileNet(alpha=0.75) with ImageNet weights, 2 layers, 4 metrics,
    2 poolings, then the site rendered."""
    from precompute import log
    from precompute.pipeline import run_precompute
    from precompute.site import render_site

    root = tmp_path_factory.mktemp("serve")
    ds = [
        small_copy(shared_datasets / "iconic200", root / "in" / "iconic_small", classes=4, per_class=6),
        small_copy(shared_datasets / "fashion200", root / "in" / "fashion_small", classes=3, per_class=6),
    ]
    log.configure(quiet=True)
    cfg = load_config(out=root / "o", datasets=tuple(map(str, ds)), models=("mobilenet_075@imagenet",), max_upload_mb=2)
    cfg = replace(cfg, layers={"mobilenet_075": ("conv_dw_6", "conv_pw_13")})
    run_precompute(cfg)
    render_site(cfg.site_dir)
    return cfg, ds


@pytest.fixture(scope="module")
def client(built):
    from starlette.testclient import TestClient

    from precompute.serve.app import create_app

    cfg, _ = built
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


def _post(client, data: bytes, name: str = "x.jpg", ctype: str = "image/jpeg", **fields):
    return client.post("/api/query", files={"image": (name, data, ctype)}, data={k: str(v) for k, v in fields.items()})


def test_health_names_what_the_build_can_answer(client) -> None:
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and [d["slug"] for d in h["datasets"]] == ["iconic_small", "fashion_small"]
    assert h["models"][0]["slug"] == "mobilenet_075" and h["models"][0]["layers"] == ["conv_dw_6", "conv_pw_13"]
    assert h["poolings"] == ["avg", "grid2"] and h["metrics"] == list(METRICS) and h["max_upload"] == 2 * 2**20
    js = client.get("/data/serve.js").text
    assert js.startswith('PG.put("serve",') and '"live":true' in js


@pytest.mark.parametrize("metric", METRICS)
def test_a_dataset_image_comes_back_first_then_the_precomputed_neighbours(built, client, metric: str) -> None:
    cfg, ds = built
    site = cfg.site_dir
    files = read_key(site, "datasets/iconic_small/files/0")["files"]
    for q in (0, 7, 23):
        data = (ds[0] / files[q]).read_bytes()
        for pooling in ("avg", "grid2"):
            r = _post(
                client,
                data,
                dataset="iconic_small",
                model="mobilenet_075",
                layer="all",
                pooling=pooling,
                metric=metric,
                k=16,
            )
            assert r.status_code == 200, r.text
            for layer in r.json()["layers"]:
                assert layer["ids"][0] == q and layer["dist"][0] == 0.0, (metric, pooling, layer["layer"])
                row = read_row(site, f"iconic_small/mobilenet_075/{layer['layer']}/{pooling}/{metric}", q)
                assert layer["ids"][1:] == row.ids.tolist()
                # the server's exact distances, the site's within their stated bound; one calibration for both:
                # equal similarity, except that the site also counts a pair its stored distance cannot tell
                # apart from this one (within twice the bound; every pair of this dataset is a knot)
                d = np.array(layer["dist"][1:])
                assert (np.abs(d - row.dist) <= row.bound).all()
                view = f"iconic_small/mobilenet_075/{layer['layer']}/{pooling}/{metric}"
                cal = read_calibration(read_typed(site, f"{view}/calib"))
                assert cal.head == len(cal.dist)
                knots = cal.dist.astype(np.float32)
                ties = np.searchsorted(knots, (d + 2 * row.bound).astype(np.float32), "right") - np.searchsorted(
                    knots, d.astype(np.float32), "right"
                )
                diff = row.near_ppm - np.array(layer["near_ppm"][1:])
                assert (diff >= -1).all() and (diff <= 1 + 1e6 * ties / cal.pairs).all(), (diff, ties)
                assert (diff[ties == 0] <= 1).all()
                assert layer["files"][0] == files[q] and layer["classes"][0] == files[q].split("/")[0]
                # on the map it lands on its own point (the site's map file: uint16-quantised, 7.6e-6 apart)
                own = decode_map(read_key(site, f"iconic_small/mobilenet_075/{layer['layer']}/{pooling}/map")["xy"])[q]
                assert layer["map_xy"] is not None
                assert np.abs(np.array(layer["map_xy"]) - own).max() <= 1e-4, (layer["map_xy"], own.tolist())


def test_the_cli_answers_as_the_api(built, client, tmp_path: Path) -> None:
    cfg, ds = built
    img = sorted((ds[1]).rglob("*.jpg"))[3]
    api = _post(client, img.read_bytes(), dataset="fashion_small", model="mobilenet_075", metric="euclidean").json()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "precompute.cli",
            "query",
            str(img),
            "--dataset",
            "fashion_small",
            "--model",
            "mobilenet_075",
            "--metric",
            "euclidean",
            "--json",
            "--out",
            str(cfg.out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (cli,) = json.loads(proc.stdout)
    cli, api = cli["answer"], api
    cli.pop("timing_ms"), api.pop("timing_ms")
    assert cli == api
    text = subprocess.run(
        [
            sys.executable,
            "-m",
            "precompute.cli",
            "query",
            str(img),
            "--dataset",
            "fashion_small",
            "--model",
            "mobilenet_075",
            "--out",
            str(cfg.out),
        ],
        capture_output=True,
        text=True,
    ).stdout
    assert str(ds[1]) in text and "d=0 " in text


def test_query_without_a_build_says_which_to_run(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(img)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "precompute.cli",
            "query",
            str(img),
            "--dataset",
            "x",
            "--model",
            "y",
            "--out",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "playground build" in proc.stderr


def _png(size=(40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def _bomb() -> bytes:
    """A valid PNG header claiming 60,000 x 60,000 pixels (the scanner's decompression-bomb case)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + chunk(b"IEND", b"")
    )


def documented_bad_image_status() -> int:
    """The status the README promises for images that cannot be used (the API must answer exactly that)."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.search(r"non-images, truncated images and decompression bombs get (\d{3})", text)
    assert found, "the README no longer states the status of a bad image"
    return int(found.group(1))


def test_every_bad_request_is_a_clear_4xx(client) -> None:
    ok = {"dataset": "iconic_small", "model": "mobilenet_075"}
    bad_image = documented_bad_image_status()
    cases = [
        (
            _post(client, _png(), **{**ok, "dataset": "nope"}),
            404,
            "unknown dataset 'nope'",
            ["iconic_small", "fashion_small"],
        ),
        (_post(client, _png(), **{**ok, "model": "vgg99"}), 404, "unknown model", ["mobilenet_075"]),
        (_post(client, _png(), **ok, layer="conv9"), 404, "unknown layer", ["conv_dw_6", "conv_pw_13", "all"]),
        (_post(client, _png(), **ok, metric="hamming"), 404, "unknown metric", list(METRICS)),
        (_post(client, _png(), **ok, pooling="median"), 404, "unknown pooling", ["avg", "grid2"]),
        (_post(client, _png(), **ok, k=0), 422, "k must be", None),
        (_post(client, _png(), **ok, k="many"), 422, "'k' must be an integer", None),
        (_post(client, b"", **ok), bad_image, "empty file", None),
        (_post(client, b"%PDF-1.4 not an image", **ok), bad_image, "not an image", None),
        (_post(client, _png()[:60], **ok), bad_image, "truncated", None),
        (_post(client, _bomb(), **ok), bad_image, "decompression bomb", None),
        (
            client.post("/api/query", content=b"{}", headers={"content-type": "application/json"}),
            415,
            "multipart/form-data",
            None,
        ),
        (client.post("/api/query", data=ok), 415, "multipart", None),
        (client.post("/api/query", files={"other": ("a", b"x")}, data=ok), 422, "missing the file field", None),
        (_post(client, b"\0" * (3 * 2**20), **ok), 413, "larger than the limit", None),
        (client.get("/api/query"), 405, "", None),
    ]
    for resp, status, text, allowed in cases:
        assert resp.status_code == status, (status, text, resp.status_code, resp.text)
        if text:
            assert text in resp.json()["error"], (text, resp.text)
        if allowed is not None:
            assert resp.json()["allowed"] == allowed


def test_static_files_never_leave_the_site(built, client) -> None:
    cfg, _ = built
    assert client.get("/").status_code == 200 and "<html" in client.get("/").text
    secret = cfg.out / "summary.json"  # beside the site: must not be reachable
    assert secret.is_file()
    for path in (
        "/../summary.json",
        "/%2e%2e/summary.json",
        "/..%2fsummary.json",
        "/data/..%2f..%2fsummary.json",
        "/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/....//summary.json",
        "/data/%252e%252e/summary.json",
        "//etc/passwd",
        "/assets/..%5c..%5csummary.json",
    ):
        r = client.get(path)
        assert r.status_code in (400, 404), (path, r.status_code)
        assert '"scores"' not in r.text and "root:" not in r.text


def test_a_thousand_hostile_requests_cause_no_server_error(built) -> None:
    import httpx
    import uvicorn

    from precompute.serve.app import create_app

    cfg, ds = built
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="critical", limit_concurrency=64)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rng = random.Random(1)
    real = sorted(ds[0].rglob("*.jpg"))[0].read_bytes()
    corpus = [
        b"",
        b"GIF89a",
        real[: len(real) // 2],
        _bomb(),
        _png()[:30],
        bytes(rng.randrange(256) for _ in range(500)),
        b"<script>alert(1)</script>",
        real,
    ]
    fields = [
        {"dataset": "iconic_small", "model": "mobilenet_075"},
        {"dataset": "../etc", "model": "x" * 5000},
        {"dataset": "iconic_small", "model": "mobilenet_075", "k": "-1"},
        {"layer": "\x00\x01"},
        {},
    ]
    statuses: list[int] = []
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(1000):
            kind = i % 8
            try:
                if kind == 0:
                    r = http.post("/api/query", files={"image": ("a.jpg", rng.choice(corpus))}, data=rng.choice(fields))
                elif kind == 1:
                    r = http.post(
                        "/api/query",
                        content=bytes(rng.randrange(256) for _ in range(rng.randrange(2000))),
                        headers={
                            "content-type": rng.choice(
                                ["multipart/form-data; boundary=xyz", "multipart/form-data", "image/png", "text/plain"]
                            )
                        },
                    )
                elif kind == 2:
                    r = http.get("/api/health", headers={"x-junk": "a" * rng.choice([100, 20000, 70000])})
                elif kind == 3:
                    r = http.get("/a" + "".join(rng.choice("./%2e5cA\\") for _ in range(rng.randrange(1, 40))))
                elif kind == 4:
                    r = http.post(
                        "/api/compare",
                        files={"image": ("b.png", rng.choice(corpus))},
                        data={"dataset": rng.choice(["iconic_small", "nope", ""])},
                    )
                elif kind == 5:
                    r = http.request(rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS"]), "/api/query")
                elif kind == 6:
                    r = http.post(
                        "/api/query",
                        content=b"x" * (3 * 2**20),
                        headers={"content-type": "multipart/form-data; boundary=b"},
                    )
                else:
                    r = http.post(
                        "/api/query",
                        files={"image": ("c.jpg", real)},
                        data={
                            "dataset": "iconic_small",
                            "model": "mobilenet_075",
                            "metric": rng.choice(list(METRICS) + ["x"]),
                        },
                    )
                statuses.append(r.status_code)
            except httpx.HTTPError:
                statuses.append(0)  # the server may close a connection it refuses (oversized headers)
        assert http.get("/api/health").status_code == 200  # still answering
    server.should_exit = True
    thread.join(10)
    assert len(statuses) == 1000
    assert not [s for s in statuses if s >= 500], sorted(set(statuses))
    assert 200 in statuses and 413 in statuses and 422 in statuses


def test_playground_serve_serves_the_site_and_warns_on_all_interfaces(built) -> None:
    import httpx

    cfg, _ = built
    with serve_child(cfg.out, host="0.0.0.0", quiet=False) as server:
        r = httpx.get(server.url, timeout=10)
        assert r.status_code == 200 and "Semantic" in r.text
        assert httpx.get(server.url + "api/health").json()["status"] == "ok"
        assert "access-control-allow-origin" not in {k.lower() for k in r.headers}
    assert "anyone who can reach this machine" in server.stderr


@pytest.mark.browser
def test_own_image_through_the_page_of_a_real_server(built, browser) -> None:
    """Chromium on a real ``playground serve``: drop a dataset image into the page's file picker and see it come
    back first, then the precomputed neighbours, 15 results drawn like precomputed ones, and its point on the map."""
    from tests.helpers import Pages, wait_ready

    cfg, ds = built
    site = cfg.site_dir
    files = read_key(site, "datasets/iconic_small/files/0")["files"]
    q = 7
    with serve_child(cfg.out) as server:
        url = server.url
        pages = Pages(browser, url)
        page, _watch = pages.make()
        try:
            page.goto(url + "index.html#ds=iconic_small&model=mobilenet_075&layer=conv_pw_13&pool=avg&metric=cosine")
            wait_ready(page)
            assert page.locator("#upload-live").is_visible() and page.locator("#upload-off").is_hidden()
            tok = page.evaluate("document.body.dataset.ready || null")
            page.set_input_files("#upload-file", str(ds[0] / files[q]))
            wait_ready(page, tok, timeout=60000)
            assert page.locator("#query-eyebrow").text_content() == "Your image"
            shown = [int(x) for x in page.locator("#results .result").evaluate_all("els => els.map(e => e.dataset.id)")]
            row = read_row(site, "iconic_small/mobilenet_075/conv_pw_13/avg/cosine", q)
            assert len(shown) == 15
            assert shown == [q, *row.ids.tolist()[:14]]
            classes = page.locator("#results .result-class").all_inner_texts()
            assert classes[0] == files[q].split("/")[0]
            page.locator("#map-section").scroll_into_view_if_needed()
            page.wait_for_function("() => PG.page.map().n > 0 && PG.page.map().queryPoint")
            qp = page.evaluate("PG.page.map().queryPoint")
            assert 0 <= qp["x"] <= 1 and 0 <= qp["y"] <= 1
        finally:
            pages.check()
