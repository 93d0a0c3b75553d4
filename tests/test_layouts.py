"""Datasets as they come: nested class folders, labels files, class display names, archives; hostile inputs.

The real layouts are built in a temp folder from the shared 200-image datasets (read-only), and each must scan to
exactly the dataset its equivalent ``<class>/<image>`` folder gives (same ids, labels, classes and file bytes, so
the same embeddings and rankings; one build checks the rankings themselves).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from precompute import archives, log
from precompute.cli import cli
from precompute.config import DatasetOptions, load_config
from precompute.datasets import Dataset, inspect_dataset, load_dataset
from precompute.errors import ConfigError, DatasetError
from precompute.layouts import LOOP, NO_ROW, NOT_IMAGE, UNREADABLE


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    log.reset_warnings()


def same_data(a: Dataset, b: Dataset) -> None:
    """Everything the embeddings and rankings depend on: order, labels, classes and the bytes of each image."""
    assert [r.sha256 for r in a.images] == [r.sha256 for r in b.images]
    assert a.labels == b.labels and a.classes == b.classes and a.labeled == b.labeled
    assert [(r.width, r.height) for r in a.images] == [(r.width, r.height) for r in b.images]
    assert len(a) == len(b) == len({r.sha256 for r in a.images})  # distinct images, so the order is really tested


def tiny_train(src: Path, dest: Path) -> tuple[Path, Path, Path, dict[str, str]]:
    """Tiny ImageNet's train layout (``train/<wnid>/images/*.JPEG`` + ``<wnid>_boxes.txt``) and ``words.txt``
    from the shared tinyimagenet200 (``<name>/<wnid>_<i>.JPEG``), and the equivalent ``<wnid>/<image>`` folder."""
    train, plain, names = dest / "train", dest / "plain", {}
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        files = sorted(cls.glob("*.JPEG"))
        wnid = files[0].name.split("_")[0]
        names[wnid] = cls.name
        (train / wnid / "images").mkdir(parents=True)
        (plain / wnid).mkdir(parents=True)
        boxes = []
        for f in files:
            shutil.copy(f, train / wnid / "images" / f.name)
            shutil.copy(f, plain / wnid / f.name)
            boxes.append(f"{f.name}\t0\t0\t63\t63")
        (train / wnid / f"{wnid}_boxes.txt").write_text("\n".join(boxes) + "\n")
    words = dest / "words.txt"
    lines = [f"{w}\t{n}" for w, n in names.items()] + ["n00001740\tentity", "n99999999\tunused, padded"]
    words.write_text("\n".join(lines) + "\n")
    return train, plain, words, names


def kaggle_flat(src: Path, dest: Path) -> Path:
    """Kaggle Fashion Product Images: one flat ``images/`` folder + ``styles.csv`` (``id`` is the file stem)."""
    (dest / "images").mkdir(parents=True)
    rows = []
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        for f in sorted(cls.iterdir()):
            shutil.copy(f, dest / "images" / f.name)
            rows.append([f.stem, "Men", "Apparel", cls.name, "2012"])
    rows.sort(key=lambda r: int(r[0]))  # the download's order, not ours
    with open(dest / "styles.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "gender", "masterCategory", "articleType", "year"])
        w.writerows(rows)
    return dest


def hf_jsonl(src: Path, dest: Path) -> Path:
    """Hugging Face imagefolder: ``train/*`` + ``metadata.jsonl`` with ``file_name``, ``label`` and a caption."""
    dest.mkdir(parents=True)
    with open(dest / "metadata.jsonl", "w", encoding="utf-8") as fh:
        for cls in sorted(p for p in src.iterdir() if p.is_dir()):
            for f in sorted(cls.iterdir()):
                sub = dest / "train"
                sub.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, sub / f"{cls.name}__{f.name}")
                rel = (sub / f"{cls.name}__{f.name}").relative_to(dest).as_posix()
                fh.write(json.dumps({"file_name": rel, "label": cls.name, "caption": "a photo"}) + "\n")
    return dest


# ------------------------------------------------------------------------------------------------ real layouts
def test_tiny_imagenet_train_layout_reads_as_its_class_folders(tmp_path: Path, shared_datasets: Path) -> None:
    train, plain, words, names = tiny_train(shared_datasets / "tinyimagenet200", tmp_path)
    ds = load_dataset(train, options=DatasetOptions(class_names=words))
    warned = log.collected_warnings()
    ref = load_dataset(plain)
    same_data(ds, ref)
    assert ds.classes == tuple(sorted(names)) and len(ds) == 200
    assert all(r.rel == f"{ds.classes[r.label]}/images/{r.path.name}" for r in ds.images)
    # readable names on the site, ids stay the folder names
    assert ds.display_names == tuple(names[w] for w in ds.classes) and ds.class_names == ds.display_names
    # the boxes files: one warning for the dataset, five examples
    boxes = [w for w in warned if "non-image" in w]
    assert len(boxes) == 1 and f"{len(names)} non-image file(s) ignored" in boxes[0]
    assert boxes[0].count("_boxes.txt") == 5 and f"(+{len(names) - 5} more)" in boxes[0]
    assert ds.report is not None and ds.report.layout == "nested class folders"
    assert ds.report.labels_source == "folder names" and dict(ds.report.skipped) == {NOT_IMAGE: len(names)}
    assert ds.report.named_classes == len(names)
    assert ref.report is not None and ref.report.layout == "class folders" and ref.report.skipped == ()


def test_kaggle_flat_folder_with_styles_csv(tmp_path: Path, shared_datasets: Path) -> None:
    root = kaggle_flat(shared_datasets / "fashion200", tmp_path / "fashion-dataset")
    opts = DatasetOptions(labels=root / "styles.csv", file_column="id", label_column="articleType")
    ds = load_dataset(root, options=opts)
    same_data(ds, load_dataset(shared_datasets / "fashion200"))
    assert all(r.rel == f"images/{r.path.name}" for r in ds.images)
    assert ds.report is not None and ds.report.layout == "labels file" and ds.report.skipped == ()
    assert ds.report.labels_source == "styles.csv (id -> articleType)"
    assert log.collected_warnings() == []  # styles.csv itself is not reported as a non-image file


def test_hugging_face_metadata_jsonl_is_picked_up_by_itself(tmp_path: Path, shared_datasets: Path) -> None:
    root = hf_jsonl(shared_datasets / "iconic200", tmp_path / "hf")
    ds = load_dataset(root)
    same_data(ds, load_dataset(shared_datasets / "iconic200"))
    assert ds.report is not None and ds.report.labels_source == "metadata.jsonl (file_name -> label)"


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archives_read_like_their_folder(tmp_path: Path, shared_datasets: Path, kind: str) -> None:
    train, plain, words, _ = tiny_train(shared_datasets / "tinyimagenet200", tmp_path / "src")
    archive = tmp_path / f"tiny-train.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for f in sorted(train.rglob("*")):
                zf.write(f, Path("train") / f.relative_to(train))
    else:
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(train, "train")
    cache = tmp_path / "build" / "cache"
    before = sorted(p.name for p in tmp_path.iterdir())
    ds = load_dataset(archive, options=DatasetOptions(class_names=words), cache_dir=cache)
    same_data(ds, load_dataset(plain))
    assert ds.name == "tiny-train" and ds.report is not None and ds.report.archive == archive.name
    assert ds.root.is_relative_to(cache / "archives" / archives.file_sha256(archive))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "build"])  # nothing outside build/
    # extracted once, keyed by the archive's bytes: a second read reuses it
    marker = cache / "archives" / archives.file_sha256(archive) / ".complete"
    stamp = marker.stat().st_mtime_ns
    again = load_dataset(archive, cache_dir=cache)
    assert marker.stat().st_mtime_ns == stamp and [r.sha256 for r in again.images] == [r.sha256 for r in ds.images]


def test_labels_inside_an_archive(tmp_path: Path, shared_datasets: Path) -> None:
    root = kaggle_flat(shared_datasets / "fashion200", tmp_path / "fashion-dataset")
    archive = tmp_path / "fashion.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, "fashion-dataset")
    opts = DatasetOptions(labels=Path("styles.csv"), file_column="id", label_column="articleType")
    ds = load_dataset(archive, options=opts, cache_dir=tmp_path / "build" / "cache")
    same_data(ds, load_dataset(shared_datasets / "fashion200"))


@pytest.mark.slow
def test_same_rankings_as_the_class_folders(tmp_path: Path, shared_datasets: Path) -> None:
    """An end-to-end build of the Tiny ImageNet train layout and of its <class>/<image> folder: equal rankings."""
    from dataclasses import replace

    from precompute.pipeline import run_precompute
    from tests.test_pipeline import rankings

    train, plain, words, _ = tiny_train(shared_datasets / "tinyimagenet200", tmp_path / "src")
    for cls in sorted(train.iterdir())[4:]:  # 4 classes x 20 images keep it quick
        shutil.rmtree(cls)
        shutil.rmtree(plain / cls.name)
    got = {}
    for which, folder in (("train", train), ("plain", plain)):
        log.configure(quiet=True)
        cfg = load_config(
            out=tmp_path / which,
            datasets=(str(folder),),
            models=("mobilenet_075",),
            weights="random",
            metrics=("cosine",),
            pooling=("avg",),
        )
        cfg = replace(cfg, layers={"mobilenet_075": ("conv_pw_13",)})
        if which == "train":
            cfg = replace(cfg, dataset_options={str(folder): DatasetOptions(class_names=words)})
        run_precompute(cfg)
        got[which] = rankings(cfg.site_dir, f"{which}/mobilenet_075/conv_pw_13/avg", "cosine", 80)
    for key in ("ids", "dist", "near_ppm", "score"):
        assert (got["train"][key] == got["plain"][key]).all(), key


# ------------------------------------------------------------------------------------------------ hostile
def test_a_million_row_labels_file_for_200_images(tmp_path: Path, shared_datasets: Path) -> None:
    root = kaggle_flat(shared_datasets / "fashion200", tmp_path / "fashion-dataset")
    big = tmp_path / "big.csv"
    with open(big, "w", newline="", encoding="utf-8") as fh:
        fh.write((root / "styles.csv").read_text(encoding="utf-8"))
        fh.writelines(f"{10_000_000 + i},Men,Apparel,Tshirts,2012\n" for i in range(1_000_000 - 200))
    opts = DatasetOptions(labels=big, file_column="id", label_column="articleType")
    t = time.perf_counter()
    ds = load_dataset(root, options=opts)
    took = time.perf_counter() - t
    same_data(ds, load_dataset(shared_datasets / "fashion200"))
    missing = [w for w in log.collected_warnings() if "name a file that is not in the dataset" in w]
    assert len(missing) == 1 and "999,800 row(s) of big.csv" in missing[0] and "'10000000'" in missing[0]
    assert "(+999,795 more)" in missing[0]
    assert ds.report is not None and dict(ds.report.label_rows) == {"rows naming a missing file": 999_800}
    assert took < 60
    with pytest.raises(DatasetError, match=r"--strict: .*999,800 row\(s\)"):
        load_dataset(root, options=opts, strict=True)


def test_csv_with_bom_crlf_quotes_and_commas(tmp_path: Path, shared_datasets: Path) -> None:
    src = sorted((shared_datasets / "iconic200").iterdir())
    root = tmp_path / "odd"
    root.mkdir()
    files = [f for d in src if d.is_dir() for f in sorted(d.iterdir())[:3]][:9]
    names = ['a, "b".jpg', "plain.jpg", "x'y.jpg", "é,ü.jpg", "5.jpg", "6.jpg", "7.jpg", "8.jpg", "9.jpg"]
    labels = ['Shirts, "casual"', "Shirts, casual", "shirts, casual", "Shirts,  casual", "", "ok", "ok", "ok", "ok"]
    for f, n in zip(files, names, strict=True):
        shutil.copy(f, root / n)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["file_name", "label"])
    w.writerows(zip(names, labels, strict=True))
    w.writerow(["5.jpg", "ok"])  # a duplicate row
    w.writerow(["gone.jpg", "ok"])  # a missing file
    (root / "labels.csv").write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    (root / "extra.jpg").write_bytes(files[-1].read_bytes() + b"\0")  # a file without a row
    ds = load_dataset(root, options=DatasetOptions(labels=root / "labels.csv"))
    assert set(ds.classes) == {'Shirts, "casual"', "Shirts, casual", "shirts, casual", "Shirts,  casual", "ok"}
    assert {r.rel: ds.classes[r.label] for r in ds.images}['a, "b".jpg'] == 'Shirts, "casual"'
    text = "\n".join(log.collected_warnings())
    assert (
        "differ only by case or whitespace" in text
        and "'Shirts,  casual' / 'Shirts, casual' / 'shirts, casual'" in text
    )
    assert "1 row(s) of labels.csv have an empty label" in text and "'5.jpg'" in text
    assert "1 duplicate row(s) in labels.csv" in text and "1 row(s) of labels.csv name a file" in text
    assert "1 image(s) have no row in labels.csv (skipped): extra.jpg" in text
    assert ds.report is not None and dict(ds.report.skipped) == {NO_ROW: 1, "empty label": 1}
    assert len(ds) == 8  # 9 named files, one with an empty label
    with pytest.raises(DatasetError, match="--strict"):
        load_dataset(root, options=DatasetOptions(labels=root / "labels.csv"), strict=True)


def _zip_with(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_archive_paths_that_escape_are_refused(tmp_path: Path, shared_datasets: Path) -> None:
    img = next((shared_datasets / "iconic200").glob("*/*")).read_bytes()
    cache = tmp_path / "build" / "cache"
    evil = _zip_with(tmp_path / "evil.zip", {"cls/ok.jpg": img, "../../evil.jpg": img})
    with pytest.raises(DatasetError, match=r"member '\.\./\.\./evil\.jpg' would escape"):
        load_dataset(evil, cache_dir=cache)
    absolute = _zip_with(tmp_path / "abs.zip", {"cls/ok.jpg": img, "/tmp/evil.jpg": img})
    with pytest.raises(DatasetError, match=r"member '/tmp/evil\.jpg' has an absolute path"):
        load_dataset(absolute, cache_dir=cache)
    link = tmp_path / "link.tar"
    with tarfile.open(link, "w") as tf:
        info = tarfile.TarInfo("cls/ok.jpg")
        info.size = len(img)
        tf.addfile(info, io.BytesIO(img))
        sym = tarfile.TarInfo("cls/out.jpg")
        sym.type, sym.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        tf.addfile(sym)
    with pytest.raises(DatasetError, match=r"link 'cls/out\.jpg' points outside it"):
        load_dataset(link, cache_dir=cache)
    leftovers = [p for p in (cache / "archives").iterdir()] if (cache / "archives").exists() else []
    assert leftovers == []  # a refused archive leaves no partial extraction
    assert not list(tmp_path.rglob("evil.jpg")) and not (Path("/tmp") / "evil.jpg").exists()


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("cls/zeros.jpg", "w") as fh,
    ):
        for _ in range(48):
            fh.write(bytes(2**20))
    assert bomb.stat().st_size < 100_000 and archives.RATIO_FLOOR_BYTES < 48 * 2**20
    cache = tmp_path / "build" / "cache"
    with pytest.raises(DatasetError, match=r"expands more than 100x .*zip bomb"):
        load_dataset(bomb, cache_dir=cache)
    assert not any((cache / "archives").iterdir())


