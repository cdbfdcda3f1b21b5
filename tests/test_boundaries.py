"""Trust boundaries of issue 22 through real runs of `python -m pipeline.score` (each a process of its
own, as a user starts it): a credential given as a flag appears in no file the run writes and nowhere
on its output; an S3 server stopped mid-run ends the run in bounded time with error rows; a second run
at a prefix is refused while the first runs; a disk that fills mid-run fails the run in one line and
leaves nothing behind. The functions behind them: tests/test_boundaries_pure.py."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from support.gcs_emulator import free_port, moto_command, start_server, stop_server, wait_until_serving
from support.photos import REPO_ROOT, encode, sharp_rgb

from pipeline import score
from pipeline.job.launch import LaunchError
from pipeline.results.reader import read_run
from pipeline.storage.lock import lock_path

pytestmark = pytest.mark.slow

BUCKET = "boundaries"
KEY_ID = "AKIDBOUNDARYTEST0001"
SECRET = "s3cr3t-Boundary-Value-9f3c2a71e4"
DEAD_ENDPOINT_BOUND_S = 90
"""A run whose S3 server is gone must end within this (docs/robustness.md: a refused connection is
known at once; after 3 failed reads the rest fail without trying for 30 s)."""


def _photos(count: int) -> dict[str, bytes]:
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera")
    return {
        f"photos/{index:03d}.jpg": encode(sharp_rgb(names[index % len(names)])[:256, :256], "JPEG")
        for index in range(count)
    }


@dataclass
class Moto:
    url: str
    process: subprocess.Popen
    env: dict[str, str]


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[Moto]:
    """A moto S3 server of this test's own (the outage test stops it), with a bucket of 40 photos."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "moto.log"
    process = start_server(moto_command(port), log)
    try:
        wait_until_serving(process, url, log, "moto_server")
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "GOOGLE_", "STORAGE_"))
        }
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
            AWS_CONFIG_FILE=str(tmp_path / "no-config"),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_DEFAULT_REGION="us-east-1",
            PYTHONPATH=str(REPO_ROOT),
        )
        client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        for name, data in _photos(40).items():
            client.put_object(Bucket=BUCKET, Key=name, Body=data)
        yield Moto(url, process, env)
    finally:
        stop_server(process)


def _start_job(args: list[str], env: dict[str, str], stderr: Path) -> subprocess.Popen:
    with open(stderr, "wb") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.score", *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stream,
            start_new_session=True,  # so a test can stop what is left of it (worker processes)
        )


def _end(job: subprocess.Popen) -> None:
    """Stop whatever is left of a job's session (a run still retrying when its test gave up)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=30)


def _s3_flags(moto: Moto) -> list[str]:
    return [
        "--s3_endpoint_url",
        moto.url,
        f"--s3_access_key_id={KEY_ID}",
        "--s3_secret_access_key",
        SECRET,
        "--s3_region_name=us-east-1",
    ]


def test_a_credential_flag_is_in_no_file_the_run_writes(moto: Moto, tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"  # the run's temporary files (progress tallies, model probe) land here
    temporary.mkdir()
    out = tmp_path / "out"
    env = {**moto.env, "TMPDIR": str(temporary)}
    args = ["--input", f"s3://{BUCKET}/photos/**", "--output", f"{out}/scores", "--progress_interval", "0.5"]
    job = _start_job([*args, *_s3_flags(moto)], env, tmp_path / "stderr.txt")
    stdout, _ = job.communicate(timeout=600)
    stderr = (tmp_path / "stderr.txt").read_bytes()
    assert job.returncode == 0, stderr[-3000:]
    assert b"progress: " in stderr  # progress lines were written, and checked below
    manifest = json.loads((out / "scores-manifest.json").read_text())
    assert manifest["ok"] == 40
    assert "--s3_access_key_id=<redacted>" in manifest["settings"]["beam_args"]
    assert "<redacted>" in manifest["settings"]["beam_args"]
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path.name != "moto.log"]
    assert any(path.suffix == ".parquet" for path in written)
    for secret in (SECRET, KEY_ID):
        found = [str(path) for path in written if secret.encode() in path.read_bytes()]
        assert found == [], f"{secret} written to {found}"
        assert secret.encode() not in stdout + stderr


def test_an_s3_server_that_stops_mid_run_ends_it_in_bounded_time(moto: Moto, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stderr = tmp_path / "stderr.txt"
    args = ["--input", f"s3://{BUCKET}/photos/**", "--output", f"{out}/scores", "--progress_interval", "0.5"]
    job = _start_job([*args, *_s3_flags(moto)], moto.env, stderr)
    deadline = time.monotonic() + 300
    while b"files matched" not in stderr.read_bytes() and job.poll() is None:
        assert time.monotonic() < deadline, stderr.read_text()[-3000:]
        time.sleep(0.1)
    stop_server(moto.process)  # the listing is done; the reads are not
    stopped = time.monotonic()
    try:
        job.communicate(timeout=DEAD_ENDPOINT_BOUND_S + 60)
    finally:
        _end(job)
    took = time.monotonic() - stopped
    print(f"\nS3 server stopped mid-run: the run ended {took:.1f} s later (exit {job.returncode})")
    assert took < DEAD_ENDPOINT_BOUND_S, stderr.read_text()[-3000:]
    text = stderr.read_text()
    if job.returncode == 0:  # the usual case: every file not read yet has an error row saying why
        run = read_run(str(out / "scores"))
        rows = run.table.to_pylist()
        assert len(rows) == 40
        unreachable = [row for row in rows if row["status"] == "error"]
        assert unreachable, "the server was stopped before the reads"
        assert all("could not be reached" in row["error"] for row in unreachable), unreachable[:3]
        assert all(row["status"] in ("ok", "error") for row in rows)
    else:  # a listing that had not finished: one line, nothing committed
        assert job.returncode == 1
        assert text.strip().splitlines()[-1].startswith("error: the run failed, nothing was committed: ")
        assert not (out / "scores-manifest.json").exists()
    assert not Path(lock_path(str(out / "scores"))).exists()


@pytest.fixture
def gcs(tmp_path: Path) -> Iterator[Moto]:
    """A gcp-storage-emulator of this test's own (stopped mid-run), with a bucket of 40 photos."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from support.gcs_emulator import PROJECT, emulator_command

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "emulator.log"
    process = start_server(emulator_command(port), log)
    try:
        wait_until_serving(process, f"{url}/storage/v1/b?project={PROJECT}", log, "gcp-storage-emulator")
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "GOOGLE_"))}
        env.update(
            STORAGE_EMULATOR_HOST=url,
            GOOGLE_CLOUD_PROJECT=PROJECT,
            CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
            NO_GCE_CHECK="True",
            PYTHONPATH=str(REPO_ROOT),
        )
        client = storage.Client(
            project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
        )
        bucket = client.create_bucket(BUCKET)
        for name, data in _photos(40).items():
            bucket.blob(name).upload_from_string(data, content_type="image/jpeg")
        yield Moto(url, process, env)
    finally:
        stop_server(process)


