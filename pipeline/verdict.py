"""The one verdict rule: from the model's outputs and the Laplacian score to what a row says. Pure: no Beam.

The job's rows, the held-out evaluation, the review gallery and cull all decide "blurry" here, so a
threshold or a tie rule cannot differ between what was measured and what users get.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from model.labels import BLUR_TYPES, BLURRY_TYPES, KEEP_TYPES

DEFAULT_BLUR_THRESHOLD = 0.5
"""`blurry` is `blur_probability` at or above this (the job's --blur_threshold default)."""

DEFAULT_LAPLACIAN_THRESHOLD = 100.0
"""`laplacian_blurry` is `laplacian_var` below this, at the 1000 px working scale (--laplacian_threshold)."""


class Verdict(NamedTuple):
    """None in all three for a low-information frame: there is nothing to judge sharp or blurry."""

    blurry: bool | None  # the job's verdict, from the model
    laplacian_blurry: bool | None  # the classic variance-of-Laplacian rule, kept beside it for comparison
    blur_type: str | None  # most probable type consistent with `blurry`: a kept photo is `none` or `bokeh`


NO_VERDICT = Verdict(None, None, None)


def is_blurry(blur_probability: float, blur_threshold: float = DEFAULT_BLUR_THRESHOLD) -> bool:
    return bool(blur_probability >= blur_threshold)


def is_laplacian_blurry(
    laplacian_var: float, laplacian_threshold: float = DEFAULT_LAPLACIAN_THRESHOLD
) -> bool:
    return bool(laplacian_var < laplacian_threshold)


def blur_type_for_verdict(type_probabilities: Sequence[float] | np.ndarray, blurry: bool) -> str:
    """The most probable blur type consistent with the verdict: a blurry photo gets a blur kind,
    a kept photo gets `none` or `bokeh`, so the two columns never contradict each other."""
    allowed = BLURRY_TYPES if blurry else tuple(t for t in BLUR_TYPES if t in KEEP_TYPES)
    return max(allowed, key=lambda t: type_probabilities[BLUR_TYPES.index(t)])


def verdict(
    blur_probability: float,
    type_probabilities: Sequence[float] | np.ndarray,
    laplacian_var: float,
    *,
    blur_threshold: float = DEFAULT_BLUR_THRESHOLD,
    laplacian_threshold: float = DEFAULT_LAPLACIAN_THRESHOLD,
    low_information: bool = False,
) -> Verdict:
    """What a row says about one photo.

    A low-information frame (all black, fully transparent, one flat colour: pipeline.job.measure) gets no
    verdict: a blank frame has no edges, so both the model and the Laplacian would call it blurry (the
    model said "motion"), which is neither true nor useful. Its row says `low_information` instead,
    with `blurry`, `laplacian_blurry` and `blur_type` null, so it is neither culled as blurry nor
    kept as sharp without a look."""
    if low_information:
        return NO_VERDICT
    blurry = is_blurry(blur_probability, blur_threshold)
    return Verdict(
        blurry=blurry,
        laplacian_blurry=is_laplacian_blurry(laplacian_var, laplacian_threshold),
        blur_type=blur_type_for_verdict(type_probabilities, blurry),
    )
