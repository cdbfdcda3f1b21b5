"""Decode photo bytes to an RGB array at the working scale. Pure: no Beam, no file system.

The format is judged by content (Pillow's sniffing, plus pillow-heif for HEIC/HEIF), never by the
file name. JPEGs are decoded in the DCT domain at a reduced size (`Image.draft`), so a 12 MP photo
is not fully decoded. EXIF orientation is applied. Any failure raises DecodeError with a reason a
person understands.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.preprocess import to_working_scale, working_size

pillow_heif.register_heif_opener()

# EXIF orientations 5-8 turn the picture a quarter turn: width and height swap.
_QUARTER_TURN_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION_TAG = 0x0112


class DecodeError(ValueError):
    """A file that is not a usable photo; str(error) is the reason shown in the output row."""


@dataclass(frozen=True)
class DecodedPhoto:
    """A photo at the working scale, with its full size (after EXIF orientation) and format."""

    rgb: np.ndarray  # (h, w, 3) uint8 at the working scale
    width: int
    height: int
    format: str


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block is not worth losing the photo over
        orientation = 1
    return (height, width) if orientation in _QUARTER_TURN_ORIENTATIONS else (width, height)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to RGB uint8. Transparent pixels are laid on white, as photo viewers show them."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(values.max()), 1.0)
        if mode == "I" and values.max() <= 255:
            top = 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def decode_photo(data: bytes) -> DecodedPhoto:
    """Decode image bytes (JPEG, PNG, WebP, HEIC, TIFF, BMP, GIF, ...) to RGB at the working scale.

    Raises DecodeError on empty files, non-images, truncated or corrupt data, and images over
    Pillow's decompression-bomb pixel limit (Image.MAX_IMAGE_PIXELS).
    """
    if not data:
        raise DecodeError("empty file")
    image_format = "image"
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; treat both as over the limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image_format = image.format or "unknown"
            width, height = _oriented_size(image)
            if image_format == "JPEG":
                # DCT-domain reduction: decode at the smallest 1/2^k scale still at least the working size.
                image.draft("RGB", working_size(*image.size))
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError("not an image (format not recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DecodeError(f"over the pixel limit of {Image.MAX_IMAGE_PIXELS} pixels ({error})") from None
    except OSError as error:
        message = str(error)
        if "truncated" in message or "broken data stream" in message:
            raise DecodeError(f"truncated {image_format} file ({message})") from None
        raise DecodeError(f"corrupt {image_format} file ({message})") from None
    except (ValueError, SyntaxError, TypeError, IndexError, MemoryError, RuntimeError) as error:
        raise DecodeError(f"cannot decode {image_format} file ({error})") from None
    return DecodedPhoto(rgb=to_working_scale(rgb), width=width, height=height, format=image_format)
