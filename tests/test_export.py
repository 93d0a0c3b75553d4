"""``playground export``: the featurizer, embeddings and index leave the build and work without this package.

One small real build (a real-image subset of iconic200 x MobileNet(alpha=0.75) with ImageNet weights, 2 layers,
2 poolings, cosine + euclidean) and two exports of it, made through the CLI a user runs. The exported files are
then used in a FRESH Python process that never imports ``precompute``: it decodes dataset images by the rule the
README states, runs the .keras and ONNX featurizers, and searches the FAISS index; what comes back is compared
with the build's own cache (embeddings) and its site rankings (top-15).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import msgspec
import numpy as np
import pytest
from click.testing import CliRunner

from precompute.cli import cli
from precompute.config import load_config
from precompute.contract import ExportInfo
from tests.helpers import small_copy

pytestmark = pytest.mark.slow

LAYERS = ("conv_dw_6", "conv_pw_13")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path, keras_home: Path):
    from precompute import log
    from precompute.pipeline import run_precompute
    from precompute.site import render_site

    root = tmp_path_factory.mktemp("export")
    ds = small_copy(shared_datasets / "iconic200", root / "in" / "iconic_small", classes=4, per_class=6)
    log.configure(quiet=True)
    cfg = load_config(
        out=root / "o", datasets=(str(ds),), models=("mobilenet_075@imagenet",), metrics=("cosine", "euclidean")
    )
    cfg = replace(cfg, layers={"mobilenet_075": LAYERS})
    run_precompute(cfg)
    render_site(cfg.site_dir)
    return cfg, ds


def _run(cfg, *args: str):
    return CliRunner().invoke(cli, ["-q", "export", "--out", str(cfg.out), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def exported(built, tmp_path_factory: pytest.TempPathFactory):
    """``--best`` (by search score, cosine) and an explicit euclidean export of the other pooling."""
    cfg, _ = built
    root = tmp_path_factory.mktemp("exports")
    best, l2 = root / "best", root / "l2"
    r = _run(cfg, "--dataset", "iconic_small", "--best", "--to", str(best))
    assert r.exit_code == 0, r.output
    r2 = _run(
        cfg, "--dataset", "iconic_small", "--model", "mobilenet_075", "--layer", "conv_dw_6", "--pooling", "grid2",
        "--metric", "euclidean", "--format", "keras", "--to", str(l2),
    )  # fmt: skip
    assert r2.exit_code == 0, r2.output
    return {"best": best, "l2": l2, "line": r.output}


def _info(folder: Path) -> ExportInfo:
    return msgspec.json.decode((folder / "export.json").read_bytes(), type=ExportInfo)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


FRESH = r"""
import contextlib, io, json, os, sys
import numpy as np, faiss, keras, onnxruntime as ort, pyarrow.parquet as pq
from PIL import Image, ImageOps

def check(folder, ids):
    os.chdir(folder)
    info = json.load(open("export.json"))
    size, root = info["featurizer"]["input_size"], info["dataset"]["root"]
    table = pq.read_table("embeddings.parquet")
    files = table["file"].to_pylist()
    def pixels(rel):  # the README's rule
        im = ImageOps.exif_transpose(Image.open(root + "/" + rel)).convert("RGB")
        im = im.resize((size, im.height), Image.BILINEAR).resize((size, size), Image.BILINEAR)  # x, then y
        return np.asarray(im, dtype=np.uint8)
    x = np.stack([pixels(files[i]) for i in ids])
    out = {"keras": keras.saving.load_model("featurizer.keras").predict(x, verbose=0).tolist()}
    try:
        s = ort.InferenceSession("featurizer.onnx")
        out["onnx"] = s.run(None, {s.get_inputs()[0].name: x})[0].tolist()
    except Exception as exc:
        out["onnx_error"] = str(exc)
    v = np.asarray(out["keras"], np.float32)
    if info["normalise_queries"]:
        faiss.normalize_L2(v)
    _, nb = faiss.read_index("index.faiss").search(v, info["scores"]["k"] + 1)
    out["neighbours"] = nb.tolist()
    out["parquet"] = np.stack(table["embedding"].to_numpy(zero_copy_only=False)).astype(np.float32)[ids].tolist()
    out["npy"] = np.load("embeddings.npy")[ids].tolist()
    return out

