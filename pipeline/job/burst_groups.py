"""Bursts: which photos are frames of one burst, and which frame is the sharpest. Pure: no Beam.

pipeline.job.bursts runs these functions in the Beam job; they are tested alone. The steps:

1. `group_keys`: each photo's grouping keys. With a capture time: (camera, time bucket); a photo
   within `gap` of the next bucket's start is also sent there, "borrowed", so that a burst that
   straddles a bucket edge is seen whole at the edge. Without a capture time: (camera, band of its
   content hash), one key per band, so that near-identical photos meet in at least one group.
2. `local_components`: in one group, link photos that are frames of one burst (`timed_links`: within
   `gap` seconds and alike in content; `content_links`: near-identical content), and return the
   connected groups, each labelled by the smallest URI among its members.
3. Labels of one photo found in several groups (a borrowed photo, several bands) are merged
   (`merge_labels`, a union-find that keeps the smallest label): a burst's final label is the
   smallest URI of all its frames, whatever the bucketing, so the burst id is stable.
4. `rank_burst`: rank by the model's sharpness (lower blur_probability first; probabilities within
   SHARPNESS_TIE are a tie, broken by the higher laplacian_var), then the URI.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np

from pipeline.job.similarity import (
    hash_bands,
    hash_distance,
    hash_from_hex,
    histogram_from_bytes,
    histogram_overlap,
)
from pipeline.schema import STATUS_OK

DEFAULT_BURST_GAP_S = 2.0
"""Photos of one camera at most this far apart (seconds) can be frames of one burst."""

BURST_MAX_DISTANCE = 20
"""Two photos taken within the gap are frames of one burst when their content hashes differ in at most
this many of 64 bits and their colours overlap by BURST_MIN_OVERLAP. Measured (bench/bursts.py,
bench/README.md "Bursts"): frames of real bursts, blurred ones included, differ by 2-20 while the
camera moves little; different photos by 32 (median), and 47 of 9,453 pairs of different photos (0.5%)
are within 20."""

BURST_MIN_OVERLAP = 0.6
"""Colour overlap (pipeline.job.similarity.histogram_overlap) two frames within BURST_MAX_DISTANCE need:
frames of one scene overlap by 0.8 or more (0.80-0.98 on the phone bursts, 0.90 or more on the motion
pairs), and this removes most hash look-alikes with other colours (43 of those 47; of photos/sharp's
106 pairs within 20 bits, 87)."""

SWUNG_MAX_DISTANCE = 36
"""A camera that swings between frames moves the hash by up to this many bits (the real phone bursts of
motion/real: 18-36); different photos are there too (the median is 32), so such a pair needs
SWUNG_MIN_OVERLAP as well."""

SWUNG_MIN_OVERLAP = 0.8
"""Colour overlap a pair beyond BURST_MAX_DISTANCE and within SWUNG_MAX_DISTANCE needs: all 11 such
pairs of the real phone bursts (0.80-0.91), 9 of 8,585 pairs of different photos/camera photos and 90 of
19,016 of photos/sharp (0.1-0.5%)."""

TWIN_MAX_DISTANCE = 4
"""Without a capture time, only near-identical content counts (a re-encoded or resized copy, frames of
a still scene): hashes within this many bits."""

TWIN_BANDS = TWIN_MAX_DISTANCE + 1
"""Content-hash bands a photo without a capture time is keyed by: hashes within TWIN_MAX_DISTANCE
share at least one whole band."""

BUCKET_S = 300.0
"""Width of a time bucket (seconds), the unit of work of the grouping: one camera's photos of five
minutes meet in one group. Wider than any gap a user asks for (a bucket is never narrower than the gap)."""

MAX_LINKS_BACK = 32
"""A photo is compared with at most this many of the photos taken just before it (within the gap):
a camera whose clock stood still (no sub-seconds, a reset clock) does not make a group quadratic."""

MAX_TWIN_GROUP = 2000
"""A content-band group larger than this (very common content: blank skies, black frames) compares
each photo only with its MAX_LINKS_BACK neighbours in hash order, not with every other photo."""

SHARPNESS_TIE = 0.01
"""blur_probability values within the same 0.01 are a tie: the model's probabilities of two sharp
frames differ in noise, and the Laplacian variance then picks the one with more fine detail."""

_EPOCH = datetime(1970, 1, 1)


class BurstFacts(NamedTuple):
    """What grouping and ranking need of one photo (a slim copy of its row)."""

    uri: str
    camera: str  # camera_key
    seconds: float | None  # capture time, seconds since 1970 on the camera's own clock
    content_hash: int
    blur_probability: float
    laplacian_var: float
    colors: bytes | None = None  # color_histogram; None on rows from runs before it existed


class BurstColumns(NamedTuple):
    """The burst columns of one photo's row."""

    burst_id: str | None
    burst_size: int
    burst_rank: int
    best_in_burst: bool


