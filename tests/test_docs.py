"""The generated docs are in step with the code: JSON Schemas, the contract table and the module map."""

from __future__ import annotations

import json

from precompute import docgen
from precompute.contract import KINDS, OTHER_KINDS, schema, schema_name


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
