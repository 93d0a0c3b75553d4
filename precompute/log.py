"""Logging, collected warnings and progress bars.

One place decides how the pipeline talks to the user: ``warn`` prints a one-line warning and keeps it for
``build/summary.json``; ``progress`` wraps tqdm (with ETA) and goes silent in quiet mode (CI logs).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

logger = logging.getLogger("playground")
_state = {"quiet": False}
_warnings: list[str] = []
_interrupted = threading.Event()


def install_interrupt_handler() -> None:
    """Ctrl-C raises KeyboardInterrupt as usual and is also remembered: Python drops an exception raised while a
    garbage-collector callback runs (JAX, imported by Keras, registers one), so a Ctrl-C that lands in ``gc`` would
    be lost. Every progress step checks the flag (``check_interrupt``), so the build still stops at once."""

    def handler(signum: int, frame: Any) -> None:
        _interrupted.set()
        if _in_finaliser(frame):  # raised here it would be printed as "Exception ignored" and dropped
            return  # the flag stops the build at the next progress step
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def _in_finaliser(frame: Any) -> bool:
    """Whether the interrupted code is a weakref or garbage-collector callback, where Python prints an exception
    with its traceback and drops it (a Ctrl-C landing in Keras/JAX's finalisers did exactly that)."""
    if frame is None:
        return False
    code = frame.f_code
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    return code in callbacks or code.co_name == "__del__" or code.co_filename.endswith(("weakref.py", "_weakrefset.py"))


def check_interrupt() -> None:
    if _interrupted.is_set():
        raise KeyboardInterrupt


def configure(quiet: bool = False, verbose: bool = False) -> None:
    """Set up the ``playground`` logger once per process."""
    _state["quiet"] = quiet
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.propagate = False


def is_quiet() -> bool:
    return _state["quiet"]


def info(msg: str) -> None:
    logger.info(msg)


def warn(msg: str) -> None:
    """A one-line user-facing warning, also kept for the run summary."""
    _warnings.append(msg)
    logger.warning("warning: %s", msg)


def collected_warnings() -> list[str]:
    return list(_warnings)


def reset_warnings() -> None:
    _warnings.clear()


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm progress bar with ETA on stderr; disabled in quiet mode. Checks for a Ctrl-C at every step."""
    for item in tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        disable=_state["quiet"],
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
    ):
        check_interrupt()
        yield item


class _Bar(tqdm):
    def update(self, n: float | None = 1) -> bool | None:
        check_interrupt()
        return super().update(n)


def bar(*, desc: str, total: int, unit: str = "it") -> tqdm:
    """A manually updated progress bar (``.update(n)``), disabled in quiet mode; checks for a Ctrl-C."""
    return _Bar(
        desc=desc, total=total, unit=unit, disable=_state["quiet"], leave=False, dynamic_ncols=True, file=sys.stderr
    )


class _QuietImport:
    """A ``sys.meta_path`` finder that runs the first import of a chatty native package with the process's
    stderr (file descriptor 2) sent to a temporary file, and replays that file only if the import fails.

    TensorFlow's C++ runtime prints start-up lines (oneDNN, CUDA probing) through absl before Python can
    configure anything, ignoring ``TF_CPP_MIN_LOG_LEVEL``; they are noise in a CLI and in CI logs.
    """

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        import importlib.util

        if name not in self.names:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            with _stderr_to_file() as captured:
                try:
                    original(module)
                except BaseException:
                    captured.seek(0)
                    sys.__stderr__.write(captured.read().decode(errors="replace"))
                    raise
            if self in sys.meta_path:
                sys.meta_path.remove(self)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


@contextlib.contextmanager
def _stderr_to_file() -> Iterator[Any]:
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield tmp
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def quiet_native_imports(names: tuple[str, ...] = ("tensorflow",)) -> None:
    """Install the quiet-import hook once (the CLI does; library users keep TensorFlow's own output)."""
    if not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport(names))