job = json.loads(sys.argv[1])
result = {name: check(folder, job["ids"]) for name, folder in job["folders"].items()}
os.chdir(job["snippet_in"])
code = open("README.md").read().split("```python\n")[1].split("```")[0]
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
result["snippet"] = {"code": code, "stdout": buf.getvalue()}
result["precompute_imported"] = any(m == "precompute" or m.startswith("precompute.") for m in sys.modules)
print(json.dumps(result))
"""

IDS = [0, 7, 13, 23]


@pytest.fixture(scope="module")
def fresh(exported) -> dict:
    """FRESH in a new interpreter (no PYTHONPATH; it never imports precompute), on both exports."""
    job = {"ids": IDS, "folders": {k: str(exported[k]) for k in ("best", "l2")}, "snippet_in": str(exported["best"])}
    p = subprocess.run(
        [sys.executable, "-c", FRESH, json.dumps(job)],
        cwd=exported["best"].parent,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["precompute_imported"] is False
    return out


def _site_top(cfg, info: ExportInfo, qid: int) -> list[int]:
    from tests.helpers import read_row

    f = info.featurizer
    return read_row(
        cfg.site_dir, f"{info.dataset.slug}/{f.model}/{f.layer}/{f.pooling}/{info.metric}", qid
    ).ids.tolist()


def _cached(cfg, info: ExportInfo) -> np.ndarray:
    from precompute.buildindex import BuildIndex
    from precompute.cache import Cache

    f = info.featurizer
    view = BuildIndex.load(cfg).view(info.dataset.slug, f.model, f.layer, f.pooling)
    return Cache(cfg.cache_dir).get_npy("emb", view["emb"])


def _rel(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float((np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)).max())


@pytest.mark.parametrize("which", ["best", "l2"])
def test_the_export_works_in_a_fresh_process_without_precompute(built, exported, fresh, which) -> None:
    cfg, _ = built
    folder = exported[which]
    info = _info(folder)
    cached = _cached(cfg, info)
    assert len(cached) == 24
    out = fresh[which]
    assert _rel(out["keras"], cached[IDS]) <= 1e-5
    if which == "best":
        assert _rel(out["onnx"], cached[IDS]) <= 1e-5
    else:  # --format keras: no ONNX file
        assert "onnx_error" in out and not (folder / "featurizer.onnx").exists()
    np.testing.assert_array_equal(np.asarray(out["parquet"], np.float32), cached[IDS])
    np.testing.assert_array_equal(np.asarray(out["npy"], np.float32), cached[IDS])
    # the FAISS index, queried with the exported featurizer's vectors, gives the site's top-15 (self first)
    for qid, nb in zip(IDS, out["neighbours"], strict=True):
        assert nb[0] == qid
        assert nb[1:] == _site_top(cfg, info, qid), (which, qid)


def test_best_is_the_leaderboards_best_and_export_json_says_what_it_is(built, exported) -> None:
    cfg, _ = built
    info = _info(exported["best"])
    summary = json.loads(cfg.summary_path.read_text())
    views = [
        (s["cosine"]["mean_search_score"], (layer, pooling))
        for layer, by_pool in summary["scores"]["iconic_small"]["mobilenet_075"].items()
        for pooling, s in by_pool.items()
    ]
    best_score, (layer_name, pooling) = max(views, key=lambda v: v[0])
    f = info.featurizer
    assert (f.layer_name, f.pooling, info.metric) == (layer_name, pooling, "cosine")
    assert info.scores.search_score == best_score and info.scores.chosen_by == "score"
    assert f.name == f"mobilenet_075@imagenet/{f.layer}/{f.pooling}"
    assert info.check.keras_max_rel_err <= 1e-5 and info.check.onnx_max_rel_err <= 1e-5
    assert info.normalise_queries and "IndexFlatIP" in info.index
    names = [x.path for x in info.files]
    assert names == ["featurizer.keras", "featurizer.onnx", "embeddings.parquet", "embeddings.npy", "index.faiss"]
    for x in info.files:
        assert (exported["best"] / x.path).stat().st_size == x.bytes
    readme = (exported["best"] / "README.md").read_text()
    assert info.command in readme and f.name in readme and "Image.BILINEAR).resize(" in readme
    assert str(exported["best"]) in exported["line"]
    l2 = _info(exported["l2"])
    assert l2.metric == "euclidean" and not l2.normalise_queries and "IndexFlatL2" in l2.index


def test_best_by_probe(built, tmp_path) -> None:
    cfg, _ = built
    r = _run(cfg, "--dataset", "iconic_small", "--best", "probe", "--format", "keras", "--to", str(tmp_path / "p"))
    assert r.exit_code == 0, r.output
    info = _info(tmp_path / "p")
    summary = json.loads(cfg.summary_path.read_text())
    probes = summary["probe"]["iconic_small"]["mobilenet_075"]
    best = max(p["mean"] for by_pool in probes.values() for p in by_pool.values())
    assert info.scores.probe_accuracy == best and info.scores.chosen_by == "probe"
    assert probes[info.featurizer.layer_name][info.featurizer.pooling]["mean"] == best


def test_the_readme_snippet_runs_as_written(built, exported, fresh) -> None:
    """The README's python block, executed as written in the fresh process (in the export folder)."""
    cfg, _ = built
    info = _info(exported["best"])
    code = fresh["snippet"]["code"]
    assert code == info.snippet and len(code.strip().splitlines()) <= 11
    printed = eval(fresh["snippet"]["stdout"].strip().splitlines()[-1])  # a list of file names
    # the snippet's image is dataset image 0: itself, then its site top-14
    files = _files(cfg, info)
    assert printed == [files[i] for i in [0, *_site_top(cfg, info, 0)[:14]]]


