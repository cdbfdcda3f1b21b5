"""What kind of file this is, before and after reading it: non-photos (sidecars, videos) and RAW files.
Pure: no Beam, no file system.

A photo folder holds more than photos: exports leave `.json` and `.xmp` sidecars, iPhones `.aae` edit
files and `.mov` Live Photo halves, macOS `.DS_Store`. Those are not errors: they get a row with status
`skipped` and a reason (NotAPhoto). Names are checked before a file is read (cheap); content is checked
after reading, so a video named `.jpg` is still recognised.
"""

from __future__ import annotations

import io
import posixpath

from PIL import Image


def _suffixes(names: str) -> frozenset[str]:
    return frozenset("." + name for name in names.split())


VIDEO_SUFFIXES = _suffixes(
    "mp4 m4v mov qt avi mkv webm wmv asf flv 3gp 3g2 mts m2ts ts mpg mpeg vob lrv insv"
)
"""Video files: cameras and phones put them beside the photos (a Live Photo's `.mov`, GoPro `.lrv`)."""

SIDECAR_SUFFIXES = _suffixes(
    "json xmp aae txt xml csv html htm md pdf ini log db thm pp3 dop on1 cos"
    " lrcat lrdata photoslibrary plist zip parquet wav mp3 m4a aac exe dll py sh"
)
"""Sidecars, catalogues, documents and audio that live in photo folders; never photos, never read."""

SKIPPED_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".picasa.ini", "picasa.ini", ".nomedia"})
"""Files the operating system or a photo tool leaves in folders, by their whole name."""

RAW_SUFFIXES = _suffixes(
    "nef nrw cr2 cr3 crw arw srf sr2 dng orf rw2 raf pef srw erf kdc dcr mos mrw 3fr fff iiq rwl x3f"
)
"""Camera RAW files: scored on their largest embedded preview (pipeline.photo.raw), never on a thumbnail."""

# ISO base media (MP4, QuickTime, HEIF, AVIF) files start with a `ftyp` box naming brands; these brands
# mean a still image (or an image sequence), any other `ftyp` file is a video.
_IMAGE_BRANDS = frozenset(
    b"heic heix heim heis hevc hevx mif1 mif2 msf1 avif avis avci jpeg".split()  # noqa: SIM905
)
_RAW_BRANDS = frozenset({b"crx "})  # Canon CR3


class NotAPhoto(Exception):
    """A file that is not a photo (a sidecar, a video): its row gets status `skipped` and this reason."""


def suffix(uri: str) -> str:
    """The lower-case extension of the file's name (`.jpg`), or "" when it has none."""
    return posixpath.splitext(posixpath.basename(uri.rstrip("/")))[1].lower()


def skip_reason_by_name(uri: str) -> str | None:
    """Why a file is not a photo, judged by its name alone; None when it may be one."""
    name = posixpath.basename(uri.rstrip("/")).lower()
    extension = suffix(name)
    if name in SKIPPED_NAMES:
        return f"not a photo ({name}, a file the system or a photo tool keeps)"
    if extension in VIDEO_SUFFIXES:
        return "video file, not a photo"
    if extension in SIDECAR_SUFFIXES:
        return f"not a photo ({extension} file)"
    return None


def _ftyp_brands(data: bytes) -> list[bytes] | None:
    """Major and compatible brands of an ISO base media file, or None when it does not start with `ftyp`."""
    if data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[0:4], "big")
    end = min(len(data), size if 16 <= size <= 4096 else 64)
    return [data[8:12]] + [data[offset : offset + 4] for offset in range(16, end - 3, 4)]


def video_kind(data: bytes) -> str | None:
    """The container of a video file judged by its content (`MP4/QuickTime`, `Matroska/WebM`, `AVI`,
    ...), or None for anything else (photos included: a HEIC's `ftyp` names an image brand)."""
    brands = _ftyp_brands(data)
    if brands is not None:
        if any(brand in _IMAGE_BRANDS or brand in _RAW_BRANDS for brand in brands):
            return None
        return "MP4/QuickTime"
    if data[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip") and int.from_bytes(data[:4], "big") >= 8:
        return "QuickTime"  # old QuickTime files start with a movie box, not ftyp
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "AVI"
    if data[:4] == b"\x30\x26\xb2\x75":
        return "ASF/WMV"
    if data[:3] == b"FLV":
        return "FLV"
    if data[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "MPEG"
    if len(data) >= 188 * 3 and data[0] == data[188] == data[376] == 0x47:
        return "MPEG transport stream"
    return None


def is_raw(uri: str, data: bytes) -> bool:
    """A camera RAW file: by its name (NEF, CR2, ARW, DNG, ...) when the content is TIFF-like or RAW-like,
    or by content alone for the kinds that mark it (CR2, ORF, RW2, RAF, CR3, DNG's version tag)."""
    return raw_kind(uri, data) is not None


def raw_kind(uri: str, data: bytes) -> str | None:
    """The RAW kind (`NEF`, `CR2`, `DNG`, ...) of a RAW file, or None for anything else."""
    head = data[:16]
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "RAF"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if head[:4] == b"IIU\x00":
        return "RW2"
    if head[:4] == b"II*\x00" and head[8:10] == b"CR":
        return "CR2"
    brands = _ftyp_brands(data)
    if brands is not None and any(brand in _RAW_BRANDS for brand in brands):
        return "CR3"
    extension = suffix(uri)
    tiff_like = head[:4] in (b"II*\x00", b"MM\x00*")
    if extension in RAW_SUFFIXES and tiff_like:  # a JPEG or PNG named .NEF is decoded as what it is
        return extension[1:].upper()
    if tiff_like and _has_dng_version(data):
        return "DNG"
    return None


def _has_dng_version(data: bytes) -> bool:
    """Whether the first IFD of a TIFF holds the DNGVersion tag (0xC612): a DNG, whatever its name."""
    order = "little" if data[:2] == b"II" else "big"
    offset = int.from_bytes(data[4:8], order)
    if offset + 2 > len(data):
        return False
    count = int.from_bytes(data[offset : offset + 2], order)
    for index in range(min(count, 512)):
        entry = offset + 2 + 12 * index
        if entry + 2 > len(data):
            return False
        if int.from_bytes(data[entry : entry + 2], order) == 0xC612:
            return True
    return False


# Magic numbers of the photo formats, only to name the format in an error when Pillow cannot even
# read the header ("corrupt PNG file" says more than "not an image" about a PNG cut short).
SIGNATURES = (
    (0, b"\xff\xd8", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (8, b"WEBP", "WEBP"),  # after b"RIFF" + size
    (4, b"ftypavi", "AVIF"),
    (4, b"ftyp", "HEIF"),  # heic, mif1, ... brands; checked after AVIF
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG2000"),
)


def declared_size(data: bytes, photo_formats: tuple[str, ...]) -> tuple[int, int] | None:
    """The size a file's header declares, for an error message about a file Pillow refused as a
    decompression bomb (its error gives no size). Parses headers only, never pixels."""
    for name in photo_formats:
        factory, accept = Image.OPEN[name]
        accepted = accept(data[:16]) if accept is not None else True
        if not accepted or isinstance(accepted, str):  # a str is Pillow's "looks like it, but" note
            continue
        try:
            with factory(io.BytesIO(data), "") as header:
                return header.size
        except Exception:
            continue
    return None


def sniff_format(data: bytes) -> str | None:
    for offset, magic, name in SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    if data[:2] == b"BM" and data[6:10] == b"\x00\x00\x00\x00":  # BMP: reserved bytes are zero
        return "BMP"
    return None
