"""The model's vocabulary: blur types, which of them mean 'keep', and how a verdict reads the outputs."""

from __future__ import annotations

import numpy as np

BLUR_TYPES = ("none", "gaussian", "motion", "minfilter", "defocus", "bokeh")
"""Blur-type classes in model output order; `none` and `bokeh` (sharp subject, soft background) are kept."""

KEEP_TYPES = frozenset({"none", "bokeh"})
BLURRY_TYPES = tuple(t for t in BLUR_TYPES if t not in KEEP_TYPES)


def blur_type_for_verdict(type_probabilities: np.ndarray, blurry: bool) -> str:
    """The most probable blur type consistent with the verdict: a blurry photo gets a blur kind,
    a kept photo gets `none` or `bokeh`, so the two columns never contradict each other."""
    allowed = BLURRY_TYPES if blurry else tuple(t for t in BLUR_TYPES if t in KEEP_TYPES)
    return max(allowed, key=lambda t: type_probabilities[BLUR_TYPES.index(t)])
