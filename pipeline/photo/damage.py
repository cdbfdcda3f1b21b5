"""Damaged image data: what libjpeg noticed while decoding, and files built to waste a decoder's time.
Pure: no Beam.

Pillow decodes a JPEG whose compressed data is damaged without a word: libjpeg only *warns* (Pillow
hides its warnings) and fills what it could not decode with grey (data cut short, then an end marker)
or garbled blocks (flipped bits). The job decodes JPEGs through libjpeg-turbo's TurboJPEG interface
(simplejpeg) in strict mode instead, which turns those warnings into errors; their words are mapped
here to reasons a person understands.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pillow_heif

# The rule Pillow's draft() uses to pick a HEIF thumbnail that is a scaled copy of the image (same mode,
# aspect, orientation, crop and colour profile), trying the next when one does not decode. Private to
# pillow-heif, which is pinned (requirements.txt); an upgrade that drops it fails here, at import.
from pillow_heif.as_plugin import _thumbnail_for_size

MAX_JPEG_SCANS = 200
"""A progressive JPEG from a camera, phone or editor has 10 scans (libjpeg's default script), a few dozen
at most from optimising encoders. Every scan, even an empty one, costs a pass over all the image's
blocks: 21,000 empty scans in a 2.8 MB file took 83 s to decode. Counted before decoding."""

_SOS = b"\xff\xda"  # start of scan; in the entropy-coded data a 0xFF byte is always followed by 0x00


def jpeg_scan_count(data: bytes) -> int:
    """How many start-of-scan markers a JPEG holds (embedded thumbnails' and MPO frames' included)."""
    return data.count(_SOS)


def too_many_scans_reason(data: bytes) -> str | None:
    # Only progressive JPEGs are counted (2.5 ms for a 3 MB file): libjpeg refuses a second scan in a
    # baseline one at once ("Didn't expect more than one scan").
    """The reason to refuse a JPEG with more scans than MAX_JPEG_SCANS, or None when it has fewer."""
    scans = jpeg_scan_count(data)
    if scans <= MAX_JPEG_SCANS:
        return None
    return (
        f"corrupt JPEG file ({scans:,} scans, over the limit of {MAX_JPEG_SCANS}: a broken or hostile file "
        "that would take minutes to decode)"
    )


def jpeg_failure_reason(libjpeg_message: str) -> str:
    """A row's reason for a JPEG libjpeg-turbo refused in strict mode, from its message."""
    lowered = libjpeg_message.lower()
    if "premature end of jpeg file" in lowered:
        return "truncated JPEG file (the data ends early)"
    if "premature end of data segment" in lowered:
        return (
            "corrupt JPEG file (damaged image data: the compressed data ends early, the rest of the "
            "picture would be grey)"
        )
    if "extraneous bytes" in lowered or "corrupt jpeg data" in lowered:
        return (
            f"corrupt JPEG file (damaged image data, part of the picture would be garbled: {libjpeg_message})"
        )
    return f"corrupt JPEG file ({libjpeg_message})"


DC_DRIFT_LIMIT = 40.0
"""dc_drift_score above which a JPEG's pixels are called damaged. Over 904 real JPEGs (../shared/data,
every folder, and 24 12 MP camera-roll photos) the highest score was 30.8 (a keyboard's straight edge on
a block row); flipped bits that leave a visible colour shift score 49-146, those under 15 shift the
picture by 2-14 grey levels on average and go unnoticed."""

_MIN_SPLIT_COLUMNS = 2
_SPLIT_GROUPS = 64


def dc_drift_score(rgb: np.ndarray, mcu_width: int, mcu_height: int) -> float:
    """How strongly the picture steps at a row of JPEG blocks the way a damaged DC coefficient makes it.

    A JPEG codes each block's average colour (DC) as the difference to the previous block's. A flipped
    bit that the Huffman decoder survives (it resynchronises, so libjpeg sees nothing wrong) leaves every
    later block of that component offset by the same amount: from block column c of MCU row k to the
    end of the image. In the pixels that is a step across MCU-row boundary k for columns >= c and
    across boundary k+1 for columns < c, with the picture's texture intact on both sides.

    The score: for each pair of neighbouring MCU-row boundaries and each split column c, the smaller
    of the mean step (minus the local gradient) right of c at the first boundary and left of c at the
    second, when both have the same sign; the largest over boundaries, splits and channels (0-255).
    A natural horizontal edge on a block row steps at one boundary only, so it scores low. `rgb` is the
    decoded picture in stored orientation (the block grid starts at its top-left corner), MCU sizes in
    its pixels. 0.0 when the blocks are too small to tell (under 2 px high) or the picture too small.
    """
    height, width = rgb.shape[:2]
    columns = width // max(1, mcu_width)
    if mcu_height < 2 or mcu_width < 1 or columns < 2 * _MIN_SPLIT_COLUMNS:
        return 0.0
    rows = np.arange(mcu_height, height - mcu_height + 1, mcu_height)
    if len(rows) < 2:
        return 0.0
    # The step is linear in the pixels: average the pixels of groups of block columns first (one area
    # resize), so the score works on at most _SPLIT_GROUPS columns: 16 ms -> 2.5 ms for 1008x756.
    groups = min(columns, _SPLIT_GROUPS)
    needed = np.concatenate([rows + shift for shift in (-2, -1, 0, 1)])
    narrow = cv2.resize(
        np.ascontiguousarray(rgb[needed, : columns * mcu_width]),
        (groups, len(needed)),
        interpolation=cv2.INTER_AREA,
    ).astype(np.float32)
    before2, before, after, after2 = narrow.reshape(4, len(rows), groups, -1)
    # The step across the boundary, less the average gradient on either side of it.
    per_group = (after - before) - 0.5 * ((after2 - after) + (before - before2))
    totals = np.cumsum(per_group, axis=1)
    splits = np.arange(_MIN_SPLIT_COLUMNS, groups - _MIN_SPLIT_COLUMNS + 1)
    left_sums = totals[:, splits - 1]
    right_of_split = (totals[:-1, -1:] - left_sums[:-1]) * (1.0 / (groups - splits)).astype(np.float32)[
        :, None
    ]
    left_of_split = left_sums[1:] * (1.0 / splits).astype(np.float32)[:, None]
    scores = np.minimum(np.abs(right_of_split), np.abs(left_of_split))
    return float(scores[right_of_split * left_of_split > 0].max(initial=0.0))


DC_DRIFT_REASON = (
    "corrupt JPEG file (damaged image data: the colours shift at a row of blocks, as when a damaged "
    "bit offsets every block after it)"
)


# HEIF (HEIC): libheif and its HEVC decoder (libde265) decode damaged data without a word. Bytes inserted or
# cut leave tiles or blocks never decoded (they come out flat green: all-zero YCbCr), flipped bits garble
# blocks. Three checks, cheapest first: the file's boxes must fill it exactly; no block of the picture may
# be that never-decoded green; and where the file carries its own thumbnail (phones and cameras write one,
# encoded as a separate HEVC stream), the picture reduced to the thumbnail's size must agree with it.

HEIF_TRUNCATED_REASON = "truncated HEIF file (the data ends early)"
HEIF_STRUCTURE_REASON = (
    "corrupt HEIF file (damaged image data: its boxes do not add up to the file's length, as when bytes "
    "were inserted or cut)"
)
HEIF_UNDECODED_REASON = (
    "corrupt HEIF file (damaged image data: part of the picture could not be decoded and would be flat green)"
)


def heif_structure_reason(data: bytes) -> str | None:
    """Why a HEIF file's top-level boxes do not tile it exactly, or None when they do.

    An ISO media file is a sequence of boxes (size, four-letter type, contents) that ends exactly at the
    end of the file; the image data sits in one of them (mdat). Bytes cut from the end leave the last box
    reaching past the end; bytes inserted inside a box push its end (and every later box) off, so a box
    header lands on image data. libheif only reads the byte ranges its index (iloc) names, so it decodes
    such a file, with the damaged tiles garbled or missing. Every intact HEIC and HEIF file at hand
    (iPhone, Samsung, Canon, Nokia, Xiaomi, libheif's own) passes: trailers like Samsung's `sefd` are boxes.
    """
    position, length = 0, len(data)
    while position < length:
        if length - position < 8:
            return HEIF_STRUCTURE_REASON
        size, kind = int.from_bytes(data[position : position + 4], "big"), data[position + 4 : position + 8]
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if length - position < 16:
                return HEIF_TRUNCATED_REASON
            size, header = int.from_bytes(data[position + 8 : position + 16], "big"), 16
        elif size == 0:  # the box runs to the end of the file
            size = length - position
        if size < header or not all(32 <= byte < 127 for byte in kind):
            return HEIF_STRUCTURE_REASON
        if position + size > length:
            return HEIF_TRUNCATED_REASON
        position += size
    return None


_UNDECODED_BLOCK = 4
"""HEVC codes a picture in blocks of 4x4 pixels and up; one the decoder never reached is left at zero in
all three YCbCr planes. Whole-tile and whole-CTB (64x64) holes are the common case, but garbled areas hold
scattered never-reached 4x4 blocks too (5 of the 8 garbled tiles without them found at 16x16 blocks)."""

# What all-zero YCbCr becomes in RGB, by the file's matrix: R = B = 0 and G = 136 (BT.601, full range, as
# libheif writes and converts), 135 (BT.601, video range), 77 (BT.709, video range) or 84 (BT.709, full
# range); one level either way for rounding. Not HTML's "green" (0, 128, 0), nor a photo's clipped green.
_UNDECODED_GREENS = ((76, 78), (83, 85), (134, 137))


def _undecoded_green(rgb: np.ndarray) -> np.ndarray:
    green = rgb[..., 1]
    exact = np.zeros(green.shape, dtype=bool)
    for low, high in _UNDECODED_GREENS:
        exact |= (green >= low) & (green <= high)
    return exact & (rgb[..., 0] == 0) & (rgb[..., 2] == 0)


def undecoded_blocks(rgb: np.ndarray) -> int:
    """How many aligned 4x4 blocks of a full-size HEIF decode are entirely the flat green that all-zero
    YCbCr becomes: blocks the HEVC decoder never reached. Over 356 intact real and phone-encoded HEICs
    none has one: a photo does not hold one exact green with red and blue at 0 in a whole aligned block."""
    rows, columns = rgb.shape[0] // _UNDECODED_BLOCK, rgb.shape[1] // _UNDECODED_BLOCK
    if not rows or not columns:
        return 0
    blocks = rgb[: rows * _UNDECODED_BLOCK, : columns * _UNDECODED_BLOCK].reshape(
        rows, _UNDECODED_BLOCK, columns, _UNDECODED_BLOCK, 3
    )
    # Only blocks whose middle pixel is that green can be all green: one pixel in 16 is looked at first
    # (a few ms for 12 MP, against 45 ms for every pixel of a dark photo).
    middle = _UNDECODED_BLOCK // 2
    candidate_rows, candidate_columns = np.nonzero(_undecoded_green(blocks[:, middle, :, middle]))
    if not len(candidate_rows):
        return 0
    candidates = blocks[candidate_rows, :, candidate_columns]  # (n, 4, 4, 3)
    return int(np.count_nonzero(_undecoded_green(candidates).all(axis=(1, 2))))


THUMBNAIL_DISAGREEMENT_LIMIT = 40.0
"""thumbnail_disagreement above which a HEIF's picture is called damaged. Intact files: at most 11 on the
real phone HEICs at hand (an iPhone's, a Samsung's, a Nokia's) and on 138 real photos encoded with
libheif's own thumbnails (bench/heif_damage.py); flipped bits that visibly garble the picture score 60 and
more (tests/test_heif_damage.py, tests/test_fuzz.py)."""

_THUMBNAIL_BLOCK = 8


THUMBNAIL_MIN_SIDE = 128
"""The smallest thumbnail compared: phones write 320x240 (iPhone) or 512x384 (Samsung), cameras 320x212
and larger. The smallest one at least this size is decoded (a few ms)."""


def heif_thumbnail(data: bytes) -> np.ndarray | None:
    """The primary image's smallest embedded thumbnail of at least THUMBNAIL_MIN_SIDE pixels that is a
    scaled copy of it, as RGB uint8 in display orientation (as libheif decodes the image itself); None
    when it has none, or none that decodes."""
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data))  # reads the boxes, decodes nothing
        thumbnail = _thumbnail_for_size(heif[heif.primary_index], (THUMBNAIL_MIN_SIDE, THUMBNAIL_MIN_SIDE))
        if thumbnail is None:
            return None
        return np.asarray(thumbnail.to_pillow().convert("RGB"))
    except (OSError, ValueError, SyntaxError, RuntimeError, EOFError, IndexError):
        return None


