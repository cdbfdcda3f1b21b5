"""Inference step: the blur model behind Beam's RunInference.

Why a handler of our own rather than Beam's TensorFlow one: `apache_beam.ml.inference.tensorflow_inference`
imports tensorflow_hub (which pulls tf-keras), and Keras 3 cannot load the SavedModel directories it
expects. This handler wraps model.contract.load_blur_model (Keras only; evaluation and the benchmark call
it without Beam) and adds what Beam needs: a gs:// model folder copied to local files, batches padded
to one shape, and the model_loads counter.

Speed by design: RunInference calls load_model once per worker process (from its DoFn's setup, through
a process-wide Shared handle) and shares the model across the process's threads; the model is one
tf.function with a fixed input signature whose batch dimension is None, so batches of any size reuse
one graph and never retrace. TensorFlow is imported only when the model is loaded, so the launcher
and the steps before inference do not pay for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler

from model import METADATA_FILE, MODEL_DIR, MODEL_FILE
from model.contract import BlurModel, ModelMetadata, parse_metadata
from model.contract import load_blur_model as load_local_blur_model
from pipeline.job.quiet import filtered_native_stderr
from pipeline.job.steps import METRICS_NAMESPACE


class BlurPrediction(NamedTuple):
    """The model's answer for one photo."""

    blur_probability: float  # probability that the whole photo is blurry, in [0, 1]
    type_probabilities: tuple[float, ...]  # one per the model's blur types (labels.BLUR_TYPES), summing to 1
    model_version: str


@dataclass
class LoadedBlurModel:
    """The model as RunInference holds it: one compiled graph shared by all threads of a process."""

    model: BlurModel
    # A DoFn's setup, where RunInference loads the model, has no metrics context, so the load is
    # counted by the first batch that uses the model.
    _load_counted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> str:
        return self.model.version

    def count_load_once(self) -> None:
        if self._load_counted:
            return
        with self._lock:
            if not self._load_counted:
                Metrics.counter(METRICS_NAMESPACE, "model_loads").inc()
                self._load_counted = True


def _model_path(model_dir: str, name: str) -> str:
    return FileSystems.join(str(model_dir), name)


def read_metadata(model_dir: str) -> ModelMetadata:
    """The checked metadata.json of a model folder, local, gs:// or s3://."""
    path = _model_path(model_dir, METADATA_FILE)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return parse_metadata(stream.read(), path)


@contextlib.contextmanager
def local_model_dir(model_dir: str) -> Iterator[str]:
    """A local folder holding the model files while the block runs: `model_dir` itself, or for gs://,
    s3:// (any remote file system) a temporary folder the two files are copied into, since Keras reads
    local files only; it is deleted afterwards (the loaded model lives in memory)."""
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
    """Load and check the model folder `model_dir`, local, gs:// or s3:// (model.contract.load_blur_model).
    TensorFlow's start-up noise is filtered out of stderr meanwhile (pipeline.job.quiet)."""
    with local_model_dir(model_dir) as local, filtered_native_stderr():
        return LoadedBlurModel(load_local_blur_model(local))


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
        # The shipped model is installed with the package on every worker, at that worker's own path.
        self._shipped = FileSystems.get_scheme(self._model_dir) in (None, "file") and (
            Path(self._model_dir).resolve() == MODEL_DIR.resolve()
        )

    def load_model(self) -> LoadedBlurModel:
        return load_blur_model(str(MODEL_DIR) if getattr(self, "_shipped", False) else self._model_dir)

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: LoadedBlurModel,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[BlurPrediction]:
        model.count_load_once()
        padded_size = self.batch_elements_kwargs()["max_batch_size"]
        predictions = model.model.predict(stack_padded(batch, padded_size))
        return [
            BlurPrediction(
                blur_probability=float(predictions.blur_probability[index]),
                type_probabilities=tuple(float(p) for p in predictions.type_probabilities[index]),
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
