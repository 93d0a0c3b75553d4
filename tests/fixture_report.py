"""A pytest plugin for ``tests/test_scheduling.py``: after collection, print every test's node id and the fixtures
it uses (``-p tests.fixture_report --collect-only``), one JSON object per line."""

from __future__ import annotations

import json

import pytest

MARK = "FIXTURES "


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        print(MARK + json.dumps({"id": item.nodeid, "fixtures": sorted(getattr(item, "fixturenames", []))}))
