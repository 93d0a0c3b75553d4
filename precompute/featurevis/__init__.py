"""Model Explorer: Lucid-style feature visualization on Keras 3 (TensorFlow and JAX backends).

One module per concept: ``param`` (the image parameterisation), ``transform`` (transformation robustness),
``objectives`` (what is maximised), ``render`` (the jitted optimisation loop), ``examples`` (the dataset images
that excite a channel most) and ``stage`` (the ``featurevis`` build stage). See ``docs/featurevis.md``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_featurevis"]


def run_featurevis(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The ``featurevis`` stage (see :func:`precompute.featurevis.stage.run_featurevis`)."""
    from .stage import run_featurevis as _run

    return _run(*args, **kwargs)
