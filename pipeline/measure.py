"""Measure step: a decoded photo's sharpness score and the views the model looks at. Pure: no Beam.

The Laplacian variance and the views come from pipeline.preprocess, the module training uses too, so
the job and the training see the same pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pipeline.decode import DecodedPhoto
from pipeline.files import MatchedFile
from pipeline.preprocess import sharpness_and_views


class MeasuredPhoto(NamedTuple):
    """A decoded photo reduced to what the rest of the job needs; the working-scale pixels are dropped."""

    width: int
    height: int
    format: str
    laplacian_var: float
    views: np.ndarray  # (VIEWS_PER_PHOTO, 200, 200, 3) uint8


class PhotoFacts(NamedTuple):
    """Per-photo facts carried as RunInference's key, so the model's output meets them without a join."""

    file: MatchedFile
    width: int
    height: int
    format: str
    laplacian_var: float

    @property
    def uri(self) -> str:
        return self.file.uri


def measure_photo(photo: DecodedPhoto) -> MeasuredPhoto:
    """Laplacian variance (at the working scale) and model views of a decoded photo."""
    sharpness, views = sharpness_and_views(photo.rgb)
    return MeasuredPhoto(photo.width, photo.height, photo.format, laplacian_var=sharpness, views=views)


def inference_example(file: MatchedFile, measured: MeasuredPhoto) -> tuple[PhotoFacts, np.ndarray]:
    """The keyed example RunInference takes: (facts, views)."""
    facts = PhotoFacts(file, measured.width, measured.height, measured.format, measured.laplacian_var)
    return facts, measured.views
