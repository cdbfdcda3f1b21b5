"""s3:// in and out against a real S3-protocol server: moto's server (`moto_server`) on 127.0.0.1.

The job is pointed at it the way a MinIO, R2 or Ceph user points it at theirs: `--s3_endpoint_url`,
with credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. It reads photos (a `**` pattern), a
manifest and the model from s3://, and writes its Parquet and manifest back; the rows are read back
with boto3 through the run's PREFIX-manifest.json, as a user of the bucket would. The launch check
(pipeline.job.launch.check_s3) is tested against the same server and against a port nothing listens on.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from support.gcs_emulator import free_port, moto_command, start_server, stop_server, wait_until_serving
from support.photos import REPO_ROOT, blurred, check_bucket_rows, encode, sharp_rgb

from model import MODEL_DIR
from pipeline import score
from pipeline.job.inference import METADATA_FILE, MODEL_FILE, local_model_dir, read_metadata
from pipeline.job.launch import LaunchError, check_s3
from pipeline.schema import SCHEMA

BUCKET = "photos-under-test"
LAUNCH_TIMEOUT_S = 90  # Beam's own retries against an unreachable endpoint were still going after 150 s


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running moto S3 server; credentials come from the environment, as the README advises."""
    workdir = tmp_path_factory.mktemp("s3")
    log = workdir / "moto.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as env:
        process = start_server(moto_command(port), log)
        try:
            wait_until_serving(process, url, log, "moto_server")  # ListBuckets
            env.setenv("AWS_ACCESS_KEY_ID", "test-key-id")
            env.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
            env.setenv("AWS_DEFAULT_REGION", "us-east-1")
            # No real AWS settings may leak in, and boto3 must not probe the EC2 metadata server.
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
                env.delenv(name, raising=False)
            env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(workdir / "no-credentials"))
            env.setenv("AWS_CONFIG_FILE", str(workdir / "no-config"))
            env.setenv("AWS_EC2_METADATA_DISABLED", "true")
            yield url
        finally:
            stop_server(process)


def _s3_options(endpoint: str) -> PipelineOptions:
    return PipelineOptions(["--s3_endpoint_url", endpoint])


ASTRONAUT = sharp_rgb("astronaut")

# Object name -> (bytes, expected status, (width, height) or the error's key words).
PHOTOS: dict[str, tuple[bytes, str, object]] = {
    "photos/astronaut.jpg": (encode(ASTRONAUT, "JPEG", quality=92), "ok", (512, 512)),
    "photos/astronaut_gaussian.jpg": (encode(blurred(ASTRONAUT), "JPEG", quality=92), "ok", (512, 512)),
    "photos/sub dir/chelsea café.png": (encode(sharp_rgb("chelsea"), "PNG"), "ok", (451, 300)),
    "photos/sub dir/deeper/coffee.jpg": (encode(sharp_rgb("coffee"), "JPEG"), "ok", (600, 400)),
    "photos/broken/truncated.jpg": (encode(sharp_rgb("rocket"), "JPEG")[:3000], "error", "truncated"),
    "photos/broken/notes.jpg": (b"shopping list: milk, eggs\n", "error", "not an image"),
    "other/rocket.jpg": (encode(sharp_rgb("rocket"), "JPEG"), "ok", (640, 427)),  # only in the manifest
}
MISSING = "photos/deleted-since-listing.jpg"  # listed in the manifest, not in the bucket
MANIFEST = "\n".join(
    [
        "# photos listed elsewhere; one is also matched by the pattern, one no longer exists",
        f"s3://{BUCKET}/other/rocket.jpg",
        f"s3://{BUCKET}/photos/astronaut.jpg",
        "",
        f"s3://{BUCKET}/{MISSING}",
    ]
)
OUTPUT_FOLDER = "scores/run1"
OUTPUT_PREFIX = f"s3://{BUCKET}/{OUTPUT_FOLDER}/blur"


