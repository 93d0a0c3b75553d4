"""The in-browser own-image search on a built site (Chromium, one thread): cold and warm times, bytes loaded, and
agreement with ``playground query`` over query photos the dataset does not hold.

For a build in OUT (``playground precompute`` + ``render``; e.g. tinyimagenet10k x mobilenet_075@imagenet, avg):
three cold page loads from ``file://`` and three from a static server (``http.server``, as GitHub Pages), the first
own image each (runtime + model + one layer); then, warm, for every query photo, one layer (embed + rank) and all
layers, and the top-15 ids at every layer against ``playground query --json --layer all`` on the same files.
Targets (#22): cold <= 3 s at 10,100 images, warm p50 <= 150 ms for one layer and <= 400 ms for all 8, identical
top-15 in >= 99 % of queries per layer.

``python -m benchmarks.bench_browser_search OUT --dataset tinyimagenet10k --model mobilenet_075
--queries ../shared/datasets/tinyimagenet200 [--n 200]``
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from precompute.images import is_image_name

EMBED_AND_RANK = """([b64, ds, model, layers, deep]) => {
  const bin = atob(b64); const u = new Uint8Array(bin.length);
  for (let i = 0; i < u.length; i++) u[i] = bin.charCodeAt(i);
  const up = () => ({file: new Blob([u], {type: 'image/jpeg'}), name: 'query'});
  const v = (layer) => ({ds, model, layer, pooling: 'avg', metric: 'cosine'});
  const one = up(), all = up(), t0 = performance.now();
  return PG.browserCnn.query(v(deep), one).then(() => {
    const t1 = performance.now();
    return Promise.all(layers.map((l) => PG.browserCnn.query(v(l), all))).then((rs) =>
      ({one: t1 - t0, all: performance.now() - t1, ids: rs.map((r) => r.ids)}));
  });
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def cli_answers(out: Path, ds: str, model: str, queries: list[Path]) -> dict[str, dict[str, list[int]]]:
    cmd = [sys.executable, "-m", "precompute.cli", "-q", "query", "--out", str(out), "--dataset", ds, "--model", model]
    cmd += ["--layer", "all", "--pooling", "avg", "--metric", "cosine", "--json", *map(str, queries)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return {
        Path(a["image"]).name: {la["layer"]: la["ids"] for la in a["answer"]["layers"]} for a in json.loads(proc.stdout)
    }


def cold(browser: Any, origin: str, ds: str, model: str, image: Path) -> tuple[float, Any, Any]:
    ctx = browser.new_context()
    ctx.add_init_script("localStorage.setItem('pg-intro-seen', '1')")
    page = ctx.new_page()
    page.goto(f"{origin}index.html#ds={ds}&model={model}&pool=avg&metric=cosine")
    page.wait_for_function("() => document.body.dataset.ready && !document.body.hasAttribute('aria-busy')")
    t0 = time.perf_counter()
    page.set_input_files("#upload-file", str(image))
    page.wait_for_function("() => { const u = PG.search.upload(); return u && u.shown; }", timeout=120_000)
    return time.perf_counter() - t0, ctx, page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--queries", type=Path, required=True, help="a folder of query photos (searched recursively)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    site = a.out / "site"
    queries = sorted(p for p in a.queries.rglob("*") if is_image_name(p.name))[: a.n]
    want = cli_answers(a.out, a.dataset, a.model, queries)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origins = {"file": site.resolve().as_uri() + "/", "http": f"http://127.0.0.1:{server.server_address[1]}/"}
    res: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        for name, origin in origins.items():
            times = []
            for _ in range(3):
                t, ctx, page = cold(browser, origin, a.dataset, a.model, queries[0])
                times.append(round(t, 3))
                loads = page.evaluate("() => PG.browserCnn.stats().loads.map((l) => [l.key, l.chars])")
                if name == "file" and len(times) == 3:
                    warm, warm_ctx = page, ctx  # the warm measurements run in the last page opened from disk
                else:
                    ctx.close()
            res[f"{name}_cold_s"] = times
            res[f"{name}_cold_s_median"] = statistics.median(times)
            res[f"{name}_loaded_chars"] = loads
        layers = warm.evaluate("(m) => PG.data.model(m).layers.map((l) => l.slug)", a.model)
        one, every, differ = [], [], []
        for q in queries:
            got = warm.evaluate(
                EMBED_AND_RANK, [base64.b64encode(q.read_bytes()).decode(), a.dataset, a.model, layers, layers[-1]]
            )
            one.append(got["one"])
            every.append(got["all"])
            differ += [(q.name, la) for la, ids in zip(layers, got["ids"], strict=True) if ids != want[q.name][la]]
        warm_ctx.close()
        browser.close()
    server.shutdown()
    pct = lambda v, f: sorted(v)[min(len(v) - 1, int(f * len(v)))]  # noqa: E731
    res |= {
        "one_layer_ms": {"p50": statistics.median(one), "p95": pct(one, 0.95)},
        "all_layers_ms": {"p50": statistics.median(every), "p95": pct(every, 0.95)},
        "identical_top15": [len(queries) * len(layers) - len(differ), len(queries) * len(layers)],
        "differ_per_layer": {la: sum(d[1] == la for d in differ) for la in layers},
        "differ": differ,
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
