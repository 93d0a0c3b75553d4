"""`make test`'s scheduling (``tests/scheduling.py``): every test that uses one of the expensive shared builds is
in that build's scope, so exactly one worker builds it and no worker waits on another's lock; the costliest scopes
come first."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO
from tests.fixture_report import MARK
from tests.scheduling import COST, SITES, TRAINED, scope_of


def _collected() -> dict[str, list[str]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "tests.fixture_report",
            "tests",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [json.loads(line[len(MARK) :]) for line in proc.stdout.splitlines() if line.startswith(MARK)]
    return {r["id"]: r["fixtures"] for r in rows}


def test_each_shared_build_is_made_by_one_worker() -> None:
    tests = _collected()
    assert len(tests) > 300
    trained = {t for t, fixtures in tests.items() if "trained" in fixtures}
    assert len(trained) >= 4  # the accuracy bar, the layer hierarchy, the renders, the offline default build
    assert {t for t in trained if scope_of(t) != TRAINED} == set()
    # nothing else waits in that scope's worker for no reason
    assert {t for t in tests if scope_of(t) == TRAINED} - trained <= {
        t for t in tests if t.startswith("tests/test_embedded_default.py")
    }
    # the built sites: every file that calls helpers.real_site() or helpers.synthetic_site()
    users = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "tests").glob("test_*.py")
        if p.name != "test_scheduling.py" and ("real_site()" in p.read_text() or "synthetic_site()" in p.read_text())
    }
    assert len(users) >= 3
    assert {t for t in tests if t.split("::")[0] in users and scope_of(t) != SITES} == set()


def test_scopes_come_costliest_first() -> None:
    assert COST[TRAINED] >= max(v for k, v in COST.items() if k not in (TRAINED, SITES))
    assert list(COST.values()) == sorted(COST.values(), reverse=True)
    assert all(k in (TRAINED, SITES) or (REPO / k).is_file() for k in COST)


def test_every_slow_file_has_a_cost() -> None:
    """A costly file missing from ``COST`` is handed out last and runs alone at the end while the other worker
    idles (test_browser_onnx.py did, 55 s). Files of the benchmark smoke runs are not part of `make test`."""
    slow = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "tests").glob("test_*.py")
        if "pytest.mark.slow" in p.read_text() and "pytest.mark.bench" not in p.read_text()
    }
    assert len(slow) >= 15
    assert {f for f in slow if scope_of(f) not in COST} == set()