@pytest.fixture(scope="module")
def s3(s3_server: str):
    """A boto3 client of the server, as a user of the bucket has one."""
    client = boto3.client("s3", endpoint_url=s3_server)
    client.create_bucket(Bucket=BUCKET)
    for name, (data, _, _) in PHOTOS.items():
        client.put_object(Bucket=BUCKET, Key=name, Body=data)
    client.put_object(Bucket=BUCKET, Key="lists/manifest.txt", Body=MANIFEST.encode())
    for name in (MODEL_FILE, METADATA_FILE):
        client.upload_file(str(MODEL_DIR / name), BUCKET, f"models/current/{name}")
    return client


def _object_names(s3, prefix: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _read_object(s3, name: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=name)["Body"].read()


@pytest.fixture(scope="module")
def scored(s3_server: str, s3) -> tuple[object, dict, list[dict], list[str]]:
    """Run the job once, s3:// everywhere; return its summary, the manifest it wrote, the rows of the
    shards that manifest lists (read back from the bucket), and the objects under scores/ then."""
    summary = score.run(
        [
            "--input",
            f"s3://{BUCKET}/photos/**",
            "--input_manifest",
            f"s3://{BUCKET}/lists/manifest.txt",
            "--model",
            f"s3://{BUCKET}/models/current",
            "--output",
            OUTPUT_PREFIX,
            "--s3_endpoint_url",
            s3_server,
        ]
    )
    manifest, rows = _read_run(s3)
    return summary, manifest, rows, _object_names(s3, "scores/")


def _read_run(s3) -> tuple[dict, list[dict]]:
    """The run at OUTPUT_PREFIX as a reader sees it: its manifest, and the rows of the shards it lists."""
    manifest = json.loads(_read_object(s3, f"{OUTPUT_FOLDER}/blur-manifest.json"))
    tables = [
        pq.read_table(io.BytesIO(_read_object(s3, f"{OUTPUT_FOLDER}/{shard}")))
        for shard in manifest["shards"]
    ]
    return manifest, pa.concat_tables(tables).to_pylist() if tables else []


def test_one_row_per_file_pattern_and_manifest(scored) -> None:
    summary, manifest, rows, _ = scored
    uris = [row["uri"] for row in rows]
    expected = {f"s3://{BUCKET}/{name}" for name in PHOTOS} | {f"s3://{BUCKET}/{MISSING}"}
    assert sorted(uris) == sorted(expected)  # `**` reached sub dir/deeper; astronaut.jpg has one row
    assert (summary.files, summary.ok, summary.errors) == (8, 5, 3)
    assert (manifest["files"], manifest["ok"], manifest["errors"], manifest["rows"]) == (8, 5, 3, 8)


def test_rows_of_good_and_broken_files(scored) -> None:
    _, _, rows, _ = scored
    check_bucket_rows(rows, f"s3://{BUCKET}", PHOTOS, MISSING)


def test_model_read_from_s3(scored) -> None:
    _, manifest, rows, _ = scored
    version = str(read_metadata(str(MODEL_DIR)).version)
    assert {row["model_version"] for row in rows} == {version}
    assert manifest["model_version"] == version
    assert manifest["settings"]["model"] == f"s3://{BUCKET}/models/current"


def test_an_s3_model_is_copied_for_loading_and_the_copy_removed(s3_server, s3, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # The endpoint from the environment this time, as tools without Beam's --s3_* flags can give it:
    # Beam's S3 file system (no --s3_endpoint_url in its options) passes boto3 no endpoint, and boto3
    # takes AWS_ENDPOINT_URL_S3.
    monkeypatch.setattr(FileSystems, "_pipeline_options", PipelineOptions([]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    with local_model_dir(f"s3://{BUCKET}/models/current") as local:
        assert Path(local).parent == tmp_path
        assert sorted(os.listdir(local)) == sorted([MODEL_FILE, METADATA_FILE])
        assert (Path(local) / MODEL_FILE).read_bytes() == (MODEL_DIR / MODEL_FILE).read_bytes()
    assert list(tmp_path.iterdir()) == []


def test_output_is_committed_snappy_parquet_with_the_contract_schema(scored, s3) -> None:
    summary, manifest, _, written = scored
    # Only the final shards and the run's manifest remain: Beam's temporary objects were moved and deleted.
    shards = [f"{OUTPUT_FOLDER}/{shard}" for shard in manifest["shards"]]
    assert shards and set(written) == {*shards, f"{OUTPUT_FOLDER}/blur-manifest.json"}
    assert sorted(summary.output_files) == sorted(f"s3://{BUCKET}/{name}" for name in shards)
    parquet = pq.ParquetFile(io.BytesIO(_read_object(s3, shards[0])))
    assert parquet.schema_arrow.names == SCHEMA.names
    assert parquet.metadata.row_group(0).column(0).compression == "SNAPPY"


def _command(module: str, *args: str, endpoint: str) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` in a new process, the S3 endpoint given by the environment (these
    commands take no Beam flags), as a user of a MinIO-style store runs them."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL_S3": endpoint},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_review_of_a_run_in_a_bucket(scored, s3_server, tmp_path) -> None:
    _, manifest, rows, _ = scored
    completed = _command(
        "pipeline.review", "--scores", OUTPUT_PREFIX, "--out", str(tmp_path / "site"), endpoint=s3_server
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    site = tmp_path / "site"
    data = json.loads((site / "data.js").read_text().removeprefix("window.REVIEW = ").rstrip()[:-1])
    assert (data["run"]["scores"], data["run"]["manifest"]) == (OUTPUT_PREFIX, True)
    assert (data["counts"]["files"], data["counts"]["errors"]) == (manifest["files"], manifest["errors"])
    tiles = {tile["u"]: tile for tile in data["tiles"]}
    flagged = [row["uri"] for row in rows if row["blurry"]]
    assert flagged and set(flagged) <= set(tiles)
    for uri in flagged:  # thumbnails made from the original objects in the bucket
        assert (site / tiles[uri]["t"]).stat().st_size > 0


def test_cull_copies_the_flagged_objects_within_the_bucket(scored, s3_server, s3, tmp_path) -> None:
    _, _, rows, _ = scored
    csv = tmp_path / "cull.csv"
    completed = _command(
        "pipeline.cull",
        *("--scores", OUTPUT_PREFIX, "--to", f"s3://{BUCKET}/culled", "--root", f"s3://{BUCKET}"),
        *("--apply", "--manifest", str(csv)),
        endpoint=s3_server,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    flagged = sorted(row["uri"].removeprefix(f"s3://{BUCKET}/") for row in rows if row["blurry"])
    assert flagged
    assert _object_names(s3, "culled/") == [f"culled/{name}" for name in flagged]
    for name in flagged:  # copied, not moved, and byte for byte
        assert _read_object(s3, f"culled/{name}") == _read_object(s3, name)
    assert csv.read_text().count("\n") == len(flagged) + 2  # header, the run's folders, a line per photo


def test_an_incremental_run_carries_unchanged_objects(scored, s3_server, s3) -> None:
    """--skip_scored on s3://: objects unchanged since the first run (same size and modification time in
    the listing) keep their rows, carried over without being read; failed ones are tried again."""
    _, first, first_rows, _ = scored
    summary = score.run(
        ["--input", f"s3://{BUCKET}/photos/**", "--skip_scored", OUTPUT_PREFIX]
        + ["--output", f"s3://{BUCKET}/scores/run2/blur", "--s3_endpoint_url", s3_server]
    )
    manifest = json.loads(_read_object(s3, "scores/run2/blur-manifest.json"))
    rows = pa.concat_tables(
        [pq.read_table(io.BytesIO(_read_object(s3, f"scores/run2/{shard}"))) for shard in manifest["shards"]]
    ).to_pylist()
    matched = {f"s3://{BUCKET}/{name}" for name in PHOTOS if name.startswith("photos/")}
    assert {row["uri"] for row in rows} == matched
    carried = {row["uri"] for row in rows if row["carried_over"]}
    ok_before = {row["uri"] for row in first_rows if row["status"] == "ok" and row["uri"] in matched}
    assert carried == ok_before and len(carried) == 4
    assert summary.carried == manifest["carried"] == 4
    sizes = {row["uri"]: row["file_size"] for row in first_rows}
    assert all(row["file_size"] == sizes[row["uri"]] is not None for row in rows)  # from the S3 listing


def test_a_second_run_to_the_same_prefix_replaces_the_first(scored, s3_server, s3) -> None:
    """Committed output holds on s3:// as on gs://: after a second, smaller run to the same prefix, the
    manifest is the new run's, and only its shards (no earlier shard, no temporary object) remain."""
    _, first, _, _ = scored
    second_summary = score.run(
        ["--input", f"s3://{BUCKET}/photos/sub dir/**", "--output", OUTPUT_PREFIX]
        + ["--s3_endpoint_url", s3_server]
    )
    manifest, rows = _read_run(s3)
    assert manifest["run_id"] != first["run_id"]
    assert (manifest["files"], second_summary.files) == (2, 2)
    assert sorted(row["uri"] for row in rows) == [
        f"s3://{BUCKET}/photos/sub dir/chelsea café.png",
        f"s3://{BUCKET}/photos/sub dir/deeper/coffee.jpg",
    ]
    shards = {f"{OUTPUT_FOLDER}/{shard}" for shard in manifest["shards"]}
    assert set(_object_names(s3, f"{OUTPUT_FOLDER}/")) == {*shards, f"{OUTPUT_FOLDER}/blur-manifest.json"}


def test_launch_check_passes_for_reachable_buckets(s3_server, s3, monkeypatch) -> None:
    uris = [f"s3://{BUCKET}/photos/**", None, "gs://elsewhere/x", "local/x"]
    check_s3(uris, _s3_options(s3_server))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)  # the same endpoint, given the other way
    check_s3(uris, PipelineOptions([]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(LaunchError, match=r"cannot reach the S3 endpoint http://127\.0\.0\.1:"):
        check_s3(uris, PipelineOptions([]))


def test_missing_bucket_stops_the_launch_before_any_photo_is_read(s3_server, s3) -> None:
    with pytest.raises(LaunchError, match=r"^s3://no-such-bucket: no such bucket at http://127\.0\.0\.1"):
        score.run(
            [
                "--input",
                f"s3://{BUCKET}/photos/**",
                "--output",
                "s3://no-such-bucket/scores/blur",
                "--s3_endpoint_url",
                s3_server,
            ]
        )


def test_missing_credentials_named_with_the_ways_to_give_them(s3_server, s3, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(LaunchError) as raised:
        check_s3([f"s3://{BUCKET}/photos/**"], _s3_options(s3_server))
    message = str(raised.value)
    assert message.startswith(f"no credentials for s3://{BUCKET}: ")
    assert all(way in message for way in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "~/.aws/credentials"))


def test_unreachable_endpoint_fails_at_launch_with_one_line(s3_server, tmp_path) -> None:
    """The command a user types, against an endpoint nothing listens on: exit status 2 and one line,
    well before Beam's own retries would give up."""
    closed_port = free_port()
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline.score", "--input", f"s3://{BUCKET}/photos/**"]
        + ["--output", str(tmp_path / "scores"), "--s3_endpoint_url", f"http://127.0.0.1:{closed_port}"],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=LAUNCH_TIMEOUT_S,
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    last_line = completed.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        f"error: s3://{BUCKET}: cannot reach the S3 endpoint http://127.0.0.1:{closed_port}"
    )
    assert "check --s3_endpoint_url" in last_line
    assert "Traceback" not in completed.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_dataflow_workers_install_boto3_through_setup_py(tmp_path) -> None:
    """setup.py's install_requires (what --setup_file workers pip-install) carries Beam's AWS extra."""
    subprocess.run(
        [sys.executable, "setup.py", "--quiet", "egg_info", "--egg-base", str(tmp_path)],
        cwd=REPO_ROOT,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    (requires,) = tmp_path.glob("*.egg-info/requires.txt")
    lines = requires.read_text().splitlines()
    assert "apache-beam[aws,gcp]==2.77.0" in lines or "apache-beam[gcp,aws]==2.77.0" in lines
    assert any(line.startswith("boto3==") for line in lines)