ALONE = BurstColumns(None, 1, 1, True)
"""The columns of a photo that is in no burst."""


def camera_key(make: str | None, model: str | None, body: str | None = None) -> str:
    """One camera: make and model, case and spacing ignored, and the body (pipeline.photo.exif's
    camera_body) where EXIF gives its serial; "" when none is known."""
    parts = [" ".join((text or "").split()).casefold() for text in (make, model)]
    return "|".join(parts + ([body] if body else [])).strip("|")


def burst_facts(row: dict) -> BurstFacts | None:
    """A scored row's BurstFacts, or None when it cannot take part: not ok, no content hash (a row
    from a run before bursts), low-information (a black or blank frame looks like every other one),
    or no sharpness to rank by."""
    content = hash_from_hex(row.get("content_hash"))
    probability, detail = row.get("blur_probability"), row.get("laplacian_var")
    if row.get("status") != STATUS_OK or content is None or row.get("low_information"):
        return None
    if probability is None or detail is None or not math.isfinite(probability):
        return None
    captured = row.get("captured_at")
    seconds = (captured.replace(tzinfo=None) - _EPOCH).total_seconds() if captured is not None else None
    camera = camera_key(row.get("camera_make"), row.get("camera_model"), row.get("camera_body"))
    return BurstFacts(
        row["uri"], camera, seconds, content, float(probability), float(detail),
        histogram_from_bytes(row.get("color_histogram")),
    )  # fmt: skip


def bucket_width(gap_s: float) -> float:
    """The time bucket's width for a gap: BUCKET_S, or the gap itself when longer."""
    return max(BUCKET_S, gap_s)


def group_keys(facts: BurstFacts, gap_s: float) -> list[tuple[tuple, bool]]:
    """The groups a photo goes to, as (key, borrowed) pairs; `borrowed` marks a copy sent to the next
    time bucket, which may link it to a photo there but does not own it."""
    if facts.seconds is None:
        return [((facts.camera, "band", index, band), False) for index, band in enumerate(
            hash_bands(facts.content_hash, TWIN_BANDS)
        )]  # fmt: skip
    width = bucket_width(gap_s)
    bucket = math.floor(facts.seconds / width)
    keys = [((facts.camera, "time", bucket), False)]
    if facts.seconds + gap_s >= (bucket + 1) * width:
        keys.append(((facts.camera, "time", bucket + 1), True))
    return keys


def _order(facts: BurstFacts) -> tuple:
    return (facts.seconds, facts.uri)


def alike(first: BurstFacts, second: BurstFacts) -> bool:
    """Whether two photos show one scene as frames of a burst do: hashes within BURST_MAX_DISTANCE and
    colours overlapping by BURST_MIN_OVERLAP, or, for a camera that swung, hashes within
    SWUNG_MAX_DISTANCE and colours overlapping by SWUNG_MIN_OVERLAP. A row without colours (from a run
    before they were measured) is judged by its hash alone, within BURST_MAX_DISTANCE."""
    distance = hash_distance(first.content_hash, second.content_hash)
    if distance > SWUNG_MAX_DISTANCE:
        return False
    if first.colors is None or second.colors is None:
        return distance <= BURST_MAX_DISTANCE
    overlap = histogram_overlap(first.colors, second.colors)
    if distance <= BURST_MAX_DISTANCE:
        return overlap >= BURST_MIN_OVERLAP
    return overlap >= SWUNG_MIN_OVERLAP


