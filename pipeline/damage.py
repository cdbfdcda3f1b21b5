"""Damaged image data: what libjpeg noticed while decoding, and files built to waste a decoder's time.
Pure: no Beam.

Pillow decodes a JPEG whose compressed data is damaged without a word: libjpeg only *warns* (Pillow
hides its warnings) and fills what it could not decode with grey (data cut short, then an end marker)
or garbled blocks (flipped bits). The job decodes JPEGs through libjpeg-turbo's TurboJPEG interface
(simplejpeg) in strict mode instead, which turns those warnings into errors; their words are mapped
here to reasons a person understands.
"""

from __future__ import annotations

import cv2
import numpy as np

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
