"""Real photo files made from scikit-image's bundled photos, what the job must write for them, and the
shared data's location. Everything is generated offline and deterministically."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pyarrow as pa
import pytest
import skimage.data
from PIL import Image

from support.awkward_files import OK as AWKWARD_OK
from support.awkward_files import write_awkward_files

if TYPE_CHECKING:
    from pipeline.job.commit import RunSummary

REPO_ROOT = Path(__file__).resolve().parents[2]

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
"""The team's real photos (../shared/data beside the checkout; CI has them at the same path); the same
folder as training.sources.SHARED_DATA."""


def shared_data(relative: str = "") -> Path:
    """A path inside ../shared/data; fails the test with what is missing and where it was looked for,
    instead of a bare assert further on (these tests need the real photos; they are not skipped)."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.fail(
            f"{path} is missing: these tests need the team's real photos at ../shared/data beside the "
            "checkout; see ../shared/data/README.md",
            pytrace=False,
        )
    return path


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


@dataclass(frozen=True)
class JobOutput:
    prefix: str  # --output
    summary: RunSummary
    rows: list[dict]  # every written row, sorted by uri
    table: pa.Table  # the same rows, read back through pipeline.results.reader (the one reader of results)


def committed_shards(prefix: str) -> list[str]:
    """The shards of the run committed at `prefix`: those its PREFIX-manifest.json lists."""
    from pipeline.results.reader import read_manifest, shard_paths

    return shard_paths(prefix, read_manifest(prefix))


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
