"""Every failure a user can cause or meet, as one family of exceptions.

Each subclasses ``click.ClickException`` (as MkDocs' ``exceptions.py`` does), so the CLI prints any of them as
one clear line and exits with status 1, with no translation table and no traceback; library callers catch them
like any exception. Per-image problems (``images.ImageError``) are not here: they are warnings, never fatal.
"""

from __future__ import annotations

import click


class PlaygroundError(click.ClickException):
    """Base class: a message that says what is wrong and, where it can, what to do."""

    def __init__(self, message: str):
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class ConfigError(PlaygroundError):
    """A setting that cannot be used, with the reason."""


class DatasetError(PlaygroundError):
    """A dataset that cannot be used (missing, empty, no readable image, unknown name)."""


class FetchError(DatasetError):
    """A dataset that cannot be fetched or imported, with the reason and what to do."""


class ModelUnavailable(PlaygroundError):
    """A model name, file or weights that cannot be resolved."""


class WeightsUnavailable(ModelUnavailable):
    """Pretrained weights are not cached and cannot be downloaded."""

    def __init__(self, model: str, fname: str, folder: str, origin: str | None, reason: str):
        self.model, self.fname, self.folder, self.origin = model, fname, folder, origin
        super().__init__(
            f"ImageNet weights for '{model}' are not in the Keras cache and cannot be downloaded ({reason}). "
            f"Keras expects the file '{fname}' in '{folder}'"
            + (f" (download it from {origin})" if origin else "")
            + "; set KERAS_HOME to use another cache folder, or build with --weights random."
        )


class BuildError(PlaygroundError):
    """Nothing at all could be built, a setting does not fit the data, or --strict and something was missing."""


class SiteDataMissing(PlaygroundError):
    """The site's data files are not there: the precompute stage has not run for this output folder."""


class QueryError(PlaygroundError):
    """A query (``playground query`` / ``playground serve``) that cannot be answered, with the reason."""
