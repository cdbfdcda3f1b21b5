"""The output contract: the Parquet schema of a run's rows, the row statuses, and how a run's result
manifest is named. Pure: no Beam, no TensorFlow, so every reader of results can import it cheaply.

An "ok" row has every column; an "error" row has the URI, the reason, the model version, the time and
the run's columns (run id, thresholds), and nulls for everything that was not measured; a "skipped" row
(a file that is not a photo: a sidecar, a video) is an error row with its own status, counted apart.
"""

from __future__ import annotations

import pyarrow as pa

from model.labels import BLUR_TYPES

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
        # File facts: from the listing, before the file is read; incremental runs
        # compare them with an earlier run's row to decide that a file is unchanged.
        *FILE_FIELDS,
        # The run that wrote the row, and the thresholds it judged with (set on every row, error rows
        # too): analysts can tell which threshold produced `blurry` and which run a row came from.
        pa.field("run_id", pa.string()),
        pa.field("blur_threshold", pa.float64()),
        pa.field("laplacian_threshold", pa.float64()),
        # What the photo shows and what the camera recorded (pipeline.job.measure, pipeline.photo.exif):
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
        pa.field("camera_body", pa.string()),  # SHA-256 of the body serial, 16 hex digits
        # What the burst step and the review need (pipeline.job.measure, pipeline.job.bursts): the
        # photo's 64-bit perceptual hash as 16 hex digits and its 64-bin colour histogram (128 bytes,
        # pipeline.job.similarity); the most detailed 200x200 crop the model judged, as a square box in
        # full-size pixels after orientation (x, y of its top-left corner); the photo's burst (see
        # BURST_COLUMNS). Null on error and skipped rows.
        pa.field("content_hash", pa.string()),
        pa.field("color_histogram", pa.binary()),
        pa.field("detail_x", pa.int32()),
        pa.field("detail_y", pa.int32()),
        pa.field("detail_size", pa.int32()),
        pa.field("burst_id", pa.string()),  # null for a photo in no burst
        pa.field("burst_size", pa.int32()),  # frames in the burst; 1 alone
        pa.field("burst_rank", pa.int32()),  # 1 = the sharpest frame; 1 alone
        pa.field("best_in_burst", pa.bool_()),  # rank 1, and every photo alone
    ]
)
"""Parquet schema of the output; width and height are the full size after EXIF orientation."""

BURST_COLUMNS = ("burst_id", "burst_size", "burst_rank", "best_in_burst")
"""Which burst an ok row's photo is a frame of (docs/bursts.md): frames of one camera taken within the
burst gap of each other and alike in content share a burst_id; rank 1 is the sharpest by the model."""


MANIFEST_SUFFIX = "-manifest.json"
"""A run writing to PREFIX commits by writing PREFIX-manifest.json, which lists its shards."""


def manifest_path(prefix: str) -> str:
    """Where a run writing to `prefix` puts its result manifest."""
    return f"{prefix}{MANIFEST_SUFFIX}"


def prefix_of(scores: str) -> str:
    """The run prefix for what a user may type: the prefix itself, or the path of its manifest."""
    return scores.removesuffix(MANIFEST_SUFFIX)
