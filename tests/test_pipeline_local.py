"""The job end to end on the real DirectRunner, local files in and out, with the shipped model.

The model is a stand-in until the trained one lands, so these tests check the contract (one row per
file, statuses, reasons, types, nulls, sizes, probabilities that are probabilities) and the Laplacian
verdict, not the quality of the model's verdict.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.runner import PipelineResult, PipelineState

from model import MODEL_DIR
from model.inputs import laplacian_var
from model.labels import BLUR_TYPES, KEEP_TYPES
from pipeline.job.commit import summarize
from pipeline.job.inference import read_metadata
from pipeline.job.steps import PerPhoto
from pipeline.photo.decode import DecodeError, decode_photo
from pipeline.photo.exif import CaptureFacts
from pipeline.schema import PROBABILITY_COLUMNS, SCHEMA
from pipeline.storage.output import OutputLocation

RUN_COLUMNS = {"run_id", "blur_threshold", "laplacian_threshold"}
ALWAYS_SET = {"uri", "status", "model_version", "scored_at", "carried_over", *RUN_COLUMNS}
FILE_FACTS = {"file_size", "modified_at"}  # from the listing: known for every matched local file
# crc32c: known from a gs:// listing, not from a local one; burst_id: null for a photo in no burst.
NULLABLE_WHEN_OK = {"error", "crc32c", "burst_id"}
MULTI_PROCESS = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")


@pytest.fixture(scope="module")
def local_run(photo_folder, run_job):
    started = datetime.now(UTC)
    output = run_job("--input", f"{photo_folder.root}/**")
    return started, output


@pytest.fixture(scope="module")
def multi_process_run(photo_folder, run_job):
    return run_job("--input", f"{photo_folder.root}/**", *MULTI_PROCESS)


def _files_under(root: Path) -> set[str]:
    return {str(path) for path in root.rglob("*") if path.is_file()}


def test_exactly_one_row_per_file(local_run, photo_folder) -> None:
    _, output = local_run
    uris = [row["uri"] for row in output.rows]
    assert len(uris) == len(set(uris)), "a file was written twice"
    assert set(uris) == _files_under(photo_folder.root)


def test_schema_is_the_contract(local_run) -> None:
    _, output = local_run
    for shard in output.summary.output_files:  # as written, not as the reader conforms it
        assert pq.read_schema(shard).remove_metadata() == SCHEMA


def test_photo_rows(local_run, photo_folder) -> None:
    _, output = local_run
    by_uri = {row["uri"]: row for row in output.rows}
    for uri, expected in photo_folder.expected.items():
        row = by_uri[uri]
        assert row["status"] == expected.status, (uri, row["error"])
        if expected.status == "error":
            assert expected.reason in row["error"], (uri, row["error"])
        if expected.width is not None:
            assert (row["width"], row["height"], row["format"]) == (
                expected.width,
                expected.height,
                expected.format,
            )
        if expected.sharp is not None:
            assert row["laplacian_blurry"] is (not expected.sharp), (uri, row["laplacian_var"])
    # The bar: at least 20 broken and awkward files, each with its row.
    assert sum("/awkward/" in uri or "/broken/" in uri for uri in photo_folder.expected) >= 20


def test_error_reasons_are_the_decoders(local_run) -> None:
    """The job carries the decoder's own words into the row, for every broken file."""
    _, output = local_run
    for row in output.rows:
        if row["status"] != "error":
            continue
        with pytest.raises(DecodeError) as raised:
            decode_photo(Path(row["uri"]).read_bytes())
        assert row["error"] == str(raised.value)