def test_symlink_loop_is_detected(tmp_path: Path, shared_datasets: Path) -> None:
    root = tmp_path / "loopy"
    shutil.copytree(shared_datasets / "iconic200", root, ignore=shutil.ignore_patterns("SOURCE.txt"))
    first = sorted(p for p in root.iterdir() if p.is_dir())[0]
    (first / "sub").mkdir()
    os.symlink("..", first / "sub" / "back")  # first/sub/back -> first
    ds = load_dataset(root)
    same_data(ds, load_dataset(shared_datasets / "iconic200"))
    assert ds.report is not None and dict(ds.report.skipped) == {LOOP: 1}
    assert any("symlinked folder(s) skipped: a loop" in w for w in log.collected_warnings())


# ------------------------------------------------------------------------------------------------ inspect, CLI
def test_inspect_reports_without_decoding(tmp_path: Path, shared_datasets: Path, monkeypatch) -> None:
    train, _, words, names = tiny_train(shared_datasets / "tinyimagenet200", tmp_path)
    first = sorted(train.iterdir())[0]
    (first / "images" / "bad.JPEG").write_bytes(b"not a jpeg at all")
    (first / "images" / "empty.JPEG").write_bytes(b"")
    import PIL.Image

    def no_decoding(*a, **k):
        raise AssertionError("inspect decoded an image")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    report, warnings = inspect_dataset(train, options=DatasetOptions(class_names=words))
    assert report.layout == "nested class folders" and report.n_images == 200 and report.n_classes == len(names)
    assert dict(report.skipped) == {NOT_IMAGE: len(names), UNREADABLE: 2}
    assert any("2 file(s) would be skipped as unreadable" in w and "bad.JPEG" in w for w in warnings)
    assert report.named_classes == len(names)


