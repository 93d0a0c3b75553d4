"""The model catalogue and the one place models are loaded.

Every model goes through Keras' own loading path: ``keras.applications.<Constructor>(include_top=False,
weights="imagenet")`` downloads into and reads from the Keras cache (``$KERAS_HOME/models``, default
``~/.keras/models``). We only add a guard around ``keras.utils.get_file`` so that an offline machine with no
cached file fails in seconds with the file name and the folder to put it in, instead of a urllib traceback.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_CHOICES = ("imagenet", "random")
RANDOM_SEED = 1234


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are not cached and cannot be downloaded."""

    def __init__(self, model: str, fname: str, cache_dir: Path, origin: str | None, reason: str):
        self.model, self.fname, self.cache_dir, self.origin = model, fname, cache_dir, origin
        super().__init__(
            f"ImageNet weights for '{model}' are not in the Keras cache and cannot be downloaded ({reason}). "
            f"Keras expects the file '{fname}' in '{cache_dir}'"
            + (f" (download it from {origin})" if origin else "")
            + "; set KERAS_HOME to use another cache folder, or build with --weights random."
        )


class ModelUnavailable(RuntimeError):
    """A model name or file that cannot be resolved."""


@dataclass(frozen=True)
class ModelSpec:
    """One catalogue entry: how to build a model and feed it."""

    name: str
    display: str
    input_size: int
    constructor: str | None = None  # attribute of keras.applications
    preprocess_module: str | None = None  # keras.applications.<module>.preprocess_input, or a mode (see below)
    kwargs: tuple[tuple[str, Any], ...] = ()
    weights_file: str | None = None  # the no-top file Keras looks for in $KERAS_HOME/models
    search: bool = True  # part of semantic search (False: Model Explorer only)
    path: Path | None = None  # a user's saved .keras model
    family: str = "keras_app"  # keras_app | file | playground_net
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def slug(self) -> str:
        return slugify(self.name)

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Apply the model's own preprocessing to float32 RGB in [0, 255] (returns a new array)."""
        return preprocess_fn(self.preprocess_module)(np.array(x, dtype=np.float32, copy=True))


