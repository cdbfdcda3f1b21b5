"""Trust boundaries of issue 22, function by function (no Beam job): credential options redacted, the
prefix lock and when it is stale, deadlines of storage calls against an endpoint that is gone or never
answers, launch checks of bucket names and output folders. The same through real runs:
tests/test_boundaries.py."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from pipeline.job import redact
from pipeline.job.launch import LaunchError, check_bucket_names, take_output
from pipeline.job.running import failure_line
from pipeline.storage import remote
from pipeline.storage.lock import MAX_LOCK_AGE_H, Holder, LockHeld, PrefixLock, is_stale, lock_path
from pipeline.storage.output import OutputLocation

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


# --- Secrets ---------------------------------------------------------------------------------------


def test_credential_options_are_redacted_in_both_spellings() -> None:
    args = [
        f"--s3_secret_access_key={SECRET}",
        "--s3_session_token",
        "token-value-1234",
        "--allow_non_deterministic_key_coders",  # a boolean flag with "key" in its name takes no value
        "--runner=DirectRunner",
        "--my_password=hunter2hunter2",
    ]
    shown, secrets = redact.redact_args(args)
    assert shown == [
        "--s3_secret_access_key=<redacted>",
        "--s3_session_token",
        "<redacted>",
        "--allow_non_deterministic_key_coders",
        "--runner=DirectRunner",
        "--my_password=<redacted>",
    ]
    assert secrets == {SECRET, "token-value-1234", "hunter2hunter2"}
    assert redact.redact_settings({"s3_access_key_id": "AKIA", "input": ["x"], "api_token": None}) == {
        "s3_access_key_id": "<redacted>",
        "input": ["x"],
        "api_token": None,
    }


def test_log_lines_and_free_text_are_scrubbed(caplog) -> None:
    record = logging.LogRecord("pipeline.x", logging.INFO, __file__, 1, "connecting with %s", (SECRET,), None)
    assert redact.ScrubSecrets({SECRET}).filter(record)
    assert record.getMessage() == "connecting with <redacted>"
    assert redact.scrub(f"error: key {SECRET} refused", {SECRET}) == "error: key <redacted> refused"
    options = PipelineOptions([f"--s3_secret_access_key={SECRET}", "--s3_access_key_id=AKIAEXAMPLE"])
    assert redact.option_secrets(options) == {SECRET, "AKIAEXAMPLE"}


# --- The lock --------------------------------------------------------------------------------------


def _holder(**changes) -> Holder:
    fields = dict(run_id="20261201T000000Z-abcdef", host=socket.gethostname(), pid=os.getpid())
    fields["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    fields.update(changes)
    return Holder(**fields)


def _ended_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_lock_is_stale_when_its_holder_is_gone_or_too_old() -> None:
    assert not is_stale(_holder())  # this process: alive
    assert is_stale(_holder(pid=_ended_pid()))  # same host, process ended
    assert not is_stale(_holder(host="another-machine", pid=_ended_pid()))  # cannot be asked: kept
    old = (datetime.now(UTC) - timedelta(hours=MAX_LOCK_AGE_H + 1)).isoformat(timespec="seconds")
    assert is_stale(_holder(host="another-machine", started_at=old))


def test_a_second_run_at_a_prefix_is_refused_naming_the_first(tmp_path: Path) -> None:
    prefix = str(tmp_path / "scores")
    first = PrefixLock.for_run(prefix, "20261201T000000Z-111111", datetime.now(UTC))
    first.acquire()
    second = PrefixLock.for_run(prefix, "20261201T000001Z-222222", datetime.now(UTC))
    with pytest.raises(LockHeld, match=f"run 20261201T000000Z-111111 .pid {os.getpid()} on "):
        second.acquire()
    first.release()
    second.acquire()  # free again
    assert json.loads(Path(lock_path(prefix)).read_text())["run_id"] == "20261201T000001Z-222222"
    second.release()
    assert not Path(lock_path(prefix)).exists()


def test_a_stale_lock_is_taken_over(tmp_path: Path) -> None:
    prefix = str(tmp_path / "scores")
    Path(lock_path(prefix)).write_text(json.dumps(_holder(pid=_ended_pid()).__dict__))
    lock = PrefixLock.for_run(prefix, "20261201T000002Z-333333", datetime.now(UTC))
    lock.acquire()
    assert json.loads(Path(lock_path(prefix)).read_text())["run_id"] == "20261201T000002Z-333333"


# --- Launch: output folders and bucket names -------------------------------------------------------


def _take(prefix: str) -> None:
    take_output(OutputLocation.of(prefix), "20261201T000000Z-abcdef", datetime.now(UTC)).release()


def test_an_output_under_a_file_or_in_proc_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a file").write_text("x")
    with pytest.raises(LaunchError, match=r"cannot write there \(.*a file is a file, not a folder\)$"):
        _take(str(tmp_path / "a file" / "out" / "scores"))
    with pytest.raises(LaunchError, match=r"^--output /proc/blur/scores: cannot write there \("):
        _take("/proc/blur/scores")


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A read-only file system (a tmpfs mounted ro): refused even to root, unlike chmod."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_read_only_output_folder_is_one_line(read_only_folder: Path) -> None:
    with pytest.raises(LaunchError, match=r"cannot write there \(Read-only file system\)$"):
        _take(str(read_only_folder / "scores"))


@pytest.mark.parametrize(
    "uri", ["gs://a/tmp", "gs://Photos/x", "s3://under_score/x", "gs://-dash/x", "s3://x" + "y" * 63 + "/z"]
)
def test_bad_bucket_names_are_refused(uri: str) -> None:
    with pytest.raises(LaunchError, match="is not a valid bucket name"):
        check_bucket_names([uri])


def test_good_bucket_names_pass() -> None:
    check_bucket_names(["gs://my_bucket.example/x", "s3://photos-2026/x", "/local/path", None])


# --- Deadlines -------------------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: only a read deadline ends a call."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def _dead_endpoint() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now


@pytest.fixture
def s3_at(monkeypatch):
    def point(endpoint: str) -> S3Options:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key-id")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        options = PipelineOptions(["--s3_endpoint_url", endpoint, "--s3_region_name", "us-east-1"])
        from apache_beam.io.filesystems import FileSystems

        monkeypatch.setattr(FileSystems, "_pipeline_options", options)
        return options.view_as(S3Options)

    return point


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ["dead", "silent"])
def test_s3_calls_end_within_their_deadline(s3_at, silent_server: str, endpoint: str) -> None:
    s3_at(_dead_endpoint() if endpoint == "dead" else silent_server)
    started = time.monotonic()
    with pytest.raises(remote.StorageUnavailable, match=r"^cannot list s3://bucket/photos/: the storage"):
        list(remote.list_s3("s3://bucket/photos/"))
    listing = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="could not be reached"):
        remote.read_object("s3://bucket/photos/a.jpg", 1000)
    reading = time.monotonic() - started
    print(f"s3 {endpoint} endpoint: listing failed in {listing:.1f} s, a read in {reading:.1f} s")
    assert listing < remote.CALL_DEADLINE_S and reading < remote.CALL_DEADLINE_S
    if endpoint == "dead":
        assert listing < 10 and reading < 10  # a refused connection is known at once


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ["dead", "silent"])
def test_gcs_calls_end_within_their_deadline(monkeypatch, silent_server: str, endpoint: str) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", _dead_endpoint() if endpoint == "dead" else silent_server)
    started = time.monotonic()
    with pytest.raises(remote.StorageUnavailable, match=r"^cannot list gs://bucket/photos/: the storage"):
        list(remote.list_gcs("gs://bucket/photos/"))
    listing = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="could not be reached"):
        remote.read_object("gs://bucket/photos/a.jpg", 1000)
    reading = time.monotonic() - started
    print(f"gs {endpoint} endpoint: listing failed in {listing:.1f} s, a read in {reading:.1f} s")
    assert listing < remote.CALL_DEADLINE_S and reading < remote.CALL_DEADLINE_S


def test_a_failed_run_is_told_in_one_line() -> None:
    worker_said = RuntimeError(
        "Traceback (most recent call last):\n  File 'x.py', line 1, in f\n"
        "pipeline.storage.remote.StorageUnavailable: cannot list s3://b/p/: the storage service did not "
        "answer within the deadline (EndpointConnectionError) [while running 'MatchFiles/ListFiles']"
    )
    assert failure_line(worker_said) == (
        "cannot list s3://b/p/: the storage service did not answer within the deadline "
        "(EndpointConnectionError)"
    )
    assert (
        failure_line(OSError(28, "No space left on device")) == "OSError: [Errno 28] No space left on device"
    )
