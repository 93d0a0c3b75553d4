"""The optimisation loop: all channels of one layer rendered together, one image per channel, one compiled program.

Per step and image: parameters -> RGB in [0, 1] (``param``) -> random pad/jitter/scale/rotate (``transform``)
-> x 255 -> the model's own ``preprocess_input`` -> the model truncated at the target tensor -> the spatial
mean of the image's own channel (``objectives``) -> gradient ascent with Adam.

The model is truncated at the target (pre-activation) tensor, so nothing after it is computed. Adam is written
out in ``keras.ops`` (Kingma & Ba, eps 1e-8 as in Lucid's TF1 optimiser) so the update is the same arithmetic
on both backends and the state is plain tensors.

**No host round-trips in the loop.** Every step's random transform is drawn *before* the loop (the same
per-channel generators in the same order as a step-by-step draw, so the same numbers) and sent to the device
once as a ``(steps, n, 8)`` tensor; the step picks its row on the device.

* TensorFlow: one ``tf.function`` step (no XLA: ``ImageProjectiveTransformV3`` has no XLA kernel) called
  once per step from Python; its inputs and outputs stay tensors (nothing is read back until the end).
* JAX: the whole loop is one ``jax.jit`` program, a ``lax.fori_loop`` over the steps around
  ``jax.value_and_grad`` of ``model.stateless_call``, compiled ahead of time (``RenderResult.compile_seconds``)
  and cached by shape signature (architecture, target, settings, batch size), so a second render of the same
  shapes -- another batch of channels, the same layer again -- compiles nothing. It is dispatched in chunks
  of ``progress_every`` steps (one executable: the chunk bounds are arguments); the host only ever waits for
  the chunk *before* the one in flight, so the device never idles for the progress report.

Determinism: each channel has its own numpy generator, seeded from (seed, model, layer, channel), that draws
its initial spectrum and then its transforms (step by step). So the same settings give the same image bytes
on the same backend, and a channel's image does not depend on which other channels share its batch.
"""

from __future__ import annotations

import collections
import hashlib
import json
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
    max_rms: float | None = 1.5
    transforms: Transforms = field(default_factory=Transforms)

    @property
    def image(self) -> FourierImage:
        return FourierImage(self.size, self.decay_power, self.init_std, self.amplitude, self.decorrelate, self.max_rms)

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data["transforms"] = self.transforms.describe()
        data["method"] = (
            "fourier-1/f+decorrelated-colour+logit-rms-cap+sigmoid; adam; pre-activation channel mean"
            if self.max_rms
            else "fourier-1/f+decorrelated-colour+sigmoid; adam; pre-activation channel mean"
        )
        return data

    def program_key(self) -> str:
        """What the compiled step depends on: everything but ``steps`` and ``seed`` (loop bounds and random
        draws are inputs of the program)."""
        data = self.describe()
        data.pop("steps")
        data.pop("seed")
        return json.dumps(data, sort_keys=True)


@dataclass
class RenderResult:
    channels: list[int]
    images: np.ndarray  # uint8 (n, size, size, 3)
    activation: np.ndarray  # float32 (n,): objective of each final (quantised, untransformed) image
    seconds: float  # the whole render: compile, optimisation, final evaluation
    steps: int
    compile_seconds: float = 0.0  # compiling done for this render (0 when every program was ready: cache, prepare)
    batches: int = 0  # compiled-program calls of the optimisation (one per batch of channels)


