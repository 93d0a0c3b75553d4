"""``playground-net``: a small CNN that the project trains itself, at build time, on generated ``shapes``.

It makes the playground work offline: no downloaded weights are needed to see a real layer hierarchy. The
architecture is VGG-like, 8 conv layers in 5 blocks (Conv2D 3x3 + BatchNorm + ReLU, max-pooling between
blocks), global average pooling and a softmax over the 10 shape classes; every layer has an explicit, stable
name (``block3_conv2``, ``block3_bn2``, ``block3_relu2``, ``block3_pool``, ``avg_pool``, ``predictions``). With
8 conv layers, the playground's 8-layer selection is every conv layer of the net.

Training (``ensure_trained``): ``n_per_class`` freshly generated images per class from the ``train`` stream of
``shapes`` (a different seed tree from the 200 ``site`` images shown on the site, which are never trained on),
Adam with a cosine-decayed learning rate, a seeded shuffle and seeded initialisation; accuracy is then measured
on images from the ``val`` stream. The model is cached as ``<cache_dir>/playground-net/<recipe_hash>/model.keras``
with ``record.json`` beside it, and reused until the recipe (architecture, data recipe, seeds, training settings,
Keras backend) changes.

This module imports no Keras at import time: making the spec and computing its recipe hash are cheap, so a
no-op rebuild does not pay for Keras. Training only happens when the model is loaded with trained weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import log
from .atomic import dumps, write_json
from .catalog import RANDOM_SEED, ModelSpec, backend_name
from .errors import ModelUnavailable
from .shapes import CLASSES, generate_arrays
from .shapes import recipe as shapes_recipe

NAME = "playground-net"
DISPLAY = "Playground-Net (trained here)"
# Bump when the code below changes what is trained (it is part of the recipe hash).
NET_VERSION = 2
INPUT_SIZE = 64
# (filters, conv layers) per block; a 2x2 max-pooling follows every block but the last.
BLOCKS: tuple[tuple[int, int], ...] = ((16, 1), (32, 1), (48, 2), (96, 2), (128, 2))
BN_MOMENTUM = 0.9
TRAIN: dict[str, Any] = {
    "n_per_class": 800,
    "val_per_class": 100,
    "epochs": 4,
    "batch_size": 64,
    "optimizer": "adam",
    "learning_rate": 2e-3,
    "schedule": "cosine",
    "seed": 7,  # weight initialisation and the per-epoch shuffle
    "data_seed": 1,  # shapes seed of the train and val streams (the site images use shapes.SITE_SEED)
}
ACCURACY_BAR = 0.95
TRUNK_OUTPUT = f"block{len(BLOCKS)}_relu{BLOCKS[-1][1]}"


# --------------------------------------------------------------------------------------------- recipe


def recipe() -> dict[str, Any]:
    """Everything the trained weights depend on."""
    seed = TRAIN["data_seed"]
    return {
        "net": NET_VERSION,
        "input_size": INPUT_SIZE,
        "blocks": [list(b) for b in BLOCKS],
        "bn_momentum": BN_MOMENTUM,
        "classes": list(CLASSES),
        "train": dict(TRAIN),
        "data": {
            "train": shapes_recipe(TRAIN["n_per_class"], INPUT_SIZE, seed, "train"),
            "val": shapes_recipe(TRAIN["val_per_class"], INPUT_SIZE, seed, "val"),
        },
        "preprocess": "unit",
        "backend": backend_name(),
    }


def recipe_hash() -> str:
    return hashlib.sha256(dumps(recipe()).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- model


def build_model(
    input_shape: tuple[int | None, int | None, int] = (INPUT_SIZE, INPUT_SIZE, 3), *, include_top: bool = True
) -> Any:
    """The architecture, untrained (initialised from Keras' global seed: call ``set_random_seed`` first).

    ``include_top=False`` stops at the last block's ReLU, like Keras Applications without their top.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for b, (filters, n_conv) in enumerate(BLOCKS, start=1):
        for j in range(1, n_conv + 1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{b}_conv{j}")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{b}_bn{j}")(x)
            x = layers.ReLU(name=f"block{b}_relu{j}")(x)
        if b < len(BLOCKS):
            x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(len(CLASSES), activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="playground_net")


def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The seeded permutation of epoch ``epoch`` (batches are its consecutive slices; the remainder is dropped)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def _fit(model: Any, x: np.ndarray, y: np.ndarray, cfg: dict[str, Any], bar: Any) -> list[dict[str, float]]:
    """Train with ``train_on_batch`` on batches cut from the uint8 arrays, and return the per-epoch history.

    Why not ``model.fit`` on a ``keras.utils.PyDataset``: on the TensorFlow backend that feeds the batches through
    ``tf.data.Dataset.from_generator``, whose iterator, when freed after the last epoch, waits for its Python
    generator thread while the main thread holds the GIL. Seen here: a test-suite run hung there for good, the main
    thread in the iterator's destructor (py-spy); TensorFlow issue #47321 is the same deadlock. ``train_on_batch``
    runs the same compiled train step on the same batches with no data pipeline and no thread."""
    batch_size, epochs = cfg["batch_size"], cfg["epochs"]
    per_epoch = len(x) // batch_size
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        order = _epoch_order(len(x), cfg["seed"], epoch)
        acc_sum = loss_sum = 0.0
        for i in range(per_epoch):
            idx = np.sort(order[i * batch_size : (i + 1) * batch_size])
            logs = model.train_on_batch(x[idx].astype(np.float32) / 255.0, y[idx], return_dict=True)
            acc_sum += float(logs["accuracy"])
            loss_sum += float(logs["loss"])
            bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}, accuracy {acc_sum / (i + 1):.3f}", refresh=False)
        # equal batches: the mean of the batch values is the epoch's value, as fit() reports it
        history.append(
            {"epoch": epoch + 1, "accuracy": round(acc_sum / per_epoch, 4), "loss": round(loss_sum / per_epoch, 4)}
        )
    return history


