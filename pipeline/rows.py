"""The output contract: one row per matched file, as a dict that fits SCHEMA. Pure: no Beam.

An "ok" row has every column; an "error" row has the URI, the reason, the model version, the time and
the run's columns (run id, thresholds), and nulls for everything that was not measured; a "skipped" row
(a file that is not a photo: a sidecar, a video) is an error row with its own status, counted apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from pipeline.files import MatchedFile
from pipeline.inference import BlurPrediction
from pipeline.labels import BLUR_TYPES
from pipeline.measure import PhotoFacts
from pipeline.steps import PhotoFailure
from pipeline.verdict import verdict

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_SKIPPED = "skipped"

PROBABILITY_COLUMNS = tuple(f"prob_{blur_type}" for blur_type in BLUR_TYPES)
"""One column per blur type, the model's probability of that type (summing to 1 over the types)."""

FILE_FIELDS = (
    pa.field("file_size", pa.int64()),  # bytes
    pa.field("modified_at", pa.timestamp("us", tz="UTC")),  # file mtime; for gs://, the object's update time
    pa.field("crc32c", pa.string()),  # the content's CRC32C as 8 hex digits (gs://: the object's own)
    pa.field("carried_over", pa.bool_()),  # true: copied from an earlier run (--skip_scored), not re-read
)


def file_columns(file: MatchedFile, *, carried_over: bool = False) -> dict:
    """The file-facts columns of a row; None where the listing did not say."""
    return {
        "file_size": file.size,
        "modified_at": None if file.modified_at is None else datetime.fromtimestamp(file.modified_at, UTC),
        "crc32c": file.crc32c,
        "carried_over": carried_over,
    }


SCHEMA = pa.schema(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("format", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("laplacian_var", pa.float64()),
        pa.field("laplacian_blurry", pa.bool_()),
        pa.field("blur_probability", pa.float64()),
        pa.field("blurry", pa.bool_()),
        pa.field("blur_type", pa.string()),
        *(pa.field(column, pa.float64()) for column in PROBABILITY_COLUMNS),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us", tz="UTC"), nullable=False),
        # File facts (branch launch-match): from the listing, before the file is read; incremental runs
        # compare them with an earlier run's row to decide that a file is unchanged.
        *FILE_FIELDS,
        # The run that wrote the row, and the thresholds it judged with (set on every row, error rows
        # too): analysts can tell which threshold produced `blurry` and which run a row came from.
        pa.field("run_id", pa.string()),
        pa.field("blur_threshold", pa.float64()),
        pa.field("laplacian_threshold", pa.float64()),
        # What the photo shows and what the camera recorded (files-hostile; pipeline.measure, pipeline.exif):
        # null on error and skipped rows, and where the file does not say.
        pa.field("low_information", pa.bool_()),
        pa.field("brightness", pa.float64()),
        pa.field("contrast", pa.float64()),
        pa.field("captured_at", pa.timestamp("us")),  # the camera's local clock: no time zone
        pa.field("camera_make", pa.string()),
        pa.field("camera_model", pa.string()),
        pa.field("exposure_time_s", pa.float64()),
        pa.field("iso", pa.int32()),
        pa.field("focal_length_mm", pa.float64()),
    ]
)
"""Parquet schema of the output; width and height are the full size after EXIF orientation."""


def ok_row(
    facts: PhotoFacts,
    prediction: BlurPrediction,
    *,
    laplacian_threshold: float,
    blur_threshold: float,
    scored_at: datetime,
    run_id: str | None = None,
) -> dict:
    """The row of a scored photo: the measured facts, the model's outputs and the verdict
    (pipeline.verdict) at the job's thresholds, which the row records with the run's id."""
    exposure = facts.exposure
    said = verdict(
        prediction.blur_probability,
        prediction.type_probabilities,
        facts.laplacian_var,
        blur_threshold=blur_threshold,
        laplacian_threshold=laplacian_threshold,
        low_information=exposure is not None and exposure.low_information,
    )
    return {
        "uri": facts.uri,
        "status": STATUS_OK,
        "error": None,
        "format": facts.format,
        "width": facts.width,
        "height": facts.height,
        "laplacian_var": facts.laplacian_var,
        "laplacian_blurry": said.laplacian_blurry,
        "blur_probability": prediction.blur_probability,
        "blurry": said.blurry,
        "blur_type": said.blur_type,
        **dict(zip(PROBABILITY_COLUMNS, prediction.type_probabilities, strict=True)),
        "model_version": prediction.model_version,
        "scored_at": scored_at,
        **file_columns(facts.file),
        **run_columns(run_id, blur_threshold=blur_threshold, laplacian_threshold=laplacian_threshold),
        "low_information": None if exposure is None else exposure.low_information,
        "brightness": None if exposure is None else exposure.brightness,
        "contrast": None if exposure is None else exposure.contrast,
        **facts.capture._asdict(),
    }


def run_columns(
    run_id: str | None, *, blur_threshold: float | None, laplacian_threshold: float | None
) -> dict:
    """The columns every row of one run shares: its id and the thresholds of its verdicts."""
    return {
        "run_id": run_id,
        "blur_threshold": blur_threshold,
        "laplacian_threshold": laplacian_threshold,
    }


def error_row(
    failure: PhotoFailure,
    *,
    model_version: str,
    scored_at: datetime,
    run_id: str | None = None,
    blur_threshold: float | None = None,
    laplacian_threshold: float | None = None,
) -> dict:
    """The row of a file that could not be read, decoded or scored: the reason, the run's columns, and
    nulls. A failure marked skipped (not a photo: a sidecar, a video) gets status "skipped" instead."""
    status = STATUS_SKIPPED if failure.skipped else STATUS_ERROR
    row = dict.fromkeys(SCHEMA.names)
    row.update(
        uri=failure.uri,
        status=status,
        error=failure.reason,
        model_version=model_version,
        scored_at=scored_at,
        **file_columns(failure.file),
        **run_columns(run_id, blur_threshold=blur_threshold, laplacian_threshold=laplacian_threshold),
    )
    return row
