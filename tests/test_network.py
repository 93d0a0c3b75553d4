"""The offline fail-fast path through the REAL network probe: bounded in time, DNS lookups included."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from precompute import network
from precompute.catalog import CATALOG


@pytest.fixture(autouse=True)
def fresh_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test probes anew (answers are remembered per process), with PLAYGROUND_OFFLINE unset."""
    monkeypatch.delenv("PLAYGROUND_OFFLINE", raising=False)
    saved = dict(network._answers)
    network._answers.clear()
    yield
    network._answers.clear()
    network._answers.update(saved)


def test_missing_weights_on_an_offline_machine_are_reported_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stub: the probe really asks for the weights' host (Keras downloads from storage.googleapis.com)."""
    origin = "https://storage.googleapis.com/"
    if network.probe([origin]) is None:
        pytest.skip("this machine reaches storage.googleapis.com: the offline path cannot be observed here")
    network._answers.clear()
    spec = CATALOG["vgg19"]
    start = time.monotonic()
    problem = spec.weights_problem("imagenet")
    elapsed = time.monotonic() - start
    assert problem is not None and spec.weights_file in problem and "no network" in problem
    assert elapsed < network.PROBE_TIMEOUT + 1.0
    # asked again (the next model of the build): answered from memory, without a second connection attempt
    attempts: list[object] = []
    real_connect = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda *a, **kw: attempts.append(a) or real_connect(*a, **kw))
    assert "storage.googleapis.com" in CATALOG["resnet50"].weights_problem("imagenet")
    assert attempts == []
    network._answers.clear()  # and the counting is real: forgetting the answer makes the probe connect again
    assert CATALOG["resnet50"].weights_problem("imagenet") is not None and len(attempts) == 1


def test_a_dns_lookup_that_never_answers_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """socket timeouts do not bound name resolution: the probe must, whatever the resolver does."""
    calls: list[str] = []

    def hanging_getaddrinfo(host: str, *args: object, **kwargs: object) -> list:
        calls.append(host)
        time.sleep(30)
        raise socket.gaierror("too late")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    start = time.monotonic()
    reason = network.probe(["https://weights.example.org/file.h5"], timeout=1.0)
    elapsed = time.monotonic() - start
    assert calls == ["weights.example.org"]
    assert reason == "weights.example.org did not answer within 1 s"
    assert elapsed < 1.5


def test_offline_switch_answers_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYGROUND_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("PLAYGROUND_OFFLINE must not probe"))
    start = time.monotonic()
    assert network.probe(["https://storage.googleapis.com/x"]) == "PLAYGROUND_OFFLINE is set"
    assert time.monotonic() - start < 0.05
