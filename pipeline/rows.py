"""The output contract: one row per matched file, as a dict that fits SCHEMA. Pure: no Beam.

An "ok" row has every column; an "error" row has the URI, the reason, the model version and the time,
and nulls for everything that was not measured.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from pipeline.inference import BlurPrediction
from pipeline.labels import BLUR_TYPES
from pipeline.measure import PhotoFacts
from pipeline.steps import PhotoFailure
from pipeline.verdict import verdict

STATUS_OK = "ok"
STATUS_ERROR = "error"

PROBABILITY_COLUMNS = tuple(f"prob_{blur_type}" for blur_type in BLUR_TYPES)
"""One column per blur type, the model's probability of that type (summing to 1 over the types)."""

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
) -> dict:
    """The row of a scored photo: the measured facts, the model's outputs and the verdict
    (pipeline.verdict) at the job's thresholds."""
    said = verdict(
        prediction.blur_probability,
        prediction.type_probabilities,
        facts.laplacian_var,
        blur_threshold=blur_threshold,
        laplacian_threshold=laplacian_threshold,
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
    }


def error_row(failure: PhotoFailure, *, model_version: str, scored_at: datetime) -> dict:
    """The row of a file that could not be read, decoded or scored: the reason, and nulls."""
    row = dict.fromkeys(SCHEMA.names)
    row.update(
        uri=failure.uri,
        status=STATUS_ERROR,
        error=failure.reason,
        model_version=model_version,
        scored_at=scored_at,
    )
    return row
