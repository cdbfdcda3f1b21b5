"""Thumbnails and 1:1 crops for the review page, made from the original photos, local or gs://, several
at once.

The job's own decoder (pipeline.photo.decode) does the decoding, so a thumbnail shows the photo exactly as
it was scored (EXIF orientation applied, every format the job reads). A photo whose row has a detail box
(the most detailed region the model judged, in full-size pixels after orientation) is decoded once at
full size, and both its thumbnail and its 1:1 crop of the box come from that one decode of one read.
A photo without a box (a run from before boxes) is decoded in the DCT domain at the smallest scale that
still leaves the thumbnail's size (1/8 of a 12 MP photo). A photo that cannot be read or decoded gets
neither: the page shows a placeholder tile instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from pipeline.photo.decode import decode_reduced, preview_factor
from pipeline.photo.pixels import box_reduce
from pipeline.results.progress_bar import progress
from pipeline.storage.files import MatchedFile, os_path
from pipeline.storage.read import read_bytes

THUMB_LONG_SIDE = 240
JPEG_QUALITY = 82
CROP_QUALITY = 92
"""Higher than the thumbnails': a 1:1 crop is there to judge fine detail, which JPEG artefacts imitate."""
FULL_SIZE = 1 << 40
"""A preview long side no photo reaches: decode_reduced then reduces by 1, giving full-size pixels."""


class Box(NamedTuple):
    """A row's detail box: top-left corner and side, full-size pixels after orientation."""

    x: int
    y: int
    size: int


class Previews(NamedTuple):
    """File names (in the thumbnails folder) of a photo's thumbnail and 1:1 crop; None: not made."""

    thumb: str | None
    crop: str | None


NO_PREVIEWS = Previews(None, None)


def file_identity(uri: str) -> str | None:
    """The photo as it is now: size and modification time (a bucket object's update time), or None
    when it cannot be looked at (gone, unreadable). A photo replaced since the last review has
    another identity, so its thumbnail is made again."""
    try:
        if "://" not in uri:
            facts = os.stat(os_path(uri))
            return f"{facts.st_size}:{facts.st_mtime_ns}"
        (found,) = FileSystems.match([uri])[0].metadata_list
        return f"{found.size_in_bytes}:{found.last_updated_in_seconds!r}"
    except Exception:  # gone or unreachable: the tile gets a placeholder
        return None


def thumbnail_name(uri: str, identity: str) -> str:
    """The thumbnail's file name: a hash of the URI and the file's identity (names of photos can hold
    anything; the same name with other bytes is another photo)."""
    key = f"{uri}\0{identity}".encode("utf-8", "surrogateescape")
    return hashlib.sha1(key).hexdigest()[:20] + ".jpg"


def crop_name(uri: str, identity: str, box: Box) -> str:
    """The crop's file name: like thumbnail_name, with the box (a rerun of the job may judge another)."""
    return thumbnail_name(uri, f"{identity}\0{box.x},{box.y},{box.size}").removesuffix(".jpg") + "-1x.jpg"


def shrink(rgb: np.ndarray, long_side: int = THUMB_LONG_SIDE) -> np.ndarray:
    """`rgb` with its long side at most `long_side` (area resize; never enlarged)."""
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _jpeg(rgb: np.ndarray, quality: int, full_colour: bool = False) -> bytes:
    buffer = io.BytesIO()
    options = {"subsampling": 0} if full_colour else {}  # 4:4:4: colour at every pixel, as in the photo
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, optimize=True, **options)
    return buffer.getvalue()


def make_thumbnail(data: bytes, long_side: int = THUMB_LONG_SIDE) -> bytes:
    """A JPEG thumbnail of photo bytes; raises pipeline.photo.decode.DecodeError for what is not a photo."""
    return _jpeg(shrink(decode_reduced(data, preview_long_side=long_side).rgb, long_side), JPEG_QUALITY)


