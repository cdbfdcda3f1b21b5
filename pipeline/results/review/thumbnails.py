"""Thumbnails for the review page, made from the original photos, local or gs://, several at once.

The job's own decoder (pipeline.photo.decode) does the decoding, so a thumbnail shows the photo exactly as
it was scored (EXIF orientation applied, every format the job reads), and a large JPEG is decoded in
the DCT domain at the smallest scale that still leaves the thumbnail's size (1/8 of a 12 MP photo).
A photo that cannot be read or decoded gets no thumbnail: the page shows a placeholder tile instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from pipeline.photo.decode import decode_reduced
from pipeline.results.progress_bar import progress
from pipeline.storage.files import MatchedFile, os_path
from pipeline.storage.read import read_bytes

THUMB_LONG_SIDE = 240
JPEG_QUALITY = 82


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


def shrink(rgb: np.ndarray, long_side: int = THUMB_LONG_SIDE) -> np.ndarray:
    """`rgb` with its long side at most `long_side` (area resize; never enlarged)."""
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def make_thumbnail(data: bytes, long_side: int = THUMB_LONG_SIDE) -> bytes:
    """A JPEG thumbnail of photo bytes; raises pipeline.photo.decode.DecodeError for what is not a photo."""
    small = shrink(decode_reduced(data, preview_long_side=long_side).rgb, long_side)
    buffer = io.BytesIO()
    Image.fromarray(small).save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _one(uri: str, folder: Path, long_side: int) -> str | None:
    identity = file_identity(uri)
    if identity is None:
        return None
    target = folder / thumbnail_name(uri, identity)
    if target.exists():  # made by an earlier review of the same photo, unchanged since
        return target.name
    try:
        data = make_thumbnail(read_bytes(MatchedFile(uri)), long_side)
    except Exception:  # unreadable, gone, or not a photo: a placeholder tile, never a failed review
        return None
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)
    return target.name


_THUMB_NAME = re.compile(r"[0-9a-f]{20}\.jpg")


def write_thumbnails(
    uris: Sequence[str], folder: Path, *, long_side: int = THUMB_LONG_SIDE, workers: int | None = None
) -> dict[str, str | None]:
    """Make a thumbnail of each photo in `folder` (threads: Pillow and OpenCV release the GIL while
    they decode and resize, and reads from gs:// wait on the network). Returns each URI's thumbnail
    file name, or None where there is none. Thumbnails of photos no longer shown, or of a photo's
    earlier content, are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    workers = workers or max(2, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = pool.map(lambda uri: (uri, _one(uri, folder, long_side)), uris)
        names = dict(progress(made, len(uris), "thumbnails"))
    kept = set(names.values())
    for stale in folder.iterdir():
        if _THUMB_NAME.fullmatch(stale.name) and stale.name not in kept:
            stale.unlink(missing_ok=True)
    return names