def preprocess_fn(mode: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """``mode`` is a keras.applications module name (its ``preprocess_input``), or one of
    ``unit`` (x/255), ``tf`` ([-1, 1]), ``caffe``, ``torch`` (imagenet_utils modes), ``none``."""
    if mode in (None, "none"):
        return lambda x: x
    if mode == "unit":
        return lambda x: x / 255.0
    import keras

    if mode in ("tf", "caffe", "torch"):
        from keras.applications import imagenet_utils

        return lambda x: imagenet_utils.preprocess_input(x, mode=mode)
    module = getattr(keras.applications, mode)
    return module.preprocess_input


_APP = "keras_app"
CATALOG: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(
            "vgg16", "VGG16", 224, "VGG16", "vgg16", weights_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        ModelSpec(
            "vgg19", "VGG19", 224, "VGG19", "vgg19", weights_file="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        ModelSpec(
            "mobilenet",
            "MobileNet",
            224,
            "MobileNet",
            "mobilenet",
            (("alpha", 1.0),),
            weights_file="mobilenet_1_0_224_tf_no_top.h5",
        ),
        ModelSpec(
            "mobilenet_075",
            "MobileNet (alpha 0.75)",
            224,
            "MobileNet",
            "mobilenet",
            (("alpha", 0.75),),
            weights_file="mobilenet_7_5_224_tf_no_top.h5",
        ),
        ModelSpec(
            "efficientnetb0",
            "EfficientNetB0",
            224,
            "EfficientNetB0",
            "efficientnet",
            weights_file="efficientnetb0_notop.h5",
        ),
        ModelSpec(
            "efficientnetb5",
            "EfficientNetB5",
            456,
            "EfficientNetB5",
            "efficientnet",
            weights_file="efficientnetb5_notop.h5",
        ),
        ModelSpec(
            "xception",
            "Xception",
            299,
            "Xception",
            "xception",
            weights_file="xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        ModelSpec(
            "resnet50",
            "ResNet50",
            224,
            "ResNet50",
            "resnet50",
            weights_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        ModelSpec(
            "inceptionv3",
            "InceptionV3",
            299,
            "InceptionV3",
            "inception_v3",
            weights_file="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        ModelSpec(
            "densenet121",
            "DenseNet121",
            224,
            "DenseNet121",
            "densenet",
            weights_file="densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        ModelSpec(
            "mobilenetv2",
            "MobileNetV2",
            224,
            "MobileNetV2",
            "mobilenet_v2",
            search=False,
            weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        ),
        ModelSpec(
            "nasnetmobile",
            "NASNetMobile",
            224,
            "NASNetMobile",
            "nasnet",
            search=False,
            weights_file="nasnet_mobile_no_top.h5",
        ),
    ]
}
SEARCH_MODELS = tuple(n for n, s in CATALOG.items() if s.search and n != "mobilenet_075")
EXPLORER_MODELS = SEARCH_MODELS + ("mobilenetv2", "nasnetmobile")

_extra_specs: dict[str, Callable[[], ModelSpec]] = {}


def register(name: str, factory: Callable[[], ModelSpec]) -> None:
    """Register a spec resolved lazily by name (used by the embedded ``playground-net``)."""
    _extra_specs[name] = factory


def slugify(text: str) -> str:
    """A filesystem- and URL-safe key: ``[a-z0-9_-]``; non-ASCII or unsafe names get a short hash suffix."""
    safe = "".join(c if (c.isascii() and (c.isalnum() or c in "_-")) else "_" for c in text.lower()).strip("_")
    if safe != text.lower() or not safe:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
        safe = f"{safe[:40]}_{digest}" if safe else f"x_{digest}"
    return safe


def get_spec(name: str) -> ModelSpec:
    """Resolve a catalogue name, a registered name, or a path to a user's ``.keras`` model file."""
    if name in CATALOG:
        return CATALOG[name]
    from . import playground_net  # noqa: F401  (registers the built-in "playground-net"; imports no Keras)

    if name in _extra_specs:
        return _extra_specs[name]()
    path = Path(name)
    if path.suffix == ".keras":
        if not path.is_file():
            raise ModelUnavailable(f"model file not found: {path}")
        return user_model_spec(path)
    known = ", ".join(sorted([*CATALOG, *_extra_specs]))
    raise ModelUnavailable(f"unknown model '{name}'. Known models: {known}; or give a path to a .keras file.")


def user_model_spec(path: Path, preprocess: str = "unit") -> ModelSpec:
    """A user's saved Keras model. Its input size is read from the file when it is fixed (else 224)."""
    return ModelSpec(
        name=path.stem,
        display=path.stem,
        input_size=0,
        preprocess_module=preprocess,
        path=path.resolve(),
        family="file",
    )


def keras_home() -> str:
    """Keras' home folder, computed as Keras does (``$KERAS_HOME``, else ``~/.keras``, else ``/tmp/.keras``)
    without importing Keras: a no-op rebuild must not pay TensorFlow's start-up."""
    if "keras" in sys.modules:
        from keras.src.backend.config import keras_home as _home

        return _home()
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def backend_name() -> str:
    """The Keras backend in use (or that will be), without importing Keras when it is not imported yet."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    try:
        return str(json.loads((Path(keras_home()) / "keras.json").read_text()).get("backend", "tensorflow"))
    except (OSError, ValueError):
        return "tensorflow"


def keras_cache_dir() -> Path:
    """The folder Keras reads and writes pretrained weights in (``$KERAS_HOME/models``)."""
    base = Path(os.path.expanduser(keras_home()))
    if not os.access(base, os.W_OK) and base.exists():
        base = Path("/tmp/.keras")  # the same fallback keras.utils.get_file uses
    return base / "models"


def _reachable(origin: str | None, timeout: float = 3.0) -> str | None:
    """None when ``origin``'s host accepts a TCP connection quickly, else the reason it does not."""
    if not origin:
        return "no download address"
    if os.environ.get("PLAYGROUND_OFFLINE", "").strip() not in ("", "0"):
        return "no network: PLAYGROUND_OFFLINE is set"
    return _host_reachable(urllib.parse.urlparse(origin).hostname or "", timeout)


@functools.lru_cache(maxsize=16)
def _host_reachable(host: str, timeout: float) -> str | None:
    """Probed once per host and process: a build checks many models against the same server."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return None
    except OSError as exc:
        return f"no network: {host} unreachable ({exc.__class__.__name__})"


@contextlib.contextmanager
def _fail_fast_downloads(model: str) -> Iterator[None]:
    """Wrap Keras' ``get_file`` so a missing file on an offline machine raises ``WeightsUnavailable``."""
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def guarded(fname: str | None = None, origin: str | None = None, *args: Any, **kwargs: Any) -> str:
        cache_dir = kwargs.get("cache_dir")
        subdir = kwargs.get("cache_subdir", "datasets")
        folder = (Path(cache_dir).expanduser() / subdir) if cache_dir else keras_cache_dir().parent / subdir
        name = fname or Path(urllib.parse.urlparse(origin or "").path).name
        if not (folder / name).exists():
            reason = _reachable(origin)
            if reason:
                raise WeightsUnavailable(model, name, folder, origin, reason)
        return original(fname, origin, *args, **kwargs)

    file_utils.get_file = guarded
    try:
        yield
    finally:
        file_utils.get_file = original


def weights_available(spec: ModelSpec, weights: str) -> str | None:
    """Pre-flight check without building anything: None if loading can work, else a short reason why not."""
    if weights == "random" or spec.family != _APP:
        return None
    if weights != "imagenet":
        return None if Path(weights).is_file() else f"weights file not found: {weights}"
    if spec.weights_file and (keras_cache_dir() / spec.weights_file).exists():
        return None
    reason = _reachable("https://storage.googleapis.com/")
    if reason is None:
        return None
    return f"{spec.weights_file} is not in the Keras cache and there is {reason}"


def weights_id(spec: ModelSpec, weights: str) -> str:
    """What the weights are, for cache keys and outputs: 'imagenet', 'random:<seed>', or a file's sha256."""
    if spec.family == "file":
        return "file:" + _sha256(spec.path)  # type: ignore[arg-type]
    if spec.family == "playground_net":
        recipe = str(spec.extra.get("recipe_hash", ""))
        if weights == "random":
            return f"random:{RANDOM_SEED}:{recipe}"
        if weights in ("trained", "imagenet"):
            return "trained:" + recipe
        return "file:" + _sha256(Path(weights))
    if weights == "random":
        return f"random:{RANDOM_SEED}"
    if weights == "imagenet":
        return "imagenet"
    return "file:" + _sha256(Path(weights))


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load_model(spec: ModelSpec, weights: str = "imagenet", input_shape: tuple | None = None):
    """Build ``spec`` without its classifier top.

    ``weights``: ``imagenet`` (Keras download + cache), ``random`` (untrained, seeded), or a path to a
    weights file. ``input_shape`` defaults to the native ``(size, size, 3)``; pass ``(None, None, 3)`` to get
    the 224-px weights at any size (MobileNet picks its weight file by input size otherwise).

    The Keras session is cleared first so auto-generated layer names (InceptionV3's ``conv2d_N``) are the
    same in every process and on every build.
    """
    import keras

    keras.backend.clear_session()
    if spec.family == "file":
        return keras.saving.load_model(spec.path, compile=False)
    if spec.family == "playground_net":
        return spec.extra["loader"](weights, input_shape)
    if spec.constructor is None:
        raise ModelUnavailable(f"model '{spec.name}' has no constructor")
    shape = input_shape or (spec.input_size, spec.input_size, 3)
    ctor = getattr(keras.applications, spec.constructor)
    kwargs = dict(spec.kwargs)
    if weights == "random":
        keras.utils.set_random_seed(RANDOM_SEED)
        return ctor(include_top=False, weights=None, input_shape=shape, **kwargs)
    if weights != "imagenet" and not Path(weights).is_file():
        raise ModelUnavailable(f"weights file not found: {weights}")
    with _fail_fast_downloads(spec.name):
        return ctor(include_top=False, weights=weights, input_shape=shape, **kwargs)


def model_input_size(spec: ModelSpec, model: Any) -> int:
    """The square input size to feed: the spec's, or the model's own fixed size (user files), else 224."""
    if spec.input_size:
        return spec.input_size
    shape = model.inputs[0].shape
    return int(shape[1]) if shape[1] is not None and shape[1] == shape[2] else 224
