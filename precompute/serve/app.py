"""``playground serve``: the built site plus a live query API, as a small ASGI app on uvicorn.

Starlette rather than FastAPI: the app is four routes and a static mount. The API's types are msgspec Structs
(``schema.py``), as the site's data contract is; FastAPI's value (request validation and OpenAPI from pydantic
models) would mean a second schema system beside msgspec for the same answers.

Routes:

* ``GET /api/health``: the datasets, models, poolings and metrics this build can answer for.
* ``POST /api/query`` (multipart: ``image`` file; ``dataset``, ``model``, ``layer`` (name, slug or ``all``),
  ``pooling``, ``metric``, ``k``): the neighbours of the image (``schema.QueryAnswer``).
* ``POST /api/compare`` (``image``, ``dataset``, ``pooling``, ``metric``, ``k``): every model x layer at once.
* ``GET /api/export?dataset=&model=&layer=&pooling=&metric=``: that view's ``playground export`` as a zip (the
  "Use this layer" dialog's download); made once into ``OUT/exports/`` and reused, one export at a time.
* ``GET /data/serve.js``: tells the pages they are served live (the static build's copy says they are not).
* everything else: ``build/site`` as static files (Starlette's StaticFiles: no path leaves the folder).

Limits: requests larger than ``max_upload_mb`` (default 20 MB) are refused with 413 while they stream in;
undecodable, truncated, empty or oversized (decompression-bomb) images get 422 with the dataset scanner's reason;
unknown names get 404 with the allowed values; other bad requests 400/415/422. Bound to 127.0.0.1 by default; no
CORS headers (the pages are same-origin).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import log
from ..buildindex import UnknownName
from ..config import BuildConfig
from ..errors import PlaygroundError, QueryError, SiteDataMissing
from .query import BadImage, QueryEngine
from .schema import ApiError, CompareAnswer

MAX_FIELDS = 16


def _json(obj: Any, status: int = 200) -> Response:
    return Response(
        msgspec.json.encode(obj),
        status_code=status,
        media_type="application/json",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


def _error(status: int, message: str, allowed: list[str] | None = None) -> Response:
    return _json(ApiError(error=message, allowed=allowed), status)


class TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, from its Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_large = _error(413, f"upload larger than the limit of {self.limit // 2**20} MB")
        try:
            if length is not None and int(length) > self.limit:
                await too_large(scope, receive, send)
                return
        except ValueError:
            await _error(400, "invalid Content-Length")(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except TooLarge:
            if not started:
                await too_large(scope, receive, send)


async def _form(request: Request, limit: int) -> tuple[bytes, str, dict[str, str]]:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise HTTPException(415, "send the image as multipart/form-data with a field named 'image'")
    try:
        form = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=limit)
    except TooLarge:
        raise
    except Exception as exc:  # malformed multipart bodies raise several types
        raise HTTPException(400, f"malformed multipart body ({type(exc).__name__}: {exc})") from None
    image = form.get("image")
    if not isinstance(image, UploadFile):
        raise HTTPException(422, "missing the file field 'image'")
    data = await image.read()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return data, image.filename or "upload", fields


def _int(fields: dict[str, str], name: str, default: int) -> int:
    try:
        return int(fields.get(name, default))
    except ValueError:
        raise HTTPException(422, f"'{name}' must be an integer") from None


def create_app(cfg: BuildConfig, engine: QueryEngine | None = None) -> ASGIApp:
    site = cfg.site_dir
    if not (site / "index.html").is_file():
        raise SiteDataMissing(f"no site in {site}: run `playground build` first")
    engine = engine or QueryEngine(cfg)
    limit = int(cfg.max_upload_mb * 2**20)

    async def health(request: Request) -> Response:
        return _json(engine.health())

    async def query(request: Request) -> Response:
        data, name, f = await _form(request, limit)
        answer = await run_in_threadpool(
            engine.query,
            data,
            dataset=f.get("dataset", ""),
            model=f.get("model", ""),
            layer=f.get("layer"),
            pooling=f.get("pooling"),
            metric=f.get("metric", "cosine"),
            k=_int(f, "k", 15),
            label=name,
        )
        return _json(answer)

    async def compare(request: Request) -> Response:
        data, name, f = await _form(request, limit)
        answers = await run_in_threadpool(
            engine.compare,
            data,
            dataset=f.get("dataset", ""),
            pooling=f.get("pooling"),
            metric=f.get("metric", "cosine"),
            k=_int(f, "k", 15),
            label=name,
        )
        first = answers[0] if answers else None
        return _json(
            CompareAnswer(
                dataset=first.dataset if first else "",
                pooling=first.pooling if first else "",
                metric=first.metric if first else "",
                models=answers,
            )
        )

    export_lock = threading.Lock()

    def make_export(q: dict[str, str]) -> tuple[bytes, str]:
        from ..export import default_folder, export_zip, resolve, run_export

        c = resolve(
            engine.index,
            dataset=q.get("dataset", ""),
            model=q.get("model", ""),
            layer=q.get("layer", ""),
            pooling=q.get("pooling") or None,
            metric=q.get("metric", "cosine"),
            best=None,
        )
        name = default_folder(c.dataset.slug, c.model.slug, c.layer.slug, c.pooling) + f"-{c.metric}"
        folder = Path(cfg.out) / "exports" / name
        with export_lock:  # one export at a time: each loads a model and converts it
            if not (folder / "export.json").is_file():
                run_export(
                    cfg,
                    dataset=c.dataset.slug,
                    model=c.model.slug,
                    layer=c.layer.slug,
                    pooling=c.pooling,
                    metric=c.metric,
                    to=folder,
                    force=True,
                )
            return export_zip(folder), name

    async def export(request: Request) -> Response:
        data, name = await run_in_threadpool(make_export, dict(request.query_params))
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}.zip"', "Cache-Control": "no-store"},
        )

    async def serve_js(request: Request) -> Response:
        h = engine.health()
        info = {"live": True, "api": "api/", "max_upload": h.max_upload, "datasets": [d.slug for d in h.datasets]}
        body = "PG.put(" + json.dumps("serve") + "," + json.dumps(info, sort_keys=True, separators=(",", ":")) + ");\n"
        return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-store"})

    allowed_methods = {"health": "GET", "query": "POST", "compare": "POST", "export": "GET"}

    async def api_other(request: Request) -> Response:
        """Any other method or path under /api/: 405 naming the method, or 404 (never a static file)."""
        name = request.path_params["rest"]
        if name in allowed_methods:
            resp = _error(405, f"use {allowed_methods[name]} for /api/{name}")
            resp.headers["Allow"] = allowed_methods[name]
            return resp
        return _error(404, f"no API endpoint /api/{name}", [f"/api/{n}" for n in allowed_methods])

    async def on_http(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return _error(exc.status_code, str(exc.detail))
        return Response(str(exc.detail), status_code=exc.status_code, media_type="text/plain")

    async def on_unknown(request: Request, exc: UnknownName) -> Response:
        return _error(404, str(exc), exc.allowed)

    async def on_bad_image(request: Request, exc: BadImage) -> Response:
        return _error(422, str(exc))

    async def on_query_error(request: Request, exc: QueryError) -> Response:
        return _error(422, str(exc))

    async def on_export_error(request: Request, exc: PlaygroundError) -> Response:
        return _error(422, str(exc))

    async def on_too_large(request: Request, exc: TooLarge) -> Response:
        return _error(413, f"upload larger than the limit of {limit // 2**20} MB")

    app = Starlette(
        routes=[
            Route("/api/health", health, methods=["GET"]),
            Route("/api/query", query, methods=["POST"]),
            Route("/api/compare", compare, methods=["POST"]),
            Route("/api/export", export, methods=["GET"]),
            Route("/api/{rest:path}", api_other, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
            Route("/data/serve.js", serve_js, methods=["GET"]),
            Mount("/", StaticFiles(directory=str(site), html=True), name="site"),
        ],
        exception_handlers={
            HTTPException: on_http,
            UnknownName: on_unknown,
            BadImage: on_bad_image,
            QueryError: on_query_error,
            PlaygroundError: on_export_error,
            TooLarge: on_too_large,
        },
    )
    return BodyLimit(app, limit)


def serve(cfg: BuildConfig) -> None:
    """Run the app with uvicorn until Ctrl-C."""
    import click
    import uvicorn

    app = create_app(cfg)
    if cfg.serve_host not in ("127.0.0.1", "localhost", "::1"):
        log.warn(
            f"serving on {cfg.serve_host}: anyone who can reach this machine can use the site and the query "
            "API (uploads are processed, never stored); use the default 127.0.0.1 to keep it local"
        )
    url = f"http://{'localhost' if cfg.serve_host in ('127.0.0.1', '::1') else cfg.serve_host}:{cfg.serve_port}/"
    click.echo(f"serving {Path(cfg.site_dir)} with the query API at {url}  (Ctrl-C to stop)")
    uvicorn.run(
        app,
        host=cfg.serve_host,
        port=cfg.serve_port,
        log_level="warning",
        server_header=False,
        limit_concurrency=64,
        timeout_keep_alive=5,
    )
