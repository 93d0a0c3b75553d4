"""The model catalogue and the one place models are loaded.

Every model goes through Keras' own loading path: ``keras.applications.<Constructor>(include_top=False,
weights="imagenet")`` downloads into and reads from the Keras cache (``$KERAS_HOME/models``, default
``~/.keras/models``). We only add a guard around ``keras.utils.get_file`` so that an offline machine with no
cached file fails in seconds with the file name and the folder to put it in, instead of a urllib traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelUnavailable, WeightsUnavailable
from .network import probe
from .slugs import slugify

WEIGHTS_CHOICES = ("imagenet", "random")
RANDOM_SEED = 1234


@dataclass(frozen=True)
class ModelSpec:
    """One model a build can use: how to build it, feed it and name its weights.

    The kinds of model (Keras Applications, a user's ``.keras`` file, the project's own ``playground-net`` in
    ``playground_net.py``) differ only through the methods below, so no caller branches on the kind.
    """

    name: str
    display: str
    input_size: int  # the square input size to feed (0: read it from the loaded model)
    preprocess_module: str | None = None  # keras.applications.<module>.preprocess_input, or a mode (preprocess_fn)
    kwargs: tuple[tuple[str, Any], ...] = ()
    search: bool = True  # part of semantic search (False: Model Explorer only)

    @property
    def slug(self) -> str:
        return slugify(self.name)

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Apply the model's own preprocessing to float32 RGB in [0, 255] (returns a new array)."""
        return preprocess_fn(self.preprocess_module)(np.array(x, dtype=np.float32, copy=True))

    # --- weights -------------------------------------------------------------------------------------
    def weights_for(self, requested: str) -> str:
        """The weights this model actually uses when the build asks for ``requested``."""
        return requested

    def weights_problem(self, weights: str) -> str | None:
        """Pre-flight check without building anything: None if loading can work, else why not."""
        if weights in WEIGHTS_CHOICES:
            return None
        return None if Path(weights).is_file() else f"weights file not found: {weights}"

    def missing_how(self, weights: str) -> str:
        """What a user can do when ``weights_problem`` is not None."""
        return "check the path"

    def weights_id(self, weights: str) -> str:
        """What the weights are, for cache keys and outputs: 'imagenet', 'random:<seed>', or a file's sha256."""
        if weights == "random":
            return f"random:{RANDOM_SEED}"
        if weights == "imagenet":
            return "imagenet"
        return "file:" + _sha256(Path(weights))

    def arch_id(self, weights: str) -> str:
        """What the architecture (layer selection, layer table) depends on besides the spec itself."""
        return "arch"

    @property
    def source(self) -> str:
        """Where the weights come from, for ``playground models``."""
        return ""

    def training(self, weights: str) -> dict[str, Any] | None:
        """How the build trained this model itself (``contract.Training`` fields), or None."""
        return None

    # --- loading -------------------------------------------------------------------------------------
    def build(self, weights: str, input_shape: tuple | None) -> Any:
        raise ModelUnavailable(f"model '{self.name}' cannot be built")

    def load(self, weights: str = "imagenet", input_shape: tuple | None = None) -> Any:
        """Build the model without its classifier top; see :func:`load_model`."""
        import keras

        keras.backend.clear_session()  # stable auto-generated layer names in every process and build
        return self.build(weights, input_shape)

    def input_size_of(self, model: Any) -> int:
        """The square input size to feed the loaded ``model``."""
        if self.input_size:
            return self.input_size
        shape = model.inputs[0].shape
        return int(shape[1]) if shape[1] is not None and shape[1] == shape[2] else 224


@dataclass(frozen=True)
class KerasApplication(ModelSpec):
    """A ``keras.applications`` constructor, loaded through Keras' own download and cache."""

    constructor: str = ""
    weights_file: str = ""  # the no-top file Keras looks for in $KERAS_HOME/models

    def weights_problem(self, weights: str) -> str | None:
        if weights != "imagenet":
            return super().weights_problem(weights)
        if (keras_cache_dir() / self.weights_file).exists():
            return None
        reason = _reachable("https://storage.googleapis.com/")
        return None if reason is None else f"{self.weights_file} is not in the Keras cache and there is {reason}"

    def missing_how(self, weights: str) -> str:
        if weights == "imagenet":
            return (
                "put the file into $KERAS_HOME/models (default ~/.keras/models), build once online, "
                "or use --weights random"
            )
        return super().missing_how(weights)

    @property
    def source(self) -> str:
        return self.weights_file

    def build(self, weights: str, input_shape: tuple | None) -> Any:
        import keras

        shape = input_shape or (self.input_size, self.input_size, 3)
        ctor = getattr(keras.applications, self.constructor)
        kwargs = dict(self.kwargs)
        if weights == "random":
            keras.utils.set_random_seed(RANDOM_SEED)
            return ctor(include_top=False, weights=None, input_shape=shape, **kwargs)
        if weights != "imagenet" and not Path(weights).is_file():
            raise ModelUnavailable(f"weights file not found: {weights}")
        with _fail_fast_downloads(self.name):
            return ctor(include_top=False, weights=weights, input_shape=shape, **kwargs)


