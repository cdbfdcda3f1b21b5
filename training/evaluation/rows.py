"""One evaluated photo (`Row`): its labels, how it was made, and, after prediction, the verdicts.

The verdicts go through pipeline.verdict, the job's own rule, so the evaluation and the job's rows
cannot disagree on what "blurry" means (tests/test_model_contract.py checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from model.inputs import WORKING_LONG_SIDE
from pipeline.verdict import (
    DEFAULT_BLUR_THRESHOLD,
    DEFAULT_LAPLACIAN_THRESHOLD,
    blur_type_for_verdict,
    is_blurry,
    is_laplacian_blurry,
)


@dataclass
class Row:
    """One evaluated photo: its labels, how it was made, and (after inference) the verdicts."""

    set: str  # "synthetic" or "real"
    source: str  # scene name
    kind: str  # e.g. "gaussian/mild", "none/haze", "real/blurry"
    blur_type: str  # true type, or "blurry" for real blurry photos (type unknown)
    blurry: bool  # true label
    size: str  # "300", "400", "700", "1000", "12MP", "original"
    long_side: int  # long side of the JPEG the decoder saw
    source_long_side: int  # long side of the (cropped) source before resizing
    pair: int = -1  # a degraded crop that also has a 12-MP copy: all its sizes share this id
    low_detail: bool = False
    hazy: bool = False  # haze or low contrast laid over the photo (keep variants and 10% of blurry ones)
    laplacian_var: float = 0.0
    probability: float = math.nan
    type_probabilities: list[float] = field(default_factory=list)
    file: str = ""

    @property
    def working_upscale(self) -> float:
        """How much the source was enlarged, as the network sees it (at the working scale)."""
        return min(self.long_side, WORKING_LONG_SIDE) / max(self.source_long_side, 1)

    @property
    def verdict(self) -> bool:
        return is_blurry(self.probability, DEFAULT_BLUR_THRESHOLD)

    @property
    def laplacian_blurry(self) -> bool:
        return is_laplacian_blurry(self.laplacian_var, DEFAULT_LAPLACIAN_THRESHOLD)

    @property
    def predicted_type(self) -> str:
        return blur_type_for_verdict(np.asarray(self.type_probabilities), self.verdict)

    @property
    def cnn_ok(self) -> bool:
        """The model's verdict is right."""
        return self.verdict == self.blurry

    @property
    def laplacian_ok(self) -> bool:
        """The Laplacian baseline's verdict is right."""
        return self.laplacian_blurry == self.blurry

    @property
    def type_ok(self) -> bool:
        """The blur type read off the outputs (as the job reads it) is the true one."""
        return self.predicted_type == self.blur_type
