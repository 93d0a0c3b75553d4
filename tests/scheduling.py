"""How `make test` spreads the suite over its two pytest-xdist workers.

pytest-xdist's ``--dist loadfile`` sends whole test files to the workers (a module fixture is built once), in the
order of their number of tests. Two things make that slow here: the costliest files are not the ones with the
most tests, so a 5-minute file can start last and run alone; and the tests that need the trained playground-net
(``conftest.trained``, one training per run) sit in three files, so whichever worker reaches the second one
waits on the first one's training lock, idle.

So the scope of a test is its file, except for two groups that share one expensive build, each one scope (one
worker builds it once and runs them all, nobody waits): the tests that need the trained net, and the tests of the
built sites (the real site of ``helpers.real_site`` and the 20,000-image generated one). The scopes are handed out
costliest first (``COST``, seconds measured on this machine's `make test`; a file not listed costs nothing and goes
last): the longest-processing-time rule, which keeps both workers busy to the end.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

#: the tests that use the trained playground-net (``conftest.trained``): one scope, so one worker trains
TRAINED = "trained playground-net"
TRAINED_TESTS = (
    "tests/test_playground_net.py::test_trained_net_reaches_the_accuracy_bar",
    "tests/test_playground_net.py::test_search_score_hierarchy_on_shapes",
    "tests/test_featurevis_render.py::test_playground_net_renders_are_not_posterized_at_any_layer",
    "tests/test_embedded_default.py",
)
#: the tests of the real and the generated site (``helpers.real_site``, ``helpers.synthetic_site``)
SITES = "built sites"
SITES_TESTS = (
    "tests/test_browser.py",
    "tests/test_browser_cnn.py",
    "tests/test_site_render.py",
    "tests/test_site_scale.py",
)

#: seconds per scope in `make test` (TensorFlow backend, two workers; measured 2026-12-03), costliest first;
#: update with ``pytest --durations=0`` when a file's cost changes a lot. A costly file left out of this table
#: goes last and runs alone at the end (test_browser_onnx.py did: 55 s of one idle worker)
COST: dict[str, float] = {
    TRAINED: 320,
    SITES: 270,
    "tests/test_featurevis_render.py": 190,
    "tests/test_resume.py": 120,
    "tests/test_ray.py": 110,
    "tests/test_pipeline.py": 80,
    "tests/test_browser_onnx.py": 75,
    "tests/test_serve.py": 40,
    "tests/test_export.py": 40,
    "tests/test_featurevis_stage.py": 35,
    "tests/test_catalog.py": 32,
    "tests/test_search.py": 27,
    "tests/test_extract.py": 25,
    "tests/test_cli.py": 25,
    "tests/test_layouts.py": 15,
    "tests/test_probe.py": 8,
    "tests/test_playground_net.py": 8,
    "tests/test_scheduling.py": 5,
    "tests/test_fetch.py": 3,
}


def _within(nodeid: str, prefixes: tuple[str, ...]) -> bool:
    return any(nodeid == t or nodeid.startswith((t + "::", t + "[")) for t in prefixes)


def scope_of(nodeid: str) -> str:
    if _within(nodeid, TRAINED_TESTS):
        return TRAINED
    if _within(nodeid, SITES_TESTS):
        return SITES
    return nodeid.split("::", 1)[0]


def order_key(nodeid: str) -> float:
    return -COST.get(scope_of(nodeid), 0.0)


class CostFirstScheduling(LoadScopeScheduling):
    """``--dist loadfile`` with the trained-net tests as one scope; scopes come in the collection's order, which
    ``conftest.pytest_collection_modifyitems`` sorts costliest first (identically on every worker)."""

    def __init__(self, config, log=None):  # noqa: ANN001  (xdist's signature)
        super().__init__(config, log)
        config.option.loadscopereorder = False  # keep the cost order, not xdist's count-of-tests order

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)
