"""The largest embedded JPEG preview of a camera RAW file. Pure: no Beam, no file system, no pixels.

The job does not develop RAW sensor data; it scores the JPEG preview the camera stored beside it,
when that preview is large enough to judge (at least the working scale's long side). A RAW's first
image is often a 160x120 thumbnail (NEF, DNG, ARW), which is what Pillow's TIFF plugin would open:
scoring blur on a thumbnail says "blurry" for a sharp photo, and culling on that deletes originals.

Where previews are kept (walked here, header bytes only):
- TIFF-based RAWs (NEF, NRW, CR2, ARW, SR2, DNG, PEF, SRW, ERF, ORF, RW2, 3FR, ...): every IFD of the
  main chain and their SubIFDs; a preview is the JPEG at JPEGInterchangeFormat/Length (NEF's
  JpgFromRawStart/Length), or a JPEG-compressed strip (CR2's first IFD, DNG preview IFDs), or RW2's
  JpgFromRaw tag holding the JPEG itself.
- RAF: the JPEG offset and length in the file header.
- Anything else (CR3, or a TIFF walk that found nothing large): the JPEG streams found by their start
  marker, each judged by its own header.
"""

from __future__ import annotations

from typing import NamedTuple

from PIL.ExifTags import Base as Tag

from model.inputs import WORKING_LONG_SIDE

_MAX_IFDS = 64  # a RAW has a handful; a loop or a hostile chain stops here
_MAX_ENTRIES = 1024
_MAX_SCANNED_JPEGS = 64
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_CFA_PHOTOMETRICS = {32803, 34892}  # colour filter array and linear raw: sensor data, not a preview
_SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_RW2_JPG_FROM_RAW = 0x002E  # Panasonic's tag for the full-size JPEG inside an RW2; not a TIFF/EXIF name


class Preview(NamedTuple):
    """An embedded JPEG preview: its bytes and the size its header declares."""

    jpeg: bytes
    width: int
    height: int

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)


class RawFacts(NamedTuple):
    """What a RAW file offers the job: its largest preview (None if it has none) and the orientation
    its first IFD records (1-8; previews usually carry none of their own)."""

    preview: Preview | None
    orientation: int


def jpeg_size(data: bytes | memoryview, start: int = 0) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, walking markers from `start`; None if not a JPEG."""
    if data[start : start + 2] != b"\xff\xd8":
        return None
    position = start + 2
    end = len(data)
    while position + 4 <= end:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _SOF_MARKERS and position + 9 <= end:
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return (width, height) if width and height else None
        if marker in (0xDA, 0xD9) or length < 2:
            return None
        position += 2 + length
    return None


def raw_facts(data: bytes) -> RawFacts:
    """The largest JPEG preview in a RAW file and its orientation (see the module's notes)."""
    candidates: list[tuple[int, int]] = []  # (offset, length); length 0: up to the end of the file
    orientation = 1
    if data.startswith(b"FUJIFILMCCD-RAW") and len(data) >= 92:
        candidates.append((int.from_bytes(data[84:88], "big"), int.from_bytes(data[88:92], "big")))
    elif data[:2] in (b"II", b"MM"):
        orientation = _walk_tiff(data, candidates)
    previews = [preview for offset, length in candidates if (preview := _preview_at(data, offset, length))]
    if not any(preview.long_side >= WORKING_LONG_SIDE for preview in previews):
        previews += _scan_for_jpegs(data)
    best = max(previews, key=lambda p: p.width * p.height, default=None)
    return RawFacts(best, orientation)


def _preview_at(data: bytes, offset: int, length: int) -> Preview | None:
    if not 0 < offset < len(data):
        return None
    stop = len(data) if length <= 0 else min(len(data), offset + length)
    size = jpeg_size(data, offset)
    if size is None:
        return None
    return Preview(data[offset:stop], *size)


def _scan_for_jpegs(data: bytes) -> list[Preview]:
    previews = []
    position = data.find(b"\xff\xd8\xff", 1)
    while position != -1 and len(previews) < _MAX_SCANNED_JPEGS:
        size = jpeg_size(data, position)
        if size is not None:
            previews.append(Preview(data[position:], *size))
        position = data.find(b"\xff\xd8\xff", position + 3)
    return previews


def _walk_tiff(data: bytes, candidates: list[tuple[int, int]]) -> int:
    """Collect preview candidates from every IFD and SubIFD; return IFD0's orientation."""
    order = "little" if data[:2] == b"II" else "big"

    def number(offset: int, size: int) -> int:
        return int.from_bytes(data[offset : offset + size], order)

    orientation = 1
    pending = [number(4, 4)]
    seen: set[int] = set()
    first = True
    while pending and len(seen) < _MAX_IFDS:
        ifd = pending.pop(0)
        if ifd in seen or not 8 <= ifd < len(data) - 2:
            continue
        seen.add(ifd)
        tags: dict[int, list[int]] = {}
        raw_values: dict[int, tuple[int, int]] = {}
        count = min(number(ifd, 2), _MAX_ENTRIES)
        for index in range(count):
            entry = ifd + 2 + 12 * index
            if entry + 12 > len(data):
                break
            tag, kind, values = number(entry, 2), number(entry + 2, 2), number(entry + 4, 4)
            size = _TYPE_SIZES.get(kind, 1)
            place = entry + 8 if size * values <= 4 else number(entry + 8, 4)
            raw_values[tag] = (place, size * values)
            if kind in (3, 4, 13) and values <= 64 and place + size * values <= len(data):
                tags[tag] = [number(place + size * i, size) for i in range(values)]
        if first:
            orientation = (tags.get(Tag.Orientation) or [1])[0]
            first = False
        if Tag.JpegIFOffset in tags:
            candidates.append((tags[Tag.JpegIFOffset][0], (tags.get(Tag.JpegIFByteCount) or [0])[0]))
        compression = (tags.get(Tag.Compression) or [0])[0]
        photometric = (tags.get(Tag.PhotometricInterpretation) or [0])[0]
        one_strip = len(tags.get(Tag.StripOffsets, [])) == 1
        if compression in (6, 7) and photometric not in _CFA_PHOTOMETRICS and one_strip:
            candidates.append((tags[Tag.StripOffsets][0], (tags.get(Tag.StripByteCounts) or [0])[0]))
        if _RW2_JPG_FROM_RAW in raw_values:  # RW2: JpgFromRaw, the JPEG bytes themselves
            candidates.append(raw_values[_RW2_JPG_FROM_RAW])
        pending.extend(tags.get(Tag.SubIFDs, []))
        next_ifd = ifd + 2 + 12 * count
        if next_ifd + 4 <= len(data):
            pending.append(number(next_ifd, 4))
    return orientation if orientation in range(1, 9) else 1
