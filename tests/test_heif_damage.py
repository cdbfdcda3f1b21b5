"""Damaged HEIF (HEIC) data, function by function (no Beam): libheif decodes it without a word, so the
job checks the file's box structure, never-decoded blocks and the picture against the file's own
thumbnail (pipeline/photo/damage.py). Real photos encoded as phones write them; the damage made here. The same
through the real job, on a few hundred random variants: tests/test_fuzz.py."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from support.photos import encode, sharp_rgb

from pipeline.photo.damage import (
    HEIF_STRUCTURE_REASON,
    HEIF_TRUNCATED_REASON,
    HEIF_UNDECODED_REASON,
    THUMBNAIL_DISAGREEMENT_LIMIT,
    heif_structure_reason,
    heif_thumbnail,
    thumbnail_disagreement,
    undecoded_blocks,
)
from pipeline.photo.decode import DecodeError, decode_photo

_ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return cv2.resize(sharp_rgb("coffee"), (1200, 800), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def phone_heic(coffee: np.ndarray) -> bytes:
    """A HEIC as a phone writes it: HEVC in a grid of 512x512 tiles, with a 320 px thumbnail."""
    return encode(coffee, "HEIF", quality=85, thumbnails=[320], tile_size=512)


def pixels(data: bytes) -> np.ndarray:
    """What Pillow (libheif) alone decodes, full size."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def decode_reason(data: bytes) -> str:
    try:
        decode_photo(data)
    except DecodeError as error:
        return str(error)
    return "ok"


def image_data(data: bytes) -> tuple[int, int]:
    """(offset, length) of the contents of a HEIF file's mdat box, where the HEVC data is."""
    position = 0
    while position < len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        if data[position + 4 : position + 8] == b"mdat":
            return position + 8, size - 8
        position += size
    raise AssertionError("no mdat box")


def flip_bit_at(data: bytes, fraction: float) -> bytes:
    """One bit flipped at `fraction` of the way through the image data."""
    offset, length = image_data(data)
    damaged = bytearray(data)
    damaged[offset + int(fraction * length)] ^= 0x10
    return bytes(damaged)


def test_intact_heics_are_photos(coffee: np.ndarray, phone_heic: bytes) -> None:
    exif = Image.Exif()
    exif[_ORIENTATION] = 6  # stored sideways, as phones store portrait shots: libheif turns both images
    turned = io.BytesIO()
    Image.fromarray(coffee).save(
        turned, "HEIF", quality=85, thumbnails=[320], tile_size=512, exif=exif.tobytes()
    )
    single = encode(sharp_rgb("coffee"), "HEIF", quality=85)  # one HEVC stream, no thumbnail
    for data in (phone_heic, turned.getvalue(), single):
        assert heif_structure_reason(data) is None
        assert undecoded_blocks(pixels(data)) == 0
        assert decode_reason(data) == "ok"
    for data in (phone_heic, turned.getvalue()):
        thumbnail = heif_thumbnail(data)
        assert thumbnail is not None and min(thumbnail.shape[:2]) >= 128
        assert thumbnail.shape[0] > thumbnail.shape[1] if data is not phone_heic else True
        assert thumbnail_disagreement(pixels(data), thumbnail) < THUMBNAIL_DISAGREEMENT_LIMIT / 2
    assert heif_thumbnail(single) is None


def test_the_boxes_must_fill_the_file(phone_heic: bytes) -> None:
    offset, length = image_data(phone_heic)
    middle = offset + length // 2
    truncated = phone_heic[:middle]
    inserted = phone_heic[:middle] + bytes(range(16)) + phone_heic[middle:]
    assert heif_structure_reason(phone_heic[:-1]) == HEIF_TRUNCATED_REASON
    assert heif_structure_reason(truncated) == HEIF_TRUNCATED_REASON
    assert heif_structure_reason(inserted) == HEIF_STRUCTURE_REASON
    assert heif_structure_reason(phone_heic + b"\x00\x00\x00") == HEIF_STRUCTURE_REASON
    # libheif decodes both (the tiles it cannot find come out green or garbled); the job does not.
    for damaged in (truncated, inserted):
        assert np.abs(pixels(damaged).astype(int) - pixels(phone_heic)).mean() > 2
    assert decode_reason(truncated) == HEIF_TRUNCATED_REASON
    assert decode_reason(inserted) == HEIF_STRUCTURE_REASON
    # Well-formed boxes are fine wherever they are: a trailer box (Samsung writes one, `sefd`), a box
    # that runs to the end of the file (size 0), a 64-bit size.
    trailer = (16).to_bytes(4, "big") + b"sefd" + bytes(8)
    assert heif_structure_reason(phone_heic + trailer) is None
    assert decode_reason(phone_heic + trailer) == "ok"
    to_the_end = phone_heic[: offset - 8] + bytes(4) + phone_heic[offset - 4 :]
    assert heif_structure_reason(to_the_end) is None
    large = phone_heic[: offset - 8] + (1).to_bytes(4, "big") + b"mdat" + (length + 16).to_bytes(8, "big")
    assert heif_structure_reason(large + phone_heic[offset:]) is None


def test_never_decoded_blocks_are_found(coffee: np.ndarray, phone_heic: bytes) -> None:
    painted = coffee.copy()
    painted[32:36, 64:68] = (0, 136, 0)  # one aligned 4x4 block of all-zero YCbCr (BT.601, full range)
    assert undecoded_blocks(painted) == 1
    painted[64:80, 64:80] = (0, 77, 0)  # sixteen more: all-zero YCbCr with the BT.709 matrix
    assert undecoded_blocks(painted) == 17
    shifted = coffee.copy()
    shifted[34:38, 66:70] = (0, 136, 0)  # the same green straddling four blocks: no whole block
    assert undecoded_blocks(shifted) == 0
    graphic = coffee.copy()
    graphic[32:96, 64:192] = (0, 128, 0)  # HTML's "green" in a screenshot is not never-decoded data
    assert undecoded_blocks(graphic) == 0
    assert undecoded_blocks(coffee) == 0
    # One flipped bit that stops the HEVC decoder early: the rest of the tile stays green.
    damaged = flip_bit_at(phone_heic, 0.25)
    assert heif_structure_reason(damaged) is None
    assert undecoded_blocks(pixels(damaged)) > 0
    assert decode_reason(damaged) == HEIF_UNDECODED_REASON


@pytest.mark.parametrize("fraction", [0.05, 0.5])
def test_a_garbled_picture_disagrees_with_its_thumbnail(phone_heic: bytes, fraction: float) -> None:
    """One flipped bit the HEVC decoder survives: a garbled area, no green, nothing reported."""
    damaged = flip_bit_at(phone_heic, fraction)
    garbled = pixels(damaged)
    difference = np.abs(garbled.astype(int) - pixels(phone_heic)).mean(axis=2)
    assert cv2.resize(difference, (150, 100), interpolation=cv2.INTER_AREA).max() > 50  # visible, locally
    assert heif_structure_reason(damaged) is None and undecoded_blocks(garbled) == 0
    thumbnail = heif_thumbnail(damaged)
    assert thumbnail is not None
    assert thumbnail_disagreement(garbled, thumbnail) > THUMBNAIL_DISAGREEMENT_LIMIT
    assert decode_reason(damaged).startswith(
        "corrupt HEIF file (damaged image data: the picture differs from the file's own thumbnail by "
    )