def timed_links(members: Sequence[tuple[BurstFacts, bool]], gap_s: float) -> list[tuple[str, str]]:
    """Links (earlier uri, later uri) between photos of one time bucket taken at most `gap_s` apart
    that are `alike`. A link is made only in the bucket that owns its later photo (`borrowed` False), so
    each is made once; the earlier one may be borrowed."""
    ordered = sorted(members, key=lambda member: _order(member[0]))
    links = []
    for index, (later, borrowed) in enumerate(ordered):
        if borrowed:
            continue
        start = max(0, index - MAX_LINKS_BACK)
        for earlier, _ in reversed(ordered[start:index]):
            if later.seconds - earlier.seconds > gap_s:
                break
            if alike(earlier, later):
                links.append((earlier.uri, later.uri))
    return links


def content_links(members: Sequence[BurstFacts]) -> list[tuple[str, str]]:
    """Links between photos of one content-band group whose hashes are within TWIN_MAX_DISTANCE: every
    pair in a group of at most MAX_TWIN_GROUP, else each photo with its neighbours in hash order."""
    ordered = sorted(members, key=lambda facts: (facts.content_hash, facts.uri))
    if len(ordered) < 2:
        return []
    hashes = np.array([facts.content_hash for facts in ordered], dtype=np.uint64)
    links = []
    if len(ordered) <= MAX_TWIN_GROUP:
        for index in range(len(ordered) - 1):
            distances = _popcount(hashes[index + 1 :] ^ hashes[index])
            for offset in np.flatnonzero(distances <= TWIN_MAX_DISTANCE):
                links.append((ordered[index].uri, ordered[index + 1 + int(offset)].uri))
        return links
    for offset in range(1, MAX_LINKS_BACK + 1):
        distances = _popcount(hashes[offset:] ^ hashes[:-offset])
        for index in np.flatnonzero(distances <= TWIN_MAX_DISTANCE):
            links.append((ordered[int(index)].uri, ordered[int(index) + offset].uri))
    return links


_BYTE_BITS = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    return _BYTE_BITS[values.view(np.uint8)].reshape(-1, 8).sum(axis=1)


def components(links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Connected components of the linked URIs: uri -> the smallest uri of its component."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps chains short
            node = parent[node]
        return node

    for first, second in links:
        first_root, second_root = root(first), root(second)
        if first_root != second_root:
            low, high = sorted((first_root, second_root))
            parent[high] = low  # the smallest label is the root, so labels do not depend on link order
    return {node: root(node) for node in parent}


def local_components(
    key: tuple, members: Sequence[tuple[BurstFacts, bool]], gap_s: float
) -> list[tuple[BurstFacts, str]]:
    """One group's photos that are linked to another, each with its component's label (the smallest
    URI in the component). A photo in no link is not returned: alone, as far as this group knows."""
    if key[1] == "time":
        links = timed_links(members, gap_s)
    else:
        links = content_links([facts for facts, _ in members])
    labels = components(links)
    seen: set[str] = set()
    linked = []
    for facts, _ in members:
        if facts.uri in labels and facts.uri not in seen:
            seen.add(facts.uri)
            linked.append((facts, labels[facts.uri]))
    return linked


def merge_labels(labels_of_photos: Iterable[Iterable[str]]) -> dict[str, str]:
    """Labels found together on one photo are one burst: label -> the smallest label it is merged with
    (labels found only alone are not in the result)."""
    pairs = []
    for labels in labels_of_photos:
        ordered = sorted(set(labels))
        pairs.extend((ordered[0], other) for other in ordered[1:])
    return components(pairs)


def burst_id(label: str) -> str:
    """A burst's id: 16 hex digits of the SHA-256 of its label (the smallest URI among its frames)."""
    return hashlib.sha256(label.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def sharpness_order(facts: BurstFacts) -> tuple:
    """Sort key, sharpest first: the model's blur probability (in SHARPNESS_TIE steps), then more
    Laplacian variance, then the URI so that equal frames rank the same on every run."""
    return (math.floor(facts.blur_probability / SHARPNESS_TIE), -facts.laplacian_var, facts.uri)


def rank_burst(label: str, members: Iterable[BurstFacts]) -> list[tuple[str, BurstColumns]]:
    """Every frame of one burst with its columns: rank 1 is the sharpest and the best in the burst."""
    frames = sorted({facts.uri: facts for facts in members}.values(), key=sharpness_order)
    if len(frames) < 2:
        return [(facts.uri, ALONE) for facts in frames]
    identity = burst_id(label)
    return [
        (facts.uri, BurstColumns(identity, len(frames), rank, rank == 1))
        for rank, facts in enumerate(frames, start=1)
    ]
