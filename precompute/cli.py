"""``playground``: the command line. Each subcommand is one stage; ``build`` runs them all.

Stages talk through folders (``build/cache``, ``build/site``, ``build/manifest.json``), so each can run alone.
Errors are ``errors.PlaygroundError`` (a ``click.ClickException``): one clear line, exit status 1. Ctrl-C says how
to resume (exit 130).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from . import log

# Quieten TensorFlow's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


def dataset_options() -> list[Callable[..., Any]]:
    """How to read a dataset that is not <class>/<image> folders (see datasets/README.md)."""
    return [
        click.option("--labels", help="Labels file (CSV, TSV or JSONL): one row per image, file and label columns."),
        click.option("--file-column", help="Labels-file column naming the image: a path, file name or stem."),
        click.option("--label-column", help="Labels-file column holding the class (default: label)."),
        click.option("--class-names", help="Display names for the classes: id<TAB>name lines (words.txt)."),
    ]


def selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags shared by every stage; each overrides the same key of playground.toml."""
    opts = [
        click.option("--datasets", help="Comma-separated dataset names (folders under datasets/) or folder paths."),
        click.option(
            "--models",
            help="Comma-separated model names (see `playground models`), .keras files, or "
            "NAME@WEIGHTS for per-model weights (e.g. mobilenet_075@imagenet).",
        ),
        click.option("--weights", help="imagenet | random | PATH to a weights file (default from playground.toml)."),
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            help="Output root (default build/): OUT/site, OUT/cache, OUT/summary.json.",
        ),
        click.option("--metrics", help="Comma-separated: cosine,euclidean,sqeuclidean,minkowski."),
        click.option("--minkowski-p", type=float, help="p of the Minkowski metric (default 3)."),
        click.option("--top-k", type=int, help="Neighbours per query (default 15)."),
        click.option("--pooling", help="Comma-separated poolings: avg,max,gem,grid2,flatten (default avg,grid2)."),
        click.option(
            "--index",
            type=click.Choice(["auto", "exact", "approximate"]),
            help="Nearest-neighbour search: auto (an HNSW graph with measured recall for large views, else exact), "
            "exact (flat search at any size), approximate (the graph at any size).",
        ),
        click.option("--exact", is_flag=True, default=None, help="Exact (flat) search at any size: --index exact."),
        click.option("--gem-p", type=float, help="p of gem pooling (default 3)."),
        click.option("--batch-size", type=int, help="Images per forward pass (default 32)."),
        click.option("--seed", type=int, help="UMAP and probe seed (default 42)."),
        click.option("--engine", type=click.Choice(["local", "ray"]), help="Where the heavy work runs (local)."),
        click.option("--ray-address", help="Ray cluster address for --engine ray ('' = a local Ray instance)."),
        *dataset_options(),
        click.option("--strict", is_flag=True, default=None, help="Fail instead of skipping what is missing."),
        click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bars (CI logs)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _config(ctx: click.Context, **kw: Any) -> Any:
    from .config import load_config

    quiet = kw.pop("quiet", None) or ctx.obj.get("quiet")
    if kw.pop("exact", None):
        if kw.get("index") not in (None, "exact"):
            raise click.UsageError(f"--exact and --index {kw['index']} disagree: give one")
        kw["index"] = "exact"
    over = {k: v for k, v in kw.items() if v is not None}
    for k in ("datasets", "models", "metrics"):
        if k in over:
            over[k] = _csv(over[k])
    cfg = load_config(ctx.obj.get("config"), **over)
    cfg = replace(cfg, quiet=bool(quiet))
    log.configure(quiet=cfg.quiet, verbose=ctx.obj.get("verbose", False))
    return cfg


def resumable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Ctrl-C says how to resume (exit 130): every finished piece is already cached."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: finished work is cached; run the same command again to resume.", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: playground.toml at the repo root).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars (CI logs).")
@click.option("-v", "--verbose", is_flag=True, help="More detail.")
@click.version_option(package_name="convnet-playground")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, quiet: bool, verbose: bool) -> None:
    """ConvNet Playground: precompute semantic search and feature visualizations, render a static site, and
    search with your own images."""
    ctx.obj = {"config": config, "quiet": quiet, "verbose": verbose}


@cli.command()
@selection_options
@click.pass_context
@resumable
def precompute(ctx: click.Context, **kw: Any) -> None:
    """Embeddings, rankings, search scores, UMAP and probes for every dataset x model x layer x pooling x metric."""
    from .pipeline import run_precompute

    cfg = _config(ctx, **kw)
    t = time.perf_counter()
    summary = run_precompute(cfg)
    click.echo(summary.one_line(time.perf_counter() - t, cfg.site_dir))


def _featurevis(
    cfg: Any,
    quick: bool,
    models: tuple[str, ...] | None,
    datasets: list[Any] | None = None,
    reported: frozenset[str] = frozenset(),
    deadline: float | None = None,
) -> Any:
    from .featurevis.stage import run_featurevis
    from .inputs import resolve

    fv = replace(cfg.featurevis, quick=quick or cfg.featurevis.quick)
    cfg = replace(cfg, featurevis=fv)
    inputs = resolve(cfg, models=models if models is not None else fv.models, datasets=datasets)
    inputs.report(cfg.strict, skip_models=reported)
    return run_featurevis(cfg, inputs, deadline=deadline)


