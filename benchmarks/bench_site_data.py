"""How faithful and how small the site's rankings data is, for a finished build: ``python -m
benchmarks.bench_site_data BUILD_DIR [--views N]``.

For every view and metric of the build (or the first N views), from its cache:

* **similarity**: each result's "top X %" as the page shows it (``near_ppm``, two significant digits) from the
  view's ``search.Calibration`` at the stored distance, against the exact count of the pair sample (recomputed
  from the embeddings, as the build samples it), and the same for the fixed-fraction table (1,292 fractions of
  the pair distribution) that the own-image search used before the calibration had knots;
* **distances**: each stored distance as the page shows it (3 significant digits, ``PG.fmtDist``) against the
  exact float64 one, for the uint16 shards and for the JSON integers before them (4 digits of the shard's
  largest distance);
* **bytes** of the site's data files by kind (``contract.kind_of``).

Prints one JSON object. Its figures are in ``docs/site.md`` ("Rankings and similarity on the wire").
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def fmt_top(ppm: int) -> str:
    """``PG.fmtTop``'s number: two significant digits of the share in %."""
    return "closest" if ppm <= 0 else repr(float(f"{ppm / 1e4:.2g}"))


def fmt_dist(x: float) -> str:
    """``PG.fmtDist``: three significant digits, exponent form outside [0.001, 1000)."""
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    return f"{x:.2e}" if abs(x) >= 1000 or abs(x) < 0.001 else repr(float(f"{x:.3g}"))


def json_ints(a: np.ndarray, digits: int = 4) -> np.ndarray:
    """The distances as the JSON shards stored them: integers times one power of ten per shard."""
    finite = a[np.isfinite(a)]
    top = float(finite.max()) if finite.size else 0.0
    scale = float(f"{10.0 ** (math.floor(math.log10(top)) - (digits - 1)):.0e}") if top > 0 else 1.0
    return np.rint(np.where(np.isfinite(a), a, top) / scale) * scale


FIXED_FRACTIONS = np.unique(np.concatenate([np.logspace(-8, -2, 301), np.linspace(0.01, 1.0, 991)]))


def fixed_table_near(pairs: np.ndarray, dist: np.ndarray) -> np.ndarray:
    from precompute.search import near_ppm

    n = len(pairs)
    table = pairs[np.clip(np.ceil(FIXED_FRACTIONS * n).astype(np.int64) - 1, 0, n - 1)]
    return near_ppm(1.0 - np.interp(dist, table, FIXED_FRACTIONS, left=0.0, right=1.0))


def measure(out: Path, max_views: int | None = None) -> dict[str, object]:
    from precompute import contract as c
    from precompute import sitefiles
    from precompute.cache import Cache
    from precompute.search import Calibration, near_ppm, pair_distances

    manifest = json.loads((out / "manifest.json").read_text())
    cache = Cache(out / "cache")
    seed, p = manifest["settings"]["seed"], manifest["settings"]["minkowski_p"]
    views = [
        (ds, m, la, pool, v)
        for ds, models in manifest["views"].items()
        for m, layers in models.items()
        for la, pools in layers.items()
        for pool, v in pools.items()
    ][:max_views]
    sim = {"results": 0, "calibration_differs": 0, "fixed_table_differs": 0, "more_than_one_unit": 0}
    bands = {b: [0, 0] for b in ("<100", "100-1000", "1000-10000", ">=10000")}
    dist = {"distances": 0, "uint16_differs": 0, "json_ints_differs": 0}
    for *_, v in views:
        emb = cache.get_npy("emb", v["emb"])
        pairs = pair_distances(emb, list(v["calib"]), p, seed=seed)
        for metric, key in v["calib"].items():
            r = cache.get_arrays("rank", key)
            # through the site's file, as the page reads it
            cal = sitefiles.read_calibration(
                sitefiles.calibration_file(Calibration.from_arrays(cache.get_arrays("calibration", key)))
            )
            n = len(r["ids"])
            count = np.searchsorted(pairs[metric], r["dist"], "right")
            exact_near = np.ceil(np.round(1e6 * count / len(pairs[metric]), 6))
            fixed = fixed_table_near(pairs[metric], r["dist"])
            for s in range(0, n, sitefiles.RANK_BLOCK):
                rows = slice(s, s + sitefiles.RANK_BLOCK)
                fields = sitefiles.encode_rankings(r["ids"][rows], r["dist"][rows], n)
                shard = c.RankShard(first=s, exact=True, recall=None, squared=None, **fields)  # type: ignore[arg-type]
                _, dec, slack = sitefiles.decode_rankings(shard)
                got = near_ppm(cal.similarity(dec, slack))
                want = exact_near[rows].astype(np.int64)
                for g, w, f in zip(got.ravel(), want.ravel(), fixed[rows].ravel(), strict=True):
                    sim["results"] += 1
                    differs = fmt_top(g) != fmt_top(w)
                    sim["calibration_differs"] += differs
                    sim["fixed_table_differs"] += fmt_top(f) != fmt_top(w)
                    band = "<100" if w < 100 else "100-1000" if w < 1000 else "1000-10000" if w < 10000 else ">=10000"
                    bands[band][0] += 1
                    bands[band][1] += differs
                    if differs and g > 0 and w > 0:
                        unit = 10.0 ** (math.floor(math.log10(w / 1e4)) - 1)
                        sim["more_than_one_unit"] += abs(float(fmt_top(g)) - float(fmt_top(w))) > 1.01 * unit
                old = json_ints(r["dist"][rows])
                for x, y, z in zip(r["dist"][rows].ravel(), dec.ravel(), old.ravel(), strict=True):
                    dist["distances"] += 1
                    dist["uint16_differs"] += fmt_dist(y) != fmt_dist(x)
                    dist["json_ints_differs"] += fmt_dist(z) != fmt_dist(x)
    sizes: dict[str, int] = {}
    data = out / "site" / "data"
    for f in data.rglob("*.js"):
        kind = c.kind_of(f.relative_to(data).as_posix()[:-3]).type.__name__
        sizes[kind] = sizes.get(kind, 0) + f.stat().st_size
    return {
        "views": len(views),
        "similarity": {**sim, "by_exact_ppm": {b: {"results": t, "differs": d} for b, (t, d) in bands.items()}},
        "distances": dist,
        "data_bytes_by_kind": dict(sorted(sizes.items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_site_data")
    ap.add_argument("build", type=Path, help="a finished build's folder (manifest.json, cache/, site/)")
    ap.add_argument("--views", type=int, default=None, help="only the first N views")
    args = ap.parse_args()
    print(json.dumps(measure(args.build, args.views), indent=1))


if __name__ == "__main__":
    main()