def detail_crop(rgb: np.ndarray, box: Box) -> np.ndarray | None:
    """The box's pixels of a full-size photo, or None when the box does not lie inside it (the photo is
    not the one the row describes)."""
    height, width = rgb.shape[:2]
    if box.size < 1 or box.x < 0 or box.y < 0 or box.x + box.size > width or box.y + box.size > height:
        return None
    return np.ascontiguousarray(rgb[box.y : box.y + box.size, box.x : box.x + box.size])


def make_previews(
    data: bytes, box: Box | None, long_side: int = THUMB_LONG_SIDE
) -> tuple[bytes, bytes | None]:
    """A JPEG thumbnail and, with a box, a JPEG of the box's full-size pixels (None: the box does not fit
    the photo), from one decode; raises pipeline.photo.decode.DecodeError for what is not a photo."""
    if box is None:
        return make_thumbnail(data, long_side), None
    # No damage check: the job judged this photo already, and a preview never refuses one it scored.
    full = decode_reduced(data, preview_long_side=FULL_SIZE, check_dc_drift=False).rgb
    crop = detail_crop(full, box)
    # A box average by the power of two a thumbnail allows first (as the DCT-domain decode would
    # reduce): an area resize of a whole 12 MP photo costs twice as much as the decode.
    height, width = full.shape[:2]
    thumb = _jpeg(shrink(box_reduce(full, preview_factor(width, height, long_side)), long_side), JPEG_QUALITY)
    return thumb, None if crop is None else _jpeg(crop, CROP_QUALITY, full_colour=True)


def _write(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)


def _one(uri: str, folder: Path, long_side: int, box: Box | None) -> Previews:
    identity = file_identity(uri)
    if identity is None:
        return NO_PREVIEWS
    thumb = folder / thumbnail_name(uri, identity)
    crop = None if box is None else folder / crop_name(uri, identity, box)
    if thumb.exists() and (crop is None or crop.exists()):  # made by an earlier review, photo unchanged
        return Previews(thumb.name, None if crop is None else crop.name)
    try:
        thumb_data, crop_data = make_previews(read_bytes(MatchedFile(uri)), box, long_side)
    except Exception:  # unreadable, gone, or not a photo: a placeholder tile, never a failed review
        return NO_PREVIEWS
    _write(thumb, thumb_data)
    if crop is None or crop_data is None:
        return Previews(thumb.name, None)
    _write(crop, crop_data)
    return Previews(thumb.name, crop.name)


_PREVIEW_NAME = re.compile(r"[0-9a-f]{20}(-1x)?\.jpg")


def write_previews(
    uris: Sequence[str],
    folder: Path,
    boxes: Mapping[str, Box],
    *,
    long_side: int = THUMB_LONG_SIDE,
    workers: int | None = None,
) -> dict[str, Previews]:
    """Make a thumbnail of each photo in `folder`, and a 1:1 crop of each photo with a box in `boxes`,
    reading each photo once (threads: Pillow and OpenCV release the GIL while they decode and resize,
    and reads from gs:// wait on the network). Returns each URI's file names. Files of photos no longer
    shown, or of a photo's earlier content, are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    workers = workers or max(2, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = pool.map(lambda uri: (uri, _one(uri, folder, long_side, boxes.get(uri))), uris)
        names = dict(progress(made, len(uris), "thumbnails"))
    kept = {name for previews in names.values() for name in previews if name}
    for stale in folder.iterdir():
        if _PREVIEW_NAME.fullmatch(stale.name) and stale.name not in kept:
            stale.unlink(missing_ok=True)
    return names


def write_thumbnails(
    uris: Sequence[str], folder: Path, *, long_side: int = THUMB_LONG_SIDE, workers: int | None = None
) -> dict[str, str | None]:
    """write_previews without crops: each URI's thumbnail file name, or None where there is none."""
    made = write_previews(uris, folder, {}, long_side=long_side, workers=workers)
    return {uri: previews.thumb for uri, previews in made.items()}
