"""Manifests, ``--from`` imports, downloads from a local HTTP server, the CIFAR batch reader, offline fail-fast."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from precompute import fetch, network
from precompute.datasets import PROJECT_DATASETS_DIR, load_dataset
from precompute.fetch import FetchError, fetch_dataset, list_datasets, load_manifest, make_manifest
from tests.conftest import SHARED_DATASETS as SHARED  # noqa: E402

# ../shared is part of the test environment (CI clones main beside it): its absence fails, never skips
needs_shared = pytest.mark.usefixtures("shared_datasets")
STANDARD = ("iconic200", "fashion200", "tinyimagenet200", "cifar10")


def _tree(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_ino, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- the committed manifests --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STANDARD)
def test_committed_manifests_are_complete(name: str) -> None:
    m = load_manifest(name, PROJECT_DATASETS_DIR)
    assert m["name"] == name and len(m["files"]) == 200 == m["n_images"]
    assert len(m["classes"]) == 10
    assert {f["rel"].split("/")[0] for f in m["files"]} == set(m["classes"])
    assert m["description"] and m["licence"] and m["attribution"] and m["source"]["summary"]
    assert "UNVERIFIED" in m["licence"] or "non-commercial" in m["licence"]
    for f in m["files"]:
        assert len(f["sha256"]) == 64 and f["url"].startswith("https://")
    if name == "cifar10":
        assert m["archive"]["url"] == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
        assert all(len(f["pixels_sha256"]) == 64 and 0 <= f["index"] < 10000 for f in m["files"])
    else:
        commit = m["source"]["commit"]
        assert all(
            f"/{commit}/" in f["url"] and f["url"].startswith("https://raw.githubusercontent.com/") for f in m["files"]
        )
    if name == "iconic200":
        assert m["files"][0]["url"].endswith("/app/frontend/build/assets/semsearch/datasets/iconic200/140.jpg")


@needs_shared
@pytest.mark.parametrize("name", STANDARD)
def test_manifests_match_reference_copies(name: str) -> None:
    m = load_manifest(name, PROJECT_DATASETS_DIR)
    for f in m["files"]:
        data = (SHARED / name / f["rel"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["rel"]
    ds = load_dataset(SHARED / name)
    assert [r.rel for r in ds.images] == [f["rel"] for f in m["files"]]  # manifest order == id order


# --- --from imports -----------------------------------------------------------------------------------------


@needs_shared
def test_import_from_local_copy_verifies_and_resumes(tmp_path: Path) -> None:
    ddir = tmp_path / "datasets"
    dest = fetch_dataset("iconic200", ddir, from_dir=SHARED / "iconic200")
    assert dest == ddir / "iconic200"
    assert len(list(dest.rglob("*.jpg"))) == 200 and not (dest / "SOURCE.txt").exists()
    assert load_dataset(dest).content_hash == load_dataset(SHARED / "iconic200").content_hash
    before = _tree(dest)
    assert fetch_dataset("iconic200", ddir, from_dir=SHARED) == dest  # parent folder accepted; nothing to do
    assert _tree(dest) == before
    (dest / "arch" / "140.jpg").unlink()
    fetch_dataset("iconic200", ddir, from_dir=SHARED)  # only the missing file comes back
    after = _tree(dest)
    assert after["arch/141.jpg"] == before["arch/141.jpg"] and after["arch/140.jpg"][1] == before["arch/140.jpg"][1]
    rows = {r["name"]: r for r in list_datasets(ddir)}
    assert rows["iconic200"]["status"] == "ready" and rows["iconic200"]["images"] == 200
    assert rows["fashion200"]["status"] == "not fetched" and rows["fashion200"]["expected"] == 200


@needs_shared
def test_import_from_corrupted_copy_fails_naming_files(tmp_path: Path) -> None:
    src = tmp_path / "copy"
    shutil.copytree(SHARED / "fashion200", src)
    data = bytearray((src / "sandals" / "45.jpg").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (src / "sandals" / "45.jpg").write_bytes(bytes(data))
    (src / "menjeans" / "3.jpg").unlink()
    ddir = tmp_path / "datasets"
    with pytest.raises(FetchError) as err:
        fetch_dataset("fashion200", ddir, from_dir=src)
    msg = str(err.value)
    assert "2 of 200 file(s) do not match the manifest (nothing was copied)" in msg
    assert "menjeans/3.jpg: missing" in msg and "sandals/45.jpg: checksum mismatch" in msg
    assert not (ddir / "fashion200").exists()
    with pytest.raises(FetchError, match="not a folder"):
        fetch_dataset("fashion200", ddir, from_dir=tmp_path / "nowhere")


@needs_shared
def test_partial_dataset_and_custom_folder_listing(tmp_path: Path) -> None:
    ddir = tmp_path / "datasets"
    fetch_dataset("tinyimagenet200", ddir, from_dir=SHARED)
    (ddir / "tinyimagenet200" / "bus" / "n04146614_3.JPEG").write_bytes(b"tampered")
    custom = ddir / "my photos"
    for cls in ("a", "b"):
        (custom / cls).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(custom / cls / "x.png")
    (custom / "README.md").write_text("# My photos\n")
    rows = {r["name"]: r for r in list_datasets(ddir)}
    assert set(STANDARD) <= set(rows)
    assert rows["tinyimagenet200"]["status"] == "partial" and rows["tinyimagenet200"]["images"] == 199
    assert rows["my photos"] == {
        "name": "my photos",
        "status": "custom folder",
        "images": 2,
        "expected": None,
        "classes": 2,
        "source": "My photos",
        "path": str(custom),
    }
    fetch_dataset("tinyimagenet200", ddir, from_dir=SHARED / "tinyimagenet200")  # repairs the tampered file
    assert {r["name"]: r for r in list_datasets(ddir)}["tinyimagenet200"]["status"] == "ready"


def test_unknown_and_unsafe_manifests(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"no manifest for dataset 'nope'.*Fetchable datasets: .*iconic200"):
        fetch_dataset("nope", tmp_path)
    (tmp_path / "evil.json").write_text(json.dumps({"files": [{"rel": "../../etc/x.jpg", "sha256": "0" * 64}]}))
    with pytest.raises(FetchError, match="invalid file entry"):
        fetch_dataset("evil", tmp_path)


# --- CIFAR-10 -----------------------------------------------------------------------------------------------


@needs_shared
def test_cifar_import_from_pngs(tmp_path: Path) -> None:
    dest = fetch_dataset("cifar10", tmp_path, from_dir=SHARED)
    assert len(list(dest.rglob("*.png"))) == 200


def _synthetic_test_batch(rows: int = 300) -> bytes:
    """A CIFAR-10 python batch (planar rows) whose listed indices hold the reference images' pixels."""
    m = load_manifest("cifar10", PROJECT_DATASETS_DIR)
    data = np.zeros((rows, 3072), np.uint8)
    for f in m["files"]:
        hwc = np.asarray(Image.open(SHARED / "cifar10" / f["rel"]).convert("RGB"))
        data[f["index"]] = hwc.transpose(2, 0, 1).reshape(-1)
    batch = {
        "batch_label": "testing batch 1 of 1",
        "labels": [0] * rows,
        "data": data,
        "filenames": [f"x_{i}.png" for i in range(rows)],
    }
    return pickle.dumps(batch, protocol=2)


