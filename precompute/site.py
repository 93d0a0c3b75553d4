"""Render the static site: ``site_templates/`` (Jinja2) into ``build/site/``.

The precompute stages write ``build/site/data/`` (see docs/architecture.md, "Site data contract"), the
thumbnails and the feature visualizations; this step writes what the browser opens first:

* ``index.html`` (Semantic Search, the landing page), ``explorer.html`` (Model Explorer), ``about.html``;
* ``assets/``: the stylesheet and the classic (non-module) scripts, copied with a content hash in their
  names so a browser or CDN cache never serves a stale copy after a rebuild.

Every URL in the pages is relative (or prefixed with ``base_url`` when one is given), so the same files work
opened straight from disk (``file://``) and served from a sub-path such as a GitHub Pages project site.
Jinja autoescaping is on for every template: dataset, class and file names are data, never markup. The
pages themselves embed no data; the scripts read the ``data/*.js`` files (``PG.put(key, json)``) and write
names into the DOM with ``textContent`` only.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

from .atomic import write_bytes
from .contract import DATA_FORMAT
from .errors import SiteDataMissing
from .sitedata import read_data_file

TEMPLATES = Path(__file__).resolve().parent.parent / "site_templates"
STATIC = TEMPLATES / "static"
PAGES = (
    ("index.html", "search.html"),
    ("explorer.html", "explorer.html"),
    ("about.html", "about.html"),
)
ASSETS_DIR = "assets"


def _hashed_name(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return f"{path.stem}.{digest}{path.suffix}"


def copy_assets(site_dir: Path) -> dict[str, str]:
    """Copy ``site_templates/static/*`` to ``site_dir/assets/`` with content-hashed names.

    Returns ``{"site.css": "assets/site.0123456789.css", ...}``. Stale hashed copies from an earlier render
    are removed (the folder belongs to this step alone).
    """
    out = Path(site_dir) / ASSETS_DIR
    out.mkdir(parents=True, exist_ok=True)
    mapping: dict[str, str] = {}
    for src in sorted(p for p in STATIC.iterdir() if p.is_file() and not p.name.startswith(".")):
        name = _hashed_name(src)
        dest = out / name
        if not dest.exists() or dest.read_bytes() != src.read_bytes():
            write_bytes(dest, src.read_bytes())
        mapping[src.name] = f"{ASSETS_DIR}/{name}"
    keep = {Path(v).name for v in mapping.values()}
    for old in out.iterdir():
        if old.name not in keep:
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
    return mapping


def load_index(site_dir: Path) -> dict[str, Any]:
    path = Path(site_dir) / "data" / "index.js"
    if not path.exists():
        raise SiteDataMissing(
            f"{path} does not exist: run `playground precompute` (or `playground build`) for this output first"
        )
    data = read_data_file(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _fmt_params(n: Any) -> str:
    if not isinstance(n, int | float):
        return "?"
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    if n >= 1e3:
        return f"{n / 1e3:.0f} k"
    return f"{int(n)}"


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_build(datasets: list[dict[str, Any]], models: list[dict[str, Any]]) -> str:
    """The pages' meta description, from what this build actually has (never a model it does not)."""
    names = [str(m.get("display") or m.get("name")) for m in models]
    what = f"{len(names)} model" + ("s" if len(names) != 1 else "") + (f" ({_names(names)})" if names else "")
    on = f" on {len(datasets)} image dataset" + ("s" if len(datasets) != 1 else "") if datasets else ""
    return (
        "See what convolutional networks see: semantic image search with every layer of "
        f"{what}{on}, and what their channels respond to."
    )


def _context(index: dict[str, Any], site_dir: Path) -> dict[str, Any]:
    datasets = [d for d in index.get("datasets", []) if isinstance(d, dict)]
    models = [m for m in index.get("models", []) if isinstance(m, dict)]
    search_models = [m for m in models if not m.get("explorer_only")]
    explorer_path = Path(site_dir) / "data" / "explorer" / "index.js"
    explorer = explorer_path.exists()
    ex_index = read_data_file(explorer_path) if explorer else {}
    return {
        "description": describe_build(datasets, search_models),
        "trained_models": [m for m in search_models if m.get("weights") == "trained"],
        "imagenet_models": sorted(
            {str(m.get("display") or m.get("name")) for m in models if m.get("weights") == "imagenet"}
        ),
        "explorer_quick": bool(ex_index.get("quick")),
        "fv_channels": (ex_index.get("settings") or {}).get("channels"),
        "index": index,
        "datasets": datasets,
        "models": search_models,
        "metrics": [m for m in index.get("metrics", []) if isinstance(m, dict)],
        "poolings": [p for p in index.get("poolings", []) if isinstance(p, dict)],
        "missing": [m for m in index.get("missing", []) if isinstance(m, dict)],
        "build": index.get("build", {}) if isinstance(index.get("build"), dict) else {},
        "k": index.get("k", 15),
        "any_random": any(m.get("random") for m in models),
        "has_explorer": explorer,
        "data_format": DATA_FORMAT,
        "export_snippets": _export_snippets(),
    }


def _export_snippets() -> dict[str, str]:
    """The README snippet of ``playground export`` for the "Use this layer" dialog: ``{SIZE}`` and ``{K}`` are
    filled in by the page (search-export.js)."""
    from .export import snippet

    return {
        "cosine": snippet("{SIZE}", "cosine", "your-image.jpg", "{K}"),
        "other": snippet("{SIZE}", "euclidean", "your-image.jpg", "{K}"),
    }


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "xml", "svg"), default=True, default_for_string=True),
        undefined=ChainableUndefined,  # data fields are optional: a missing one renders empty
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["params"] = _fmt_params
    return env


def render_site(site_dir: Path, *, base_url: str = "") -> dict[str, Any]:
    """Render the pages and copy the assets into ``site_dir`` (which must already hold ``data/index.js``).

    ``base_url`` is an optional prefix for every URL the pages reference (for example
    ``"/convnet-playground/"``); the default ``""`` keeps them relative, which works from ``file://`` and from
    any sub-path, so it is rarely needed. Returns a summary: pages, assets, file count and total bytes.
    """
    site_dir = Path(site_dir)
    if base_url and not base_url.endswith("/"):
        base_url += "/"
    index = load_index(site_dir)
    assets = copy_assets(site_dir)
    env = make_env()
    ctx = _context(index, site_dir)

    def asset(name: str) -> str:
        return base_url + assets[name]

    pages: list[str] = []
    for out_name, template in PAGES:
        html = env.get_template(template).render(page=out_name.removesuffix(".html"), root=base_url, asset=asset, **ctx)
        path = site_dir / out_name
        blob = html.encode("utf-8")
        if not path.exists() or path.read_bytes() != blob:
            write_bytes(path, blob)
        pages.append(out_name)

    files = [p for p in site_dir.rglob("*") if p.is_file()]
    return {
        "site_dir": str(site_dir),
        "pages": pages,
        "assets": sorted(assets.values()),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }
