"""A folder of broken and awkward photo files, and what decoding each one must give.

`write_awkward_files(folder)` writes the files and returns {file name: expected outcome}, where the
outcome is "ok" or a substring of the error reason the job must report for that file. The decoder's
tests and the end-to-end pipeline test both use it (pytest puts tests/ on sys.path, so import it as
`from awkward_files import write_awkward_files`). Everything is generated here, deterministically and
offline: the same names, bytes and outcomes every run.

Some files carry known pixels (ASYMMETRIC_* markers, the 16-bit ramp, the transparent halves) so
that tests can check what the decoder made of them, not only that it did not fail.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()  # lets Pillow write HEIF (x265 ships inside the pillow-heif wheel)

OK = "ok"
PHONE_SIZE = (4032, 3024)
"""A 12 MP phone photo, width x height."""

ASYMMETRIC_SIZE = (160, 100)
"""Width x height of the stored pixels of the EXIF-rotated JPEGs."""

ASYMMETRIC_MARKER = (255, 0, 0)
"""Colour of the 40x40 block in the stored top-left corner of the asymmetric photo (the rest is blue-grey)."""

EXIF_ORIENTATION_TAG = 0x0112


def asymmetric_rgb() -> np.ndarray:
    """(100, 160, 3) uint8: a red block in the top-left corner on a blue-grey ramp, so every flip and
    rotation of it looks different."""
    width, height = ASYMMETRIC_SIZE
    ramp = np.linspace(60, 180, width, dtype=np.float64)[None, :] + np.linspace(0, 40, height)[:, None]
    rgb = np.stack([ramp * 0.5, ramp * 0.8, ramp], axis=2).astype(np.uint8)
    rgb[:40, :40] = ASYMMETRIC_MARKER
    return rgb


def textured_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour scene with fine texture: compresses like a photo, deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 128 + 60 * np.sin(x / (width / 7.0)) * np.cos(y / (height / 5.0))
    texture = 25 * np.sin(x / 3.1) * np.sin(y / 2.3)
    channels = [base + texture, base * 0.8 + 30, 200 - base * 0.6 + texture]
    noise = rng.normal(0, 4, (height, width, 3)).astype(np.float32)
    return np.clip(np.stack(channels, axis=2) + noise, 0, 255).astype(np.uint8)


def photo_mosaic(width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 tiled from the real photos that ship inside scikit-image, each at its
    native resolution: a large photo with real photographic detail, made offline."""
    from skimage import data  # a test dependency only; the end-to-end test may not need it

    tiles = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    canvas = np.zeros((height, width, 3), np.uint8)
    y, row, index = 0, 0, 0
    while y < height:
        x, row_height = 0, 0
        while x < width:
            tile = tiles[index % len(tiles)]
            index += 1
            part = tile[: height - y, : width - x]
            canvas[y : y + part.shape[0], x : x + part.shape[1]] = part
            x += part.shape[1]
            row_height = max(row_height, part.shape[0])
        y += row_height
        row += 1
        index = row  # start each row on another photo so rows do not line up
    return canvas


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def jpeg_with_orientation(rgb: np.ndarray, orientation: int, quality: int = 95) -> bytes:
    """A JPEG of `rgb` as stored pixels, with the EXIF orientation tag set (viewers transpose it)."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    return encode(Image.fromarray(rgb), "JPEG", quality=quality, exif=exif.tobytes())


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking 8-bit gray PNG of a few hundred bytes whose header declares width x height:
    a decompression bomb. Its pixel data is far too short, but a decoder that trusts the header
    would allocate width*height bytes before finding out."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9))
        + chunk(b"IEND", b"")
    )


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose logical screen and single frame declare width x height, with a 1-pixel body."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"  # 2-colour global palette
        + b","
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + b"\x02\x02\x44\x01\x00;"
    )


def gray16_ramp() -> np.ndarray:
    """(8, 256) uint16: each row runs 0 .. 65535 in 256 steps, so 8-bit scaling gives 0 .. 255."""
    return np.repeat((np.arange(256, dtype=np.uint32) * 257).astype(np.uint16)[None, :], 8, axis=0)


def rgba_half_transparent() -> np.ndarray:
    """(40, 60, 4) uint8: left half opaque red; right half fully transparent green (should show white)."""
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[:, :30] = (255, 0, 0, 255)
    rgba[:, 30:] = (0, 255, 0, 0)
    return rgba


def _palette_with_alpha() -> bytes:
    # Index 0 is a fully transparent blue (must show white), index 1 opaque orange.
    indices = np.zeros((30, 40), np.uint8)
    indices[:, 20:] = 1
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 255, 255, 128, 0] + [0, 0, 0] * 254)
    return encode(image, "PNG", transparency=bytes([0, 255]))


def _gray_alpha() -> bytes:
    la = np.zeros((30, 40, 2), np.uint8)
    la[:, :20] = (50, 255)  # opaque dark gray
    la[:, 20:] = (0, 0)  # transparent black -> white
    return encode(Image.fromarray(la, "LA"), "PNG")


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (48, 32), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _animated_png() -> bytes:
    frames = [Image.new("RGB", (48, 32), colour) for colour in ((0, 128, 0), (255, 255, 0))]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def _noise_mid_stream(jpeg: bytes) -> bytes:
    """Overwrite 2 KB in the middle of the entropy-coded data with noise (a bad disk sector). The noise
    holds 0xFF bytes, which libjpeg reads as bad markers: Pillow reports a broken data stream."""
    rng = np.random.default_rng(7)
    damaged = bytearray(jpeg)
    middle = len(damaged) // 2
    damaged[middle : middle + 2048] = rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()
    return bytes(damaged)


def _bit_flips_mid_stream(jpeg: bytes) -> bytes:
    """Flip one bit in each of 200 bytes in the middle of the entropy-coded data, never making or
    breaking a 0xFF marker byte: the Huffman decoder goes astray and Pillow decodes garbled blocks
    silently; libjpeg warns that extraneous bytes were left over, which the job's strict decoding
    reports."""
    damaged = bytearray(jpeg)
    start = len(damaged) // 2
    for position in range(start, start + 2000, 10):
        flipped = damaged[position] ^ 0x10
        if 0xFF not in (damaged[position], damaged[position - 1], flipped):
            damaged[position] = flipped
    return bytes(damaged)


def _corrupt_exif_jpeg(rgb: np.ndarray) -> bytes:
    # A TIFF header whose first IFD offset points far past the end of the EXIF block.
    broken = b"Exif\x00\x00MM\x00*\x7f\xff\xff\xf0" + bytes(range(64))
    return encode(Image.fromarray(rgb), "JPEG", quality=90, exif=broken)


def awkward_file_bytes() -> dict[str, tuple[bytes, str]]:
    """{file name: (bytes, expected outcome)}, without touching the disk."""
    rng = np.random.default_rng(2024)
    scene = textured_rgb(320, 240)
    photo = Image.fromarray(scene)
    jpeg = encode(photo, "JPEG", quality=90)
    png = encode(photo, "PNG")
    asymmetric = asymmetric_rgb()
    phone = Image.fromarray(textured_rgb(*PHONE_SIZE, seed=1))

    files: dict[str, tuple[bytes, str]] = {
        # Broken files: each must give a row with this reason.
        "empty.jpg": (b"", "empty file"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated JPEG file"),
        "truncated in header.jpg": (jpeg[:200], "truncated JPEG file"),
        "truncated.png": (png[: len(png) // 2], "truncated PNG file"),
        "random bytes.jpg": (rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "not an image"),
        "notes.png": (b"shopping list: eggs, milk, film for the camera\n" * 20, "not an image"),
        "drawing.svg": (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>\n',
            "not an image",
        ),
        "bomb.png": (png_declaring(60000, 60000), "over the pixel limit (60000x60000"),
        "bomb just over the limit.png": (png_declaring(10000, 10000), "over the pixel limit (10000x10000"),
        "bomb.gif": (gif_declaring(65535, 65535), "over the pixel limit"),
        # Awkward but valid: each must decode.
        "png named.jpg": (png, OK),
        "gif named.jpg": (encode(photo.convert("P"), "GIF"), OK),
        "webp named.png": (encode(photo, "WEBP", quality=90), OK),
        "cmyk.jpg": (encode(photo.convert("CMYK"), "JPEG", quality=90), OK),
        "gray16.png": (encode(Image.fromarray(gray16_ramp()), "PNG"), OK),
        "gray16.tif": (encode(Image.fromarray(gray16_ramp()), "TIFF"), OK),
        "palette with alpha.png": (_palette_with_alpha(), OK),
        "gray with alpha.png": (_gray_alpha(), OK),
        "rgba.png": (encode(Image.fromarray(rgba_half_transparent(), "RGBA"), "PNG"), OK),
        "bilevel.png": (encode(photo.convert("1"), "PNG"), OK),
        "bilevel fax.tif": (encode(photo.convert("1"), "TIFF", compression="group4"), OK),
        "animated.gif": (_animated_gif(), OK),
        "animated.png": (_animated_png(), OK),
        "exif rotated 3.jpg": (jpeg_with_orientation(asymmetric, 3), OK),
        "exif rotated 6.jpg": (jpeg_with_orientation(asymmetric, 6), OK),
        "exif rotated 8.jpg": (jpeg_with_orientation(asymmetric, 8), OK),
        "exif orientation 9 invalid.jpg": (jpeg_with_orientation(asymmetric, 9), OK),
        "corrupt exif.jpg": (_corrupt_exif_jpeg(scene), OK),
        "noise mid-stream.jpg": (_noise_mid_stream(jpeg), "corrupt JPEG file"),
        # Pillow decoded this damaged JPEG without complaint (garbled blocks); libjpeg's warning catches it.
        "bit flips mid-stream.jpg": (_bit_flips_mid_stream(jpeg), "corrupt JPEG file (damaged image data"),
        "one pixel.png": (encode(Image.new("RGB", (1, 1), (200, 100, 50)), "PNG"), OK),
        "thin 4000x3.png": (encode(Image.fromarray(textured_rgb(4000, 3)), "PNG"), OK),
        "thin 3x4000.jpg": (encode(Image.fromarray(textured_rgb(3, 4000)), "JPEG"), OK),
        "photo.webp": (encode(photo, "WEBP", quality=90), OK),
        "photo.tiff": (encode(photo, "TIFF", compression="tiff_lzw"), OK),
        "photo.bmp": (encode(photo, "BMP"), OK),
        "photo.heic": (encode(photo, "HEIF", quality=90), OK),
        "photo.avif": (encode(photo, "AVIF", quality=90), OK),
        "multi picture.mpo": (encode(photo, "MPO", save_all=True, append_images=[photo]), OK),
        "phone 12mp.jpg": (encode(phone, "JPEG", quality=90), OK),
        "photo with spaces.jpg": (jpeg, OK),
        "crème brûlée à Zürich.jpg": (jpeg, OK),
        "фото 写真.png": (png, OK),
    }
    return files


def write_awkward_files(folder: Path) -> dict[str, str]:
    """Write the awkward files into `folder` (created if missing) and return {file name: expected
    outcome}: "ok", or a substring of the error reason decoding that file must give."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, outcome) in awkward_file_bytes().items():
        (folder / name).write_bytes(data)
        expected[name] = outcome
    return expected
