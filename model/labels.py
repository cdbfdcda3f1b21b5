"""The model's vocabulary: blur types in output order, and which mean 'keep' (pipeline.verdict decides)."""

from __future__ import annotations

BLUR_TYPES = ("none", "gaussian", "motion", "minfilter", "defocus", "bokeh")
"""Blur-type classes in model output order; `none` and `bokeh` (sharp subject, soft background) are kept."""

KEEP_TYPES = frozenset({"none", "bokeh"})
BLURRY_TYPES = tuple(t for t in BLUR_TYPES if t not in KEEP_TYPES)
