"""A result on disk is input like any other (issue 22, item 5): a manifest may name only Parquet files
beside it, manifests and shards are read within a size limit, and a damaged or foreign result is one
line and status 2 in `review` and `cull`, and a launch error for `--skip_scored`. No Beam job runs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import score
from pipeline.job.launch import LaunchError
from pipeline.results.cull import cull
from pipeline.results.reader import MAX_MANIFEST_BYTES, ResultsError, read_run
from pipeline.results.review import review
from pipeline.schema import SCHEMA

GOOD_SHARD = "scores-20261201T000000Z-abcdef-00000-of-00001.parquet"


def _row(uri: str) -> dict:
    row = dict.fromkeys(SCHEMA.names)
    row.update(uri=uri, status="ok", model_version="1", scored_at=pa.scalar(0, pa.timestamp("us", "UTC")))
    return row


def _result(folder: Path, shards: list, *, manifest_text: str | None = None) -> str:
    """A result at folder/scores: one good shard written, and a manifest naming `shards`."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([_row(str(folder / "a.jpg"))], schema=SCHEMA)
    pq.write_table(table, folder / GOOD_SHARD)
    text = manifest_text if manifest_text is not None else json.dumps({"shards": shards, "settings": {}})
    (folder / "scores-manifest.json").write_text(text)
    return str(folder / "scores")


def test_a_well_formed_result_reads(tmp_path: Path) -> None:
    assert read_run(_result(tmp_path, [GOOD_SHARD])).table.num_rows == 1


@pytest.mark.parametrize("name", ["/dev/zero", "../../../../etc/passwd", "sub/x.parquet", "..", 7])
def test_a_manifest_may_name_only_parquet_files_beside_it(tmp_path: Path, name) -> None:
    prefix = _result(tmp_path / "run", [GOOD_SHARD, name])
    with pytest.raises(ResultsError, match="names the shard .*not written by this job"):
        read_run(prefix)


def test_a_full_path_into_the_manifests_own_folder_is_still_read(tmp_path: Path) -> None:
    prefix = _result(tmp_path, [str(tmp_path / GOOD_SHARD)])
    assert read_run(prefix).table.num_rows == 1


def test_manifests_and_shards_are_read_within_a_size_limit(tmp_path: Path) -> None:
    prefix = _result(tmp_path / "big manifest", [GOOD_SHARD])
    with open(f"{prefix}-manifest.json", "r+b") as stream:
        stream.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: no blocks on disk
    with pytest.raises(ResultsError, match="larger than 16 MB, the limit"):
        read_run(prefix)
    huge = "scores-20261201T000000Z-abcdef-00000-of-00002.parquet"
    prefix = _result(tmp_path / "big shard", [GOOD_SHARD, huge])
    with open(tmp_path / "big shard" / huge, "wb") as stream:
        stream.truncate(3 * 1024**3)
    with pytest.raises(ResultsError, match="larger than 2,048 MB, the limit"):
        read_run(prefix)


def test_a_corrupt_shard_or_manifest_is_a_results_error(tmp_path: Path) -> None:
    prefix = _result(tmp_path / "shard", [GOOD_SHARD])
    (tmp_path / "shard" / GOOD_SHARD).write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(ResultsError, match=f"{GOOD_SHARD}: not a shard of this job's results"):
        read_run(prefix)
    prefix = _result(tmp_path / "manifest", [], manifest_text='{"shards": [')
    with pytest.raises(ResultsError, match="not a run manifest"):
        read_run(prefix)


def _one_line_exit_2(capsys, call) -> str:
    with pytest.raises(SystemExit) as stopped:
        status = call()
        raise SystemExit(status)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def _broken_result(tmp_path: Path, damage: str) -> str:
    if damage == "typo":
        return str(tmp_path / "typo" / "scores")  # `--scores` misspelt: nothing there
    if damage == "device":
        return _result(tmp_path, ["/dev/zero"])
    prefix = _result(tmp_path, [GOOD_SHARD])
    (tmp_path / GOOD_SHARD).write_bytes(b"not parquet at all")
    return prefix


BROKEN = [
    ("device", "names the shard '/dev/zero'"),
    ("corrupt shard", "not a shard of this job's results"),
    ("typo", "no results at"),
]


@pytest.mark.parametrize(("damage", "said"), BROKEN)
def test_review_says_one_line_and_exits_2(tmp_path: Path, capsys, damage: str, said: str) -> None:
    prefix = _broken_result(tmp_path, damage)
    message = _one_line_exit_2(
        capsys, lambda: review.main(["--scores", prefix, "--out", str(tmp_path / "s")])
    )
    assert message.startswith("error: ") and said in message


@pytest.mark.parametrize(("damage", "said"), BROKEN)
def test_cull_says_one_line_and_exits_2(tmp_path: Path, capsys, damage: str, said: str) -> None:
    prefix = _broken_result(tmp_path, damage)
    message = _one_line_exit_2(capsys, lambda: cull.main(["--scores", prefix, "--to", str(tmp_path / "d")]))
    assert said in message


@pytest.fixture
def photo(tmp_path: Path, sharp_jpeg: bytes) -> Path:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(sharp_jpeg)
    return tmp_path / "photos"


@pytest.mark.parametrize("damage", ["../../../../etc/passwd", "corrupt shard", "not json"])
def test_skip_scored_refuses_a_foreign_result_at_launch(tmp_path: Path, photo: Path, damage: str) -> None:
    earlier = tmp_path / "earlier"
    if damage == "not json":
        prefix = _result(earlier, [], manifest_text="\x00\x01 binary")
    else:
        prefix = _result(earlier, [GOOD_SHARD if damage == "corrupt shard" else damage])
        (earlier / GOOD_SHARD).write_bytes(b"PAR1" + b"\x00" * 64)
    args = ["--input", f"{photo}/*", "--output", str(tmp_path / "out" / "scores"), "--skip_scored", prefix]
    with pytest.raises(LaunchError, match=f"^--skip_scored {prefix}: ") as refused:
        score.run(args)
    assert "\n" not in str(refused.value)
