"""Incremental runs (--skip_scored): unchanged files are carried from the earlier run, not read again;
new, changed and earlier-failed files are scored. Real DirectRunner, real files."""

from __future__ import annotations

import io
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from PIL import Image

from pipeline.job.incremental import (
    ONE_PROCESS_MAX_FILES,
    carried_row,
    earlier_shards,
    files_to_score,
    fit_workers,
    unchanged,
)
from pipeline.job.launch import LaunchError
from pipeline.job.match import matched_files, resolve_pattern
from pipeline.job.rows import file_columns
from pipeline.schema import PROBABILITY_COLUMNS, SCHEMA
from pipeline.storage.files import MatchedFile

MODEL = "blur-cnn-test"


def jpeg(seed: int) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, run_job):
    """Run 1 over five photos and a broken file; then one photo rewritten, one touched, one deleted,
    one added; run 2 with --skip_scored run 1."""
    folder = tmp_path_factory.mktemp("nightly")
    for index in range(5):
        (folder / f"p{index}.jpg").write_bytes(jpeg(index))
    (folder / "broken.jpg").write_bytes(b"not a photo at all")
    first = run_job("--input", str(folder))

    (folder / "p1.jpg").write_bytes(jpeg(101))  # changed content (and size)
    later = os.stat(folder / "p2.jpg").st_mtime + 60
    os.utime(folder / "p2.jpg", (later, later))  # same bytes, newer time: scored again
    (folder / "p3.jpg").unlink()
    (folder / "new.jpg").write_bytes(jpeg(7))
    second = run_job("--input", str(folder), "--skip_scored", first.prefix)
    return folder, first, second


def test_unchanged_files_are_carried_and_the_rest_scored(two_runs) -> None:
    folder, first, second = two_runs
    before = {Path(row["uri"]).name: row for row in first.rows}
    after = {Path(row["uri"]).name: row for row in second.rows}
    assert sorted(after) == ["broken.jpg", "new.jpg", "p0.jpg", "p1.jpg", "p2.jpg", "p4.jpg"]
    carried = sorted(name for name, row in after.items() if row["carried_over"])
    assert carried == ["p0.jpg", "p4.jpg"]  # broken.jpg failed before: tried again
    for name in carried:
        assert after[name]["scored_at"] == before[name]["scored_at"]  # not scored again
        assert after[name]["blur_probability"] == before[name]["blur_probability"]
    for name in ("broken.jpg", "new.jpg", "p1.jpg", "p2.jpg"):
        assert after[name]["scored_at"] > max(row["scored_at"] for row in first.rows), name
    assert after["p1.jpg"]["file_size"] == len(jpeg(101))


def test_the_summary_and_manifest_count_the_carried_rows(two_runs) -> None:
    _, _, second = two_runs
    assert second.summary.carried == 2
    assert "carried: 2" in str(second.summary)
    assert json.loads(Path(f"{second.prefix}-manifest.json").read_text())["carried"] == 2
    assert second.summary.files == len(second.rows) == second.summary.ok + second.summary.errors


def test_carried_verdicts_follow_this_runs_thresholds(two_runs, run_job) -> None:
    folder, _, second = two_runs
    third = run_job("--input", str(folder), "--skip_scored", second.prefix, "--blur_threshold", "0")
    ok = [row for row in third.rows if row["status"] == "ok"]
    assert len(ok) == 5 and sum(row["carried_over"] for row in ok) == 5
    assert all(row["blurry"] for row in ok)  # every probability is >= 0
    assert third.summary.blurry == 5


def test_skip_scored_without_an_earlier_run_stops_the_launch(tmp_path, run_job) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(1))
    with pytest.raises(LaunchError, match="no earlier run there"):
        run_job("--input", str(tmp_path), "--skip_scored", str(tmp_path / "never"))
    with pytest.raises(FileNotFoundError):
        earlier_shards(str(tmp_path / "never-*.parquet"))


def test_the_launcher_counts_the_files_the_pipeline_reads(two_runs) -> None:
    """files_to_score (the launcher's count, with pyarrow) agrees with SkipScored (in the pipeline)."""
    folder, first, second = two_runs
    model_version = first.rows[0]["model_version"]

    def listed() -> list[MatchedFile]:
        return list(matched_files(resolve_pattern(str(folder))))

    counted = files_to_score(listed(), earlier_shards(first.prefix), model_version)
    read = {row["uri"] for row in second.rows if not row["carried_over"]}
    assert {file.uri for file in counted} == read and len(read) == 4
    assert len(files_to_score(listed(), earlier_shards(first.prefix), "another-model")) == len(listed()) == 6
    assert len(files_to_score(listed(), earlier_shards(first.prefix), model_version, stop_after=2)) == 2