def test_a_gcs_emulator_that_stops_mid_run_ends_it_in_bounded_time(gcs: Moto, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stderr = tmp_path / "stderr.txt"
    args = ["--input", f"gs://{BUCKET}/photos/**", "--output", f"{out}/scores", "--progress_interval", "0.5"]
    job = _start_job(args, gcs.env, stderr)
    deadline = time.monotonic() + 300
    while b"files matched" not in stderr.read_bytes() and job.poll() is None:
        assert time.monotonic() < deadline, stderr.read_text()[-3000:]
        time.sleep(0.1)
    stop_server(gcs.process)
    stopped = time.monotonic()
    try:
        job.communicate(timeout=DEAD_ENDPOINT_BOUND_S + 60)
    finally:
        _end(job)
    took = time.monotonic() - stopped
    print(f"\nGCS emulator stopped mid-run: the run ended {took:.1f} s later (exit {job.returncode})")
    assert took < DEAD_ENDPOINT_BOUND_S, stderr.read_text()[-3000:]
    assert job.returncode == 0, stderr.read_text()[-3000:]
    rows = read_run(str(out / "scores")).table.to_pylist()
    assert len(rows) == 40
    unreachable = [row for row in rows if row["status"] == "error"]
    assert unreachable and all("could not be reached" in row["error"] for row in unreachable), rows[:3]


def _local_photos(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in _photos(count).items():
        (folder / Path(name).name).write_bytes(data)
    return folder


def test_a_second_run_at_a_prefix_is_refused_in_seconds_naming_the_first(tmp_path: Path) -> None:
    photos = _local_photos(tmp_path / "photos", 12)
    prefix = str(tmp_path / "out" / "scores")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    first = _start_job(["--input", f"{photos}/*", "--output", prefix], env, tmp_path / "first.txt")
    lock = Path(lock_path(prefix))
    deadline = time.monotonic() + 300
    while not lock.exists():
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.txt").read_text()
        time.sleep(0.05)
    holder = json.loads(lock.read_text())
    started = time.monotonic()
    with pytest.raises(LaunchError) as refused:
        score.run(["--input", f"{photos}/0*.jpg", "--output", prefix])
    took = time.monotonic() - started
    message = str(refused.value)
    assert f"run {holder['run_id']} (pid {first.pid} on " in message and "\n" not in message
    assert took < 30, took  # the launch checks (model probe cached) and one look at the lock
    first.communicate(timeout=600)
    assert first.returncode == 0, (tmp_path / "first.txt").read_text()[-3000:]
    run = read_run(prefix)
    assert run.manifest["run_id"] == holder["run_id"] and run.table.num_rows == 12
    assert not lock.exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 kB file system (tmpfs): room for the lock, not for the run's Parquet."""
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(folder)], check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_disk_that_fills_mid_run_fails_it_in_one_line_leaving_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    photos = _local_photos(tmp_path / "photos", 40)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    job = _start_job(
        ["--input", f"{photos}/*", "--output", f"{small_disk}/scores"], env, tmp_path / "err.txt"
    )
    job.communicate(timeout=600)
    text = (tmp_path / "err.txt").read_text()
    assert job.returncode == 1, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert text.strip().splitlines()[-1] == (
        "error: the run failed, nothing was committed: OSError: [Errno 28] No space left on device"
    )
    assert list(small_disk.iterdir()) == []  # no shards, no Beam temporary folder, no lock, no manifest


def test_the_lock_holds_in_buckets_too(moto: Moto, gcs: Moto, monkeypatch) -> None:
    """Created atomically with a conditional write: If-None-Match on S3, ifGenerationMatch=0 on GCS."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.storage import remote
    from pipeline.storage.lock import LockHeld, PrefixLock

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    options = PipelineOptions(_s3_flags(moto))
    monkeypatch.setattr(FileSystems, "_pipeline_options", options)
    for prefix in (f"s3://{BUCKET}/out/scores", f"gs://{BUCKET}/out/scores"):
        first = PrefixLock.for_run(prefix, "20261201T000000Z-111111", datetime.now(UTC))
        first.acquire()
        second = PrefixLock.for_run(prefix, "20261201T000001Z-222222", datetime.now(UTC))
        with pytest.raises(LockHeld, match="run 20261201T000000Z-111111 "):
            second.acquire()
        first.release()
        second.acquire()
        second.release()
        assert remote.object_file(lock_path(prefix)).size is None  # gone