def test_cli_inspect_and_clear_errors(tmp_path: Path, shared_datasets: Path) -> None:
    root = kaggle_flat(shared_datasets / "fashion200", tmp_path / "fashion-dataset")
    runner = CliRunner()
    out = tmp_path / "build"
    res = runner.invoke(
        cli,
        [
            "datasets",
            "inspect",
            str(root),
            "--labels",
            str(root / "styles.csv"),
            "--file-column",
            "id",
            "--label-column",
            "articleType",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "layout: labels file" in res.output and "images: 200" in res.output and "classes: 10" in res.output
    assert "labels: styles.csv (id -> articleType)" in res.output
    res = runner.invoke(cli, ["datasets", "inspect", str(root), "--labels", str(root / "styles.csv")])
    assert res.exit_code == 1 and res.exception is not None and isinstance(res.exception, SystemExit)
    assert "no column 'file_name'" in res.output and "'articleType'" in res.output and "Traceback" not in res.output
    img = next((shared_datasets / "iconic200").glob("*/*")).read_bytes()
    evil = _zip_with(tmp_path / "evil.zip", {"cls/ok.jpg": img, "../../evil.jpg": img})
    cfg = tmp_path / "p.toml"
    cfg.write_text(f'[build]\nout = "{out}"\n')
    res = runner.invoke(cli, ["--config", str(cfg), "datasets", "inspect", str(evil)])
    assert res.exit_code == 1 and "would escape the target folder" in res.output and "Traceback" not in res.output
    assert not list(tmp_path.rglob("evil.jpg"))


def test_labels_options_in_the_config_and_on_the_command_line(tmp_path: Path) -> None:
    cfg_file = tmp_path / "playground.toml"
    (tmp_path / "styles.csv").write_text("id,articleType\n")
    cfg_file.write_text(
        '[build]\ndatasets = ["fashion-dataset"]\n'
        '[datasets.fashion-dataset]\nlabels = "styles.csv"\nfile_column = "id"\nlabel_column = "articleType"\n'
    )
    cfg = load_config(cfg_file)
    assert cfg.options_for("fashion-dataset") == DatasetOptions(
        labels=tmp_path / "styles.csv", file_column="id", label_column="articleType"
    )
    assert cfg.options_for("/any/where/fashion-dataset") == cfg.options_for("fashion-dataset")
    over = load_config(cfg_file, label_column="gender")
    assert over.options_for("fashion-dataset").label_column == "gender"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="give exactly one with --datasets"):
        load_config(cfg_file, datasets=("a", "b"), labels="x.csv")
    cfg_file.write_text('[datasets.x]\nlabel = "oops"\n')
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['label'\] in \[datasets.x\]"):
        load_config(cfg_file)
