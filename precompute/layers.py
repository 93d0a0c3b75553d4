"""Which layers of a model we look at.

The selection is the convolutional layers that have trainable weights (Conv2D, DepthwiseConv2D,
SeparableConv2D, in graph order): the first, the last and 6 spread evenly across depth in between. It is
made by *position*, so it does not depend on auto-generated names, and ``catalog.load_model`` clears the
Keras session so those names are the same on every build anyway. It is shared by semantic search and the
Model Explorer.

For each selected conv layer we also record two tensors that follow it:

* ``act_name``: the layer whose output is the layer's *activation map* (the conv, then its directly
  following BatchNormalization and activation, if any). Embeddings are pooled from it.
* ``preact_name``: the same chain stopped before the nonlinearity (conv, or conv + BatchNorm). Feature
  visualization maximises channels here: gradients vanish through ReLU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .slugs import slugify

N_LAYERS = 8
SELECTION_VERSION = 2  # part of every cache key that depends on the selection; bump when the rule changes


@dataclass(frozen=True)
class LayerInfo:
    name: str
    slug: str
    type: str
    depth_index: int  # position among all layers of the model
    conv_index: int  # position among the model's conv layers
    n_conv: int  # how many conv layers the model has
    params: int
    channels: int
    output_shape: tuple
    act_name: str
    preact_name: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_shape"] = [d for d in self.output_shape]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerInfo:
        return cls(**{**data, "output_shape": tuple(data["output_shape"])})


@dataclass(frozen=True)
class LayerRow:
    """One row of a model's full layer table (the Model Explorer's layer list)."""

    index: int
    name: str
    type: str
    params: int
    output_shape: tuple

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "output_shape": list(self.output_shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerRow:
        return cls(**{**data, "output_shape": tuple(data["output_shape"])})


def _conv_types() -> tuple[type, ...]:
    from keras import layers

    return (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)


def _producers(layer: Any) -> list[Any]:
    nodes = getattr(layer, "_inbound_nodes", [])
    return [p.operation for p in nodes[0].parent_nodes] if nodes else []


def conv_layers(model: Any) -> list[Any]:
    """Spatial conv layers with trainable weights, in the model's (topological) layer order.

    Convs that only see a pooled 1x1 vector are left out: squeeze-and-excitation branches (EfficientNet's
    ``*_se_reduce`` / ``*_se_expand`` after GlobalAveragePooling + Reshape) compute channel weights, not an
    activation map, so they are neither embeddings nor something to visualize. Found by structure (their
    input comes from a global pooling or reshape, or from such a conv), so the rule does not depend on the
    input size the model was built with.
    """
    from keras import layers

    types = _conv_types()
    vector_ops = (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D, layers.Reshape, layers.Flatten)
    excluded: set[int] = set()
    out = []
    for layer in model.layers:
        if not (isinstance(layer, types) and layer.trainable_weights):
            continue
        if any(isinstance(p, vector_ops) or id(p) in excluded for p in _producers(layer)):
            excluded.add(id(layer))
            continue
        out.append(layer)
    return out


def _consumers(layer: Any) -> list[Any]:
    return [node.operation for node in getattr(layer, "_outbound_nodes", [])]


def _follow_chain(layer: Any) -> tuple[Any, Any]:
    """(pre-activation layer, activation layer) for a conv layer: follow single-consumer BN/activation."""
    from keras import layers

    act_types = (layers.Activation, layers.ReLU, layers.LeakyReLU, layers.ELU, layers.PReLU)
    pre = act = layer
    activation = getattr(layer, "activation", None)
    has_builtin_act = activation is not None and getattr(activation, "__name__", "linear") != "linear"
    if has_builtin_act:
        return layer, layer  # e.g. VGG: the conv applies its ReLU itself (no separate preact tensor)
    current = layer
    while True:
        nxt = _consumers(current)
        if len(nxt) != 1:
            break
        candidate = nxt[0]
        if isinstance(candidate, layers.BatchNormalization) and act is pre and current is pre:
            pre = act = candidate
        elif isinstance(candidate, act_types):
            act = candidate
            break
        else:
            break
        current = candidate
    return pre, act


def _shape(layer: Any) -> tuple:
    try:
        return tuple(layer.output.shape[1:])
    except (AttributeError, ValueError):
        return ()


def describe(model: Any, layer: Any, conv_index: int, n_conv: int) -> LayerInfo:
    pre, act = _follow_chain(layer)
    index = {id(l_): i for i, l_ in enumerate(model.layers)}
    shape = _shape(layer)
    channels = int(shape[-1]) if shape and shape[-1] is not None else 0
    return LayerInfo(
        name=layer.name,
        slug=slugify(layer.name),
        type=type(layer).__name__,
        depth_index=index[id(layer)],
        conv_index=conv_index,
        n_conv=n_conv,
        params=int(layer.count_params()),
        channels=channels,
        output_shape=shape,
        act_name=act.name,
        preact_name=pre.name,
    )


def select_positions(n_conv: int, n: int = N_LAYERS) -> list[int]:
    """First, last and evenly spread positions in between (all of them when there are fewer than ``n``)."""
    if n_conv <= n:
        return list(range(n_conv))
    return sorted({int(round(x)) for x in np.linspace(0, n_conv - 1, n)})


def select_layers(model: Any, n: int = N_LAYERS, names: list[str] | None = None) -> list[LayerInfo]:
    """The ``n`` layers of the default selection, or the named ``names`` (a per-model override)."""
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"model '{model.name}' has no convolutional layer with weights")
    if names:
        by_name = {layer.name: i for i, layer in enumerate(convs)}
        missing = [nm for nm in names if nm not in by_name]
        if missing:
            raise ValueError(
                f"layer(s) {missing} are not conv layers of '{model.name}'; conv layers: "
                f"{[layer.name for layer in convs][:5]} … {convs[-1].name}"
            )
        positions = sorted(by_name[nm] for nm in names)
    else:
        positions = select_positions(len(convs), n)
    return [describe(model, convs[p], p, len(convs)) for p in positions]


def layer_table(model: Any) -> list[LayerRow]:
    """Every layer of the model: name, type, parameters, output shape (for the explorer's layer list)."""
    return [
        LayerRow(i, layer.name, type(layer).__name__, int(layer.count_params()) if layer.built else 0, _shape(layer))
        for i, layer in enumerate(model.layers)
    ]
