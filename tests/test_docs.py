"""The generated docs are in step with the code: JSON Schemas, the contract table and the module map."""

from __future__ import annotations

import json
import re
from pathlib import Path

from precompute import docgen
from precompute.contract import KINDS, OTHER_KINDS, schema, schema_name

REPO = Path(__file__).resolve().parent.parent


def test_schemas_are_generated_from_the_current_types() -> None:
    for kind in (*KINDS, *OTHER_KINDS):
        committed = json.loads((docgen.DOCS / "schema" / schema_name(kind)).read_text(encoding="utf-8"))
        assert committed == schema(kind), f"docs/schema/{schema_name(kind)} is stale: python -m precompute.docgen"


def test_architecture_doc_states_the_contract_and_the_module_map() -> None:
    text = (docgen.DOCS / "architecture.md").read_text(encoding="utf-8")
    assert docgen.render_docs(text) == text, "docs/architecture.md is stale: run python -m precompute.docgen"
    for path in docgen.modules():
        assert docgen.first_line(path), f"{path} has no docstring"
        assert f"| `{path.relative_to(docgen.ROOT).as_posix()}` | {docgen.first_line(path)} |" in text


def test_schemas_do_not_depend_on_how_msgspec_writes_docstrings(monkeypatch) -> None:
    """msgspec < 0.23 kept the indentation of a docstring's continuation lines and ordered an optional field's
    ``anyOf`` differently; the committed schemas must come out the same either way."""
    from precompute import contract

    kind = next(k for k in KINDS if k.type.__name__ == "RankShard")
    real = contract.msgspec.json.schema

    def old_style(tp):
        out = real(tp)
        for d in out.get("$defs", {}).values():
            if "\n" in d.get("description", ""):
                first, *rest = d["description"].split("\n")
                d["description"] = "\n".join([first, *("    " + line if line else line for line in rest)])
            for prop in d.get("properties", {}).values():
                if "anyOf" in prop:
                    prop["anyOf"] = prop["anyOf"][::-1]
        return out

    committed = json.loads((docgen.DOCS / "schema" / schema_name(kind)).read_text(encoding="utf-8"))
    raw = {**old_style(kind.type), "$schema": committed["$schema"], "title": committed["title"]}
    assert raw != committed  # the old style really differs before normalising
    monkeypatch.setattr(contract.msgspec.json, "schema", old_style)
    assert schema(kind) == committed


def _anchors(md: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped (hyphens kept), spaces to hyphens."""
    heads = re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", md, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_relative_link_of_the_readme_and_docs_resolves() -> None:
    """Links between README.md and docs/*.md (sections moved from one to the other) point at a file that exists
    and, with a #fragment into Markdown, at a heading it has."""
    broken = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", text, flags=re.S)):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked offline
            path, _, frag = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif frag and dest.suffix == ".md" and frag not in _anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == [], broken
