"""Rows of the output: one per matched file, as a dict that fits pipeline.schema.SCHEMA."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.job.burst_groups import ALONE
from pipeline.job.inference import BlurPrediction
from pipeline.job.measure import PhotoFacts
from pipeline.job.similarity import hash_hex
from pipeline.job.steps import PhotoFailure
from pipeline.schema import PROBABILITY_COLUMNS, SCHEMA, STATUS_ERROR, STATUS_OK, STATUS_SKIPPED
from pipeline.storage.files import MatchedFile
from pipeline.verdict import verdict


def file_columns(file: MatchedFile, *, carried_over: bool = False) -> dict:
    """The file-facts columns of a row; None where the listing did not say."""
    return {
        "file_size": file.size,
        "modified_at": None if file.modified_at is None else datetime.fromtimestamp(file.modified_at, UTC),
        "crc32c": file.crc32c,
        "carried_over": carried_over,
    }


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
        "content_hash": None if facts.content_hash is None else hash_hex(facts.content_hash),
        "color_histogram": facts.colors,
        "detail_x": None if facts.detail is None else facts.detail.x,
        "detail_y": None if facts.detail is None else facts.detail.y,
        "detail_size": None if facts.detail is None else facts.detail.size,
        **ALONE._asdict(),  # until the burst step (pipeline.job.bursts) finds its burst
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
