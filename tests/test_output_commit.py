"""Committed output, progress and stopping, on the real DirectRunner with real photo files.

A run's result is its PREFIX-manifest.json and the shards it lists. These tests rerun, interrupt and
kill real runs (the killed ones as `python -m pipeline.score` subprocesses) and check that a reader
finds either the earlier committed result or the new one, never a mixture or a half.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pyarrow.parquet as pq
import pytest
from support.photos import REPO_ROOT, committed_shards, encode, sharp_rgb

from pipeline import score
from pipeline.storage.lock import lock_path
from pipeline.storage.output import FOLDER_BASENAME

MULTI_PROCESS = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
LONG_RUN_FILES = 1500
"""Photos in the run that gets interrupted: enough that it is still scoring when a signal arrives."""
PROGRESS_WAIT_S = 240
STOP_WAIT_S = 20
PROGRESS_LINE = re.compile(
    r"progress: ([\d,]+) of ([\d,]+) files done \(\d+%\)(, [\d.]+ files/s)?, ([\d,]+) errors"
)
NOISE = re.compile(r"oneDNN|cuda|cuInit|absl::InitializeLog|cpu_feature_guard|Resource module")


@pytest.fixture(scope="module")
def few_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five real photos: a run over them takes seconds."""
    folder = tmp_path_factory.mktemp("few")
    for name in ("astronaut", "chelsea", "coffee", "rocket", "camera"):
        (folder / f"{name}.jpg").write_bytes(encode(sharp_rgb(name), "JPEG", quality=90))
    return folder


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LONG_RUN_FILES photos of 1000x665 px (hard links to one JPEG: real files, no disk cost)."""
    folder = tmp_path_factory.mktemp("many")
    first = folder / "photo_0000.jpg"
    first.write_bytes(encode(cv2.resize(sharp_rgb("chelsea"), (1000, 665)), "JPEG", quality=90))
    for index in range(1, LONG_RUN_FILES):
        os.link(first, folder / f"photo_{index:04d}.jpg")
    return folder


def _parquet_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.parquet"))


def _beam_temp(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("beam-temp-*"))


def _glob_rows(prefix: str, but: Path | None = None) -> list[dict]:
    """What a reader of the glob PREFIX-*.parquet (DuckDB, BigQuery external tables) would count."""
    paths = sorted(path for path in Path(prefix).parent.glob(Path(prefix).name + "-*.parquet") if path != but)
    return [row for path in paths for row in pq.read_table(path, columns=["uri", "run_id"]).to_pylist()]


def test_a_prefix_ending_in_slash_writes_into_that_folder(few_photos, tmp_path) -> None:
    output = tmp_path / "out" / "slash"  # does not exist yet
    summary = score.run(["--input", f"{few_photos}/*.jpg", "--output", f"{output}/"])
    manifest = output / f"{FOLDER_BASENAME}-manifest.json"
    assert summary is not None and manifest.is_file()
    written = json.loads(manifest.read_text())
    assert written["rows"] == written["files"] == 5 and written["run_id"] == summary.run_id
    assert _parquet_files(output) == sorted(written["shards"])
    assert all(name.startswith(f"{FOLDER_BASENAME}-{summary.run_id}-") for name in written["shards"])
    assert _beam_temp(tmp_path) == []
    assert {row["uri"] for row in _glob_rows(f"{output}/{FOLDER_BASENAME}")} == {
        str(path) for path in few_photos.glob("*.jpg")
    }


def test_a_rerun_with_another_worker_count_replaces_the_earlier_shards(few_photos, tmp_path) -> None:
    prefix = str(tmp_path / "scores")
    # Shards written before run ids existed, and a neighbouring prefix's shard that must be left alone.
    legacy = tmp_path / "scores-00000-of-00003.parquet"
    neighbour = tmp_path / "scores-2025-00000-of-00001.parquet"
    first = score.run(["--input", f"{few_photos}/*.jpg", "--output", prefix, *MULTI_PROCESS])
    assert first is not None and len(first.output_files) == 2  # one shard per worker process
    for copy in (legacy, neighbour):
        shutil.copy(first.output_files[0], copy)

    second = score.run(["--input", f"{few_photos}/*.jpg", "--output", prefix, "--direct_num_workers=1"])
    assert second is not None and second.run_id != first.run_id and len(second.output_files) == 1
    assert sorted(committed_shards(prefix)) == sorted(second.output_files)
    # The glob now sees the new run's rows only: each photo once, not twice (or three times).
    rows = _glob_rows(prefix, but=neighbour)  # (a prefix scores-2025 would share the glob: use folders)
    assert sorted(row["uri"] for row in rows) == sorted(str(path) for path in few_photos.glob("*.jpg"))
    assert {row["run_id"] for row in rows} == {second.run_id}
    assert not legacy.exists() and neighbour.exists()
    assert _parquet_files(tmp_path) == sorted([neighbour.name, Path(second.output_files[0]).name])
    assert _beam_temp(tmp_path) == []


def _start_job(photos: Path, prefix: str, log: Path, *flags: str) -> subprocess.Popen:
    """The job as a user starts it, in its own session (so a test can clean up its worker processes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.score", "--input", f"{photos}/*.jpg", "--output", prefix, *flags],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )


def _wait_until_part_way(job: subprocess.Popen, log: Path) -> tuple[int, int]:
    """Wait for a progress line saying some, not all, files are done; return (done, matched)."""
    deadline = time.monotonic() + PROGRESS_WAIT_S
    while time.monotonic() < deadline:
        for found in PROGRESS_LINE.finditer(log.read_text(errors="replace")):
            done, matched = (int(found[index].replace(",", "")) for index in (1, 2))
            if 0 < done < matched:
                return done, matched
        assert job.poll() is None, f"the job ended before it was stopped:\n{log.read_text()}"
        time.sleep(0.5)
    pytest.fail(f"no progress line part way within {PROGRESS_WAIT_S} s:\n{log.read_text()}")


def _end_session(job: subprocess.Popen) -> None:
    """Stop whatever is left of the job's session (worker processes orphaned by a SIGKILL)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=STOP_WAIT_S)


@pytest.fixture()
def committed(few_photos, tmp_path) -> tuple[str, dict[str, bytes]]:
    """A prefix holding a committed result, and its files' bytes."""
    prefix = str(tmp_path / "nightly" / "scores")
    assert score.run(["--input", f"{few_photos}/*.jpg", "--output", prefix]) is not None
    return prefix, {path.name: path.read_bytes() for path in (tmp_path / "nightly").iterdir()}


def _assert_unchanged(prefix: str, files: dict[str, bytes]) -> None:
    folder = Path(prefix).parent
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} == files
    assert len(_glob_rows(prefix)) == 5  # a glob reader still sees exactly the earlier result


def test_ctrl_c_stops_the_run_within_seconds_and_commits_nothing(many_photos, committed, tmp_path) -> None:
    prefix, before = committed
    log = tmp_path / "job.err"
    job = _start_job(many_photos, prefix, log, "--progress_interval", "1")
    try:
        done, matched = _wait_until_part_way(job, log)
        assert matched == LONG_RUN_FILES
        job.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        assert job.wait(timeout=STOP_WAIT_S) == 130
        assert time.monotonic() - stopped < 10
    finally:
        _end_session(job)
    text = log.read_text()
    assert "nothing was committed" in text
    _assert_unchanged(prefix, before)
    assert _beam_temp(tmp_path) == []
    # Progress lines came (one a second here), and TensorFlow's and Beam's start-up noise did not.
    assert len(PROGRESS_LINE.findall(text)) >= 1
    assert not NOISE.search(text), text


def test_a_killed_run_leaves_the_earlier_result_and_the_next_run_cleans_up(
    many_photos, few_photos, committed, tmp_path
) -> None:
    prefix, before = committed
    log = tmp_path / "job.err"
    job = _start_job(many_photos, prefix, log, "--progress_interval", "1", *MULTI_PROCESS)
    try:
        _wait_until_part_way(job, log)
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=STOP_WAIT_S)
    finally:
        _end_session(job)
    assert not NOISE.search(log.read_text()), log.read_text()
    folder = Path(prefix).parent
    assert _beam_temp(folder), "expected the killed run's temporary files (this test checks their removal)"
    # The killed run's lock stays (nothing could remove it); its process is gone, so it is stale.
    lock = Path(lock_path(prefix))
    holder = json.loads(lock.read_text())
    assert holder["pid"] == job.pid
    lock.unlink()
    _assert_unchanged(prefix, before)
    lock.write_text(json.dumps(holder))

    after = score.run(["--input", f"{few_photos}/*.jpg", "--output", prefix])  # takes the stale lock over
    assert after is not None
    assert _beam_temp(folder) == [] and not lock.exists()
    assert _parquet_files(folder) == sorted(Path(path).name for path in after.output_files)
    assert {row["run_id"] for row in _glob_rows(prefix)} == {after.run_id}
