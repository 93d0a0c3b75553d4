"""Query latency of ``playground serve``: p50 and p95 with a warm model, for 1 and for 8 concurrent clients, at
200 images (iconic200) and at 10,100 (tinyimagenet10k), MobileNet(alpha=0.75) with its ImageNet weights.

The server is the real ``playground serve`` in its own process on a local port; clients are threads that
each POST their own sequence of dataset images (JPEG bytes as stored) to ``/api/query`` for the deepest layer,
cosine, k = 15. Latency is measured by the client, end to end (upload, decode, embed, search, JSON). The first
queries (model load, first forward pass) are a warm-up and are not counted. Targets on the 2-core machine:
p50 <= 150 ms at 200 images and <= 300 ms at 10k.

``python -m benchmarks.bench_serve [--sizes 200,10k] [--queries 40]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from precompute.serve.child import serve_child

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
WORK = REPO / "build" / "bench-serve"
TARGET_P50_MS = {"200": 150.0, "10k": 300.0}
SOURCES = {"200": "iconic200", "10k": "tinyimagenet10k"}


def _build(name: str, dataset: Path, keras_home: Path) -> Path:
    """A cold precompute of ``dataset`` (mobilenet_075@imagenet, avg pooling, cosine), reused when present."""
    from precompute import log
    from precompute.config import load_config
    from precompute.pipeline import run_precompute
    from precompute.site import render_site

    scale = REPO / "build" / "bench-scale" / f"{name}-avg-local"  # bench_scale's build of the same set, if any
    out = scale if name == "10k" and (scale / "manifest.json").is_file() else WORK / name
    if not (out / "manifest.json").is_file():
        os.environ["KERAS_HOME"] = str(keras_home)
        log.configure(quiet=True)
        cfg = load_config(
            out=out, datasets=(str(dataset),), models=("mobilenet_075@imagenet",), pooling=("avg",), metrics=("cosine",)
        )
        run_precompute(cfg)
    if not (out / "site" / "index.html").is_file():  # `playground serve` serves the rendered site
        render_site(out / "site")
    return out


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def measure(out: Path, dataset: Path, n_queries: int, clients: tuple[int, ...] = (1, 8)) -> dict:
    # the real `playground serve` in its own process (clients in this one would share its GIL)
    with serve_child(out, capture=False, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120) as server:
        return _measure(server.url, dataset, n_queries, clients)


def _measure(base: str, dataset: Path, n_queries: int, clients: tuple[int, ...]) -> dict:
    import httpx

    url = base + "api/query"
    health = httpx.get(base + "api/health", timeout=30).json()
    slug, model = health["datasets"][0]["slug"], health["models"][0]["slug"]
    files = sorted(p for p in dataset.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    step = max(1, len(files) // (n_queries * max(clients)))
    payloads = [f.read_bytes() for f in files[::step][: n_queries * max(clients)]]
    form = {"dataset": slug, "model": model, "metric": "cosine", "k": "15"}

    def one(client: httpx.Client, data: bytes) -> float:
        t = time.perf_counter()
        r = client.post(url, files={"image": ("q.jpg", data, "image/jpeg")}, data=form, timeout=120)
        dt = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            raise SystemExit(f"query failed: {r.status_code} {r.text[:200]}")
        return dt

    rows = {}
    with httpx.Client() as c:  # warm-up: model load and the first forward passes
        for data in payloads[:3]:
            one(c, data)
    for n in clients:

        def worker(i: int, n: int = n) -> list[float]:
            with httpx.Client() as c:
                return [one(c, d) for d in payloads[i::n][:n_queries]]

        t = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            lat = [x for part in pool.map(worker, range(n)) for x in part]
        wall = time.perf_counter() - t
        rows[n] = {
            "queries": len(lat),
            "p50_ms": round(statistics.median(lat), 1),
            "p95_ms": round(_percentile(lat, 95), 1),
            "throughput_qps": round(len(lat) / wall, 2),
        }
    return rows


def run(sizes: list[str], n_queries: int = 40) -> list[dict]:
    keras_home = Path(tempfile.mkdtemp(prefix="pg-bench-keras-"))
    shutil.copytree(REPO.parent / "shared" / "keras" / "models", keras_home / "models")
    results = []
    try:
        for name in sizes:
            dataset = SHARED / SOURCES[name]
            if not dataset.is_dir():
                print(f"serve {name}: skipped, {dataset} not found")
                continue
            out = _build(name, dataset, keras_home)
            os.environ["KERAS_HOME"] = str(keras_home)
            rows = measure(out, dataset, n_queries)
            for clients, row in rows.items():
                ok = row["p50_ms"] <= TARGET_P50_MS[name]
                print(
                    f"serve {name:>3} images, {clients} client(s): p50 {row['p50_ms']:6.1f} ms  "
                    f"p95 {row['p95_ms']:6.1f} ms"
                    f"  {row['throughput_qps']:5.2f} queries/s  (target p50 <= {TARGET_P50_MS[name]:.0f} ms: "
                    f"{'met' if ok else 'NOT met'})",
                    flush=True,
                )
                results.append({"images": name, "clients": clients, **row, "target_p50_ms": TARGET_P50_MS[name]})
    finally:
        shutil.rmtree(keras_home, ignore_errors=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_serve")
    ap.add_argument("--sizes", default="200,10k")
    ap.add_argument("--queries", type=int, default=40, help="queries per client")
    args = ap.parse_args()
    rows = run(args.sizes.split(","), args.queries)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
