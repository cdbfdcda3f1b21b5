"""Shared test fixtures: real photo files made from scikit-image's bundled photos, and a job runner.

Everything is generated into pytest's temporary folders, offline and deterministically. Pipeline
runs cost seconds each, so test modules share them through module-scoped fixtures.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pyarrow as pa
import pytest
import skimage.data
from awkward_files import OK as AWKWARD_OK
from awkward_files import write_awkward_files
from PIL import Image

if TYPE_CHECKING:
    from pipeline.summary import RunSummary

REPO_ROOT = Path(__file__).resolve().parents[1]

# Workers of the multi-process DirectRunner are new Python processes: they must find `pipeline`
# wherever pytest was started from.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))


@pytest.fixture(autouse=True, scope="session")
def own_model_probe_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The launcher remembers model probes that passed (pipeline.model_probe): the tests start with
    none and keep theirs out of the user's cache."""
    from pipeline.model_probe import CACHE_DIR_ENV

    folder = tmp_path_factory.mktemp("model-probes")
    before = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(CACHE_DIR_ENV, None)
    else:
        os.environ[CACHE_DIR_ENV] = before


SHARP_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera")
"""scikit-image photos that are sharp: Laplacian variance 400-1500 at their size (threshold: 100)."""

BLUR_SIGMA = 4.0
"""Gaussian blur of the blurred copies: their Laplacian variance drops below 5."""

EXIF_ORIENTATION = 0x0112


def sharp_rgb(name: str) -> np.ndarray:
    """A scikit-image photo as RGB uint8 (gray ones repeated over three channels)."""
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def blurred(rgb: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), sigma)


@dataclass(frozen=True)
class ExpectedRow:
    """What the job must write for one file: status; for ok rows the size, format and sharpness class
    where known (None: not checked); for error rows a piece of the reason."""

    status: str
    width: int | None = None
    height: int | None = None
    format: str | None = None
    sharp: bool | None = None  # True: a sharp photo; False: a strongly blurred copy; None: not judged
    reason: str | None = None


@dataclass
class PhotoFolder:
    root: Path
    expected: dict[str, ExpectedRow] = field(default_factory=dict)  # by absolute path

    def add(self, relative: str, data: bytes, expected: ExpectedRow) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.expected[str(path)] = expected
        return path


def encode(rgb: np.ndarray, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, image_format, **options)
    return buffer.getvalue()


