"""Labels files (CSV, TSV, JSON Lines) and class display-name files, read as streams of rows.

A labels file maps an image to a class: one row per image, a *file* column and a *label* column. Formats by
extension: ``.csv`` (comma), ``.tsv``/``.tab``/``.txt`` (tab), ``.jsonl``/``.ndjson`` (one JSON object per line).
Text is UTF-8; a byte-order mark and CRLF line ends are accepted; CSV quoting follows RFC 4180 (quotes and commas
inside names are fine). Rows are streamed: a file of a million rows is read in one pass without holding it.

Default columns: the file column is ``file_name`` (the Hugging Face ``imagefolder`` convention); the label column
is ``label``, or the only other column of a two-column file. Anything else must be named (``--file-column``,
``--label-column``); an unknown column is an error listing the file's columns.

A class-names file (``--class-names``) holds ``id<TAB>display name`` lines, like Tiny ImageNet's ``words.txt``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError

#: Names of a labels file picked up by itself at a dataset's root (Hugging Face ``imagefolder``), in this order.
AUTO_METADATA = ("metadata.csv", "metadata.jsonl")
DEFAULT_FILE_COLUMN = "file_name"
DEFAULT_LABEL_COLUMN = "label"
_TAB_SUFFIXES = {".tsv", ".tab", ".txt"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long caption column is not an error


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line (CSV: record) number, for messages
    file: str  # the file column's value, stripped ("" when absent)
    label: str | None  # the label column's value as written (None when absent)


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _TAB_SUFFIXES:
        return "tsv"
    if suffix == ".csv":
        return "csv"
    raise DatasetError(f"labels file {path}: unknown format '{suffix}'; use .csv, .tsv or .jsonl")


def _pick(columns: list[str], file_column: str | None, label_column: str | None, path: Path) -> tuple[str, str]:
    shown = ", ".join(repr(c) for c in columns) or "(none)"
    fcol = file_column or DEFAULT_FILE_COLUMN
    if fcol not in columns:
        how = "" if file_column else " (name it with --file-column)"
        raise DatasetError(f"labels file {path.name}: no column '{fcol}'{how}; its columns are {shown}")
    if label_column:
        lcol = label_column
    elif DEFAULT_LABEL_COLUMN in columns:
        lcol = DEFAULT_LABEL_COLUMN
    elif len(columns) == 2:
        lcol = next(c for c in columns if c != fcol)
    else:
        raise DatasetError(
            f"labels file {path.name}: which column is the label? name it with --label-column; its columns are {shown}"
        )
    if lcol not in columns:
        raise DatasetError(f"labels file {path.name}: no column '{lcol}'; its columns are {shown}")
    return fcol, lcol


def read_rows(path: Path, file_column: str | None = None, label_column: str | None = None) -> Iterator[Row]:
    """The rows of the labels file at ``path`` (see module docstring); bad lines come as rows with an empty file."""
    path = Path(path)
    fmt = _format(path)
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed by the generator)
    except OSError as exc:
        raise DatasetError(f"cannot read labels file {path}: {exc.strerror or exc}") from exc
    with fh:
        try:
            yield from (
                _jsonl(fh, path, file_column, label_column)
                if fmt == "jsonl"
                else _table(fh, fmt, path, file_column, label_column)
            )
        except UnicodeDecodeError as exc:
            raise DatasetError(f"labels file {path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except csv.Error as exc:
            raise DatasetError(f"labels file {path.name} is not valid CSV: {exc}") from exc


def _table(fh, fmt: str, path: Path, file_column: str | None, label_column: str | None) -> Iterator[Row]:  # noqa: ANN001
    reader = csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")
    header = next(reader, None)
    if header is None:
        raise DatasetError(f"labels file {path.name} is empty")
    columns = [h.strip() for h in header]
    fcol, lcol = _pick(columns, file_column, label_column, path)
    fi, li = columns.index(fcol), columns.index(lcol)
    for record in reader:
        if not record or record == [""]:
            continue
        file = record[fi].strip() if fi < len(record) else ""
        label = record[li] if li < len(record) else None
        yield Row(reader.line_num, file, label)


def _jsonl(fh, path: Path, file_column: str | None, label_column: str | None) -> Iterator[Row]:  # noqa: ANN001
    picked: tuple[str, str] | None = None
    for n, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            yield Row(n, "", None)
            continue
        if picked is None:
            picked = _pick([str(k) for k in obj], file_column, label_column, path)
        value, label = obj.get(picked[0]), obj.get(picked[1])
        yield Row(n, str(value).strip() if value is not None else "", None if label is None else str(label))


def read_class_names(path: Path) -> tuple[dict[str, str], int]:
    """``{id: display name}`` from ``id<TAB>name`` lines, and how many non-empty lines had no tab."""
    path = Path(path)
    names: dict[str, str] = {}
    bad = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for line in fh:
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                key, sep, name = line.partition("\t")
                if not sep or not key.strip() or not name.strip():
                    bad += 1
                    continue
                names.setdefault(key.strip(), name.strip())
    except OSError as exc:
        raise DatasetError(f"cannot read class-names file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"class-names file {path.name} is not UTF-8 text") from exc
    return names, bad