def test_nulls_and_types(local_run) -> None:
    started, output = local_run
    version = read_metadata(str(MODEL_DIR)).version
    for row in output.rows:
        assert row["model_version"] == version
        assert started <= row["scored_at"] <= datetime.now(UTC)
        if row["status"] == "ok":
            assert row["error"] is None
            # EXIF columns are null where the file does not say; a low-information frame has no verdict.
            maybe_null = NULLABLE_WHEN_OK | set(CaptureFacts._fields)
            if row["low_information"]:
                maybe_null |= {"blurry", "laplacian_blurry", "blur_type"}
            assert all(value is not None for name, value in row.items() if name not in maybe_null), row
            assert row["width"] >= 1 and row["height"] >= 1
            assert isinstance(row["laplacian_var"], float) and row["laplacian_var"] >= 0
        else:
            assert row["status"] in ("error", "skipped") and row["error"], row
            assert all(row[name] is not None for name in FILE_FACTS), row
            assert all(
                value is None
                for name, value in row.items()
                if name not in ALWAYS_SET | FILE_FACTS | {"error", "crc32c"}
            ), row


def test_probabilities(local_run) -> None:
    _, output = local_run
    for row in (row for row in output.rows if row["status"] == "ok"):
        types = [row[column] for column in PROBABILITY_COLUMNS]
        assert 0.0 <= row["blur_probability"] <= 1.0
        assert all(0.0 <= p <= 1.0 for p in types)
        assert math.isclose(sum(types), 1.0, abs_tol=1e-5)
        if row["low_information"]:  # a blank frame: no verdict (tests/test_hostile_files.py)
            assert row["blurry"] is row["blur_type"] is row["laplacian_blurry"] is None
            continue
        assert row["blurry"] is (row["blur_probability"] >= 0.5)
        # The type never contradicts the verdict: a kept photo is `none` or `bokeh`.
        assert row["blur_type"] in BLUR_TYPES
        assert (row["blur_type"] in KEEP_TYPES) is (not row["blurry"])


def test_laplacian_is_measured_at_the_working_scale(local_run, photo_folder) -> None:
    """The column is the shared preprocessing's score of the decoded, working-scale photo."""
    _, output = local_run
    by_uri = {row["uri"]: row for row in output.rows}
    for uri in (uri for uri, expected in photo_folder.expected.items() if expected.status == "ok"):
        photo = decode_photo(Path(uri).read_bytes())
        assert by_uri[uri]["laplacian_var"] == laplacian_var(photo.rgb)


def test_summary(local_run) -> None:
    _, output = local_run
    summary, rows = output.summary, output.rows
    assert summary.source == "metrics"
    assert summary.files == len(rows) == summary.ok + summary.errors
    assert summary.ok == sum(row["status"] == "ok" for row in rows)
    assert summary.blurry == sum(bool(row["blurry"]) for row in rows)
    assert summary.model_loads == 1
    assert summary.output_files and all(Path(path).is_file() for path in summary.output_files)
    assert all(path.endswith(".parquet") for path in summary.output_files)
    text = str(summary)
    assert f"files:   {summary.files}" in text and f"{output.prefix}-manifest.json" in text


def test_summary_without_runner_metrics_counts_the_parquet(local_run) -> None:
    """A runner that reports no metrics (the base PipelineResult has none) still gets a true summary."""
    _, output = local_run
    summary = output.summary
    counted = summarize(PipelineResult(PipelineState.DONE), OutputLocation(output.prefix), summary.run_id)
    assert counted.source == "the written Parquet"
    assert (counted.files, counted.ok, counted.errors, counted.blurry) == (
        summary.files,
        summary.ok,
        summary.errors,
        summary.blurry,
    )
    assert counted.output_files == summary.output_files