def make_photo_folder(root: Path) -> PhotoFolder:
    """sharp/ (JPEG and PNG, one EXIF-rotated with an accent in its name), blurred/ (sigma 4 copies),
    broken/ (empty, random bytes, truncated JPEG, text named .png), and awkward/: the team's 40-odd
    broken and awkward files from tests/awkward_files.py (formats, modes, lying names, bombs)."""
    folder = PhotoFolder(root)
    for index, name in enumerate(SHARP_PHOTOS):
        rgb = sharp_rgb(name)
        height, width = rgb.shape[:2]
        image_format = "PNG" if index % 2 else "JPEG"
        suffix = ".png" if image_format == "PNG" else ".jpg"
        options = {} if image_format == "PNG" else {"quality": 92}
        folder.add(
            f"sharp/{name}{suffix}",
            encode(rgb, image_format, **options),
            ExpectedRow("ok", width, height, image_format, sharp=True),
        )
        folder.add(
            f"blurred/{name} blurred{suffix}",
            encode(blurred(rgb), image_format, **options),
            ExpectedRow("ok", width, height, image_format, sharp=False),
        )

    chelsea = sharp_rgb("chelsea")  # 451 wide, 300 high
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # shown turned a quarter: 300 wide, 451 high
    folder.add(
        "sharp/rotated café.jpg",
        encode(chelsea, "JPEG", quality=92, exif=exif),
        ExpectedRow("ok", chelsea.shape[0], chelsea.shape[1], "JPEG", sharp=True),
    )

    jpeg = encode(sharp_rgb("astronaut"), "JPEG", quality=92)
    folder.add("broken/empty.jpg", b"", ExpectedRow("error", reason="empty file"))
    folder.add(
        "broken/random.jpg", np.random.default_rng(7).bytes(4096), ExpectedRow("error", reason="not an image")
    )
    folder.add(
        "broken/truncated.jpg", jpeg[: len(jpeg) * 2 // 5], ExpectedRow("error", reason="truncated JPEG")
    )
    folder.add(
        "broken/notes.png", b"not a picture, just words\n" * 40, ExpectedRow("error", reason="not an image")
    )

    for name, outcome in write_awkward_files(root / "awkward").items():
        ok = outcome == AWKWARD_OK
        folder.expected[str(root / "awkward" / name)] = ExpectedRow(
            "ok" if ok else "error", reason=None if ok else outcome
        )
    return folder


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> PhotoFolder:
    return make_photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def sharp_photos() -> dict[str, np.ndarray]:
    """The sharp scikit-image photos as RGB uint8 arrays, by name."""
    return {name: sharp_rgb(name) for name in SHARP_PHOTOS}


@pytest.fixture(scope="session")
def photo_views(sharp_photos) -> list[np.ndarray]:
    """Views of three real photos, built the way the job builds them."""
    from pipeline.decode import DecodedPhoto
    from pipeline.measure import measure_photo

    photos = [sharp_photos[name] for name in ("astronaut", "chelsea", "coffee")]
    return [measure_photo(DecodedPhoto(rgb, rgb.shape[1], rgb.shape[0], "PNG")).views for rgb in photos]


@pytest.fixture(scope="session")
def sharp_jpeg() -> bytes:
    """A real sharp photo as JPEG bytes."""
    return encode(sharp_rgb("coffee"), "JPEG", quality=90)


@dataclass(frozen=True)
class JobOutput:
    prefix: str  # --output
    summary: RunSummary
    rows: list[dict]  # every written row, sorted by uri
    table: pa.Table  # the same rows, read back through pipeline.results (the one reader of results)


def committed_shards(prefix: str) -> list[str]:
    """The shards of the run committed at `prefix`: those its PREFIX-manifest.json lists."""
    from pipeline.results import read_manifest, shard_paths

    return shard_paths(prefix, read_manifest(prefix))


@pytest.fixture(scope="session")
def run_job(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., JobOutput]:
    """run_job(*args) runs `python -m pipeline.score ARGS --output <new tmp prefix>` in this process
    (the real DirectRunner) and returns the summary and the committed Parquet rows read back."""

    from pipeline import score  # Beam is imported only by the tests that run the job
    from pipeline.results import read_results

    def run(*args: str) -> JobOutput:
        prefix = str(tmp_path_factory.mktemp("out") / "scores")
        summary = score.run([*args, "--output", prefix])
        assert summary is not None
        shards = committed_shards(prefix)
        assert sorted(shards) == sorted(summary.output_files)
        table = read_results(prefix).sort_by("uri")
        # The run's manifest sits beside the shards and agrees with the rows.
        written = json.loads(Path(f"{prefix}-manifest.json").read_text())
        assert written["rows"] == table.num_rows == written["files"] == summary.files
        assert written["run_id"] == summary.run_id
        assert set(table.column("run_id").to_pylist()) <= {summary.run_id}  # every row (if any)
        assert written["ok"] == table.column("status").to_pylist().count("ok")
        return JobOutput(prefix, summary, table.to_pylist(), table)

    return run


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running gcp-storage-emulator (see gcs_emulator.py); its URL. One per test module."""
    from gcs_emulator import running_emulator

    with running_emulator(tmp_path_factory.mktemp("gcs")) as url:
        yield url


@pytest.fixture(scope="session")
def photo_folder_run(photo_folder, run_job) -> JobOutput:
    """One run of the job over the whole photo folder, shared by the tests that read results."""
    return run_job("--input", f"{photo_folder.root}/**")


def check_bucket_rows(rows: list[dict], bucket_uri: str, photos: dict, missing: str) -> None:
    """The rows of a run over a bucket of `photos` (object name -> (bytes, status, (width, height) or the
    error's key words)) plus a manifest line naming the `missing` object: each photo's row as expected,
    "file not found" for the missing one, and the blurred astronaut well under the sharp one."""
    by_name = {row["uri"].removeprefix(f"{bucket_uri}/"): row for row in rows}
    for name, (_, status, expected) in photos.items():
        row = by_name[name]
        assert row["status"] == status, (name, row["error"])
        if status == "ok":
            assert row["error"] is None
            assert (row["width"], row["height"]) == expected
            assert 0.0 <= row["blur_probability"] <= 1.0
        else:
            assert expected in row["error"], (name, row["error"])
            assert row["laplacian_var"] is None
    assert by_name[missing]["status"] == "error"
    assert by_name[missing]["error"] == "file not found"
    sharp, blurry = by_name["photos/astronaut.jpg"], by_name["photos/astronaut_gaussian.jpg"]
    assert blurry["laplacian_var"] < sharp["laplacian_var"] / 4