@cli.command()
@selection_options
@click.option("--quick", is_flag=True, help="Fewer steps and channels (previews, CI); labelled in the outputs.")
@click.option("--budget", help="Stop cleanly between layers after this long (e.g. 5h, 90m); resume next run.")
@click.pass_context
@resumable
def featurevis(ctx: click.Context, quick: bool, budget: str | None, **kw: Any) -> None:
    """Model Explorer: feature visualizations and dataset examples per channel (resumable)."""
    models = _csv(kw.get("models"))
    cfg = _config(ctx, budget=budget, **kw)
    t = time.perf_counter()
    summary = _featurevis(cfg, quick, models, deadline=time.monotonic() + cfg.budget if cfg.budget else None)
    click.echo(
        f"feature visualizations done in {time.perf_counter() - t:.1f} s -> {cfg.site_dir}" + _pending_note(summary)
    )


def _pending_note(fv_summary: Any) -> str:
    n = fv_summary.pending_layers
    if not n:
        return ""
    return (
        f"; the time budget ran out with {n} layer(s) still to render (shown as pending): run the same "
        "command again to continue from the cache"
    )


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output root (default build/).")
@click.pass_context
def render(ctx: click.Context, out: Path | None) -> None:
    """Render the site from site_templates/ into OUT/site (needs precomputed data)."""
    from .site import render_site

    cfg = _config(ctx, out=out)
    render_site(cfg.site_dir)
    click.echo(f"site rendered -> {cfg.site_dir / 'index.html'}")


@cli.command()
@selection_options
@click.option("--quick", is_flag=True, help="Feature visualizations with the quick profile.")
@click.option("--no-featurevis", is_flag=True, help="Skip the Model Explorer stage.")
@click.option("--budget", help="Stop cleanly between layers after this long (e.g. 5h); the next run resumes.")
@click.pass_context
@resumable
def build(ctx: click.Context, quick: bool, no_featurevis: bool, budget: str | None, **kw: Any) -> None:
    """precompute + render (the search site is usable) + featurevis + render again: the whole site into OUT/site."""
    from .inputs import resolve
    from .pipeline import run_precompute
    from .site import render_site

    cfg = _config(ctx, budget=budget, **kw)
    t = time.perf_counter()
    deadline = time.monotonic() + cfg.budget if cfg.budget else None
    inputs = resolve(cfg)  # one scan of the datasets (one warning per bad file) for both stages
    summary = run_precompute(cfg, inputs)
    render_site(cfg.site_dir)
    index = cfg.site_dir / "index.html"
    note = ""
    if not no_featurevis:
        click.echo(f"Semantic Search is ready: open {index} (the Model Explorer follows)", err=True)
        models = _csv(kw.get("models"))
        reported = frozenset(m["model"] for m in summary.missing if "model" in m)
        fv = _featurevis(cfg, quick, models, inputs.datasets, reported, deadline)
        render_site(cfg.site_dir)
        note = _pending_note(fv)
    click.echo(summary.one_line(time.perf_counter() - t, index) + note)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output root (default build/).")
