"""Measure step: a decoded photo's sharpness score and the views the model looks at. Pure: no Beam.

The Laplacian variance and the views come from model.inputs, the module training uses too, so
the job and the training see the same pixels. Brightness and contrast come from the whole-frame view
(200x200, area-averaged: the same mean as the photo, 0.05 ms), and flag frames with nothing to judge.
The content hash (pipeline.job.similarity, for bursts) comes from that view too; the detail box is
where the most detailed crop the model judges lies in the full-size photo (for the review's 1:1 crop).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from model.inputs import (
    CROP_SLACK,
    VIEW_SIZE,
    crop_origins,
    gray_laplacian,
    laplacian_var,
    model_views,
    to_gray,
)
from pipeline.job.similarity import color_histogram, content_hash
from pipeline.photo.decode import DecodedPhoto, reduction_factor
from pipeline.photo.exif import NO_CAPTURE_FACTS, CaptureFacts
from pipeline.storage.files import MatchedFile

LOW_INFORMATION_CONTRAST = 4.0
"""A frame whose luma standard deviation (0-255, over the 200x200 whole-frame view) is below this is
low-information: all black, all white (a fully transparent image is laid on white), one flat colour, a
lens-cap shot. Over 500 real photos in ../shared/data (fog, plain sky, the moon on black, dusk, a white
minimal shot) the lowest was 8.2."""


class Exposure(NamedTuple):
    """How bright the frame is and how much it varies, in luma levels (0-255)."""

    brightness: float  # mean luma
    contrast: float  # standard deviation of luma

    @property
    def low_information(self) -> bool:
        return self.contrast < LOW_INFORMATION_CONTRAST


def exposure(whole_frame: np.ndarray) -> Exposure:
    """Brightness and contrast of an RGB image (the whole-frame view: small, so this is cheap)."""
    mean, deviation = cv2.meanStdDev(to_gray(whole_frame))
    return Exposure(float(mean[0, 0]), float(deviation[0, 0]))


class DetailBox(NamedTuple):
    """A square in full-size pixels after orientation: top-left corner and side."""

    x: int
    y: int
    size: int


def detail_box(
    origin: tuple[int, int] | None, working: tuple[int, int], width: int, height: int
) -> DetailBox:
    """The full-size box of a VIEW_SIZE crop at `origin` (y, x) of the working-scale image of size
    `working` (width, height), for a photo of width x height; None origin: a photo too small for a
    full crop, whose box is its centred square.

    The working image is the photo reduced by a power of two and then centre-cropped by at most
    CROP_SLACK or area-resized (pipeline.photo.decode.reduction_factor): one uniform scale about the
    centre maps it back, exact to a few full-size pixels."""
    working_width, working_height = working
    if origin is None:
        side = min(width, height)
        return DetailBox((width - side) // 2, (height - side) // 2, side)
    factor = reduction_factor(width, height)
    reduced_long = max(width, height) / factor
    if factor > 1 and reduced_long <= CROP_SLACK * max(working_width, working_height):
        scale = float(factor)  # a centre crop of the reduced photo
    else:
        scale = max(width, height) / max(working_width, working_height)
    side = min(width, height, max(1, round(VIEW_SIZE * scale)))
    y, x = origin
    left = round((width - working_width * scale) / 2 + x * scale)
    top = round((height - working_height * scale) / 2 + y * scale)
    return DetailBox(min(max(0, left), width - side), min(max(0, top), height - side), side)


def view_origin(rgb: np.ndarray, view: np.ndarray, laplacian: np.ndarray | None = None) -> tuple[int, int]:
    """Top-left corner (y, x) of the crop `view` of a working-scale photo at least VIEW_SIZE on each side.

    A crop is an exact copy of the photo's pixels at one of the window positions crop_origins scores
    (every VIEW_SIZE // 4 pixels, and flush with the far edges), so it is found by comparing a few
    pixels at each position and the whole crop at the survivors: about 0.05 ms, where calling
    crop_origins again costs 1.5 ms. Where that finds nothing (crop_origins changed its grid), it is
    called again (`laplacian`, if given, is the photo's gray_laplacian)."""
    height, width = rgb.shape[:2]
    stride = VIEW_SIZE // 4
    ys = np.unique(np.r_[np.arange(0, height - VIEW_SIZE + 1, stride), height - VIEW_SIZE])
    xs = np.unique(np.r_[np.arange(0, width - VIEW_SIZE + 1, stride), width - VIEW_SIZE])
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    candidates = np.ones(yy.shape, dtype=bool)
    for dy, dx in (
        (0, 0),
        (VIEW_SIZE // 2, VIEW_SIZE // 2),
        (VIEW_SIZE - 1, VIEW_SIZE - 1),
        (0, VIEW_SIZE - 1),
    ):
        candidates &= np.all(rgb[yy + dy, xx + dx] == view[dy, dx], axis=-1)
    for y, x in zip(yy[candidates], xx[candidates], strict=True):
        if np.array_equal(rgb[y : y + VIEW_SIZE, x : x + VIEW_SIZE], view):
            return int(y), int(x)
    return crop_origins(rgb, laplacian)[0]


class MeasuredPhoto(NamedTuple):
    """A decoded photo reduced to what the rest of the job needs; the working-scale pixels are dropped."""

    width: int
    height: int
    format: str
    laplacian_var: float
    views: np.ndarray  # (VIEWS_PER_PHOTO, 200, 200, 3) uint8
    exposure: Exposure | None = None
    capture: CaptureFacts = NO_CAPTURE_FACTS
    content_hash: int | None = None
    detail: DetailBox | None = None
    colors: bytes | None = None


class PhotoFacts(NamedTuple):
    """Per-photo facts carried as RunInference's key, so the model's output meets them without a join."""

    file: MatchedFile
    width: int
    height: int
    format: str
    laplacian_var: float
    exposure: Exposure | None = None
    capture: CaptureFacts = NO_CAPTURE_FACTS
    content_hash: int | None = None
    detail: DetailBox | None = None
    colors: bytes | None = None

    @property
    def uri(self) -> str:
        return self.file.uri


def measure_photo(photo: DecodedPhoto) -> MeasuredPhoto:
    """Laplacian variance (at the working scale), model views, exposure, content hash, detail box and
    colour histogram of a decoded photo."""
    rgb = photo.rgb
    laplacian = gray_laplacian(rgb)  # once for the score, the views and the detail box
    sharpness, views = laplacian_var(rgb, laplacian), model_views(rgb, laplacian)
    height, width = rgb.shape[:2]
    # View 1 is the crop with the most detail; a photo smaller than a view in either side is judged on
    # a padded copy, whose crop is the whole photo.
    origin = view_origin(rgb, views[1], laplacian) if min(height, width) >= VIEW_SIZE else None
    return MeasuredPhoto(
        photo.width,
        photo.height,
        photo.format,
        laplacian_var=sharpness,
        views=views,
        exposure=exposure(views[0]),
        capture=photo.capture,
        content_hash=content_hash(views[0]),
        detail=detail_box(origin, (width, height), photo.width, photo.height),
        colors=color_histogram(views[0]),
    )


def inference_example(file: MatchedFile, measured: MeasuredPhoto) -> tuple[PhotoFacts, np.ndarray]:
    """The keyed example RunInference takes: (facts, views)."""
    facts = PhotoFacts(
        file,
        measured.width,
        measured.height,
        measured.format,
        measured.laplacian_var,
        measured.exposure,
        measured.capture,
        measured.content_hash,
        measured.detail,
        measured.colors,
    )
    return facts, measured.views
