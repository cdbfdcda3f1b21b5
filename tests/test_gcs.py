"""gs:// in and out against a real GCS-protocol server: gcp-storage-emulator on 127.0.0.1.

The job reads photos, a manifest and the model from gs://, and writes its Parquet to gs:// (Beam's
temporary files, then the batch copy + delete that finalizes them, all through the emulator's JSON API).
The rows are read back from the emulator with google-cloud-storage, as a user of the bucket would.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import skimage.data
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from PIL import Image
from support.gcs_emulator import PROJECT
from support.photos import check_bucket_rows

from model import MODEL_DIR
from pipeline import score
from pipeline.job.inference import METADATA_FILE, MODEL_FILE, local_model_dir, read_metadata
from pipeline.results.reader import read_results
from pipeline.schema import SCHEMA

BUCKET = "photos-under-test"


def _jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _motion_blur(rgb: np.ndarray, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return cv2.filter2D(rgb, -1, kernel)


ASTRONAUT = skimage.data.astronaut()
CHELSEA = skimage.data.chelsea()
COFFEE = skimage.data.coffee()
ROCKET = skimage.data.rocket()

# Object name -> (bytes, expected status, (width, height) or the error's key words).
PHOTOS: dict[str, tuple[bytes, str, object]] = {
    "photos/astronaut.jpg": (_jpeg(ASTRONAUT), "ok", (512, 512)),
    "photos/astronaut_gaussian.jpg": (_jpeg(cv2.GaussianBlur(ASTRONAUT, (0, 0), 4)), "ok", (512, 512)),
    "photos/sub dir/chelsea café.png": (_png(CHELSEA), "ok", (451, 300)),
    "photos/sub dir/coffee_motion.jpg": (_jpeg(_motion_blur(COFFEE, 15)), "ok", (600, 400)),
    "photos/broken/truncated.jpg": (_jpeg(ROCKET)[:3000], "error", "truncated"),
    "photos/broken/notes.jpg": (b"shopping list: milk, eggs\n", "error", "not an image"),
    "other/rocket.jpg": (_jpeg(ROCKET), "ok", (640, 427)),  # outside the pattern: only the manifest lists it
}
MISSING = "photos/deleted-since-listing.jpg"  # listed in the manifest, not in the bucket
MANIFEST = "\n".join(
    [
        "# photos listed elsewhere; one is also matched by the pattern, one no longer exists",
        f"gs://{BUCKET}/other/rocket.jpg",
        f"gs://{BUCKET}/photos/astronaut.jpg",
        "",
        f"gs://{BUCKET}/{MISSING}",
    ]
)
OUTPUT_PREFIX = f"gs://{BUCKET}/scores/run1/blur"


@pytest.fixture(scope="module")
def bucket(emulator: str) -> storage.Bucket:
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    bucket = client.create_bucket(BUCKET)
    for name, (data, _, _) in PHOTOS.items():
        bucket.blob(name).upload_from_string(data, content_type="application/octet-stream")
    bucket.blob("lists/manifest.txt").upload_from_string(MANIFEST, content_type="text/plain")
    for path in sorted(MODEL_DIR.glob("*.keras")) + sorted(MODEL_DIR.glob("*.json")):
        bucket.blob(f"models/current/{path.name}").upload_from_filename(str(path))
    return bucket


@pytest.fixture(scope="module")
def scored(bucket: storage.Bucket) -> tuple[object, list[dict], list[str]]:
    """Run the job once, gs:// everywhere; return its summary, the rows read back, and the output objects."""
    summary = score.run(
        [
            "--input",
            f"gs://{BUCKET}/photos/**",
            "--input_manifest",
            f"gs://{BUCKET}/lists/manifest.txt",
            "--model",
            f"gs://{BUCKET}/models/current",
            "--output",
            OUTPUT_PREFIX,
        ]
    )
    output_objects = sorted(blob.name for blob in bucket.list_blobs(prefix="scores/"))
    rows = read_results(OUTPUT_PREFIX).to_pylist()  # the shards the run's manifest lists, from the bucket
    return summary, rows, output_objects


