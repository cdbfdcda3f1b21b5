"""Launch checks and listing for gs:// against the GCS emulator (the `emulator` fixture, conftest.py): a
missing bucket or missing credentials stop the launcher in seconds with one line; listed objects carry Cloud
Storage's own size, update time and CRC32C."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from support.gcs_emulator import PROJECT  # the `emulator` fixture (conftest.py) gives one emulator per module

from pipeline import score
from pipeline.job.launch import LaunchError
from pipeline.storage.files import content_crc32c

BUCKET = "launch-checks"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bucket(emulator, sharp_jpeg) -> storage.Bucket:  # noqa: F811
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    bucket = client.create_bucket(BUCKET)
    for name in ("photos/a.jpg", "photos/DCIM/IMG_1.JPG", "photos/names/br[1].jpg", "photos/names/br1.jpg"):
        bucket.blob(name).upload_from_string(sharp_jpeg, content_type="image/jpeg")
    bucket.blob("photos/notes.txt").upload_from_string(b"not a photo")
    return bucket


def launch_fails(tmp_path: Path, *args: str, match: str) -> str:
    started = time.monotonic()
    with pytest.raises(LaunchError, match=match) as raised:
        score.run([*args, "--output", str(tmp_path / "out")])
    assert time.monotonic() - started < 15, "a launch check must answer in seconds, without retries"
    return str(raised.value)


def test_a_missing_bucket_stops_the_launch(bucket, tmp_path) -> None:
    launch_fails(tmp_path, "--input", "gs://no-such-bucket/**", match="gs://no-such-bucket: no such bucket")
    launch_fails(
        tmp_path,
        "--input",
        f"gs://{BUCKET}/photos/**",
        "--model",
        "gs://missing-models/v1",
        match="missing-models",
    )


def test_a_pattern_matching_no_object_names_it(bucket, tmp_path) -> None:
    launch_fails(
        tmp_path, "--input", f"gs://{BUCKET}/holiday/**", match=f"gs://{BUCKET}/holiday/.. matched no file"
    )


def test_no_credentials_stop_the_launcher_with_what_to_do(bucket, tmp_path) -> None:
    """Outside the emulator, with GOOGLE_APPLICATION_CREDENTIALS naming a missing key file: google-auth
    fails on the file at once, so nothing leaves the machine; the command prints one line, status 2."""
    env = {key: value for key, value in os.environ.items() if key != "STORAGE_EMULATOR_HOST"}
    env["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "missing-key.json")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.score", "--input", f"gs://{BUCKET}/photos/**", "--output", "o"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
    )
    assert time.monotonic() - started < 60
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert "gcloud auth application-default login" in errors[0]
    assert "GOOGLE_APPLICATION_CREDENTIALS" in errors[0] and "missing-key.json" in errors[0]


@pytest.fixture(scope="module")
def gcs_rows(bucket, run_job):
    return run_job(
        "--input", f"gs://{BUCKET}/photos/**/*.jpg",  # also IMG_1.JPG
        "--input", f"gs://{BUCKET}/photos/names/br[1].jpg",  # a literal name, not a class
    )  # fmt: skip


def test_gcs_patterns_extension_in_any_case(gcs_rows) -> None:
    assert sorted(row["uri"] for row in gcs_rows.rows) == [
        f"gs://{BUCKET}/photos/DCIM/IMG_1.JPG",
        f"gs://{BUCKET}/photos/a.jpg",
        f"gs://{BUCKET}/photos/names/br1.jpg",
        f"gs://{BUCKET}/photos/names/br[1].jpg",
    ]
    assert all(row["status"] == "ok" for row in gcs_rows.rows)


def test_gcs_rows_carry_the_objects_own_facts(gcs_rows, bucket, sharp_jpeg) -> None:
    for row in gcs_rows.rows:
        blob = bucket.get_blob(row["uri"].removeprefix(f"gs://{BUCKET}/"))
        assert row["file_size"] == blob.size == len(sharp_jpeg)
        assert row["modified_at"] == blob.updated.replace(microsecond=blob.updated.microsecond)
        assert row["crc32c"] == content_crc32c(sharp_jpeg)


def test_a_gcs_folder_without_wildcards_is_every_object_under_it(bucket, run_job) -> None:
    output = run_job("--input", f"gs://{BUCKET}/photos/names")
    assert sorted(row["uri"] for row in output.rows) == [
        f"gs://{BUCKET}/photos/names/br1.jpg",
        f"gs://{BUCKET}/photos/names/br[1].jpg",
    ]