def test_a_rerun_with_few_files_to_read_runs_in_one_process(two_runs, run_job, caplog) -> None:
    """Asked for two worker processes, a re-run that reads 4 files loads the model in this process
    (a worker's log lines would not reach it) and writes the same rows."""
    folder, first, second = two_runs
    caplog.set_level(logging.INFO)
    multi = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
    again = run_job("--input", str(folder), "--skip_scored", first.prefix, *multi)
    assert "leaves 4 file(s) to read" in caplog.text and "instead of multi_processing" in caplog.text
    loads = [record for record in caplog.records if record.getMessage().startswith("Loaded blur model")]
    assert len(loads) == 1 and f"in pid {os.getpid()} " in loads[0].getMessage()
    assert again.summary.model_loads == 1 and again.summary.carried == second.summary.carried == 2
    columns = ("uri", "status", "carried_over", "blur_probability", "file_size")
    assert [{k: row[k] for k in columns} for row in again.rows] == [
        {k: row[k] for k in columns} for row in second.rows
    ]


def many_files(count: int) -> list[MatchedFile]:
    return [MatchedFile(f"/p/{index}.jpg", 100, 1.0) for index in range(count)]


def test_how_many_files_to_read_decides_the_workers(tmp_path) -> None:
    multi = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    few, many = PipelineOptions(multi), PipelineOptions(multi)
    assert fit_workers(few, many_files(ONE_PROCESS_MAX_FILES), [], MODEL)
    assert few.view_as(DirectOptions).direct_running_mode == "in_memory"
    assert few.view_as(DirectOptions).direct_num_workers == 1
    assert fit_workers(many, many_files(ONE_PROCESS_MAX_FILES + 1), [], MODEL) is None
    assert many.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert many.view_as(DirectOptions).direct_num_workers == 2
    one = PipelineOptions([])  # in_memory already: nothing to choose
    assert fit_workers(one, many_files(1), [], MODEL) is None
    # The count is only a plan: when it cannot be made, the run goes as asked (the pipeline reports).
    unreadable = PipelineOptions(multi)
    assert fit_workers(unreadable, many_files(1), [str(tmp_path / "gone.parquet")], MODEL) is None
    assert unreadable.view_as(DirectOptions).direct_running_mode == "multi_processing"


def earlier(**changes) -> dict:
    row = dict.fromkeys(SCHEMA.names)
    row.update(
        uri="/p/a.jpg", status="ok", model_version=MODEL, scored_at=datetime(2026, 1, 1, tzinfo=UTC),
        blur_probability=0.4, laplacian_var=50.0, **dict.fromkeys(PROBABILITY_COLUMNS, 1 / 6),
        **file_columns(MatchedFile("/p/a.jpg", 100, 1_700_000_000.123456)),
    )  # fmt: skip
    row.update(changes)
    return row


def test_what_counts_as_unchanged() -> None:
    listed = MatchedFile("/p/a.jpg", 100, 1_700_000_000.123456)
    assert unchanged(listed, earlier())
    assert not unchanged(listed._replace(size=101), earlier())
    assert not unchanged(listed._replace(modified_at=1_700_000_000.5), earlier())
    assert not unchanged(MatchedFile("/p/a.jpg"), earlier())  # a manifest line without facts
    # Where both know the content's hash, the hash decides (a copy with a new time is unchanged).
    hashed = MatchedFile("gs://b/a.jpg", 100, 5.0, "0badf00d")
    assert unchanged(hashed, earlier(crc32c="0badf00d")) and not unchanged(hashed, earlier(crc32c="00000000"))


def test_which_earlier_rows_are_carried() -> None:
    listed = MatchedFile("/p/a.jpg", 100, 1_700_000_000.123456)
    settings = {"model_version": MODEL, "blur_threshold": 0.5, "laplacian_threshold": 100.0}
    row = carried_row(listed, [earlier()], **settings)
    assert row["carried_over"] is True and row["blurry"] is False and row["laplacian_blurry"] is True
    assert set(row) == set(SCHEMA.names)
    assert carried_row(listed, [earlier(model_version="older-model")], **settings) is None
    assert carried_row(listed, [earlier(status="error")], **settings) is None
    newer = earlier(scored_at=datetime(2026, 2, 1, tzinfo=UTC), blur_probability=0.9)
    assert carried_row(listed, [earlier(), newer], **settings)["blurry"] is True  # the newest row counts