def test_one_row_per_file_pattern_and_manifest(scored) -> None:
    summary, rows, _ = scored
    uris = [row["uri"] for row in rows]
    expected = {f"gs://{BUCKET}/{name}" for name in PHOTOS} | {f"gs://{BUCKET}/{MISSING}"}
    assert sorted(uris) == sorted(expected)  # astronaut.jpg is matched and listed, yet has one row
    assert (summary.files, summary.ok, summary.errors) == (8, 5, 3)


def test_rows_of_good_and_broken_files(scored) -> None:
    _, rows, _ = scored
    check_bucket_rows(rows, f"gs://{BUCKET}", PHOTOS, MISSING)


def test_model_read_from_gs(scored) -> None:
    _, rows, _ = scored
    assert {row["model_version"] for row in rows} == {str(read_metadata(str(MODEL_DIR)).version)}


def test_a_gs_model_is_copied_for_loading_and_the_copy_removed(bucket, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with local_model_dir(f"gs://{BUCKET}/models/current") as local:
        assert Path(local).parent == tmp_path
        assert sorted(os.listdir(local)) == sorted([MODEL_FILE, METADATA_FILE])
        assert (Path(local) / MODEL_FILE).read_bytes() == (MODEL_DIR / MODEL_FILE).read_bytes()
    assert list(tmp_path.iterdir()) == []  # the job's workers do not fill their disks with model copies


def test_output_is_finalized_snappy_parquet_with_the_contract_schema(scored, bucket) -> None:
    _, _, output_objects = scored
    # Only the final shards and the run's manifest remain: Beam's temporary files were moved and deleted.
    shards = [name for name in output_objects if name.endswith(".parquet")]
    assert shards and set(output_objects) == {*shards, "scores/run1/blur-manifest.json"}
    assert all(name.startswith("scores/run1/blur-") for name in shards)
    parquet = pq.ParquetFile(io.BytesIO(bucket.blob(shards[0]).download_as_bytes()))
    assert parquet.schema_arrow.names == SCHEMA.names
    assert parquet.metadata.row_group(0).column(0).compression == "SNAPPY"


def _objects_under(bucket: storage.Bucket, prefix: str) -> set[str]:
    return {blob.name for blob in bucket.list_blobs(prefix=prefix)}


def test_runs_to_a_gs_folder_commit_and_replace_each_other(bucket) -> None:
    """`--output gs://bucket/folder/` twice: each run's manifest names exactly the shards in the folder,
    and what a killed run left there (an uncommitted shard, Beam's temporary objects) is gone."""
    folder = "scores/folder/"

    def run(pattern: str) -> tuple[object, dict]:
        summary = score.run(["--input", pattern, "--output", f"gs://{BUCKET}/{folder}"])
        manifest = json.loads(bucket.blob(f"{folder}scores-manifest.json").download_as_bytes())
        assert _objects_under(bucket, folder) == {
            f"{folder}scores-manifest.json",
            *(f"{folder}{name}" for name in manifest["shards"]),
        }
        rows = pa.concat_tables(
            [
                pq.read_table(io.BytesIO(bucket.blob(folder + name).download_as_bytes()))
                for name in manifest["shards"]
            ]
        )
        assert rows.num_rows == manifest["rows"] == manifest["files"] == summary.files
        assert set(rows.column("run_id").to_pylist()) == {manifest["run_id"]} == {summary.run_id}
        return summary, manifest

    first, _ = run(f"gs://{BUCKET}/photos/**")
    killed = "20261129T000000Z-abcdef"
    leftovers = [
        f"{folder}scores-{killed}-00000-of-00001.parquet",
        f"{folder}beam-temp-scores-{killed}-{'0' * 32}/c1274412.parquet",
    ]
    for name in leftovers:
        bucket.blob(name).upload_from_string(b"half a shard")
    second, manifest = run(f"gs://{BUCKET}/photos/sub dir/*")
    assert (first.files, second.files) == (6, 2)
    assert not any(bucket.blob(name).exists() for name in leftovers)
