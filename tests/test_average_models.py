"""training/average_models.py: averaged models load like the shipped one and average its outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model import MODEL_DIR
from model.contract import BlurModel, load_blur_model
from training.average_models import average_models


@pytest.fixture(scope="module")
def shipped() -> BlurModel:
    return load_blur_model(str(MODEL_DIR))


def test_a_model_averaged_with_itself_predicts_what_it_does(tmp_path, shipped, photo_views) -> None:
    views = np.stack(photo_views)
    average_models([str(MODEL_DIR), str(MODEL_DIR)], str(tmp_path / "twice"))
    twice = load_blur_model(str(tmp_path / "twice"))
    for ours, theirs in zip(shipped.predict(views), twice.predict(views), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    version = json.loads((tmp_path / "twice" / "metadata.json").read_text())["version"]
    assert version == f"mean({shipped.version},{shipped.version})"


def test_transposed_average_is_the_mean_over_both_orientations(tmp_path, shipped, photo_views) -> None:
    views = np.stack(photo_views)
    average_models([str(MODEL_DIR)], str(tmp_path / "mirrored"), transposed=True)
    mirrored = load_blur_model(str(tmp_path / "mirrored"))
    turned = np.ascontiguousarray(views.swapaxes(2, 3))
    for plain, swapped, both in zip(
        shipped.predict(views), shipped.predict(turned), mirrored.predict(views), strict=True
    ):
        np.testing.assert_allclose((plain + swapped) / 2, both, atol=1e-5)
    version = json.loads((tmp_path / "mirrored" / "metadata.json").read_text())["version"]
    assert version == f"mean({shipped.version}, transposed)"
