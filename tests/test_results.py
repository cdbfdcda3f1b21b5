"""The one reader of results (pipeline.results.reader) on a real run's Parquet, local and gs://."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import gcs_emulator

from pipeline.results.reader import ResultsNotFound, conform, read_results, read_run
from pipeline.schema import SCHEMA


def _copy_run(run, folder: Path) -> list[Path]:
    """The run's shards copied to `folder`, as `scores-*` (a run moved elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for shard in run.summary.output_files:
        copies.append(folder / Path(shard).name.replace(Path(run.prefix).name, "scores", 1))
        shutil.copyfile(shard, copies[-1])
    return copies


def test_reads_every_row_of_a_real_run_with_the_schema(photo_folder_run) -> None:
    run = read_run(photo_folder_run.prefix)
    assert run.table.schema == SCHEMA
    assert run.manifest is not None and run.manifest["rows"] == len(photo_folder_run.rows)
    assert run.shards == tuple(photo_folder_run.summary.output_files)
    assert run.table.sort_by("uri").to_pylist() == photo_folder_run.rows


def test_the_manifest_names_the_shards(photo_folder_run, tmp_path) -> None:
    (copy,) = _copy_run(photo_folder_run, tmp_path / "run")
    # A stray shard of an earlier run with another shard count: the glob would take it, the manifest not.
    stray = tmp_path / "run" / "scores-00000-of-00002.parquet"
    pq.write_table(photo_folder_run.table.slice(0, 3), stray)
    assert read_results(str(tmp_path / "run" / "scores")).num_rows == len(photo_folder_run.rows) + 3

    manifest = {
        "run_id": "r1",
        "shards": [copy.name],
        "rows": len(photo_folder_run.rows),
        "settings": {"a": 1},
    }
    (tmp_path / "run" / "scores-manifest.json").write_text(json.dumps(manifest))
    run = read_run(str(tmp_path / "run" / "scores"))
    assert run.shards == (str(copy),)
    assert run.settings == {"a": 1}
    assert run.table.num_rows == len(photo_folder_run.rows)
    # The manifest's own path names the run too.
    assert read_results(str(tmp_path / "run" / "scores-manifest.json")).num_rows == len(photo_folder_run.rows)


def test_older_files_get_nulls_for_columns_they_lack_and_lose_dropped_ones(
    photo_folder_run, tmp_path
) -> None:
    full = photo_folder_run.table
    old = full.select(["uri", "status", "blur_probability", "blurry"]).append_column(
        "retired_column", pa.array(["x"] * full.num_rows)
    )
    pq.write_table(old.slice(0, 5), tmp_path / "old-00000-of-00002.parquet")
    pq.write_table(full.slice(5), tmp_path / "old-00001-of-00002.parquet")
    table = read_results(str(tmp_path / "old"))
    assert table.schema == SCHEMA
    assert table.num_rows == full.num_rows
    assert table.column("laplacian_var").slice(0, 5).null_count == 5
    assert table.column("uri").to_pylist() == full.column("uri").to_pylist()
    assert table.column("blur_probability").to_pylist() == full.column("blur_probability").to_pylist()


def test_conform_casts_and_orders_columns() -> None:
    table = pa.table({"width": pa.array([3], pa.int64()), "uri": ["a"], "status": ["ok"]})
    conformed = conform(table)
    assert conformed.schema == SCHEMA
    assert conformed.column("width").type == pa.int32()
    assert conformed.to_pylist()[0]["uri"] == "a"


def test_a_subset_of_columns(photo_folder_run) -> None:
    table = read_results(photo_folder_run.prefix, columns=["status", "uri"])
    assert table.column_names == ["status", "uri"]
    assert table.num_rows == len(photo_folder_run.rows)


def test_nothing_there_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ResultsNotFound, match="no results at"):
        read_run(str(tmp_path / "nothing"))


def test_reads_a_run_in_a_bucket(photo_folder_run, emulator, tmp_path) -> None:
    bucket = gcs_emulator.client().create_bucket("results-under-test")
    (copy,) = _copy_run(photo_folder_run, tmp_path / "run")
    bucket.blob(f"runs/night 1/{copy.name}").upload_from_filename(str(copy))
    manifest = {"run_id": "r1", "shards": [copy.name], "rows": len(photo_folder_run.rows), "settings": {}}
    bucket.blob("runs/night 1/scores-manifest.json").upload_from_string(json.dumps(manifest))
    run = read_run("gs://results-under-test/runs/night 1/scores")
    assert run.shards == (f"gs://results-under-test/runs/night 1/{copy.name}",)
    assert run.table.sort_by("uri").to_pylist() == photo_folder_run.rows
    bucket.blob("runs/night 1/scores-manifest.json").delete()  # an older run: found by the glob
    assert read_results("gs://results-under-test/runs/night 1/scores").num_rows == len(photo_folder_run.rows)
