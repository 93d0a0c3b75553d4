"""``playground serve`` in a child process on a free local port, handed over once ``/api/health`` answers.

This is how the end-to-end tests and ``benchmarks/bench_serve.py`` run the real server: through the CLI a user
runs, and in its own process, so that clients in the caller do not share the server's GIL.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServeChild:
    """The running server: its base URL (``http://127.0.0.1:PORT/``) and process. ``stderr`` holds what it wrote
    there once the ``with`` block has ended (when captured)."""

    url: str
    proc: subprocess.Popen
    stderr: str = ""


@contextmanager
def serve_child(
    out: Path,
    *,
    host: str = "127.0.0.1",
    quiet: bool = True,
    capture: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[ServeChild]:
    """Start ``playground serve --out OUT`` on a free port, wait until it answers, stop it on exit.

    ``capture`` keeps its stderr (for a check of what it printed); leave it off for a long run whose output
    nobody reads, so the pipe can never fill up. Raises ``RuntimeError`` with the server's last words when it
    exits early or does not answer within ``timeout`` seconds.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "precompute.cli", *(["-q"] if quiet else []), "serve", "--out", str(out)]
    cmd += ["--port", str(port), "--host", host]
    pipe = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=pipe, text=True, env=env)
    child = ServeChild(f"http://127.0.0.1:{port}/", proc)
    try:
        _wait(child, timeout)
    except BaseException as exc:
        _stop(child)
        if isinstance(exc, RuntimeError):
            raise RuntimeError(f"{exc}; its stderr ends: {child.stderr[-2000:]!r}") from None
        raise
    try:
        yield child
    finally:
        _stop(child)


def _wait(child: ServeChild, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.proc.poll() is not None:
            raise RuntimeError(f"playground serve exited with status {child.proc.returncode}")
        try:
            with urllib.request.urlopen(child.url + "api/health", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"playground serve did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


def _stop(child: ServeChild) -> None:
    child.proc.terminate()
    try:
        _, err = child.proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.proc.kill()
        _, err = child.proc.communicate()
    child.stderr = err or ""