def test_multi_process_runner_gives_the_same_rows(local_run, multi_process_run) -> None:
    _, single = local_run
    multi = multi_process_run

    def facts(rows):
        return [(row["uri"], row["status"], row["laplacian_var"]) for row in rows]

    assert facts(multi.rows) == facts(single.rows)
    for one, two in zip(single.rows, multi.rows, strict=True):
        if one["status"] != "ok":
            continue
        # Batches are made differently in the two modes, which may move a probability in its last bits;
        # the verdict must agree unless the probability sits on the threshold itself.
        assert math.isclose(one["blur_probability"], two["blur_probability"], abs_tol=1e-5), one["uri"]
        if abs(one["blur_probability"] - 0.5) > 1e-5:
            assert one["blurry"] == two["blurry"], (
                one["uri"],
                one["blur_probability"],
                two["blur_probability"],
            )
    # Counters from two worker processes add up; each process loads the model once.
    one, two = single.summary, multi.summary
    assert (two.files, two.ok, two.errors) == (one.files, one.ok, one.errors)
    assert two.blurry == sum(bool(row["blurry"]) for row in multi.rows)
    assert two.source == "metrics" and 1 <= two.model_loads <= 2, two


def test_manifest_with_a_missing_file(photo_folder, run_job, tmp_path) -> None:
    sharp = sorted(uri for uri in photo_folder.expected if "/sharp/" in uri)[:2]
    empty = next(uri for uri in photo_folder.expected if uri.endswith("empty.jpg"))
    missing = str(photo_folder.root / "sharp" / "deleted since.jpg")
    folder = str(photo_folder.root / "sharp")  # a folder is not a file: a read error, not a crash
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(
        "\n".join(["# photos to score", sharp[0], "", f"  {sharp[1]}  ", sharp[0], empty, missing, folder])
        + "\n"
    )
    output = run_job("--input_manifest", str(manifest))
    by_uri = {row["uri"]: row for row in output.rows}
    assert sorted(by_uri) == sorted([*sharp, empty, missing, folder])
    assert len(output.rows) == 5, "a URI listed twice must give one row"
    assert [by_uri[uri]["status"] for uri in sharp] == ["ok", "ok"]
    assert by_uri[empty]["error"] == "empty file"
    assert by_uri[missing]["error"] == "file not found"
    assert by_uri[folder]["error"] == "a folder, not a file"
    assert output.summary.files == 5 and output.summary.errors == 3


def test_two_input_patterns(photo_folder, run_job) -> None:
    # The patterns overlap on the sharp JPEGs: each file still gets one row.
    output = run_job(
        "--input", f"{photo_folder.root}/sharp/*.jpg",
        "--input", f"{photo_folder.root}/*/*.jpg",
    )  # fmt: skip
    expected = {str(path) for path in photo_folder.root.glob("*/*.jpg")}
    uris = [row["uri"] for row in output.rows]
    assert sorted(uris) == sorted(expected)
    assert output.summary.files == len(expected)


def test_double_star_recurses(tmp_path, run_job, sharp_jpeg) -> None:
    root = tmp_path / "album"
    files = [
        root / "top.jpg",
        root / "2023" / "summer.jpg",
        root / "2023" / "07" / "beach.jpg",
        root / "2024" / "a.png",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sharp_jpeg)  # the decoder judges content, not the name: .png holding a JPEG is fine

    everything = run_job("--input", f"{root}/**")
    assert sorted(row["uri"] for row in everything.rows) == sorted(map(str, files))
    assert all(row["status"] == "ok" for row in everything.rows)

    # Shell-style `**/*.jpg` also matches the top folder.
    jpegs = run_job("--input", f"{root}/**/*.jpg")
    assert sorted(row["uri"] for row in jpegs.rows) == sorted(
        str(path) for path in files if path.suffix == ".jpg"
    )


def test_a_plain_path_that_does_not_exist_fails_fast(tmp_path) -> None:
    """A typo in a pattern without wildcards is an error of the command, not a row."""
    from pipeline import score
    from pipeline.job.launch import LaunchError

    with pytest.raises(LaunchError, match="no such photo.jpg: no such file or folder"):
        score.run(["--input", str(tmp_path / "no such photo.jpg"), "--output", str(tmp_path / "out")])


def test_per_photo_steps_keep_opencv_to_one_thread() -> None:
    # Beam's workers are the parallelism; OpenCV threads on top of them only contend (pipeline.job.steps).
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(4)
        PerPhoto(len, lambda uri, error: "").setup()
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(threads)
