"""Inference step: the blur model behind Beam's RunInference.

Why a handler of our own rather than Beam's TensorFlow one: `apache_beam.ml.inference.tensorflow_inference`
imports tensorflow_hub (which pulls tf-keras), and Keras 3 cannot load the SavedModel directories it
expects. This handler loads the shipped `.keras` file with keras.saving.load_model.

Speed by design: RunInference calls load_model once per worker process (from its DoFn's setup, through
a process-wide Shared handle) and shares the model across the process's threads; the model is wrapped in
one tf.function with a fixed input signature whose batch dimension is None, so batches of any size reuse
one graph and never retrace. TensorFlow is imported only when the model is loaded, so the launcher
and the steps before inference do not pay for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler

from model import METADATA_FILE, MODEL_FILE
from pipeline.errors import METRICS_NAMESPACE
from pipeline.labels import BLUR_TYPES
from pipeline.preprocess import VIEW_SIZE, VIEWS_PER_PHOTO

_log = logging.getLogger(__name__)


class BlurPrediction(NamedTuple):
    """The model's answer for one photo."""

    blur_probability: float  # probability that the whole photo is blurry, in [0, 1]
    type_probabilities: tuple[float, ...]  # one per labels.BLUR_TYPES, summing to 1
    model_version: str


@dataclass
class LoadedBlurModel:
    """The model as RunInference holds it: one compiled graph shared by all threads of a process."""

    predict: Callable[
        [Any], tuple[Any, Any]
    ]  # tf.function: views (N, V, 200, 200, 3) uint8 -> (blurry, types)
    version: str
    load_seconds: float
    # A DoFn's setup, where RunInference loads the model, has no metrics context, so the load is
    # counted by the first batch that uses the model.
    _load_counted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count_load_once(self) -> None:
        if self._load_counted:
            return
        with self._lock:
            if not self._load_counted:
                Metrics.counter(METRICS_NAMESPACE, "model_loads").inc()
                self._load_counted = True


def _model_path(model_dir: str, name: str) -> str:
    return FileSystems.join(str(model_dir), name)


def read_metadata(model_dir: str) -> dict[str, Any]:
    """metadata.json of a model folder, local or gs://."""
    path = _model_path(model_dir, METADATA_FILE)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return json.loads(stream.read().decode("utf-8"))


@contextlib.contextmanager
def local_model_dir(model_dir: str) -> Iterator[str]:
    """A local folder holding the model files while the block runs: `model_dir` itself, or for gs:// (or
    any remote file system) a temporary folder the two files are copied into, since Keras reads local
    files only; it is deleted afterwards (the loaded model lives in memory)."""
    if FileSystems.get_scheme(str(model_dir)) in (None, "file"):
        yield str(model_dir)
        return
    with tempfile.TemporaryDirectory(prefix="blur_model_") as local:
        for name in (MODEL_FILE, METADATA_FILE):
            source = FileSystems.open(
                _model_path(model_dir, name), compression_type=CompressionTypes.UNCOMPRESSED
            )
            with source, open(os.path.join(local, name), "wb") as target:
                shutil.copyfileobj(source, target, length=1 << 20)
        yield local


def load_blur_model(model_dir: str) -> LoadedBlurModel:
    """Load the `.keras` model and its metadata from `model_dir` and compile its one inference graph."""
    import keras  # heavy: imported only where the model is used
    import tensorflow as tf

    from model import layers as _registers_the_models_own_layers  # noqa: F401  (load_model looks them up)

    started = time.perf_counter()
    with local_model_dir(model_dir) as local:
        model = keras.saving.load_model(os.path.join(local, MODEL_FILE), compile=False)
        with open(os.path.join(local, METADATA_FILE), encoding="utf-8") as file:
            metadata = json.load(file)
    version = str(metadata["version"])
    # The output rows name one column per blur type in labels.BLUR_TYPES order: a model trained on
    # other classes must stop the job here, not mislabel every photo.
    if tuple(metadata.get("blur_types", BLUR_TYPES)) != BLUR_TYPES:
        raise ValueError(
            f"model {model_dir} has blur types {metadata['blur_types']}, the job expects {BLUR_TYPES}"
        )

    @tf.function(input_signature=[tf.TensorSpec([None, VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3], tf.uint8)])
    def predict(views):
        outputs = model(views, training=False)
        return outputs["blurry"], outputs["blur_type"]

    predict.get_concrete_function()  # trace now, once, rather than inside the first batch
    seconds = time.perf_counter() - started
    _log.info(
        "Loaded blur model %s (version %s) in pid %d in %.1f s", model_dir, version, os.getpid(), seconds
    )
    return LoadedBlurModel(predict=predict, version=version, load_seconds=seconds)


BATCH_SIZE = 32
"""Photos per model call. Beam's BatchElements makes batches of exactly this size (only a bundle's last
batch is smaller), and that one is padded to it: TensorFlow and oneDNN keep buffers for every input
shape they see, so one shape keeps a worker's memory flat. Measured: batches of 8-64 photos, all
sizes, grew a worker by 518 MB over 114 sizes; padding to multiples of 8 still let peaks swing by
1 GB between runs, and adaptive sizes ran the 10,000-file scale benchmark at 83 images/s, this at 110."""


def stack_padded(batch: Sequence[np.ndarray], step: int) -> np.ndarray:
    """Stack one batch of photos' views, padded with zero photos up to a multiple of `step` photos.
    The padded rows' outputs are never read."""
    size = -(-len(batch) // step) * step
    stacked = np.empty((size, *batch[0].shape), batch[0].dtype)
    for index, views in enumerate(batch):
        stacked[index] = views
    stacked[len(batch) :] = 0
    return stacked


class BlurModelHandler(ModelHandler[np.ndarray, BlurPrediction, LoadedBlurModel]):
    """ModelHandler for the blur model: examples are one photo's views, (V, 200, 200, 3) uint8.

    Batching is Beam's BatchElements within a bundle, between min_batch_size and max_batch_size
    (both BATCH_SIZE by default); every batch is padded to a multiple of max_batch_size photos.
    max_batch_duration_secs is deliberately not set by default: it switches BatchElements to a
    stateful, keyed implementation that, in a batch job, shuffles every photo's views (600 KB each)
    and has a real-time timer that sends the DirectRunner to its slow legacy engine.
    """

    def __init__(
        self,
        model_dir: str,
        *,
        min_batch_size: int = BATCH_SIZE,
        max_batch_size: int = BATCH_SIZE,
        max_batch_duration_secs: int | None = None,
    ):
        super().__init__(
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            max_batch_duration_secs=max_batch_duration_secs,
        )
        self._model_dir = str(model_dir)

    def load_model(self) -> LoadedBlurModel:
        return load_blur_model(self._model_dir)

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: LoadedBlurModel,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[BlurPrediction]:
        model.count_load_once()
        padded_size = self.batch_elements_kwargs()["max_batch_size"]
        blurry, types = model.predict(stack_padded(batch, padded_size))
        blurry, types = blurry.numpy(), types.numpy()
        return [
            BlurPrediction(
                blur_probability=float(blurry[index, 0]),
                type_probabilities=tuple(float(p) for p in types[index]),
                model_version=model.version,
            )
            for index in range(len(batch))
        ]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        # The default pickles the whole batch just to measure it.
        return sum(views.nbytes for views in batch)

    def get_metrics_namespace(self) -> str:
        return "BlurModel"

    def __repr__(self) -> str:
        return f"BlurModelHandler({self._model_dir!r}, batch {self.batch_elements_kwargs()})"
