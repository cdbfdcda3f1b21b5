"""Content similarity of two photos: a 64-bit perceptual hash (DCT pHash) and its Hamming distance, and
a coarse colour histogram and its overlap. Pure: no Beam. The burst step (pipeline.job.bursts) uses
them to confirm that photos taken close together show the same scene, and, for photos without a
capture time, to find near-identical ones.

Why a DCT hash: the lowest 8x8 frequencies of a 32x32 thumbnail say where the light and dark masses
of the scene are. Blur, noise, JPEG re-encoding and small shifts leave them almost unchanged (a burst
frame and its blurred neighbour differ in a few bits), while another subject differs in about half
of them. Thresholding each coefficient at their median makes it blind to exposure and contrast.

Why a colour histogram beside it: a hand-held camera that swings between frames moves the light and
dark masses, and the hash with them (frames of real phone bursts differ by up to 36 bits), but it
keeps the scene's colours. Where the hash is unsure, the colours decide (pipeline.job.burst_groups).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from model.inputs import to_gray

HASH_BITS = 64
_HASH_SIDE = 32  # thumbnail side the DCT is taken over
_LOW_FREQUENCIES = 8  # 8x8 lowest frequencies -> 64 bits
_HEX_DIGITS = HASH_BITS // 4


def content_hash(rgb: np.ndarray) -> int:
    """The 64-bit DCT perceptual hash of an RGB (or gray) uint8 image, as an int in [0, 2**64).

    Any size works; the job passes the 200x200 whole-frame view of the working-scale photo, which
    the measure step has already made (area-averaged), so the hash costs about 0.2 ms."""
    gray = to_gray(rgb)
    thumbnail = cv2.resize(gray, (_HASH_SIDE, _HASH_SIDE), interpolation=cv2.INTER_AREA)
    spectrum = cv2.dct(thumbnail.astype(np.float32))[:_LOW_FREQUENCIES, :_LOW_FREQUENCIES]
    bits = (spectrum > np.median(spectrum)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


COLOR_LEVELS = 4
"""Levels per channel of the colour histogram: 4 x 4 x 4 = 64 bins, coarse enough that blur, noise and
exposure steps stay in their bin."""

_COLOR_BINS = COLOR_LEVELS**3
_SHARE_SCALE = 65535  # each bin's share of the pixels, as a big-endian uint16


def color_histogram(rgb: np.ndarray) -> bytes:
    """The share of the pixels in each of the 64 colour bins of an RGB uint8 image, as 128 bytes
    (uint16 big-endian, 65535 = all pixels). The job passes the whole-frame view, as for the hash."""
    image = np.ascontiguousarray(rgb if rgb.ndim == 3 else np.dstack([rgb] * 3))
    counts = cv2.calcHist([image], [0, 1, 2], None, [COLOR_LEVELS] * 3, [0, 256] * 3).ravel()
    shares = np.rint(counts / max(float(counts.sum()), 1.0) * _SHARE_SCALE)
    return shares.astype(">u2").tobytes()


def histogram_overlap(first: bytes, second: bytes) -> float:
    """How much of two colour histograms coincide (histogram intersection): 1.0 for the same colours,
    0.0 for none in common."""
    shares = [np.frombuffer(value, dtype=">u2") for value in (first, second)]
    return float(np.minimum(*shares).sum()) / _SHARE_SCALE


def histogram_from_bytes(value: object) -> bytes | None:
    """The histogram of a `color_histogram` column value; None for a missing or malformed value."""
    return value if isinstance(value, bytes) and len(value) == 2 * _COLOR_BINS else None


def hash_hex(value: int) -> str:
    """The hash as the 16 lower-case hex digits stored in the `content_hash` column."""
    return f"{value:0{_HEX_DIGITS}x}"


def hash_from_hex(text: str | None) -> int | None:
    """The hash of a `content_hash` column value; None for a missing or malformed value (a row from a
    run before the column existed, or a file edited by hand)."""
    if not isinstance(text, str) or len(text) != _HEX_DIGITS:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def hash_distance(first: int, second: int) -> int:
    """Hamming distance of two hashes: how many of the 64 bits differ (0 = same picture, ~32 = unrelated)."""
    return (first ^ second).bit_count()


def hash_bands(value: int, bands: int) -> list[int]:
    """The hash cut into `bands` consecutive bit ranges (as equal as 64 allows), each as an int.

    Two hashes within distance bands - 1 agree on at least one whole band (pigeonhole), so keying
    photos by (band index, band value) brings every such pair together in some group."""
    edges = [round(index * HASH_BITS / bands) for index in range(bands + 1)]
    return [
        (value >> (HASH_BITS - end)) & ((1 << (end - start)) - 1) for start, end in itertools.pairwise(edges)
    ]
