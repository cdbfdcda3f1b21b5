"""Capture facts from a photo's EXIF block, for the analytics columns. Pure: no Beam, no pixels.

Every value is optional: phones, cameras, editors and messengers keep, drop or garble different tags,
and a broken EXIF block never costs the photo its row (every parse failure gives None for that value).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import NamedTuple

from PIL import Image
from PIL.ExifTags import Base as Tag

_MAX_TEXT = 64  # a make or model longer than this is garbage, not a camera's name


class CaptureFacts(NamedTuple):
    """What the camera recorded about the shot; None where the file does not say (or says nonsense)."""

    captured_at: datetime | None = None  # the camera's own clock, local time, no time zone
    camera_make: str | None = None
    camera_model: str | None = None
    exposure_time_s: float | None = None
    iso: int | None = None
    focal_length_mm: float | None = None
    # Which camera body took it, for telling two bodies of one model apart (bursts): 16 hex digits of
    # the SHA-256 of EXIF BodySerialNumber, so that the results do not carry the serial itself.
    camera_body: str | None = None


NO_CAPTURE_FACTS = CaptureFacts()


def capture_facts(exif: Image.Exif | None) -> CaptureFacts:
    """CaptureFacts from a Pillow Exif object (Image.getexif()); all None when there is no EXIF."""
    if not exif:
        return NO_CAPTURE_FACTS
    try:
        details = exif.get_ifd(Tag.ExifOffset)
    except Exception:  # a broken EXIF sub-directory: keep what the main one says
        details = {}
    return CaptureFacts(
        captured_at=_timestamp(
            details.get(Tag.DateTimeOriginal) or details.get(Tag.DateTimeDigitized) or exif.get(Tag.DateTime),
            details.get(Tag.SubsecTimeOriginal),
        ),
        camera_make=_text(exif.get(Tag.Make)),
        camera_model=_text(exif.get(Tag.Model)),
        exposure_time_s=_positive(details.get(Tag.ExposureTime), upper=3600.0),
        iso=_iso(details.get(Tag.ISOSpeedRatings)),
        focal_length_mm=_positive(details.get(Tag.FocalLength), upper=10_000.0),
        camera_body=_body(details.get(Tag.BodySerialNumber)),
    )


def _body(serial: object) -> str | None:
    text = _text(serial)
    if text is None or not text.strip("0"):  # some cameras write zeros where they have no serial
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", " ").strip()
    return cleaned if cleaned and len(cleaned) <= _MAX_TEXT and cleaned.isprintable() else None


def _timestamp(value: object, subseconds: object = None) -> datetime | None:
    """EXIF's "YYYY:MM:DD HH:MM:SS" (sometimes with dashes, or blank "    :  :  "); None if not a time."""
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.strptime(text[:19].replace("-", ":"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    digits = _text(subseconds)
    if digits and digits.isdigit():
        moment = moment.replace(microsecond=int((digits + "000000")[:6]))
    return moment if moment.year >= 1900 else None


def _positive(value: object, *, upper: float) -> float | None:
    try:
        number = float(value)  # Pillow's IFDRational, int or float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and 0 < number <= upper else None


def _iso(value: object) -> int | None:
    if isinstance(value, tuple | list):
        value = value[0] if value else None
    number = _positive(value, upper=10_000_000.0)
    return int(round(number)) if number is not None else None
