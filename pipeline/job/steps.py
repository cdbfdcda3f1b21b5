"""Beam glue shared by the job's steps: the per-photo step wrapper, its output tags, and the row counter.

Every per-photo step runs inside PerPhoto. A step that raises sends the photo to the FAILED output
as a PhotoFailure (its URI and a reason a person understands); the job goes on with the others and
writes the failure as a row with status "error", so no matched file is ever dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import apache_beam as beam
import cv2
from apache_beam.metrics import Metrics

from pipeline.photo.decode import DecodeError
from pipeline.photo.filetypes import NotAPhoto
from pipeline.photo.payload import OverBudget
from pipeline.storage.files import MatchedFile

METRICS_NAMESPACE = "blur_job"
"""Namespace of the job's own Beam counters (files, ok, errors, skipped, blurry, model_loads)."""

OK = "ok"
"""Tag of a per-photo step's main output: (MatchedFile, result) pairs."""

FAILED = "failed"
"""Tag of a per-photo step's side output: PhotoFailure elements."""


class PhotoFailure(NamedTuple):
    """A photo that could not be scored, and why, in words for the output row. `skipped`: not a photo
    at all (a sidecar, a video; pipeline.photo.filetypes.NotAPhoto), so its row has status "skipped"."""

    file: MatchedFile
    reason: str
    skipped: bool = False

    @property
    def uri(self) -> str:
        return self.file.uri


def describe(error: BaseException) -> str:
    """`Type: message` of an unexpected error; the type alone when there is no message."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class PerPhoto(beam.DoFn):
    """Applies `step` to the payload of a (file, payload) element and emits (file, result).

    A bare MatchedFile (the output of the match step) is its own payload. When `step` raises, the
    photo goes to the FAILED output with `reason(uri, error)`; a file that turns out not to be a photo
    (NotAPhoto) goes there too, marked skipped, with the exception's own words.
    """

    def __init__(self, step: Callable[[Any], Any], reason: Callable[[str, Exception], str]):
        super().__init__()
        self._step = step
        self._reason = reason

    def setup(self) -> None:
        # Beam already keeps every core busy with photos, one per worker thread; OpenCV's own thread
        # pool on top makes each resize or colour conversion wait for threads the other workers hold.
        # Measured over three 600-photo 12 MP runs each (bench/run.sh --repeats 3 --systems
        # job_all_cores): 29.0-30.0 s and 46-48 CPU s with one thread, 29.1-32.6 s and 48-52 CPU s without.
        cv2.setNumThreads(1)

    def process(self, element: MatchedFile | tuple[MatchedFile, Any]):
        # A MatchedFile is itself a tuple: test for it first.
        file, payload = (element, element) if isinstance(element, MatchedFile) else element
        try:
            result = self._step(payload)
        except NotAPhoto as not_a_photo:
            yield beam.pvalue.TaggedOutput(FAILED, PhotoFailure(file, str(not_a_photo), skipped=True))
            return
        except Exception as error:  # any failure of one photo is that photo's row, never the job's end
            yield beam.pvalue.TaggedOutput(FAILED, PhotoFailure(file, self._reason(file.uri, error)))
            return
        yield file, result


def per_photo(step: Callable[[Any], Any], reason: Callable[[str, Exception], str]) -> beam.ParDo:
    """A Beam step applying `step` to each photo; outputs OK: (file, result), FAILED: PhotoFailure."""
    return beam.ParDo(PerPhoto(step, reason)).with_outputs(FAILED, main=OK)


COUNTER_BY_STATUS = {"ok": "ok", "skipped": "skipped"}
"""Row status -> counter; any other status counts as "errors". The keys are schema.STATUS_OK and
schema.STATUS_SKIPPED (pipeline.job.rows imports this module, so not the other way round)."""


def count_row(row: dict) -> dict:
    """Count an output row into the job's counters (ok, errors, skipped, blurry); the row passes through.

    "files" is counted by the match step, so files == ok + errors + skipped checks that every file got
    its row."""
    Metrics.counter(METRICS_NAMESPACE, COUNTER_BY_STATUS.get(row["status"], "errors")).inc()
    if row["blurry"]:
        Metrics.counter(METRICS_NAMESPACE, "blurry").inc()
    return row


def decode_failure_reason(uri: str, error: Exception) -> str:
    if isinstance(error, DecodeError | OverBudget):
        return str(error)
    return f"cannot decode file ({describe(error)})"


def measure_failure_reason(uri: str, error: Exception) -> str:
    return f"cannot measure photo ({describe(error)})"


def inference_failures(failed_batch: tuple) -> list[PhotoFailure]:
    """Every photo of a batch the model failed on, from RunInference's dead-letter element
    (batch of (facts, views), (exception type, repr, traceback))."""
    batch, (_, error_repr, _) = failed_batch
    return [PhotoFailure(facts.file, f"model inference failed ({error_repr})") for facts, _ in batch]