@click.option("--host", help="Interface to listen on (default 127.0.0.1: this machine only).")
@click.option("--port", type=int, help="Port (default 8000).")
@click.option("--max-upload-mb", type=float, help="Largest accepted upload (default 20 MB).")
@click.pass_context
def serve(
    ctx: click.Context, out: Path | None, host: str | None, port: int | None, max_upload_mb: float | None
) -> None:
    """Serve OUT/site with the live query API: search with your own image (ASGI app on uvicorn)."""
    from .serve.app import serve as run

    cfg = _config(ctx, out=out, serve_host=host, serve_port=port, max_upload_mb=max_upload_mb)
    run(cfg)


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="A dataset of the build (slug or name).")
@click.option("--model", required=True, help="A model of the build.")
@click.option("--layer", default=None, help="A layer (name or slug; default the last), or 'all'.")
@click.option("--pooling", default=None, help="A pooling of the build (default the first).")
@click.option("--metric", default="cosine", show_default=True)
@click.option("--k", "k", default=15, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the API's answer).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output root (default build/).")
@click.pass_context
def query(
    ctx: click.Context,
    images: tuple[Path, ...],
    dataset: str,
    model: str,
    layer: str | None,
    pooling: str | None,
    metric: str,
    k: int,
    as_json: bool,
    out: Path | None,
) -> None:
    """Nearest neighbours of your own IMAGES in a built dataset (reads the build cache only)."""
    from .serve.query import run_query_cli

    cfg = _config(ctx, out=out)
    run_query_cli(
        cfg, images, dataset=dataset, model=model, layer=layer, pooling=pooling, metric=metric, k=k, as_json=as_json
    )


@cli.command()
@click.option("--dataset", required=True, help="A dataset of the build (slug or name).")
@click.option("--model", default=None, help="A model of the build (with --best: only its layers).")
@click.option("--layer", default=None, help="A layer of the model (name or slug).")
@click.option("--pooling", default=None, help="A pooling of the build (default the first; with --best: all).")
@click.option("--metric", default="cosine", show_default=True, help="The search metric the FAISS index is for.")
@click.option(
    "--best",
    type=click.Choice(["score", "probe"]),
    is_flag=False,
    flag_value="score",
    default=None,
    help="Take the leaderboard's best layer x pooling (and model, unless --model) by mean search score "
    "(--best, --best score) or by linear-probe accuracy (--best probe).",
)
@click.option("--format", "formats", default="keras,onnx", show_default=True, help="Featurizer formats: keras,onnx.")
@click.option("--to", type=click.Path(file_okay=True, path_type=Path), help="Folder to write (default export-...).")
@click.option("--force", is_flag=True, help="Write into a folder that exists and is not an earlier export.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output root (default build/).")
@click.pass_context
def export(
    ctx: click.Context,
    dataset: str,
    model: str | None,
    layer: str | None,
    pooling: str | None,
    metric: str,
    best: str | None,
    formats: str,
    to: Path | None,
    force: bool,
    out: Path | None,
) -> None:
    """Take a featurizer with you: the model truncated at a layer (with the pooling and preprocess_input inside)
    as .keras and ONNX, the dataset's embeddings (Parquet, .npy), a FAISS index, README.md and export.json."""
    from .export import run_export

    cfg = _config(ctx, out=out)
    res = run_export(
        cfg,
        dataset=dataset,
        model=model,
        layer=layer,
        pooling=pooling,
        metric=metric,
        to=to,
        best=best,
        formats=_csv(formats) or (),
        force=force,
    )
    total = sum(f.bytes for f in res.info.files)
    click.echo(
        f"exported {res.info.featurizer.name} ({res.info.dataset.name}, {res.info.metric}) in {res.seconds:.1f} s "
        f"-> {res.folder} ({total / 1e6:.1f} MB; see {res.folder / 'README.md'})"
    )


@cli.command()
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the model catalogue: name, input size, role in the default build, where the weights come from."""
    from .inputs import catalogue

    cfg = _config(ctx)
    for spec in catalogue(cfg.cache_dir):
        roles = [r for r, names in (("search", cfg.models), ("explorer", cfg.featurevis.models)) if spec.name in names]
        role = "+".join(roles) or "opt-in"
        click.echo(f"{spec.name:16} {spec.display:30} {spec.input_size:4d} px  {role:16} {spec.source}")


@cli.group()
def datasets() -> None:
    """List, fetch or import datasets."""


@datasets.command("list")
@click.pass_context
def datasets_list(ctx: click.Context) -> None:
    """Datasets known to this checkout and their state."""
    from .fetch import list_datasets

    cfg = _config(ctx)
    for row in list_datasets(cfg.datasets_dir):
        click.echo("  ".join(f"{row.get(k, '')}" for k in ("name", "status", "images", "classes", "source")))


@datasets.command("fetch")
@click.argument("name")
@click.option(
    "--from",
    "from_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Import from a local copy (e.g. ../shared/datasets/NAME) instead of downloading.",
)
@click.pass_context
@resumable
def datasets_fetch(ctx: click.Context, name: str, from_dir: Path | None) -> None:
    """Download NAME from its public source (verifying checksums), or import it with --from DIR."""
    from .fetch import fetch_dataset

    cfg = _config(ctx)
    path = fetch_dataset(name, cfg.datasets_dir, from_dir=from_dir)
    click.echo(f"dataset {name} ready in {path}")


def _with_dataset_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(dataset_options()):
        fn = opt(fn)
    return fn


@datasets.command("inspect")
@click.argument("path")
@_with_dataset_options
@click.option("--strict", is_flag=True, help="Labels-file problems are errors.")
@click.pass_context
def datasets_inspect(ctx: click.Context, path: str, strict: bool, **kw: Any) -> None:
    """How PATH (a dataset name, folder or archive) would be read, without building or decoding any image."""
    from .config import DatasetOptions
    from .datasets import inspect_dataset, resolve

    cfg = _config(ctx)
    given = {k: v for k, v in kw.items() if v is not None}
    for key in ("labels", "class_names"):
        if key in given:
            given[key] = Path(given[key])
    options = replace(cfg.options_for(path) or DatasetOptions(), **given)
    target = resolve(path, cfg.datasets_dir)
    report, warnings = inspect_dataset(target, options=options, strict=strict or cfg.strict, cache_dir=cfg.cache_dir)
    click.echo(f"dataset {path}: {target}")
    for line in report.lines():
        click.echo(f"  {line}")
    for msg in warnings:
        click.echo(f"warning: {msg}", err=True)
    if not report.n_images:
        raise click.ClickException("no image would be read: see the layouts in datasets/README.md")


def main() -> None:
    log.quiet_native_imports()
    log.install_interrupt_handler()
    cli(prog_name="playground")


if __name__ == "__main__":
    main()
