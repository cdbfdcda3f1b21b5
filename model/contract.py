"""The contract between a trained model folder and everything that uses it. Keras only: no Beam.

A model folder holds `blur_model.keras` and `metadata.json`. Training and averaging write the metadata
through `ModelMetadata`; the job, evaluation and the benchmark read it back through `read_metadata`,
which checks every field, and load the network through `load_blur_model`, which returns the model's two
outputs as typed `Predictions`. Beam's handler (pipeline/job/inference.py) wraps this loader, and copies a
gs:// folder to a local one first: this module reads local files only.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from model import METADATA_FILE, MODEL_FILE

_log = logging.getLogger(__name__)

RESIZE_KERNEL_NAMES = {3: "cv2.INTER_AREA", 1: "cv2.INTER_LINEAR", 2: "cv2.INTER_CUBIC"}
"""OpenCV's interpolation ids, by name as the metadata writes them (the id alone is easy to misread)."""


class ModelContractError(ValueError):
    """A model folder that the job cannot use: missing or malformed metadata, or a model trained for
    other pixels or other labels than the job's."""


@dataclass(frozen=True)
class ModelMetadata:
    """What `metadata.json` says about a model, every field required.

    The input fields (views, view size, detail crops) and the working scale (long side and resize
    kernel) say which pixels the model was trained on; the job must cut the same views at the same
    scale, or every prediction is off without any error (`check_matches_job`).
    """

    version: str
    blur_types: tuple[str, ...]  # order of the blur_type output
    views_per_photo: int
    view_size: int
    detail_crops: int
    working_long_side: int
    resize_kernel_id: int
    training: Mapping[str, Any] = field(default_factory=dict)  # how it was made: command, seed, data, times

    def to_json(self) -> dict[str, Any]:
        """The metadata.json layout (kept from the first models, so older folders still load)."""
        return {
            "version": self.version,
            "blur_types": list(self.blur_types),
            "outputs": {
                "blurry": "probability the whole photo is blurry",
                "blur_type": "softmax over blur_types",
            },
            "input": {
                "views_per_photo": self.views_per_photo,
                "view_size": self.view_size,
                "detail_crops": self.detail_crops,
                "dtype": "uint8",
            },
            "working_scale": {
                "long_side": self.working_long_side,
                "resize_kernel": RESIZE_KERNEL_NAMES.get(self.resize_kernel_id, str(self.resize_kernel_id)),
                "kernel_id": self.resize_kernel_id,
            },
            "training": dict(self.training),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "metadata.json") -> ModelMetadata:
        """Parse and check a metadata.json object; ModelContractError names the first missing or bad field."""

        def get(*keys: str, kind: type | tuple[type, ...]) -> Any:
            value: Any = data
            for depth, key in enumerate(keys):
                if not isinstance(value, dict) or key not in value:
                    raise ModelContractError(f"{where}: missing field {'.'.join(keys[: depth + 1])}")
                value = value[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ModelContractError(f"{where}: field {'.'.join(keys)} is {value!r}, not {kind}")
            return value

        blur_types = get("blur_types", kind=list)
        if not blur_types or not all(isinstance(name, str) for name in blur_types):
            raise ModelContractError(f"{where}: blur_types must be a non-empty list of names")
        version = get("version", kind=str)
        if not version.strip():
            raise ModelContractError(f"{where}: version is empty")
        return cls(
            version=version,
            blur_types=tuple(blur_types),
            views_per_photo=get("input", "views_per_photo", kind=int),
            view_size=get("input", "view_size", kind=int),
            detail_crops=get("input", "detail_crops", kind=int),
            working_long_side=get("working_scale", "long_side", kind=int),
            resize_kernel_id=get("working_scale", "kernel_id", kind=int),
            training=data.get("training", {}) if isinstance(data.get("training"), dict) else {},
        )

    def write(self, folder: str | os.PathLike) -> None:
        Path(folder, METADATA_FILE).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def check_matches_job(self) -> None:
        """Raise ModelContractError unless the model was trained on the views and labels the job makes."""
        from model import inputs as preprocess  # no Beam: the pure module training and the job share
        from model.labels import BLUR_TYPES

        job = {
            "blur_types": BLUR_TYPES,
            "views_per_photo": preprocess.VIEWS_PER_PHOTO,
            "view_size": preprocess.VIEW_SIZE,
            "detail_crops": preprocess.DETAIL_CROPS,
            "working_long_side": preprocess.WORKING_LONG_SIDE,
            "resize_kernel_id": int(preprocess.WORKING_RESIZE_KERNEL),
        }
        for name, expected in job.items():
            if getattr(self, name) != expected:
                raise ModelContractError(
                    f"model {self.version} was trained with {name} = {getattr(self, name)!r}, "
                    f"but this job uses {expected!r}: use a model made for this version of the job"
                )

    @classmethod
    def for_this_job(cls, version: str, training: Mapping[str, Any]) -> ModelMetadata:
        """Metadata for a model trained now, on the job's own views and labels."""
        from model import inputs as preprocess
        from model.labels import BLUR_TYPES

        return cls(
            version=version,
            blur_types=BLUR_TYPES,
            views_per_photo=preprocess.VIEWS_PER_PHOTO,
            view_size=preprocess.VIEW_SIZE,
            detail_crops=preprocess.DETAIL_CROPS,
            working_long_side=preprocess.WORKING_LONG_SIDE,
            resize_kernel_id=int(preprocess.WORKING_RESIZE_KERNEL),
            training=dict(training),
        )


def parse_metadata(text: str | bytes, where: str = METADATA_FILE) -> ModelMetadata:
    """ModelMetadata from the text of a metadata.json."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ModelContractError(f"{where} is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ModelContractError(f"{where} must hold a JSON object")
    return ModelMetadata.from_json(data, where)


def read_metadata(local_dir: str | os.PathLike) -> ModelMetadata:
    """The checked metadata of a local model folder."""
    path = Path(local_dir, METADATA_FILE)
    if not path.is_file():
        raise ModelContractError(f"no {METADATA_FILE} in model folder {local_dir}")
    return parse_metadata(path.read_bytes(), str(path))


class Predictions(NamedTuple):
    """The model's answer for a batch of N photos."""

    blur_probability: np.ndarray  # (N,) probability that the whole photo is blurry, in [0, 1]
    type_probabilities: np.ndarray  # (N, len(blur_types)) softmax over ModelMetadata.blur_types


@dataclass
class BlurModel:
    """A loaded model: its metadata and one compiled inference graph, safe to share across threads."""

    metadata: ModelMetadata
    load_seconds: float
    _graph: Callable[[Any], tuple[Any, Any]]  # tf.function: views (N, V, S, S, 3) uint8 -> (blurry, types)
    keras_model: Any = None

    @property
    def version(self) -> str:
        return self.metadata.version

    def predict(self, views: np.ndarray) -> Predictions:
        """Predictions for `views`, (N, views_per_photo, view_size, view_size, 3) uint8."""
        blurry, types = self._graph(views)
        return Predictions(np.asarray(blurry)[:, 0], np.asarray(types))


def load_blur_model(local_dir: str | os.PathLike) -> BlurModel:
    """Load and check a local model folder: metadata valid and made for this job, network loadable,
    its outputs shaped as the metadata says. Compiles the one inference graph (any batch size)."""
    import keras  # heavy: imported only where the model is used
    import tensorflow as tf

    from model import layers as _registers_the_models_own_layers  # noqa: F401  (load_model looks them up)

    started = time.perf_counter()
    metadata = read_metadata(local_dir)
    metadata.check_matches_job()
    path = Path(local_dir, MODEL_FILE)
    if not path.is_file():
        raise ModelContractError(f"no {MODEL_FILE} in model folder {local_dir}")
    try:
        network = keras.saving.load_model(path, compile=False)
    except Exception as error:  # a truncated or foreign file: say which file, not Keras' internals
        raise ModelContractError(
            f"{path} cannot be loaded as a Keras model ({type(error).__name__}: {error})"
        ) from error

    shape = [None, metadata.views_per_photo, metadata.view_size, metadata.view_size, 3]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.uint8)])
    def graph(views):
        outputs = network(views, training=False)
        return outputs["blurry"], outputs["blur_type"]

    try:
        graph.get_concrete_function()  # trace now, once, rather than inside the first batch
    except Exception as error:
        raise ModelContractError(
            f"{path} does not take views shaped {shape[1:]} or lacks the outputs 'blurry' and 'blur_type' "
            f"({type(error).__name__}: {error})"
        ) from error
    model = BlurModel(metadata, time.perf_counter() - started, graph, network)
    _check_outputs(model)
    model.load_seconds = time.perf_counter() - started
    _log.info(
        "Loaded blur model %s (version %s) in pid %d in %.1f s",
        local_dir,
        metadata.version,
        os.getpid(),
        model.load_seconds,
    )
    return model


def _check_outputs(model: BlurModel) -> None:
    """A probe batch (two grey photos) must give one probability and one finite distribution over the
    metadata's blur types per photo: a model with other classes or broken weights stops here."""
    meta = model.metadata
    probe = np.full((2, meta.views_per_photo, meta.view_size, meta.view_size, 3), 128, np.uint8)
    probe[1] = np.random.default_rng(0).integers(0, 256, probe.shape[1:], dtype=np.uint8)
    predictions = model.predict(probe)
    if predictions.type_probabilities.shape != (2, len(meta.blur_types)):
        raise ModelContractError(
            f"model {meta.version} has {predictions.type_probabilities.shape[-1]} blur-type outputs, "
            f"its metadata names {len(meta.blur_types)} ({', '.join(meta.blur_types)})"
        )
    if not (
        np.all(np.isfinite(predictions.blur_probability))
        and np.all(np.isfinite(predictions.type_probabilities))
    ):
        raise ModelContractError(f"model {meta.version} gives non-finite outputs (NaN or inf weights?)")
