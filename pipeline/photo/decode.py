"""Decode photo bytes to an RGB array at the working scale. Pure: no Beam, no file system.

The format is judged by content (Pillow's sniffing, plus pillow-heif for HEIC/HEIF), never by the
file name, and only photo formats are tried (see PHOTO_FORMATS). JPEGs are decoded in the DCT domain
at a reduced size (libjpeg-turbo's scaled decoding, in strict mode: damaged data is an error, see
pipeline.photo.damage), so a 12 MP photo is not fully decoded, and other formats are reduced
the same way so a photo scores the same whatever its format (see reduction_factor). EXIF orientation is
applied.
Every mode becomes RGB: 16-bit images are scaled to 8 bits, transparent pixels are laid on white, and
animations give their first frame. Any failure raises DecodeError with a reason a person understands.

The format dispatch and the reasons live here; the damage checks in pipeline.photo.damage, pixel
conversion and orientation in pipeline.photo.pixels, header sniffing in pipeline.photo.filetypes.

Thread safety: Beam runs several decodes at once in one process, so nothing here changes global
state per call (no `warnings.catch_warnings`, no edits to `Image.MAX_IMAGE_PIXELS`). This module
relies on Pillow's default `ImageFile.LOAD_TRUNCATED_IMAGES = False`; with it set to True, truncated
files would decode silently with a grey bottom.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pillow_heif
import simplejpeg
from PIL import Image, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from model.inputs import CROP_SLACK, WORKING_LONG_SIDE, to_working_scale, working_size
from pipeline.photo.damage import (
    DC_DRIFT_LIMIT,
    DC_DRIFT_REASON,
    HEIF_UNDECODED_REASON,
    THUMBNAIL_DISAGREEMENT_LIMIT,
    dc_drift_score,
    heif_structure_reason,
    heif_thumbnail,
    jpeg_failure_reason,
    thumbnail_disagreement,
    thumbnail_disagreement_reason,
    too_many_scans_reason,
    undecoded_blocks,
)
from pipeline.photo.exif import NO_CAPTURE_FACTS, CaptureFacts, capture_facts
from pipeline.photo.filetypes import NotAPhoto, declared_size, raw_kind, sniff_format, video_kind
from pipeline.photo.payload import OverBudget, ReadFile, TimeBudget
from pipeline.photo.pixels import (
    ORIENT,
    QUARTER_TURN_ORIENTATIONS,
    box_reduce,
    exif_block,
    exif_orientation,
    to_rgb,
)
from pipeline.photo.raw import raw_facts

pillow_heif.register_heif_opener()
Image.init()

# Photo formats only: Pillow also opens EPS (through Ghostscript), MPEG, WMF, FITS and others that are
# never photos and only widen what untrusted bytes can reach. MPO is the multi-picture JPEG many
# cameras and phones write.
PHOTO_FORMATS = tuple(
    name
    for name in ("JPEG", "MPO", "PNG", "HEIF", "AVIF", "WEBP", "GIF", "TIFF", "BMP", "DIB", "JPEG2000", "PPM")
    if name in Image.OPEN  # naming an unregistered format makes Image.open raise KeyError
)


_NOT_AN_IMAGE = "not an image (no photo format recognised: JPEG, PNG, HEIC, WebP, GIF, TIFF, ...)"


class DecodeError(ValueError):
    """A file that is not a usable photo; str(error) is the reason shown in the output row."""


@dataclass(frozen=True)
class DecodedPhoto:
    """A photo at the working scale, with its full size (after EXIF orientation) and format."""

    rgb: np.ndarray  # (h, w, 3) uint8 at the working scale
    width: int
    height: int
    format: str
    capture: CaptureFacts = field(default=NO_CAPTURE_FACTS)  # from the file's EXIF


@dataclass(frozen=True)
class ReducedPhoto:
    """A photo decoded and reduced by `factor`, the step before the working scale (see decode_reduced)."""

    rgb: np.ndarray  # (h, w, 3) uint8, oriented, about 1/factor of the full size
    width: int  # full size, after EXIF orientation
    height: int
    format: str
    factor: int  # 1, 2, 4 or 8
    decoded_size: tuple[int, int]  # (width, height) the codec itself produced, before orientation
    capture: CaptureFacts = field(default=NO_CAPTURE_FACTS)


def decode_photo(
    data: bytes, *, name: str = "", budget: TimeBudget | None = None, check_dc_drift: bool = True
) -> DecodedPhoto:
    """Decode image bytes (JPEG, PNG, HEIC, WebP, GIF, TIFF, BMP, AVIF, camera RAW previews, ...) to
    RGB at the working scale. `name` (the file's name or URI) only tells RAW kinds apart.

    Raises DecodeError on empty files, non-images, truncated or corrupt data (damaged JPEG data
    included, see pipeline.photo.damage), RAW files without a full-size preview, and images over Pillow's
    decompression-bomb pixel limit (Image.MAX_IMAGE_PIXELS); NotAPhoto on videos; OverBudget when
    `budget` runs out (checked between 64 KB blocks of Pillow's decoders and after decoding).
    """
    reduced = decode_reduced(data, name=name, budget=budget, check_dc_drift=check_dc_drift)
    return DecodedPhoto(
        rgb=to_working_scale(reduced.rgb),
        width=reduced.width,
        height=reduced.height,
        format=reduced.format,
        capture=reduced.capture,
    )


def decode_read_file(read: ReadFile) -> DecodedPhoto:
    """The decode step: decode_photo on what the read step read, within the file's time budget."""
    return decode_photo(read.data, name=read.uri, budget=read.budget)


def reduction_factor(width: int, height: int) -> int:
    """The power of two s (1, 2, 4 or 8) by which a width x height photo is first reduced, before a
    final crop or area resize brings it to the working size.

    Why two steps: a JPEG can be decoded in the DCT domain at 1/2, 1/4 or 1/8 scale for a fraction of
    the cost of a full decode (a 12 MP JPEG is never fully decoded). Other formats are reduced by the
    same factor with a box average, which matches the DCT reduction (Laplacian variance within 3%
    measured), so a photo scores the same as JPEG and as PNG.

    Which s: the largest that still leaves at least the working size, when that lands within
    CROP_SLACK of it (4032x3024 -> 1/4 -> 1008x756 -> crop 1000x750); otherwise half that, so the area
    resize after it shrinks by 2x or more. A second step shrinking by less than 2x blurs: resampling by
    a factor just above 1 moves most pixels by a fraction of a pixel, a 2-tap average. Measured on a
    real 4032x2268 photo: 1/4 then area-resize lost 46% of the Laplacian variance that a single area
    resize from full size keeps; 1/4 then crop kept it (+8%). At 4608 wide: 1/4 then resize -40%,
    1/2 then resize -12%.
    """
    target_width, target_height = working_size(width, height)
    for s in (8, 4, 2):
        if width // s >= target_width and height // s >= target_height:
            long_side = -(-max(width, height) // s)  # the JPEG decoder rounds partial blocks up
            return s if long_side <= CROP_SLACK * max(target_width, target_height) else s // 2
    return 1


def preview_factor(width: int, height: int, long_side: int) -> int:
    """The largest power of two s (1, 2, 4 or 8) that leaves the long side at least `long_side` pixels
    (and the short side at least one): how far a preview (the review's thumbnails) may be reduced."""
    for s in (8, 4, 2):
        if max(width, height) // s >= long_side and min(width, height) // s >= 1:
            return s
    return 1


def decode_reduced(
    data: bytes,
    *,
    name: str = "",
    budget: TimeBudget | None = None,
    preview_long_side: int | None = None,
    check_dc_drift: bool = True,
) -> ReducedPhoto:
    """Decode and orient a photo, reduced by reduction_factor: in the DCT domain for a JPEG (libjpeg-turbo's
    scaled decoding, so `decoded_size` is already small), by a box average after a full decode for other
    formats. decode_photo is this plus the final crop or resize; exposed so tests can see the reduced
    decoding. With `preview_long_side`, reduced by preview_factor instead (for previews, never for
    scoring)."""
    if not data:
        raise DecodeError("empty file")
    video = video_kind(data)
    if video is not None:
        raise NotAPhoto(f"video file, not a photo ({video})")
    kind = raw_kind(name, data)
    reduced = (
        _decode_raw(data, kind, budget, preview_long_side)
        if kind
        else _decode_image(data, budget, preview_long_side=preview_long_side, check_dc_drift=check_dc_drift)
    )
    if budget is not None and budget.expired():
        raise OverBudget(budget.reason())
    return reduced


def _decode_raw(
    data: bytes, kind: str, budget: TimeBudget | None, preview_long_side: int | None = None
) -> ReducedPhoto:
    """A RAW file's largest embedded JPEG preview, decoded like any JPEG, when it is at least the
    working scale; the container's orientation applies when the preview has none of its own."""
    facts = raw_facts(data)
    preview = facts.preview
    if preview is None or preview.long_side < WORKING_LONG_SIDE:
        largest = "it has none" if preview is None else f"the largest is {preview.width}x{preview.height}"
        raise DecodeError(
            f"RAW file: no full-size preview ({kind}; {largest}, under the {WORKING_LONG_SIDE} px "
            "working scale; the job scores embedded previews and does not develop RAW data)"
        )
    try:
        exif = Image.Exif()
        exif.load(data)  # the RAW's own TIFF directories: camera, lens, exposure
        capture = capture_facts(exif)
    except Exception:  # a RAW whose header Pillow cannot parse still has its preview
        capture = NO_CAPTURE_FACTS
    reduced = _decode_image(
        preview.jpeg, budget, fallback_orientation=facts.orientation, preview_long_side=preview_long_side
    )
    return ReducedPhoto(
        rgb=reduced.rgb,
        width=reduced.width,
        height=reduced.height,
        format=kind,
        factor=reduced.factor,
        decoded_size=reduced.decoded_size,
        capture=capture if capture != NO_CAPTURE_FACTS else reduced.capture,
    )


class _BudgetedBytes(io.BytesIO):
    """Bytes that refuse to be read once the file's time budget has run out. Pillow's decoders read
    their input in 64 KB blocks, so a file that takes too long stops at the next block."""

    def __init__(self, data: bytes, budget: TimeBudget):
        super().__init__(data)
        self._budget = budget

    def read(self, size: int | None = -1) -> bytes:
        if self._budget.expired():
            raise OverBudget(self._budget.reason())
        return super().read(size)


def _decode_image(
    data: bytes,
    budget: TimeBudget | None,
    fallback_orientation: int = 1,
    preview_long_side: int | None = None,
    check_dc_drift: bool = True,
) -> ReducedPhoto:
    try:
        stream = io.BytesIO(data) if budget is None else _BudgetedBytes(data, budget)
        image = Image.open(stream, formats=PHOTO_FORMATS)
    except Image.DecompressionBombError:  # Pillow refuses at twice its limit, before we see the size
        raise DecodeError(_over_limit_reason(declared_size(data, PHOTO_FORMATS))) from None
    except UnidentifiedImageError:
        named = sniff_format(data)
        if named is None:
            raise DecodeError(_NOT_AN_IMAGE) from None
        raise DecodeError(f"corrupt {named} file (its header cannot be read; it may be truncated)") from None
    except OverBudget:
        raise
    except Exception as error:  # one bad file must never stop the job: every failure becomes a reason
        raise DecodeError(_failure_reason(sniff_format(data) or "image", error)) from None

    with image:
        image_format = "JPEG" if image.format == "MPO" else (image.format or "image")
        try:
            return _decode_opened(
                image, image_format, data, fallback_orientation, preview_long_side, check_dc_drift
            )
        except (DecodeError, OverBudget):
            raise
        except Exception as error:
            raise DecodeError(_failure_reason(image_format, error)) from None


def _decode_opened(
    image: Image.Image,
    image_format: str,
    data: bytes,
    fallback_orientation: int = 1,
    preview_long_side: int | None = None,
    check_dc_drift: bool = True,
) -> ReducedPhoto:
    stored_width, stored_height = image.size
    if stored_width * stored_height > Image.MAX_IMAGE_PIXELS:
        # Between 1x and 2x the limit Pillow only warns; the job treats the limit as the limit.
        raise DecodeError(_over_limit_reason((stored_width, stored_height)))
    if stored_width < 1 or stored_height < 1:
        raise DecodeError(
            f"corrupt {image_format} file (it declares a size of {stored_width}x{stored_height})"
        )
    factor = (
        reduction_factor(stored_width, stored_height)
        if preview_long_side is None
        else preview_factor(stored_width, stored_height, preview_long_side)
    )
    strict_jpeg = isinstance(image, JpegImageFile) and image.mode in ("RGB", "L")  # CMYK: through Pillow
    heif = image_format == "HEIF"
    if heif:  # libheif decodes damaged HEVC data without a word (pipeline.photo.damage)
        broken = heif_structure_reason(data)
        if broken is not None:
            raise DecodeError(broken)
    if not strict_jpeg:
        # Before getexif: a PNG's getexif loads the pixels itself and would swallow a decoding error.
        image.load()  # for a GIF, APNG, WebP or TIFF this is the first frame or page
    exif = exif_block(image)
    orientation = exif_orientation(exif)
    if orientation == 1:
        orientation = fallback_orientation
    if strict_jpeg:  # JPEG and MPO
        progressive = bool(image.info.get("progressive"))
        rgb = _decode_jpeg_strictly(data, stored_width // factor, stored_height // factor, progressive)
        scale = max(1, round(stored_width / rgb.shape[1]))
        mcu_width, mcu_height = _jpeg_mcu_size(image)
        if check_dc_drift and dc_drift_score(rgb, mcu_width // scale, mcu_height // scale) > DC_DRIFT_LIMIT:
            raise DecodeError(DC_DRIFT_REASON)
    else:
        rgb = to_rgb(image)
        if heif:
            _check_heif_pixels(rgb, data)
    decoded_size = (rgb.shape[1], rgb.shape[0])
    left_to_reduce = factor // max(1, round(stored_width / decoded_size[0]))
    if left_to_reduce > 1:
        rgb = box_reduce(rgb, left_to_reduce)
    width, height = (
        (stored_height, stored_width)
        if orientation in QUARTER_TURN_ORIENTATIONS
        else (stored_width, stored_height)
    )
    return ReducedPhoto(
        rgb=np.ascontiguousarray(ORIENT[orientation](rgb)),
        width=width,
        height=height,
        format=image_format,
        factor=factor,
        decoded_size=decoded_size,
        capture=capture_facts(exif),
    )


def _check_heif_pixels(rgb: np.ndarray, data: bytes) -> None:
    """Raise DecodeError when a HEIF's full-size decode (oriented by libheif) has never-decoded blocks
    or disagrees with the file's own thumbnail: damaged HEVC data (pipeline.photo.damage)."""
    if undecoded_blocks(rgb):
        raise DecodeError(HEIF_UNDECODED_REASON)
    thumbnail = heif_thumbnail(data)
    if thumbnail is not None:
        score = thumbnail_disagreement(rgb, thumbnail)
        if score > THUMBNAIL_DISAGREEMENT_LIMIT:
            raise DecodeError(thumbnail_disagreement_reason(score))


def _jpeg_mcu_size(image: JpegImageFile) -> tuple[int, int]:
    """(width, height) in pixels of the JPEG's minimum coded unit: 8 times the largest sampling factors."""
    layers = getattr(image, "layer", None) or [("", 1, 1, 0)]
    return 8 * max(layer[1] for layer in layers), 8 * max(layer[2] for layer in layers)


def _decode_jpeg_strictly(data: bytes, min_width: int, min_height: int, progressive: bool) -> np.ndarray:
    """A JPEG's pixels through libjpeg-turbo in strict mode, at the smallest 1/2^k scale that keeps at
    least min_width x min_height (the DCT-domain reduction Pillow's draft does, the same pixels).

    Why not Pillow: libjpeg only warns about damaged compressed data and Pillow hides the warnings,
    so a JPEG cut short (grey fill) or with flipped bits (garbled blocks) decoded as a photo. Strict
    mode makes every such warning an error (pipeline.photo.damage). It is also 10% faster here: no
    RGBX-to-RGB copy."""
    if progressive:
        too_many = too_many_scans_reason(data)
        if too_many is not None:
            raise DecodeError(too_many)
    try:
        return simplejpeg.decode_jpeg(
            data, "rgb", min_width=max(1, min_width), min_height=max(1, min_height), strict=True
        )
    except ValueError as error:
        raise DecodeError(jpeg_failure_reason(str(error))) from None


def _failure_reason(image_format: str, error: BaseException) -> str:
    message = str(error) or type(error).__name__
    lowered = message.lower()
    if isinstance(error, EOFError) or "truncated" in lowered:
        return f"truncated {image_format} file (the data ends early)"
    if isinstance(error, MemoryError):
        return f"cannot decode {image_format} file (out of memory)"
    if isinstance(error, OSError):
        return f"corrupt {image_format} file ({message})"
    return f"cannot decode {image_format} file ({type(error).__name__}: {message})"


def _over_limit_reason(size: tuple[int, int] | None) -> str:
    limit = f"the limit is {Image.MAX_IMAGE_PIXELS:,} pixels"
    if size is None:
        return f"over the pixel limit ({limit}; possible decompression bomb)"
    width, height = size
    return f"over the pixel limit ({width}x{height} = {width * height:,} pixels; {limit})"
