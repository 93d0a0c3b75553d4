"""What is maximised: the mean of a channel's map over space, before the layer's nonlinearity.

The target tensor is the layer's pre-activation (``LayerInfo.preact_name``: the conv output, or conv +
BatchNorm): through a ReLU a channel that starts negative everywhere has zero gradient and never moves. Two
cases need more than picking a tensor:

* **Built-in activation** (VGG's ``Conv2D(activation="relu")``): there is no pre-activation tensor in the
  graph, so the objective is read from a *linearised copy* of the conv (same config and weights, linear
  activation) applied to the layer's input, as lucid4keras did.
* **A target that is affine in the pixels** (the first conv of every catalogue model: only rescaling,
  normalisation and padding before it). The spatial mean of an affine map of the image is, up to border and
  stride effects, an affine function of the image's *mean colour*: its maximiser is a flat colour, and an edge
  filter (zero-sum kernel) has a constant objective with nothing to optimise. There the channel's map goes
  through a softplus before the mean, a smooth rectifier whose gradient never vanishes (and with Adam's
  per-parameter step size its small values far below zero still move the image): the objective then rewards
  strong local responses anywhere, so edge channels show oriented edges and colour channels colours.

The same pooled quantity ranks dataset images for the channel's examples, so "the visualization excites its
channel more than any dataset image" compares like with like.

In a batch, image ``i`` is optimised for channel ``channels[i]``; the loss is the negated sum of the per-image
objectives. Inference-mode layers treat samples independently, so each image's gradient depends only on its
own objective: a batch of N channels is N independent optimisations run together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Layers that keep a map affine in its input (what may sit between the pixels and an "affine" target).
_AFFINE_TYPES = ("InputLayer", "Rescaling", "Normalization", "ZeroPadding2D", "Cropping2D", "Identity")


@dataclass(frozen=True)
class Target:
    """The tensor one layer's channels are maximised at, and how its map is pooled."""

    layer: str  # the selected conv layer (LayerInfo.name)
    tensor: str  # the layer whose output is the target (LayerInfo.preact_name), or the conv when linearised
    linearised: bool  # the conv's built-in activation is removed (a linear copy of the layer is used)
    rectify: bool  # softplus before the spatial mean (targets affine in the pixels)

    def describe(self) -> dict[str, Any]:
        pooled = "mean(softplus(x))" if self.rectify else "mean(x)"
        return {"tensor": self.tensor, "linearised": self.linearised, "objective": pooled}


def _has_builtin_activation(layer: Any) -> bool:
    act = getattr(layer, "activation", None)
    return act is not None and getattr(act, "__name__", "linear") != "linear"


def affine_in_pixels(model: Any, layer_name: str) -> bool:
    """True when nothing but affine layers (rescaling, normalisation, padding) precede the named conv layer,
    i.e. it is the model's first layer with weights and its input is an affine function of the pixels."""
    for layer in model.layers:
        if layer.name == layer_name:
            return True
        if type(layer).__name__ not in _AFFINE_TYPES:
            return False
    raise ValueError(f"layer '{layer_name}' is not in model '{model.name}'")


def make_target(model: Any, info: Any) -> Target:
    """The target of a selected layer (``info``: a ``layers.LayerInfo``)."""
    layer = model.get_layer(info.name)
    linearised = info.preact_name == info.name and _has_builtin_activation(layer)
    return Target(
        layer=info.name, tensor=info.preact_name, linearised=linearised, rectify=affine_in_pixels(model, info.name)
    )


def target_tensor(model: Any, target: Target) -> Any:
    """The symbolic map ``(b, h, w, c)`` of ``target`` in ``model``'s graph (builds the linear copy if needed)."""
    layer = model.get_layer(target.layer)
    if not target.linearised:
        return model.get_layer(target.tensor).output
    config = dict(layer.get_config())
    config["activation"] = "linear"
    config["name"] = f"{layer.name}__linear"
    copy = type(layer).from_config(config)
    out = copy(layer.input)
    copy.set_weights(layer.get_weights())
    copy.trainable = False
    return out


def pooled(maps: Any, rectify: bool) -> Any:
    """``(b, h, w, c)`` -> ``(b, c)``: the objective of every channel for every image."""
    from keras import ops

    return ops.mean(ops.softplus(maps) if rectify else maps, axis=(1, 2))


def diagonal_objective(maps: Any, channels: Any, rectify: bool = False) -> Any:
    """Per image ``i``: the objective of channel ``channels[i]`` on ``maps[i]`` -> ``(b,)``.

    The image's own channel is picked *before* the pooling (a one-hot product: exact, and its gradient is a
    dense product, not a scatter), so the softplus of a rectified target runs on one map per image instead
    of on all ``c`` (at a first layer that was the most expensive op of the step). The gradient is the same
    as pooling every channel and picking one afterwards; the value can differ in the last bit (summation
    order)."""
    from keras import ops

    onehot = ops.one_hot(ops.cast(channels, "int32"), ops.shape(maps)[-1], dtype=maps.dtype)  # (b, c)
    picked = ops.sum(maps * onehot[:, None, None, :], axis=-1)  # (b, h, w)
    return ops.mean(ops.softplus(picked) if rectify else picked, axis=(1, 2))


def loss(maps: Any, channels: Any, rectify: bool = False) -> tuple[Any, Any]:
    """(scalar loss to minimise, per-image objective values)."""
    from keras import ops

    values = diagonal_objective(maps, channels, rectify)
    return -ops.sum(values), values


def objective_model(model: Any, targets: list[Target]) -> Any:
    """One model with, per target, the ``(b, c)`` pooled objective of all its channels (a single forward pass
    for every layer: used to rank dataset images and to check renders)."""
    import keras

    outputs = [pooled(target_tensor(model, t), t.rectify) for t in targets]
    return keras.Model(model.inputs, outputs, name=f"{model.name}_objectives")