def accuracy(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy of the full (with top) model on uint8 images."""
    probs = model.predict(x.astype(np.float32) / 255.0, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == y))


def _train(folder: Path, h: str, progress: bool) -> dict[str, Any]:
    import keras

    cfg = TRAIN
    t0 = time.perf_counter()
    n_train = cfg["n_per_class"] * len(CLASSES)
    log.info(f"{NAME}: training on {n_train} generated images (first build only; cached in {folder})")
    gen_bar = log.bar(desc=f"{NAME}: drawing images", total=n_train, unit="img") if progress else None

    def advance(done: int) -> None:
        if gen_bar is not None:
            gen_bar.update(done - gen_bar.n)

    x_train, y_train = generate_arrays(
        cfg["n_per_class"], INPUT_SIZE, cfg["data_seed"], stream="train", progress=advance
    )
    if gen_bar is not None:
        gen_bar.close()
    x_val, y_val = generate_arrays(cfg["val_per_class"], INPUT_SIZE, cfg["data_seed"], stream="val")
    t_data = time.perf_counter() - t0

    # Seeds alone make a rerun on the same machine bit-identical (measured, TF and JAX on CPU), so TF's
    # process-wide enable_op_determinism() is not used: it would also change every later op of the build.
    keras.utils.set_random_seed(cfg["seed"])
    model = build_model()
    steps = (len(x_train) // cfg["batch_size"]) * cfg["epochs"]
    schedule = keras.optimizers.schedules.CosineDecay(cfg["learning_rate"], steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    bar = log.bar(desc=f"{NAME}: training", total=steps, unit="step") if progress else _NullBar()
    t1 = time.perf_counter()
    try:
        history = _fit(model, x_train, y_train, cfg, bar)
    finally:
        bar.close()
    t_train = time.perf_counter() - t1
    val_acc = accuracy(model, x_val, y_val)

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".model.{os.getpid()}.tmp.keras"
    try:
        model.save(tmp)
        os.replace(tmp, folder / "model.keras")
    finally:
        tmp.unlink(missing_ok=True)
    record = {
        "name": NAME,
        "recipe_hash": h,
        "recipe": recipe(),
        "val_accuracy": round(val_acc, 4),
        "train_accuracy": history[-1]["accuracy"] if history else None,
        "meets_bar": val_acc >= ACCURACY_BAR,
        "epochs": cfg["epochs"],
        "n_train": int(len(x_train)),
        "n_val": int(len(x_val)),
        "history": history,
        "data_seconds": round(t_data, 1),
        "train_seconds": round(t_train, 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
    }
    write_json(folder / "record.json", record, pretty=True)
    msg = (
        f"{NAME}: trained in {record['seconds']:.0f}s ({cfg['epochs']} epochs), "
        f"validation accuracy {val_acc:.1%} on {len(x_val)} fresh images"
    )
    if val_acc < ACCURACY_BAR:
        log.warn(msg + f" -- below the {ACCURACY_BAR:.0%} bar")
    else:
        log.info(msg)
    return record


class _NullBar:
    n = 0

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def ensure_trained(cache_dir: Path, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """The trained model file and its record, training it first when this recipe has no cached model.

    The model is saved under a temporary name and moved into place (``os.replace``), the record written
    after it: an interrupted training leaves nothing that looks finished.
    """
    h = recipe_hash()
    folder = Path(cache_dir) / NAME / h
    model_path, record_path = folder / "model.keras", folder / "record.json"
    if model_path.is_file() and record_path.is_file():
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {}
        if record.get("recipe_hash") == h:
            return model_path, record
    record = _train(folder, h, progress and not log.is_quiet())
    return model_path, record


# --------------------------------------------------------------------------------------------- loading


def load(weights: str, input_shape: tuple | None = None, cache_dir: Path | None = None) -> Any:
    """The conv trunk (no top) with ``weights``: ``trained`` (the net's own weights, trained into ``cache_dir``
    when this recipe has none there yet), ``random`` (untrained, seeded with ``catalog.RANDOM_SEED``) or a path to
    a saved ``playground-net`` ``.keras`` file. ``input_shape`` defaults to ``(64, 64, 3)``; ``(None, None, 3)``
    works.
    """
    import keras

    shape = tuple(input_shape) if input_shape else (INPUT_SIZE, INPUT_SIZE, 3)
    if weights == "random":
        keras.utils.set_random_seed(RANDOM_SEED)
        return build_model(shape, include_top=False)
    if weights == "trained":
        if cache_dir is None:
            raise ModelUnavailable(f"{NAME}: trained weights need the build's cache folder")
        path, _ = ensure_trained(cache_dir)
    elif Path(weights).is_file() and Path(weights).suffix == ".keras":
        path = Path(weights)
    else:
        raise ModelUnavailable(
            f"{NAME} takes weights 'trained' or 'random' (or a saved {NAME} .keras file), not '{weights}'"
        )
    source = keras.saving.load_model(path, compile=False)
    trunk = build_model(shape, include_top=False)
    for layer in trunk.layers:
        if layer.weights:
            try:
                layer.set_weights(source.get_layer(layer.name).get_weights())
            except ValueError as exc:
                raise ModelUnavailable(f"{path} is not a {NAME} model of this architecture: {exc}") from exc
    return trunk


@dataclass(frozen=True)
class PlaygroundNet(ModelSpec):
    """The catalogue entry of the net: trained by the build into ``cache_dir`` (cheap to make: no Keras, no
    training until :meth:`load` asks for the trained weights)."""

    cache_dir: Path = Path("build/cache")
    recipe_hash: str = ""

    def weights_for(self, requested: str) -> str:
        """Its own trained weights stand in for "imagenet" (the build default): ``random`` stays random."""
        return requested if requested == "random" or Path(requested).suffix == ".keras" else "trained"

    def weights_problem(self, weights: str) -> str | None:
        if weights in ("random", "trained"):
            return None
        return super().weights_problem(weights)

    def weights_id(self, weights: str) -> str:
        if weights == "random":
            return f"random:{RANDOM_SEED}:{self.recipe_hash}"
        if weights == "trained":
            return "trained:" + self.recipe_hash
        return super().weights_id(weights)

    def arch_id(self, weights: str) -> str:
        return self.weights_id(weights)

    @property
    def source(self) -> str:
        return "trained by the build (build/cache)"

    def build(self, weights: str, input_shape: tuple | None) -> Any:
        return load(weights, input_shape, self.cache_dir)

    def training(self, weights: str) -> dict[str, Any] | None:
        if weights != "trained":
            return None
        record = self.ensure_trained(progress=False)
        return {
            "dataset": "shapes (train stream: freshly generated, never the images shown on the site)",
            "images": int(record.get("n_train", 0)),
            "val_images": int(record.get("n_val", 0)),
            "val_accuracy": float(record.get("val_accuracy", 0.0)),
            "epochs": int(record.get("epochs", 0)),
        }

    def ensure_trained(self, progress: bool = True) -> dict[str, Any]:
        """Train the net now if the build's cache has no model for this recipe (its own progress and timing)."""
        return ensure_trained(self.cache_dir, progress=progress)[1]


def spec(cache_dir: Path) -> PlaygroundNet:
    """The catalogue entry for a build whose cache is ``cache_dir``."""
    return PlaygroundNet(
        name=NAME,
        display=DISPLAY,
        input_size=INPUT_SIZE,
        preprocess_module="unit",
        cache_dir=Path(cache_dir),
        recipe_hash=recipe_hash(),
    )