def clipped_fraction(images: np.ndarray, margin: int = 0) -> np.ndarray:
    """Per image and colour channel, the fraction of pixels at the ends of the uint8 range: ``<= margin`` or
    ``>= 255 - margin`` -> float ``(n, 3)``. ``margin=0`` counts exactly clipped pixels (0 or 255).

    The quality criterion of docs/featurevis.md: a posterized render (every pixel driven to a corner of the
    colour cube) has a large fraction in some channel; a Lucid-like render (smooth colours, gratings,
    textures) almost none."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images (n, h, w, 3), got {images.dtype} {images.shape}")
    at_end = (images <= margin) | (images >= 255 - margin)
    return at_end.mean(axis=(1, 2))


def channel_rng(seed: int, key: str, channel: int) -> np.random.Generator:
    """The generator of one channel's render: stable across runs, processes, backends and batchings."""
    digest = hashlib.sha256(f"{seed}|{key}|{channel}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def backend() -> str:
    import keras

    return keras.backend.backend()


# ------------------------------------------------------------------------------------------ compiled programs
#: Compiled JAX programs (or futures of programs compiling on an executor) by shape signature, LRU. Weights are
#: arguments, not constants, so an entry is only the executable. Large enough for a model's 8 layers prepared
#: ahead (2 programs each) plus the layer being rendered: an evicted future would be compiled a second time.
_PROGRAMS: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
PROGRAM_CACHE_SIZE = 48


def _architecture_signature(model: Any) -> str:
    """A digest of a Keras model's graph: layer configs and weight shapes (not values)."""
    shapes = [tuple(w.shape) for w in model.weights]
    text = json.dumps([model.get_config(), shapes], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _cache_get(key: tuple) -> Any:
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]
    return None


def _cache_put(key: tuple, value: Any) -> None:
    _PROGRAMS[key] = value
    while len(_PROGRAMS) > PROGRAM_CACHE_SIZE:
        _PROGRAMS.popitem(last=False)


def enable_compilation_cache(folder: Any) -> bool:
    """Keep JAX's compiled programs on disk in ``folder`` (e.g. ``build/cache/jax``), so a rebuild -- another
    process -- loads them instead of compiling again (XLA compile and GPU autotuning dominate a GPU build's
    first run). Returns whether it applies (False on TensorFlow, whose step is not compiled ahead)."""
    if backend() != "jax":
        return False
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return True


def clear_program_cache() -> None:
    """Forget every compiled program (tests, benchmarks measuring compile time)."""
    _PROGRAMS.clear()


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
        self._signature: str | None = None
        self._compile_seconds = 0.0

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

    # ------------------------------------------------------------------ TensorFlow: one tf.function step
    def _tf_step(self, n: int) -> Callable[..., Any]:
        """``step(params, m, v, i, all_matrices, channels) -> (params, m, v, i + 1)``; ``i`` is the int32 step
        index (a tensor: it never leaves the device), ``all_matrices`` the ``(steps, n, 8)`` transforms."""
        if n in self._steps:
            return self._steps[n]
        import tensorflow as tf

        sub = self.submodel

        def call(x: Any) -> Any:
            return sub(x, training=False)

        # autograph off: no Python control flow to convert (and it cannot read this closure: a warning per layer)
        @tf.function(jit_compile=False, reduce_retracing=True, autograph=False)
        def step(params: Any, m: Any, v: Any, i: Any, all_matrices: Any, channels: Any) -> Any:
            matrices = tf.gather(all_matrices, i)
            t = tf.cast(i + 1, tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, _ = self._objective(params, matrices, channels, call)
            grad = tape.gradient(loss, params)
            params, m, v = self._adam(params, grad, m, v, t)
            return params, m, v, i + 1

        self._steps[n] = step
        return step

    def _optimise_tf(
        self, params: np.ndarray, matrices: np.ndarray, channels: np.ndarray, report: Callable[[int], None]
    ) -> tuple[np.ndarray, float]:
        import tensorflow as tf

        n = len(channels)
        fresh = n not in self._steps
        step = self._tf_step(n)
        p = tf.convert_to_tensor(params)
        m, v = tf.zeros_like(p), tf.zeros_like(p)
        mats = tf.convert_to_tensor(matrices)
        chans = tf.convert_to_tensor(channels)
        i = tf.constant(0, tf.int32)
        compile_s = 0.0
        if fresh and len(matrices):
            t0 = time.perf_counter()  # tracing + graph optimisation happen at the first call of a shape
            step.get_concrete_function(p, m, v, i, mats, chans)
            compile_s = time.perf_counter() - t0
            self._compile_seconds += compile_s
        for _ in range(len(matrices)):
            p, m, v, i = step(p, m, v, i, mats, chans)
            report(1)
        return np.asarray(p.numpy()), compile_s

    # ------------------------------------------------------------------ JAX: the whole loop in one program
    def _jax_weights(self) -> tuple[list[Any], list[Any]]:
        sub = self.submodel
        return [w.value for w in sub.trainable_variables], [w.value for w in sub.non_trainable_variables]

    def signature(self) -> str:
        if self._signature is None:
            self._signature = _architecture_signature(self.submodel)
        return self._signature

    def _program_key(self, kind: str, shapes: tuple) -> tuple:
        return (
            kind,
            self.signature(),
            json.dumps(self.target.describe(), sort_keys=True),
            self.rectify,
            self.settings.program_key(),
            self.resize_to,
            shapes,
        )

    def _loop_args(self, n: int, steps: int) -> tuple:
        """Abstract arguments of the loop program for a batch of ``n`` images and ``steps`` steps."""
        import jax

        tv, ntv = self._jax_weights()
        f32 = np.float32
        p = jax.ShapeDtypeStruct((n, *self.image.param_shape), f32)
        return (
            tv,
            ntv,
            p,
            p,
            p,
            jax.ShapeDtypeStruct((steps, n, 8), f32),
            jax.ShapeDtypeStruct((n,), np.int32),
            jax.ShapeDtypeStruct((), np.int32),
            jax.ShapeDtypeStruct((), np.int32),
        )

    def _lower_loop(self, args: tuple) -> Any:
        import jax

        sub = self.submodel

        def objective(params: Any, tv: Any, ntv: Any, matrices: Any, channels: Any) -> tuple[Any, Any]:
            def call(x: Any) -> Any:
                out, _ = sub.stateless_call(tv, ntv, x, training=False)
                return out

            return self._objective(params, matrices, channels, call)

        grad_fn = jax.value_and_grad(objective, has_aux=True)

        def loop(tv: Any, ntv: Any, params: Any, m: Any, v: Any, all_matrices: Any, channels: Any, lo: Any, hi: Any):
            def body(i: Any, state: tuple) -> tuple:
                p, m_, v_ = state
                matrices = jax.lax.dynamic_index_in_dim(all_matrices, i, axis=0, keepdims=False)
                (_, _), grad = grad_fn(p, tv, ntv, matrices, channels)
                return self._adam(p, grad, m_, v_, (i + 1).astype("float32"))

            return jax.lax.fori_loop(lo, hi, body, (params, m, v))

        return jax.jit(loop).lower(*args)

    def _lower_forward(self, args: tuple) -> Any:
        import jax

        sub = self.submodel

        def fwd(tv: Any, ntv: Any, x: Any, mats: Any) -> Any:
            out, _ = sub.stateless_call(tv, ntv, self._model_input(x, mats), training=False)
            return out

        return jax.jit(fwd).lower(*args)

    def _program(self, kind: str, args: tuple, executor: Any = None) -> tuple[Any, float]:
        """The compiled ``kind`` program ("loop" or "forward") for these argument shapes.

        From the cache when present (0 compile seconds; a compile still running on an executor is waited
        for), else lowered here (tracing: Python, this thread) and compiled here or, with ``executor``, on
        it (XLA releases the GIL: compiles overlap with each other and with the device running another
        layer). Returns (program or future, seconds this call spent compiling)."""
        import jax

        shapes = tuple((tuple(np.shape(a)), str(a.dtype)) for a in jax.tree_util.tree_leaves(args))
        key = self._program_key(kind, shapes)
        hit = _cache_get(key)
        if hit is None:
            lowered = (self._lower_loop if kind == "loop" else self._lower_forward)(args)

            def compile_now() -> tuple[Any, float]:
                t0 = time.perf_counter()
                compiled = lowered.compile()
                return compiled, time.perf_counter() - t0

            if executor is not None:
                _cache_put(key, executor.submit(compile_now))
                return _PROGRAMS[key], 0.0
            compiled, seconds = compile_now()
            _cache_put(key, (compiled, seconds))
            self._compile_seconds += seconds
            return compiled, seconds
        if executor is not None:
            return hit, 0.0
        if hasattr(hit, "result"):  # compiled on an executor: count its compile time once, where it is used
            compiled, seconds = hit.result()
            _cache_put(key, (compiled, 0.0))
            self._compile_seconds += seconds
            return compiled, seconds
        return hit[0], 0.0

    def prepare(self, n: int, executor: Any = None) -> None:
        """Compile ahead (JAX) the programs a render of ``n`` channels needs: the forward pass of the channel
        probe and of the final evaluation, and the optimisation loop. With a ``concurrent.futures`` executor
        the compiles run there while the caller goes on (e.g. renders the previous layer); :meth:`render`
        then waits only for what is not finished. No-op on TensorFlow (its step is traced at the first
        call)."""
        if self.backend != "jax":
            return
        self._program("forward", self._forward_args(), executor)
        self._program("loop", self._loop_args(n, self.settings.steps), executor)

    def _optimise_jax(
        self,
        params: np.ndarray,
        matrices: np.ndarray,
        channels: np.ndarray,
        report: Callable[[int], None],
        progress_every: int,
    ) -> tuple[np.ndarray, float]:
        import jax
        import jax.numpy as jnp

        steps = len(matrices)
        if steps == 0:  # nothing to optimise (and no program to compile for an empty transform table)
            return np.asarray(params), 0.0
        tv, ntv = self._jax_weights()
        p = jnp.asarray(params)
        m, v = jnp.zeros_like(p), jnp.zeros_like(p)
        mats = jnp.asarray(matrices)
        chans = jnp.asarray(channels)
        program, compile_s = self._program("loop", self._loop_args(len(channels), steps))
        chunk = max(1, int(progress_every))
        pending: collections.deque[tuple[Any, int]] = collections.deque()
        state = (p, m, v)
        for lo in range(0, steps, chunk):
            hi = min(steps, lo + chunk)
            state = program(tv, ntv, *state, mats, chans, np.int32(lo), np.int32(hi))
            pending.append((state[0], hi - lo))
            while len(pending) > 1:  # wait for the chunk before the one just queued: the device stays busy
                done, k = pending.popleft()
                jax.block_until_ready(done)
                report(k)
        while pending:
            done, k = pending.popleft()
            jax.block_until_ready(done)
            report(k)
        return np.asarray(state[0]), compile_s

    # ------------------------------------------------------------------ evaluation (no gradient)
    #: images per forward call on JAX (probe and evaluation batches are padded to it: one compile per layer)
    FORWARD_BATCH = 8

    def _forward_args(self) -> tuple:
        import jax

        tv, ntv = self._jax_weights()
        b, size = self.FORWARD_BATCH, self.settings.size
        return (
            tv,
            ntv,
            jax.ShapeDtypeStruct((b, size, size, 3), np.float32),
            jax.ShapeDtypeStruct((b, 8), np.float32),
        )

    def _objective_values(self, images: np.ndarray, channels: Sequence[int]) -> np.ndarray:
        """Pooled objective of ``channels`` on ``images`` (float in [0, 1]), identity transform (grey padding only)."""
        from keras import ops

        maps = self._maps(images.astype(np.float32))
        chans = ops.convert_to_tensor(np.asarray(channels, np.int32))
        values = objectives.diagonal_objective(ops.convert_to_tensor(maps), chans, self.rectify)
        return np.asarray(ops.convert_to_numpy(values), dtype=np.float32)

    def _maps(self, images: np.ndarray) -> np.ndarray:
        """The target maps of ``images`` (float in [0, 1]) with the identity transform (grey padding only).
        On JAX one compiled forward program per layer, fed in padded batches of ``FORWARD_BATCH`` (an eager
        JAX forward pass would compile every op of the model separately)."""
        from keras import ops

        n = len(images)
        identity = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32), (n, 1))
        if self.backend != "jax":
            x = self._model_input(ops.convert_to_tensor(images), ops.convert_to_tensor(identity))
            return np.asarray(ops.convert_to_numpy(self.submodel(x, training=False)))
        program, _ = self._program("forward", self._forward_args())
        tv, ntv = self._jax_weights()
        b = self.FORWARD_BATCH
        identity = np.tile(identity[:1], (b, 1))
        out = []
        for start in range(0, n, b):
            x = images[start : start + b]
            k = len(x)
            x = np.concatenate([x, np.repeat(x[-1:], b - k, axis=0)]) if k < b else x
            out.append(np.asarray(program(tv, ntv, x, identity))[:k])
        return np.concatenate(out)

    # ------------------------------------------------------------------ public
    @property
    def compile_seconds(self) -> float:
        """Seconds this renderer spent compiling so far (channel probe, loop, evaluation)."""
        return self._compile_seconds

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
            maps = np.asarray(self._maps(probes.astype(np.float32)), dtype=np.float64)
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
        on_steps: Callable[[int], None] | None = None,
        progress_every: int = 32,
    ) -> RenderResult:
        """Render one image per channel. ``key`` (e.g. ``"<model>/<layer>"``) seeds the channels' generators.

        ``batch_size``: images per optimised batch (None: all channels in one batch; 1: Lucid's one at a time).
        A batch with fewer channels (the last one, or a layer with fewer live channels) is padded to it with
        copies of its last channel (images are independent; the copies are dropped), so every batch runs the
        same compiled program -- e.g. the one :meth:`prepare` compiled ahead for ``batch_size`` images.

        Progress: ``on_steps(k)`` is called with the number of optimisation steps a batch has finished, and
        ``on_step(n)`` once per finished step with the number of images that advanced (the older interface).
        On TensorFlow both come after every step; on JAX in bursts every ``progress_every`` steps, when that
        chunk is done (the host never waits on the chunk still running).
        """
        channels = [int(c) for c in channels]
        bad = [c for c in channels if not 0 <= c < self.n_channels]
        if bad:
            raise ValueError(f"channel(s) {bad} out of range: the target has {self.n_channels} channels")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        t0 = time.perf_counter()
        bs = batch_size or max(1, len(channels))
        images, activation = [], []
        compile_before = self._compile_seconds
        n_batches = 0
        for start in range(0, len(channels), bs):
            chunk = channels[start : start + bs]
            padded = chunk + [chunk[-1]] * (bs - len(chunk))

            def report(k: int, n: int = len(chunk)) -> None:
                if on_steps is not None:
                    on_steps(k)
                if on_step is not None:
                    for _ in range(k):
                        on_step(n)

            imgs = self._render_batch(padded, key, report, progress_every)[: len(chunk)]
            n_batches += 1
            images.append(imgs)
            activation.append(self._objective_values(imgs.astype(np.float32) / 255.0, chunk))
        return RenderResult(
            channels=channels,
            images=np.concatenate(images)
            if images
            else np.zeros((0, self.settings.size, self.settings.size, 3), np.uint8),
            activation=np.concatenate(activation) if activation else np.zeros(0, np.float32),
            seconds=time.perf_counter() - t0,
            steps=self.settings.steps,
            compile_seconds=self._compile_seconds - compile_before,
            batches=n_batches,
        )

    def initial_state(self, channels: Sequence[int], key: str) -> tuple[np.ndarray, np.ndarray]:
        """Initial parameters ``(n, *param_shape)`` and every step's transforms ``(steps, n, 8)`` (float32),
        drawn on the host before the loop: per channel, its spectrum first, then one transform per step, from
        its own generator -- the numbers a step-by-step draw gives."""
        rngs = [channel_rng(self.settings.seed, key, c) for c in channels]
        params = np.concatenate([self.image.init(r, 1) for r in rngs])
        matrices = self.transforms.sample_steps(rngs, self.settings.size, self.settings.steps)
        return params, matrices

    def _render_batch(
        self, channels: list[int], key: str, report: Callable[[int], None], progress_every: int
    ) -> np.ndarray:
        from keras import ops

        params, matrices = self.initial_state(channels, key)
        chans = np.asarray(channels, np.int32)
        if self.backend == "tensorflow":
            final, _ = self._optimise_tf(params, matrices, chans, report)
        elif self.backend == "jax":
            final, _ = self._optimise_jax(params, matrices, chans, report, progress_every)
        else:
            raise NotImplementedError(
                f"feature visualization supports the tensorflow and jax backends, not {self.backend}"
            )
        rgb = ops.convert_to_numpy(self.image.to_rgb(ops.convert_to_tensor(final)))
        return to_uint8(rgb)