@needs_shared
def test_cifar_from_test_batch_decodes_planar_rows(tmp_path: Path) -> None:
    src = tmp_path / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    (src / "test_batch").write_bytes(_synthetic_test_batch())
    dest = fetch_dataset("cifar10", tmp_path / "datasets", from_dir=src.parent)
    for f in load_manifest("cifar10", PROJECT_DATASETS_DIR)["files"]:
        a = np.asarray(Image.open(dest / f["rel"]).convert("RGB"))
        b = np.asarray(Image.open(SHARED / "cifar10" / f["rel"]).convert("RGB"))
        assert np.array_equal(a, b), f["rel"]


@needs_shared
def test_cifar_tarball_md5_is_checked(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "cifar-10-python.tar.gz").write_bytes(_tarball(_synthetic_test_batch()))
    with pytest.raises(FetchError, match="md5 does not match the official archive"):
        fetch_dataset("cifar10", tmp_path / "datasets", from_dir=src)


def _tarball(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


@needs_shared
def test_cifar_archive_download_path(tmp_path: Path, server: _Server) -> None:
    """The online CIFAR path (download, md5, tar member, restricted unpickle, PNGs, pixel check) on a local server."""
    tarball = _tarball(_synthetic_test_batch())
    server.files["/cifar-10-python.tar.gz"] = tarball
    manifest = load_manifest("cifar10", PROJECT_DATASETS_DIR)
    manifest["archive"].update(url=server.url + "/cifar-10-python.tar.gz", md5=hashlib.md5(tarball).hexdigest())
    ddir = tmp_path / "datasets"
    ddir.mkdir()
    (ddir / "cifar10.json").write_text(json.dumps(manifest))
    (ddir / "cifar10" / "cat").mkdir(parents=True)
    shutil.copy(SHARED / "cifar10" / "cat" / "test_0000.png", ddir / "cifar10" / "cat" / "test_0000.png")
    dest = fetch_dataset("cifar10", ddir)
    assert server.requests == ["/cifar-10-python.tar.gz"]
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".")) == []  # the .part file is gone
    ds = load_dataset(dest)
    assert len(ds) == 200 and ds.content_hash == load_dataset(SHARED / "cifar10").content_hash  # same PNG bytes
    assert {r["name"]: r for r in list_datasets(ddir)}["cifar10"]["status"] == "ready"

    (dest / "cat" / "test_0000.png").unlink()
    server.files["/cifar-10-python.tar.gz"] = _tarball(_synthetic_test_batch() + b"\0")  # md5 no longer matches
    with pytest.raises(FetchError, match="md5 does not match"):
        fetch_dataset("cifar10", ddir)
    assert not any(p.name.endswith(".part") for p in dest.iterdir())


