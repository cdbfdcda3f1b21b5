"""The output contract's row builders, alone (no Beam)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.labels import BLUR_TYPES
from pipeline.job.inference import BlurPrediction
from pipeline.job.measure import PhotoFacts
from pipeline.job.rows import error_row, ok_row
from pipeline.job.steps import PhotoFailure
from pipeline.schema import PROBABILITY_COLUMNS, SCHEMA
from pipeline.storage.files import MatchedFile

NOW = datetime(2026, 11, 1, 12, 30, 15, 123456, tzinfo=UTC)
FACTS = PhotoFacts(
    file=MatchedFile("gs://bucket/a b/é.jpg"), width=4032, height=3024, format="JPEG", laplacian_var=73.5
)
THRESHOLDS = {"laplacian_threshold": 100.0, "blur_threshold": 0.5}


def prediction(blur_probability: float, **type_probabilities: float) -> BlurPrediction:
    probabilities = tuple(type_probabilities.get(blur_type, 0.0) for blur_type in BLUR_TYPES)
    return BlurPrediction(blur_probability, probabilities, "v7")


def test_ok_row_has_every_column() -> None:
    row = ok_row(FACTS, prediction(0.9, motion=0.7, none=0.2, gaussian=0.1), scored_at=NOW, **THRESHOLDS)
    assert list(row) == SCHEMA.names
    assert row["uri"] == FACTS.uri and row["status"] == "ok" and row["error"] is None
    assert (row["format"], row["width"], row["height"]) == ("JPEG", 4032, 3024)
    assert row["laplacian_var"] == 73.5 and row["laplacian_blurry"] is True
    assert row["blur_probability"] == 0.9 and row["blurry"] is True and row["blur_type"] == "motion"
    assert (row["prob_motion"], row["prob_none"], row["prob_gaussian"], row["prob_bokeh"]) == (
        0.7,
        0.2,
        0.1,
        0.0,
    )
    assert row["model_version"] == "v7" and row["scored_at"] == NOW


@pytest.mark.parametrize(
    ("blur_probability", "types", "blurry", "blur_type"),
    [
        # The type follows the verdict even when the type head prefers another kind.
        (0.2, {"motion": 0.6, "bokeh": 0.3, "none": 0.1}, False, "bokeh"),
        (0.8, {"none": 0.6, "defocus": 0.3, "gaussian": 0.1}, True, "defocus"),
        # The threshold itself counts as blurry.
        (0.5, {"gaussian": 1.0}, True, "gaussian"),
        (0.4999, {"none": 1.0}, False, "none"),
    ],
)
def test_verdict_and_type_agree(blur_probability, types, blurry, blur_type) -> None:
    row = ok_row(FACTS, prediction(blur_probability, **types), scored_at=NOW, **THRESHOLDS)
    assert (row["blurry"], row["blur_type"]) == (blurry, blur_type)


def test_thresholds_are_the_callers() -> None:
    at_threshold = FACTS._replace(laplacian_var=100.0)
    row = ok_row(
        at_threshold, prediction(0.3, none=1.0), scored_at=NOW, laplacian_threshold=100.0, blur_threshold=0.25
    )
    assert row["laplacian_blurry"] is False  # below the threshold is blurry; at it is not
    assert row["blurry"] is True


def test_error_row_is_null_but_for_what_is_known() -> None:
    row = error_row(
        PhotoFailure(MatchedFile("/photos/x.jpg"), "truncated JPEG file"), model_version="v7", scored_at=NOW
    )
    assert list(row) == SCHEMA.names
    known = {"uri": "/photos/x.jpg", "status": "error", "error": "truncated JPEG file", "model_version": "v7"}
    assert {name: row[name] for name in known} == known
    assert row["scored_at"] == NOW
    assert row["carried_over"] is False
    assert [name for name, value in row.items() if value is None] == [
        name for name in SCHEMA.names if name not in {*known, "scored_at", "carried_over"}
    ]


def test_rows_fit_the_parquet_schema(tmp_path) -> None:
    rows = [
        ok_row(FACTS, prediction(0.1, none=0.9, bokeh=0.1), scored_at=NOW, **THRESHOLDS),
        error_row(PhotoFailure(MatchedFile("broken.png"), "not an image"), model_version="v7", scored_at=NOW),
    ]
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, compression="snappy")
    table = pq.read_table(path)
    assert table.schema == SCHEMA
    assert table.to_pylist() == rows
    assert SCHEMA.field("width").type == pa.int32() and SCHEMA.field("scored_at").type == pa.timestamp(
        "us", "UTC"
    )
    assert [name for name in SCHEMA.names if name.startswith("prob_")] == list(PROBABILITY_COLUMNS)


def test_every_row_records_its_run_and_thresholds() -> None:
    run = {"run_id": "20261129T234510Z-3fa2c1", "blur_threshold": 0.25, "laplacian_threshold": 80.0}
    thresholds = {name: run[name] for name in ("blur_threshold", "laplacian_threshold")}
    ok = ok_row(FACTS, prediction(0.3, none=1.0), scored_at=NOW, run_id=run["run_id"], **thresholds)
    failed = error_row(
        PhotoFailure(MatchedFile("/photos/x.jpg"), "empty file"), model_version="v7", scored_at=NOW, **run
    )
    for row in (ok, failed):
        assert {name: row[name] for name in run} == run
    assert ok["blurry"] is True  # 0.3 is at or above the recorded blur_threshold of 0.25
