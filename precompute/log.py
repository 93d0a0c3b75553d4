"""Logging, collected warnings and progress bars.

One place decides how the pipeline talks to the user: ``warn`` prints a one-line warning and keeps it for
``build/summary.json``; ``progress`` wraps tqdm (with ETA) and goes silent in quiet mode (CI logs).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

logger = logging.getLogger("playground")
_state = {"quiet": False}
_warnings: list[str] = []


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
    """A tqdm progress bar with ETA on stderr; disabled in quiet mode."""
    yield from tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        disable=_state["quiet"],
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
    )


def bar(*, desc: str, total: int, unit: str = "it") -> tqdm:
    """A manually updated progress bar (``.update(n)``), disabled in quiet mode."""
    return tqdm(desc=desc, total=total, unit=unit, disable=_state["quiet"], leave=False, dynamic_ncols=True,
                file=sys.stderr)
