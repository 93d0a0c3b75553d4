"""Writers and readers for the site's data files (``build/site/data/``).

Each file is a compact JSON document wrapped as ``PG.put("<key>", <json>);`` so the site can load it with a
``<script>`` tag, which works from ``file://`` where ``fetch()`` of local files is blocked. Files are
written only when their bytes change, so a no-op rebuild touches nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .atomic import dumps, write_bytes

PREFIX = "PG.put("
SUFFIX = ");\n"


def encode(key: str, data: Any) -> bytes:
    """The bytes of data file ``key``: ``data`` must be the contract's type for that key (``contract.kind_of``)."""
    from . import contract

    kind = contract.kind_of(key)
    if not isinstance(data, kind.type):
        raise TypeError(f"data file '{key}' must be a contract.{kind.type.__name__}, not {type(data).__name__}")
    # json.dumps escapes nothing HTML-special; '</' would end an inline script, so escape '<' everywhere
    payload = dumps(contract.to_builtins(data)).replace("<", "\\u003c")
    return f"{PREFIX}{json.dumps(key)},{payload}{SUFFIX}".encode()


def write_data_file(site_dir: Path, key: str, data: Any) -> bool:
    """Write ``data/<key>.js``; returns True when the file changed."""
    path = Path(site_dir) / "data" / f"{key}.js"
    blob = encode(key, data)
    if path.exists() and path.read_bytes() == blob:
        return False
    write_bytes(path, blob)
    return True


def read_data_file(path: Path) -> Any:
    """Parse a data file back into Python (tests, tooling)."""
    text = Path(path).read_text("utf-8")
    if not (text.startswith(PREFIX) and text.endswith(SUFFIX)):
        raise ValueError(f"not a site data file: {path}")
    body = text[len(PREFIX) : -len(SUFFIX)]
    key_end = json.JSONDecoder().raw_decode(body)[1]
    return json.loads(body[key_end + 1 :])


def read_key(site_dir: Path, key: str) -> Any:
    return read_data_file(Path(site_dir) / "data" / f"{key}.js")


def read_typed(site_dir: Path, key: str) -> Any:
    """A data file parsed and checked strictly against its contract type."""
    from . import contract

    return contract.decode(contract.kind_of(key), read_key(site_dir, key))


def sig(x: float, digits: int = 4) -> float:
    """Round to ``digits`` significant digits (compact, byte-stable)."""
    if not math.isfinite(x) or x == 0:
        return 0.0 if x == 0 else x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


class DataDir:
    """Writes a stage's data files and removes the ones a previous run wrote that this run did not."""

    def __init__(self, site_dir: Path, owned_prefix: str = ""):
        self.site_dir = Path(site_dir)
        self.owned_prefix = owned_prefix  # only files under this prefix are pruned
        self.keys: set[str] = set()
        self.changed = 0

    def put(self, key: str, data: Any) -> None:
        self.keys.add(key)
        self.changed += write_data_file(self.site_dir, key, data)

    def prune(self, keep_prefixes: tuple[str, ...] = ()) -> int:
        """Delete data files under ``owned_prefix`` not written in this run (except ``keep_prefixes``)."""
        root = self.site_dir / "data"
        removed = 0
        for path in sorted(root.rglob("*.js")) if root.exists() else []:
            key = path.relative_to(root).with_suffix("").as_posix()
            if key in self.keys or not key.startswith(self.owned_prefix) or key.startswith(keep_prefixes):
                continue
            path.unlink()
            removed += 1
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True) if root.exists() else []:
            if not any(folder.iterdir()):
                folder.rmdir()
        return removed