def test_cifar_reader_rejects_code_and_wrong_shapes() -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    with pytest.raises(FetchError, match=r"refusing to load _*builtins?_*\.print"):
        fetch.cifar_rows(pickle.dumps({"data": Evil()}, protocol=2))
    with pytest.raises(FetchError, match="no N x 3072 'data' array"):
        fetch.cifar_rows(pickle.dumps({"data": np.zeros((2, 10), np.uint8)}, protocol=2))
    red = np.arange(1024) % 200  # position-dependent, so a row/column mix-up shows
    planar = np.concatenate([red, np.full(1024, 201), np.full(1024, 202)]).astype(np.uint8).reshape(1, 3072)
    hwc = fetch.cifar_rows(pickle.dumps({b"data": planar}, protocol=2))  # bytes keys, as Python 2 pickles
    assert hwc.shape == (1, 32, 32, 3) and hwc.dtype == np.uint8
    assert hwc[0, 1, 2].tolist() == [34, 201, 202]  # row 1, column 2: R plane value 1*32+2, then G, then B


# --- downloads (local HTTP server) --------------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail_first: dict[str, int] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                if server.fail_first.get(self.path, 0) > 0:
                    server.fail_first[self.path] -= 1
                    self.send_error(503)
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    monkeypatch.setattr(fetch, "RETRY_BACKOFF", 0.0)
    monkeypatch.delenv("PLAYGROUND_OFFLINE", raising=False)
    srv = _Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _mini_dataset(root: Path) -> Path:
    classes = {"red & co": [(255, 0, 0), (200, 0, 0)], "blue": [(0, 0, 255), (0, 0, 200), (0, 0, 150)]}
    for cls, colors in classes.items():
        (root / cls).mkdir(parents=True)
        for i, c in enumerate(colors):
            Image.new("RGB", (8, 8), c).save(root / cls / f"img {i}.png")
    return root


def test_download_verify_retry_and_resume(tmp_path: Path, server: _Server) -> None:
    src = _mini_dataset(tmp_path / "published")
    manifest = make_manifest(src, "mini", url_base=server.url + "/pub", description="tiny test set")
    assert manifest["classes"] == ["blue", "red & co"] and len(manifest["files"]) == 5
    ddir = tmp_path / "datasets"
    ddir.mkdir()
    (ddir / "mini.json").write_text(json.dumps(manifest))
    for f in manifest["files"]:
        server.files[f["url"][len(server.url) :]] = (src / f["rel"]).read_bytes()
    first, bad = (f["url"][len(server.url) :] for f in manifest["files"][:2])
    assert first == "/pub/blue/img%200.png"  # names are URL-quoted
    server.fail_first[first] = 2  # two 503s, then success: within the 2 retries
    server.files[bad] = b"corrupted on the server"

    with pytest.raises(FetchError) as err:
        fetch_dataset("mini", ddir)
    msg = str(err.value)
    assert "1 of 5 file(s) of 'mini' could not be downloaded" in msg and "run the same command again" in msg
    assert "blue/img 1.png" in msg and "checksum mismatch" in msg
    assert server.requests.count(first) == 3 and server.requests.count(bad) == 3
    assert sorted(p.relative_to(ddir / "mini").as_posix() for p in (ddir / "mini").rglob("*.png")) == [
        "blue/img 0.png",
        "blue/img 2.png",
        "red & co/img 0.png",
        "red & co/img 1.png",
    ]

    server.files[bad] = (src / "blue" / "img 1.png").read_bytes()
    server.requests.clear()
    dest = fetch_dataset("mini", ddir)  # resumes: only the missing file is requested
    assert server.requests == [bad]
    ds = load_dataset(dest)
    assert len(ds) == 5 and ds.meta["description"] == "tiny test set"
    assert {r["name"]: r for r in list_datasets(ddir)}["mini"]["status"] == "ready"

    server.requests.clear()
    (dest / "blue" / "img 2.png").unlink()
    del server.files["/pub/blue/img%202.png"]
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_dataset("mini", ddir)
    assert server.requests == ["/pub/blue/img%202.png"]  # 404 is not retried


# --- offline ------------------------------------------------------------------------------------------------


def test_offline_env_fails_at_once_with_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYGROUND_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch_dataset("iconic200", tmp_path)
    assert time.monotonic() - start < 1.0
    assert "cannot download dataset 'iconic200': no network" in str(err.value)
    assert "playground datasets fetch iconic200 --from DIR" in str(err.value)
    with pytest.raises(FetchError, match="--from DIR"):
        fetch_dataset("cifar10", tmp_path)
    assert not (tmp_path / "iconic200").exists()


def test_real_manifest_offline_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYGROUND_OFFLINE", raising=False)
    if network.probe(["https://raw.githubusercontent.com/"]) is None:
        pytest.skip("this machine is online; the offline path is covered by the two tests above")
    start = time.monotonic()
    with pytest.raises(FetchError, match="playground datasets fetch fashion200 --from DIR"):
        fetch_dataset("fashion200", tmp_path)
    assert time.monotonic() - start < network.PROBE_TIMEOUT + 2.0