def _files(cfg, info: ExportInfo) -> list[str]:
    from precompute.buildindex import BuildIndex

    return BuildIndex.load(cfg).dataset(info.dataset.slug).rels


def test_query_json_names_the_featurizer_as_the_export_does(built, exported) -> None:
    cfg, ds = built
    info = _info(exported["best"])
    f = info.featurizer
    image = ds / _files(cfg, info)[3]
    r = CliRunner().invoke(
        cli,
        ["-q", "query", str(image), "--out", str(cfg.out), "--dataset", "iconic_small", "--model", f.model]
        + ["--layer", f.layer, "--pooling", f.pooling, "--json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    layer = json.loads(r.output)[0]["answer"]["layers"][0]
    assert layer["featurizer"] == f.name
    words = shlex.split(layer["export"])
    assert words[:2] == ["playground", "export"]
    opts = dict(zip(words[2::2], words[3::2], strict=True))
    assert opts["--dataset"] == "iconic_small" and opts["--metric"] == "cosine"
    assert (opts["--model"], opts["--layer"], opts["--pooling"]) == (f.model, f.layer, f.pooling)


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--dataset", "nope", "--best"], "iconic_small"),
        (["--dataset", "iconic_small", "--model", "vgg", "--layer", "x"], "mobilenet_075"),
        (["--dataset", "iconic_small", "--model", "mobilenet_075", "--layer", "conv9"], "conv_dw_6, conv_pw_13"),
        (["--dataset", "iconic_small", "--model", "mobilenet_075", "--layer", "conv_dw_6", "--pooling", "gem"], "avg"),
        (["--dataset", "iconic_small", "--best", "--metric", "hamming"], "cosine, euclidean"),
    ],
)
def test_unknown_names_list_the_allowed_values_in_one_line(built, tmp_path, args, allowed) -> None:
    cfg, _ = built
    r = CliRunner().invoke(cli, ["-q", "export", "--out", str(cfg.out), *args, "--to", str(tmp_path / "x")])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: unknown ") and allowed in lines[0], r.output
    assert "Traceback" not in r.output and not (tmp_path / "x").exists()


def test_a_folder_that_is_not_an_export_is_refused_unless_force(built, exported, tmp_path) -> None:
    cfg, _ = built
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    args = ["--dataset", "iconic_small", "--model", "mobilenet_075", "--layer", "conv_dw_6", "--format", "keras"]
    r = CliRunner().invoke(cli, ["-q", "export", "--out", str(cfg.out), *args, "--to", str(target)])
    assert r.exit_code == 1 and "not an earlier export" in r.output and "--force" in r.output
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    r = _run(cfg, *args, "--to", str(target), "--force")
    assert r.exit_code == 0, r.output
    assert (target / "notes.txt").read_text() == "mine" and (target / "export.json").is_file()
    # an earlier export is rewritten without --force
    r = _run(cfg, *args, "--to", str(exported["l2"]))
    assert r.exit_code == 0, r.output


