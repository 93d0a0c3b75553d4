"""Is the network there? One bounded probe, shared by the weight and dataset downloads.

A machine with no network must fail in seconds with a clear message, not hang in a download. The probe opens a
TCP connection to each host; ``socket.create_connection``'s timeout does not bound the DNS lookup, so each attempt
runs in a daemon thread that is abandoned at the deadline. Answers are remembered per host and process (a build
asks about the same server for many models). ``PLAYGROUND_OFFLINE=1`` answers "offline" at once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.parse

PROBE_TIMEOUT = 3.0  # seconds for the whole probe (DNS + TCP connect)
_answers: dict[tuple[str, int], str | None] = {}


def offline_env() -> bool:
    return os.environ.get("PLAYGROUND_OFFLINE", "").strip() not in ("", "0")


def _host_port(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlparse(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def probe(urls: list[str], timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when every host of ``urls`` accepts a TCP connection within ``timeout`` s, else why not.

    DNS lookups ignore socket timeouts, so each probe runs in a daemon thread that is abandoned after ``timeout``.
    """
    if offline_env():
        return "PLAYGROUND_OFFLINE is set"
    targets = sorted({_host_port(u) for u in urls})
    known = [t for t in targets if t in _answers]
    for t in known:
        if _answers[t]:
            return _answers[t]
    targets = [t for t in targets if t not in _answers]
    results: dict[tuple[str, int], str | None] = {}

    def attempt(target: tuple[str, int]) -> None:
        try:
            socket.create_connection(target, timeout=timeout).close()
            results[target] = None
        except OSError as exc:
            results[target] = f"{target[0]} unreachable ({type(exc).__name__}: {exc})"

    threads = [threading.Thread(target=attempt, args=(t,), daemon=True) for t in targets]
    deadline = time.monotonic() + timeout
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    for target in targets:
        _answers[target] = results.get(target, f"{target[0]} did not answer within {timeout:g} s")
        if _answers[target]:
            return _answers[target]
    return None
