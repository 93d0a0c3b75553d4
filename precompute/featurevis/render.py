"""The optimisation loop: all channels of one layer rendered together, one image per channel, in one jitted step.

Per step and image: parameters -> RGB in [0, 1] (``param``) -> random pad/jitter/scale/rotate (``transform``)
-> x 255 -> the model's own ``preprocess_input`` -> the model truncated at the target tensor -> the spatial
mean of the image's own channel (``objectives``) -> gradient ascent with Adam.

The model is truncated at the target (pre-activation) tensor, so nothing after it is computed. The step is
compiled once per (layer, batch size): ``tf.function`` on TensorFlow (no XLA: ``ImageProjectiveTransformV3``
has no XLA kernel), ``jax.jit`` around ``jax.value_and_grad`` of ``model.stateless_call`` on JAX. Adam is
written out in ``keras.ops`` (Kingma & Ba, eps 1e-8 as in Lucid's TF1 optimiser) so the update is the same
arithmetic on both backends and the state is plain tensors passed through the step.

Determinism: each channel has its own numpy generator, seeded from (seed, model, layer, channel), that draws
its initial spectrum and, every step, its transform. So the same settings give the same image bytes on the
same backend, and a channel's image does not depend on which other channels share its batch.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import objectives
from .param import FourierImage, to_uint8
from .transform import Transforms


@dataclass(frozen=True)
class RenderSettings:
    """Everything that determines a rendered image (part of the cache key)."""

    steps: int = 512
    size: int = 128
    learning_rate: float = 0.05
    seed: int = 0
    decay_power: float = 1.0
    init_std: float = 0.01
    amplitude: float = 0.25
    decorrelate: bool = True
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    transforms: Transforms = field(default_factory=Transforms)

    @property
    def image(self) -> FourierImage:
        return FourierImage(self.size, self.decay_power, self.init_std, self.amplitude, self.decorrelate)

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data["transforms"] = self.transforms.describe()
        data["method"] = "fourier-1/f+decorrelated-colour+sigmoid; adam; pre-activation channel mean"
        return data


@dataclass
class RenderResult:
    channels: list[int]
    images: np.ndarray  # uint8 (n, size, size, 3)
    activation: np.ndarray  # float32 (n,): objective of each final (quantised, untransformed) image
    seconds: float
    steps: int


def channel_rng(seed: int, key: str, channel: int) -> np.random.Generator:
    """The generator of one channel's render: stable across runs, processes, backends and batchings."""
    digest = hashlib.sha256(f"{seed}|{key}|{channel}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def backend() -> str:
    import keras

    return keras.backend.backend()


class Renderer:
    """A compiled render of one target tensor of one model.

    ``model``: a functional Keras model; ``target``: the tensor maximised (``objectives.make_target``);
    ``preprocess``: the model's preprocessing on tensors of RGB in [0, 255] (``catalog.preprocess_fn``).
    Build one per layer; call :meth:`render` with any channel list (one compile per batch size).
    """

    def __init__(
        self, model: Any, target: objectives.Target, preprocess: Callable[[Any], Any], settings: RenderSettings
    ):
        import keras

        self.target = target
        self.rectify = target.rectify
        self.settings = settings
        self.image = settings.image
        self.transforms = settings.transforms
        self.preprocess = preprocess
        self.submodel = keras.Model(model.inputs, objectives.target_tensor(model, target), name="fv_target")
        canvas = self.transforms.canvas(settings.size)
        shape = tuple(model.inputs[0].shape[1:3])
        # models with a fixed input size (NASNet with ImageNet weights, some user models) get a resize
        self.resize_to = None if None in shape or shape == (canvas, canvas) else (int(shape[0]), int(shape[1]))
        self.backend = backend()
        self._steps: dict[int, Callable[..., Any]] = {}

    # ------------------------------------------------------------------ the differentiable forward pass
    def _model_input(self, images: Any, matrices: Any) -> Any:
        from keras import ops

        x = self.transforms.apply(images, matrices)
        if self.resize_to is not None:
            x = ops.image.resize(x, self.resize_to, interpolation="bilinear")
        return self.preprocess(x * 255.0)

    def _objective(self, params: Any, matrices: Any, channels: Any, call: Callable[[Any], Any]) -> tuple[Any, Any]:
        return objectives.loss(call(self._model_input(self.image.to_rgb(params), matrices)), channels, self.rectify)

    def _adam(self, params: Any, grad: Any, m: Any, v: Any, t: Any) -> tuple[Any, Any, Any]:
        from keras import ops

        s = self.settings
        m = s.beta1 * m + (1.0 - s.beta1) * grad
        v = s.beta2 * v + (1.0 - s.beta2) * grad * grad
        m_hat = m / (1.0 - ops.power(s.beta1, t))
        v_hat = v / (1.0 - ops.power(s.beta2, t))
        return params - s.learning_rate * m_hat / (ops.sqrt(v_hat) + s.epsilon), m, v

    # ------------------------------------------------------------------ compiled step per backend
    def _build_step(self) -> Callable[..., Any]:
        if self.backend == "tensorflow":
            return self._build_step_tf()
        if self.backend == "jax":
            return self._build_step_jax()
        raise NotImplementedError(f"feature visualization supports the tensorflow and jax backends, not {self.backend}")

    def _build_step_tf(self) -> Callable[..., Any]:
        import tensorflow as tf

        sub = self.submodel

        def call(x: Any) -> Any:
            return sub(x, training=False)

        @tf.function(jit_compile=False, reduce_retracing=True)
        def step(params: Any, m: Any, v: Any, t: Any, matrices: Any, channels: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, values = self._objective(params, matrices, channels, call)
            grad = tape.gradient(loss, params)
            params, m, v = self._adam(params, grad, m, v, t)
            return params, m, v, values

        return step

    def _build_step_jax(self) -> Callable[..., Any]:
        import jax

        sub = self.submodel
        trainable = [w.value for w in sub.trainable_variables]
        non_trainable = [w.value for w in sub.non_trainable_variables]

        def objective(params: Any, tv: Any, ntv: Any, matrices: Any, channels: Any) -> tuple[Any, Any]:
            def call(x: Any) -> Any:
                out, _ = sub.stateless_call(tv, ntv, x, training=False)
                return out

            return self._objective(params, matrices, channels, call)

        grad_fn = jax.value_and_grad(objective, has_aux=True)

        @jax.jit
        def step(tv: Any, ntv: Any, params: Any, m: Any, v: Any, t: Any, matrices: Any, channels: Any) -> Any:
            (_, values), grad = grad_fn(params, tv, ntv, matrices, channels)
            params, m, v = self._adam(params, grad, m, v, t)
            return params, m, v, values

        def bound(*args: Any) -> Any:
            return step(trainable, non_trainable, *args)

        return bound

    def _evaluate(self, images: np.ndarray, channels: Sequence[int]) -> np.ndarray:
        """Objective of finished images (float in [0, 1]) with the identity transform (grey padding only)."""
        from keras import ops

        n = len(images)
        identity = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32), (n, 1))
        x = self._model_input(ops.convert_to_tensor(images.astype(np.float32)), ops.convert_to_tensor(identity))
        acts = self.submodel(x, training=False)
        chans = ops.convert_to_tensor(np.asarray(channels, np.int32))
        values = objectives.diagonal_objective(acts, chans, self.rectify)
        return np.asarray(ops.convert_to_numpy(values), dtype=np.float32)

    # ------------------------------------------------------------------ public
    @property
    def n_channels(self) -> int:
        return int(self.submodel.outputs[0].shape[-1])

    def live_channels(self, n_probe: int = 4) -> np.ndarray:
        """Boolean mask of the channels a render can excite.

        Excluded are channels whose map does not move with the input:

        * *dead* channels, the same map for every image: an all-zero filter (10 of MobileNet(alpha=0.75)'s 24
          first-layer filters have weights below 1e-6), or one that only sees dead channels of the layer
          before. Probed with uniform noise and flat colours;
        * channels *stuck at the start image*: constant over the render's own faint-grey start images, i.e.
          everything they see is cut off by a ReLU below them there, so their gradient is zero and the render
          would stay grey (3 of 384 in MobileNet(alpha=0.75)'s ``conv_dw_8``). Probed with start images drawn
          like the render's (fixed seed).

        "Constant" means the map varies by less than 1e-4 of the layer's median channel variation over the
        same probes, or by less than 1e-6 of its own magnitude (float noise). Both are relative, so the tiny
        signals of deep random-weight models count as live.
        """
        from keras import ops

        size = self.settings.size
        rng = np.random.default_rng(20170907)
        noise = [rng.random((size, size, 3))]
        noise += [np.broadcast_to(rng.random(3), (size, size, 3)) for _ in range(max(1, n_probe - 1))]
        start = ops.convert_to_numpy(self.image.to_rgb(ops.convert_to_tensor(self.image.init(rng, n_probe))))
        live = np.ones(self.n_channels, dtype=bool)
        for probes in (np.stack(noise), np.asarray(start)):
            x = probes.astype(np.float32)
            identity = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32), (len(x), 1))
            inp = self._model_input(ops.convert_to_tensor(x), ops.convert_to_tensor(identity))
            maps = np.asarray(ops.convert_to_numpy(self.submodel(inp, training=False)), dtype=np.float64)
            spread = np.abs(maps - maps[:1]).max(axis=(0, 1, 2))
            scale = np.abs(maps).max(axis=(0, 1, 2))
            live &= spread > np.maximum(1e-4 * np.median(spread), 1e-6 * scale)
        return live

    def render(
        self,
        channels: Sequence[int],
        key: str,
        *,
        batch_size: int | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> RenderResult:
        """Render one image per channel. ``key`` (e.g. ``"<model>/<layer>"``) seeds the channels' generators.

        ``batch_size`` splits the channels into batches (None: all together; 1: Lucid's one at a time).
        ``on_step(k)`` is called after every step with the number of images that advanced.
        """
        channels = [int(c) for c in channels]
        bad = [c for c in channels if not 0 <= c < self.n_channels]
        if bad:
            raise ValueError(f"channel(s) {bad} out of range: the target has {self.n_channels} channels")
        t0 = time.perf_counter()
        bs = batch_size or max(1, len(channels))
        images, activation = [], []
        for start in range(0, len(channels), bs):
            chunk = channels[start : start + bs]
            imgs = self._render_batch(chunk, key, on_step)
            images.append(imgs)
            activation.append(self._evaluate(imgs.astype(np.float32) / 255.0, chunk))
        return RenderResult(
            channels=channels,
            images=np.concatenate(images)
            if images
            else np.zeros((0, self.settings.size, self.settings.size, 3), np.uint8),
            activation=np.concatenate(activation) if activation else np.zeros(0, np.float32),
            seconds=time.perf_counter() - t0,
            steps=self.settings.steps,
        )

    def _render_batch(self, channels: list[int], key: str, on_step: Callable[[int], None] | None) -> np.ndarray:
        from keras import ops

        n = len(channels)
        if n not in self._steps:
            self._steps[n] = self._build_step()
        step = self._steps[n]
        size = self.settings.size
        rngs = [channel_rng(self.settings.seed, key, c) for c in channels]
        params = ops.convert_to_tensor(np.concatenate([self.image.init(r, 1) for r in rngs]))
        m = ops.zeros_like(params)
        v = ops.zeros_like(params)
        chans = ops.convert_to_tensor(np.asarray(channels, np.int32))
        for i in range(self.settings.steps):
            mats = ops.convert_to_tensor(self.transforms.sample(rngs, size))
            t = ops.convert_to_tensor(np.float32(i + 1))
            params, m, v, _ = step(params, m, v, t, mats, chans)
            if on_step is not None:
                on_step(n)
        return to_uint8(ops.convert_to_numpy(self.image.to_rgb(params)))