@dataclass(frozen=True)
class KerasFile(ModelSpec):
    """A user's saved Keras model (``.keras``): its own weights, inputs scaled to [0, 1]."""

    path: Path = Path()

    def weights_for(self, requested: str) -> str:
        return "file"

    def weights_problem(self, weights: str) -> str | None:
        return None if self.path.is_file() else f"model file not found: {self.path}"

    def weights_id(self, weights: str) -> str:
        return "file:" + _sha256(self.path)

    def arch_id(self, weights: str) -> str:
        return self.weights_id(weights)

    @property
    def source(self) -> str:
        return str(self.path)

    def build(self, weights: str, input_shape: tuple | None) -> Any:
        import keras

        return keras.saving.load_model(self.path, compile=False)


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


def _app(name: str, display: str, size: int, ctor: str, module: str, weights_file: str, **kw: Any) -> KerasApplication:
    return KerasApplication(name, display, size, module, constructor=ctor, weights_file=weights_file, **kw)


CATALOG: dict[str, KerasApplication] = {
    s.name: s
    for s in [
        _app("vgg16", "VGG16", 224, "VGG16", "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        _app("vgg19", "VGG19", 224, "VGG19", "vgg19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        _app(
            "mobilenet",
            "MobileNet",
            224,
            "MobileNet",
            "mobilenet",
            "mobilenet_1_0_224_tf_no_top.h5",
            kwargs=(("alpha", 1.0),),
        ),
        _app(
            "mobilenet_075",
            "MobileNet (alpha 0.75)",
            224,
            "MobileNet",
            "mobilenet",
            "mobilenet_7_5_224_tf_no_top.h5",
            kwargs=(("alpha", 0.75),),
        ),
        _app("efficientnetb0", "EfficientNetB0", 224, "EfficientNetB0", "efficientnet", "efficientnetb0_notop.h5"),
        _app("efficientnetb5", "EfficientNetB5", 456, "EfficientNetB5", "efficientnet", "efficientnetb5_notop.h5"),
        _app(
            "xception", "Xception", 299, "Xception", "xception", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        _app(
            "resnet50", "ResNet50", 224, "ResNet50", "resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
        ),
        _app(
            "inceptionv3",
            "InceptionV3",
            299,
            "InceptionV3",
            "inception_v3",
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        _app(
            "densenet121",
            "DenseNet121",
            224,
            "DenseNet121",
            "densenet",
            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        _app(
            "mobilenetv2",
            "MobileNetV2",
            224,
            "MobileNetV2",
            "mobilenet_v2",
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
            search=False,
        ),
        _app("nasnetmobile", "NASNetMobile", 224, "NASNetMobile", "nasnet", "nasnet_mobile_no_top.h5", search=False),
    ]
}
SEARCH_MODELS = tuple(n for n, s in CATALOG.items() if s.search and n != "mobilenet_075")
EXPLORER_MODELS = SEARCH_MODELS + ("mobilenetv2", "nasnetmobile")


def get_spec(name: str) -> ModelSpec:
    """A Keras Applications entry of the catalogue, or a path to a user's ``.keras`` model file.

    (The project's own ``playground-net`` is resolved by ``inputs.model_spec``, which knows the build's cache.)"""
    if name in CATALOG:
        return CATALOG[name]
    path = Path(name)
    if path.suffix == ".keras":
        if not path.is_file():
            raise ModelUnavailable(f"model file not found: {path}")
        return user_model_spec(path)
    raise ModelUnavailable(
        f"unknown model '{name}'. Known models: {', '.join(sorted(CATALOG))}; or give a path to a .keras file."
    )


def user_model_spec(path: Path, preprocess: str = "unit") -> KerasFile:
    """A user's saved Keras model. Its input size is read from the file when it is fixed (else 224)."""
    return KerasFile(name=path.stem, display=path.stem, input_size=0, preprocess_module=preprocess, path=path.resolve())


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


def _reachable(origin: str | None) -> str | None:
    """None when ``origin``'s host answers quickly, else the reason it does not (``network.probe``)."""
    if not origin:
        return "no download address"
    reason = probe([origin])
    return None if reason is None else f"no network: {reason}"


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
                raise WeightsUnavailable(model, name, str(folder), origin, reason)
        return original(fname, origin, *args, **kwargs)

    file_utils.get_file = guarded
    try:
        yield
    finally:
        file_utils.get_file = original


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load_model(spec: ModelSpec, weights: str = "imagenet", input_shape: tuple | None = None) -> Any:
    """Build ``spec`` without its classifier top.

    ``weights``: ``imagenet`` (Keras download + cache), ``random`` (untrained, seeded), or a path to a
    weights file. ``input_shape`` defaults to the native ``(size, size, 3)``; pass ``(None, None, 3)`` to get
    the 224-px weights at any size (MobileNet picks its weight file by input size otherwise).

    The Keras session is cleared first so auto-generated layer names (InceptionV3's ``conv2d_N``) are the
    same in every process and on every build.
    """
    return spec.load(weights, input_shape)