def thumbnail_disagreement(rgb: np.ndarray, thumbnail: np.ndarray) -> float:
    """The largest difference in mean grey level (0-255) between the full-size picture and its thumbnail
    over blocks of 8x8 thumbnail pixels.

    The picture is brought to the thumbnail's size both ways thumbnails are made: by area averaging
    (phones filter) and by taking the nearest pixel (libheif does; on fine, contrasty texture that
    differs from the average by up to 50 levels per block); per block the closer of the two counts.
    Averaging over blocks makes the score blind to compression noise, while a garbled or never-decoded
    area of the picture (or of the thumbnail) of a block or more still shows at full strength."""
    height, width = thumbnail.shape[:2]
    blocks = (max(1, round(width / _THUMBNAIL_BLOCK)), max(1, round(height / _THUMBNAIL_BLOCK)))

    def block_means(image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, blocks, interpolation=cv2.INTER_AREA).astype(np.float32)

    # An exact box average by a whole factor of both sides first: OpenCV's fast path, 38 -> 9 ms for
    # 12 MP. Cropping instead of dividing would move the blocks' edges: 2 px of 800 gave 6 levels.
    full_height, full_width = rgb.shape[:2]
    most = max(1, min(full_height // height, full_width // width))
    step = max(s for s in range(1, most + 1) if full_height % s == 0 and full_width % s == 0)
    reduced = cv2.resize(rgb, (full_width // step, full_height // step), interpolation=cv2.INTER_AREA)
    expected = block_means(thumbnail)
    averaged = block_means(reduced)
    sampled = block_means(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_NEAREST))
    return float(np.minimum(np.abs(averaged - expected), np.abs(sampled - expected)).max())


def thumbnail_disagreement_reason(score: float) -> str:
    """A row's reason for a HEIF whose picture and thumbnail disagree by `score` grey levels."""
    return (
        f"corrupt HEIF file (damaged image data: the picture differs from the file's own thumbnail by "
        f"{score:.0f} grey levels in one area, as when damaged data garbles one of them)"
    )