def test_a_killed_export_leaves_no_half_written_file(built, tmp_path) -> None:
    """Kill the export (SIGKILL) half-way through writing the featurizer: no file is in place (only the killed
    writer's temp file), and the next run (no --force needed: the folder holds only export files) sweeps the
    leftover and completes the folder."""
    import signal
    import time

    cfg, _ = built
    target = tmp_path / "k"
    args = ["--dataset", "iconic_small", "--model", "mobilenet_075", "--layer", "conv_pw_13", "--format", "keras"]
    args += ["--to", str(target)]
    cmd = [sys.executable, "-m", "precompute.cli", "-q", "export", "--out", str(cfg.out), *args]
    env = {**_clean_env(), "PG_EXPORT_SLOW_WRITE": "0.5"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not any(target.glob(".featurizer.keras.*.tmp")):
        time.sleep(0.05)
    assert any(target.glob(".featurizer.keras.*.tmp")), proc.communicate()[1][-2000:]
    time.sleep(0.7)  # a few MB of the file are written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [p.name for p in target.iterdir() if not p.name.startswith(".")] == []  # nothing torn in place
    assert next(target.glob(".featurizer.keras.*.tmp")).stat().st_size > 0
    r = _run(cfg, *args)
    assert r.exit_code == 0, r.output
    assert not list(target.glob(".*.tmp")) and (target / "export.json").is_file()


def test_the_served_site_downloads_the_export_as_a_zip(built, exported) -> None:
    """GET /api/export (the dialog's download) for the view the CLI exported: the same featurizer and files."""
    import io
    import zipfile

    from starlette.testclient import TestClient

    from precompute.serve.app import create_app

    cfg, _ = built
    info = _info(exported["best"])
    f = info.featurizer
    q = {"dataset": "iconic_small", "model": f.model, "layer": f.layer, "pooling": f.pooling, "metric": "cosine"}
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        bad = client.get("/api/export", params={**q, "layer": "<b>nope</b>"})
        assert bad.status_code == 404 and "conv_dw_6, conv_pw_13" in bad.json()["error"]
        r = client.get("/api/export", params=q)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text[:500]
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = {n.split("/", 1)[1]: n for n in z.namelist()}
    assert set(names) == {x.path for x in info.files} | {"export.json", "README.md"}
    got = msgspec.json.decode(z.read(names["export.json"]), type=ExportInfo)
    assert got.featurizer == info.featurizer and got.index == info.index
    for name in ("embeddings.npy", "embeddings.parquet", "index.faiss"):
        assert z.read(names[name]) == (exported["best"] / name).read_bytes(), name


def test_use_this_layer_dialog_shows_the_exports_snippet_and_command(built, exported) -> None:
    """The rendered page carries the export README's snippet (the page fills in size and k), and the dialog's
    command (search-export.js, run in node) is Python's shlex-quoted export command for any names."""
    import html
    import shutil

    cfg, _ = built
    info = _info(exported["best"])
    page = (cfg.site_dir / "index.html").read_text()
    asset = re.search(r'<script src="([^"]*search-export\.[0-9a-f]+\.js)"', page).group(1)
    m = re.search(r'data-snippet-cosine="([^"]*)"', page)
    tpl = html.unescape(m.group(1))
    image = str(Path(info.dataset.root) / _files(cfg, info)[0])
    want = info.snippet.replace(repr(image), repr("your-image.jpg"))
    assert tpl.replace("{SIZE}", str(info.featurizer.input_size)).replace("{K}", str(info.scores.k)) == want
    assert 'id="use-layer"' in page and 'aria-controls="dlg-export"' in page
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the dialog's shell quoting is checked by the browser tests only")
    from precompute.export import default_folder, export_command

    names = ["iconic_small", 'it\'s <b>&"x"', "", "a b", "gem:2.5", "ü"]
    js = (cfg.site_dir / asset).read_text()  # the script the site ships
    harness = (
        "const el = {getAttribute: () => ''}; global.window = {PG: {data: {}, $: (id) => id === 'dlg-export' ? "
        "{...el, addEventListener() {}, querySelectorAll: () => []} : null}};\n" + js + "\n"
        "const E = window.PG.exportDialog; const names = JSON.parse(process.argv[1]);\n"
        "console.log(JSON.stringify(names.map((n) => E.command({ds: n, model: n, layer: n, pool: n, metric: n}))));"
    )
    p = subprocess.run([node, "-e", harness, json.dumps(names)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    for n, cmd in zip(names, got, strict=True):
        assert cmd == export_command(n, n, n, n, n, shlex.split(cmd)[-1])  # shlex.quote's quoting, every name
        assert shlex.split(cmd)[3] == n  # the name survives the shell as it is
    assert shlex.split(got[0])[-1] == default_folder(*names[:1] * 4)
