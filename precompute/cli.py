"""``playground``: the command line. Each subcommand is one pipeline stage; ``build`` runs them all."""

from __future__ import annotations

import contextlib
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
        click.option("--pooling", type=click.Choice(["avg", "max", "flatten"]), help="Embedding pooling (avg)."),
        click.option("--batch-size", type=int, help="Images per forward pass (default 32)."),
        click.option("--seed", type=int, help="UMAP seed (default 42)."),
        click.option("--strict", is_flag=True, default=None, help="Fail instead of skipping what is missing."),
        click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bars (CI logs)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _config(ctx: click.Context, **kw: Any):
    from .config import load_config

    quiet = kw.pop("quiet", None) or ctx.obj.get("quiet")
    over = {k: v for k, v in kw.items() if v is not None}
    for key in ("datasets", "models", "metrics"):
        if key in over:
            over[key] = _csv(over[key])
    cfg = load_config(ctx.obj.get("config"), **over)
    cfg = replace(cfg, quiet=bool(quiet))
    log.configure(quiet=cfg.quiet, verbose=ctx.obj.get("verbose", False))
    return cfg


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Known failures become one clear line (exit 1); Ctrl-C says how to resume (exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .catalog import ModelUnavailable, WeightsUnavailable
        from .config import ConfigError
        from .pipeline import BuildError

        known: tuple[type[BaseException], ...] = (BuildError, ConfigError, ModelUnavailable, WeightsUnavailable)
        try:
            from .datasets import DatasetError

            known += (DatasetError,)
            from .fetch import FetchError

            known += (FetchError,)
        except ImportError:
            pass
        try:
            return fn(*args, **kwargs)
        except known as exc:
            raise click.ClickException(str(exc)) from None
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
    """ConvNet Playground: precompute semantic search and feature visualizations, render a static site."""
    ctx.obj = {"config": config, "quiet": quiet, "verbose": verbose}


def _one_line(summary: dict[str, Any], seconds: float, site: Path) -> str:
    n_ds = len(summary["datasets"])
    n_models = len(summary["models"])
    layers = max((len(m["layers"]) for m in summary["models"]), default=0)
    n_metrics = len(summary["settings"]["metrics"])
    warn = len(summary.get("warnings", []))
    missing = len(summary.get("missing", []))
    tail = f"; {missing} skipped (see warnings)" if missing else ""
    return (
        f"built {n_ds} dataset(s) x {n_models} model(s) x {layers} layers x {n_metrics} metrics in {seconds:.1f} s"
        f" -> {site}{tail}; {warn} warning(s)"
    )


def _run_precompute(cfg: Any, resolved: tuple[list[Any], list[dict]] | None = None) -> dict[str, Any]:
    from .pipeline import run_precompute

    return run_precompute(cfg, resolved)


@cli.command()
@selection_options
@click.pass_context
@friendly_errors
def precompute(ctx: click.Context, **kw: Any) -> None:
    """Embeddings, rankings, search scores and UMAP for every dataset x model x layer x metric."""
    cfg = _config(ctx, **kw)
    t = time.perf_counter()
    summary = _run_precompute(cfg)
    click.echo(_one_line(summary, time.perf_counter() - t, cfg.site_dir))


def _run_featurevis(
    cfg: Any,
    quick: bool,
    models: tuple[str, ...] | None,
    already_reported: frozenset[str] = frozenset(),
    datasets: list[Any] | None = None,
) -> dict[str, Any] | None:
    from .featurevis.stage import run_featurevis
    from .pipeline import prepare_runtime, resolve_datasets

    fv = replace(cfg.featurevis, quick=quick or cfg.featurevis.quick)
    cfg = replace(cfg, featurevis=fv)
    prepare_runtime(cfg)
    if datasets is None:
        datasets, _ = resolve_datasets(cfg)
    names = [m for m in (models if models is not None else fv.models) if m not in already_reported]
    return run_featurevis(cfg, datasets, names, cfg.weights)


@cli.command()
@selection_options
@click.option("--quick", is_flag=True, help="Fewer steps and channels (previews, CI); labelled in the outputs.")
@click.pass_context
@friendly_errors
def featurevis(ctx: click.Context, quick: bool, **kw: Any) -> None:
    """Model Explorer: feature visualizations and dataset examples per channel (resumable)."""
    models = _csv(kw.get("models"))
    cfg = _config(ctx, **kw)
    t = time.perf_counter()
    _run_featurevis(cfg, quick, models)
    click.echo(f"feature visualizations done in {time.perf_counter() - t:.1f} s -> {cfg.site_dir}")


def _render(site_dir: Path) -> dict[str, Any]:
    from .site import render_site

    return render_site(site_dir)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output root (default build/).")
@click.pass_context
@friendly_errors
def render(ctx: click.Context, out: Path | None) -> None:
    """Render the site from site_templates/ into OUT/site (needs precomputed data)."""
    cfg = _config(ctx, out=out)
    _render(cfg.site_dir)
    click.echo(f"site rendered -> {cfg.site_dir / 'index.html'}")


@cli.command()
@selection_options
@click.option("--quick", is_flag=True, help="Feature visualizations with the quick profile.")
@click.option("--no-featurevis", is_flag=True, help="Skip the Model Explorer stage.")
@click.pass_context
@friendly_errors
def build(ctx: click.Context, quick: bool, no_featurevis: bool, **kw: Any) -> None:
    """precompute + featurevis + render: the whole site into OUT/site."""
    from .pipeline import resolve_datasets

    cfg = _config(ctx, **kw)
    t = time.perf_counter()
    resolved = resolve_datasets(cfg)  # one scan of the datasets (and one warning per bad file) for both stages
    summary = _run_precompute(cfg, resolved)
    if not no_featurevis:
        models = _csv(kw.get("models"))
        # models precompute already reported as missing are not warned about a second time
        reported = frozenset(m["model"] for m in summary["missing"] if "model" in m)
        _run_featurevis(cfg, quick, models, reported, resolved[0])
    _render(cfg.site_dir)
    click.echo(_one_line(summary, time.perf_counter() - t, cfg.site_dir / "index.html"))


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output root (default build/).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, out: Path | None, host: str, port: int) -> None:
    """Serve OUT/site on a local static server."""
    import http.server

    from .config import load_config

    site = load_config(ctx.obj.get("config"), out=out).site_dir
    if not (site / "index.html").exists():
        raise click.ClickException(f"no site in {site}: run `playground build` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        click.echo(f"serving {site} at http://{host}:{port}/  (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


@cli.command()
def models() -> None:
    """List the model catalogue."""
    from .catalog import CATALOG, SEARCH_MODELS, get_spec
    from .playground_net import NAME

    for name in [*CATALOG, NAME]:
        spec = get_spec(name)
        if spec.family == "playground_net":
            role, source = "search+explorer", "trained by the build (build/cache)"
        else:
            role = "search+explorer" if name in SEARCH_MODELS else "explorer" if not spec.search else "search (opt-in)"
            source = spec.weights_file
        click.echo(f"{name:16} {spec.display:30} {spec.input_size:4d} px  {role:16} {source}")


@cli.group()
def datasets() -> None:
    """List, fetch or import datasets."""


@datasets.command("list")
@click.pass_context
@friendly_errors
def datasets_list(ctx: click.Context) -> None:
    """Datasets known to this checkout and their state."""
    from .fetch import list_datasets

    cfg = _config(ctx)
    rows = list_datasets(cfg.datasets_dir)
    for row in rows:
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
@friendly_errors
def datasets_fetch(ctx: click.Context, name: str, from_dir: Path | None) -> None:
    """Download NAME from its public source (verifying checksums), or import it with --from DIR."""
    from .fetch import fetch_dataset

    cfg = _config(ctx)
    path = fetch_dataset(name, cfg.datasets_dir, from_dir=from_dir)
    click.echo(f"dataset {name} ready in {path}")


def main() -> None:
    log.quiet_native_imports()
    cli(prog_name="playground")


if __name__ == "__main__":
    main()
