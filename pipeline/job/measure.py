"""Measure step: a decoded photo's sharpness score and the views the model looks at. Pure: no Beam.

The Laplacian variance and the views come from model.inputs, the module training uses too, so
the job and the training see the same pixels. Brightness and contrast come from the whole-frame view
(200x200, area-averaged: the same mean as the photo, 0.05 ms), and flag frames with nothing to judge.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from model.inputs import sharpness_and_views, to_gray
from pipeline.photo.decode import DecodedPhoto
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


class MeasuredPhoto(NamedTuple):
    """A decoded photo reduced to what the rest of the job needs; the working-scale pixels are dropped."""

    width: int
    height: int
    format: str
    laplacian_var: float
    views: np.ndarray  # (VIEWS_PER_PHOTO, 200, 200, 3) uint8
    exposure: Exposure | None = None
    capture: CaptureFacts = NO_CAPTURE_FACTS


class PhotoFacts(NamedTuple):
    """Per-photo facts carried as RunInference's key, so the model's output meets them without a join."""

    file: MatchedFile
    width: int
    height: int
    format: str
    laplacian_var: float
    exposure: Exposure | None = None
    capture: CaptureFacts = NO_CAPTURE_FACTS

    @property
    def uri(self) -> str:
        return self.file.uri


def measure_photo(photo: DecodedPhoto) -> MeasuredPhoto:
    """Laplacian variance (at the working scale), model views and exposure of a decoded photo."""
    sharpness, views = sharpness_and_views(photo.rgb)
    return MeasuredPhoto(
        photo.width,
        photo.height,
        photo.format,
        laplacian_var=sharpness,
        views=views,
        exposure=exposure(views[0]),
        capture=photo.capture,
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
    )
    return facts, measured.views
