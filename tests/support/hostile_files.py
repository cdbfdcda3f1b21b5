"""Builders of hostile and odd files for the tests: damaged JPEGs, RAW-shaped files, videos, blank frames.

Everything is made here, offline and deterministically: no RAW sample can be downloaded, so RAW files
are built the way cameras lay them out (a TIFF whose first image is a small thumbnail, with the big JPEG
preview in a SubIFD, EXIF in its own IFD), named .NEF / .DNG / .RAF.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from support.photos import encode

SHORT, LONG, ASCII, RATIONAL, BYTE, UNDEFINED = 3, 4, 2, 5, 1, 7


def tiled_scene(tile: np.ndarray, width: int = 1600, height: int = 1200) -> np.ndarray:
    """A real photo mirrored into a seamless tile, repeated and cut to width x height. Only copies of
    pixels: a resample (cv2.resize) can differ between CPUs' SIMD paths, and then a flipped bit
    lands where it no longer wrecks the picture."""
    mirrored = np.concatenate([tile, tile[:, ::-1]], axis=1)
    mirrored = np.concatenate([mirrored, mirrored[::-1]], axis=0)
    rows, columns = -(-height // mirrored.shape[0]), -(-width // mirrored.shape[1])
    return np.ascontiguousarray(np.tile(mirrored, (rows, columns, 1))[:height, :width])


def entropy_span(jpeg: bytes) -> tuple[int, int]:
    """(start, end) of the entropy-coded data of a baseline JPEG: after the last SOS header, before EOI."""
    sos = jpeg.rfind(b"\xff\xda")
    return sos + 2 + int.from_bytes(jpeg[sos + 2 : sos + 4], "big"), len(jpeg) - 2


def flip_bits(jpeg: bytes, count: int, seed: int) -> bytes:
    """`count` random bits flipped in the entropy-coded data."""
    rng = np.random.default_rng(seed)
    start, end = entropy_span(jpeg)
    damaged = bytearray(jpeg)
    for position in rng.integers(start, end, count):
        damaged[position] ^= 1 << int(rng.integers(0, 8))
    return bytes(damaged)


def truncated_with_end_marker(jpeg: bytes, keep: float) -> bytes:
    """The file cut at `keep` of its entropy data, then an end marker: libjpeg fills the rest grey."""
    start, end = entropy_span(jpeg)
    return jpeg[: start + int((end - start) * keep)] + b"\xff\xd9"


def many_empty_scans(rgb: np.ndarray, scans: int) -> bytes:
    """A progressive JPEG followed by `scans` empty AC scans of its first component (each a full pass
    over the image's blocks for the decoder): the shape of the 83-second file."""
    progressive = encode(rgb, "JPEG", quality=80, progressive=True)
    empty_scan = b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x00"
    return progressive[:-2] + empty_scan * scans + b"\xff\xd9"


# --- RAW-shaped files ------------------------------------------------------------------------------


class TiffBuilder:
    """A little-endian TIFF laid out by hand: IFDs with any tags, SubIFDs, blobs."""

    def __init__(self) -> None:
        self.out = bytearray(b"II*\x00\x00\x00\x00\x00")

    def blob(self, data: bytes) -> int:
        if len(self.out) % 2:
            self.out += b"\x00"
        offset = len(self.out)
        self.out += data
        return offset

    def ifd(self, entries: dict[int, tuple[int, object]], next_ifd: int = 0) -> int:
        encoded = []
        for tag in sorted(entries):
            kind, values = entries[tag]
            if kind == ASCII:
                raw, count = values.encode() + b"\x00", len(values) + 1
            elif kind in (BYTE, UNDEFINED):
                raw, count = bytes(values), len(values)
            elif kind == RATIONAL:
                raw = b"".join(struct.pack("<II", n, d) for n, d in values)
                count = len(values)
            else:
                form = "<H" if kind == SHORT else "<I"
                raw, count = b"".join(struct.pack(form, v) for v in values), len(values)
            if len(raw) > 4:
                raw = struct.pack("<I", self.blob(raw))
            encoded.append(struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\x00"))
        table = struct.pack("<H", len(encoded)) + b"".join(encoded) + struct.pack("<I", next_ifd)
        return self.blob(table)

    def finish(self, first_ifd: int) -> bytes:
        self.out[4:8] = struct.pack("<I", first_ifd)
        return bytes(self.out)


def _exif_ifd(builder: TiffBuilder) -> int:
    return builder.ifd(
        {
            0x829A: (RATIONAL, [(1, 250)]),  # ExposureTime
            0x8827: (SHORT, [400]),  # ISO
            0x9003: (ASCII, "2026:07:14 18:30:05"),  # DateTimeOriginal
            0x920A: (RATIONAL, [(50, 1)]),  # FocalLength
        }
    )


def tiff_raw(
    thumbnail: np.ndarray,
    preview_jpeg: bytes | None = None,
    *,
    orientation: int = 1,
    dng: bool = False,
    make: str = "NIKON CORPORATION",
    model: str = "NIKON D750",
) -> bytes:
    """A NEF- or DNG-shaped file: IFD0 is an uncompressed RGB thumbnail (what Pillow would open), a
    SubIFD holds the big JPEG preview (NEF: JpgFromRawStart/Length; DNG: a JPEG-compressed strip), and
    another SubIFD the sensor data (a colour filter array, never a preview)."""
    builder = TiffBuilder()
    height, width = thumbnail.shape[:2]
    strip = builder.blob(np.ascontiguousarray(thumbnail).tobytes())
    sub_ifds = []
    if preview_jpeg is not None:
        preview_at = builder.blob(preview_jpeg)
        with Image.open(io.BytesIO(preview_jpeg)) as opened:
            preview_width, preview_height = opened.size
        if dng:
            sub_ifds.append(
                builder.ifd(
                    {
                        0x00FE: (LONG, [1]),
                        0x0100: (LONG, [preview_width]),
                        0x0101: (LONG, [preview_height]),
                        0x0103: (SHORT, [7]),  # JPEG
                        0x0106: (SHORT, [6]),  # YCbCr
                        0x0111: (LONG, [preview_at]),
                        0x0117: (LONG, [len(preview_jpeg)]),
                    }
                )
            )
        else:
            sub_ifds.append(builder.ifd({0x0201: (LONG, [preview_at]), 0x0202: (LONG, [len(preview_jpeg)])}))
    sensor = builder.blob(bytes(64 * 48 * 2))
    sub_ifds.append(
        builder.ifd(
            {
                0x00FE: (LONG, [0]),
                0x0100: (LONG, [64]),
                0x0101: (LONG, [48]),
                0x0102: (SHORT, [16]),
                0x0103: (SHORT, [1]),
                0x0106: (SHORT, [32803]),  # colour filter array
                0x0111: (LONG, [sensor]),
                0x0117: (LONG, [64 * 48 * 2]),
            }
        )
    )
    exif = _exif_ifd(builder)
    entries = {
        0x00FE: (LONG, [1]),
        0x0100: (LONG, [width]),
        0x0101: (LONG, [height]),
        0x0102: (SHORT, [8, 8, 8]),
        0x0103: (SHORT, [1]),
        0x0106: (SHORT, [2]),
        0x010F: (ASCII, make),
        0x0110: (ASCII, model),
        0x0111: (LONG, [strip]),
        0x0112: (SHORT, [orientation]),
        0x0115: (SHORT, [3]),
        0x0116: (LONG, [height]),
        0x0117: (LONG, [width * height * 3]),
        0x014A: (LONG, sub_ifds),
        0x8769: (LONG, [exif]),
    }
    if dng:
        entries[0xC612] = (BYTE, [1, 4, 0, 0])
    return builder.finish(builder.ifd(entries))


def raf(preview_jpeg: bytes) -> bytes:
    """A RAF-shaped file: Fujifilm's header, with the JPEG preview's offset and length at bytes 84-91."""
    header = b"FUJIFILMCCD-RAW 0201FF383501".ljust(84, b"\x00")
    offset = 100
    head = header + struct.pack(">II", offset, len(preview_jpeg))
    return head.ljust(offset, b"\x00") + preview_jpeg + bytes(256)


# --- Videos and blank frames ------------------------------------------------------------------------


def video(path: Path, fourcc: str = "mp4v", frames: int = 6) -> bytes:
    """A real video file written by OpenCV's FFmpeg backend (MP4 or QuickTime by the path's suffix)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48))
    assert writer.isOpened(), "OpenCV cannot write video here"
    rng = np.random.default_rng(3)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path.read_bytes()


def blank_frames() -> dict[str, bytes]:
    """Frames with nothing to judge: all black, fully transparent, one flat colour, a dark frame with
    faint sensor noise."""
    rng = np.random.default_rng(11)
    dark_noise = np.clip(rng.normal(6, 1.5, (1200, 1600, 3)), 0, 255).astype(np.uint8)
    return {
        "black.jpg": encode(np.zeros((1200, 1600, 3), np.uint8), "JPEG", quality=90),
        "transparent.png": encode(np.zeros((600, 800, 4), np.uint8), "PNG"),
        "flat teal.png": encode(np.full((600, 800, 3), (0, 128, 128), np.uint8), "PNG"),
        "lens cap.jpg": encode(dark_noise, "JPEG", quality=90),
    }
