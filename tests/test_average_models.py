"""training/average_models.py: averaged models load like the shipped one and average its outputs."""

from __future__ import annotations

import json

import numpy as np

from model import MODEL_DIR
from pipeline.decode import DecodedPhoto
from pipeline.inference import load_blur_model
from pipeline.measure import measure_photo
from training.average_models import average_models


def _views(sharp_photos) -> np.ndarray:
    photos = [sharp_photos[name] for name in ("astronaut", "coffee")]
    return np.stack(
        [measure_photo(DecodedPhoto(rgb, rgb.shape[1], rgb.shape[0], "PNG")).views for rgb in photos]
    )


def test_a_model_averaged_with_itself_predicts_what_it_does(tmp_path, sharp_photos) -> None:
    views = _views(sharp_photos)
    average_models([str(MODEL_DIR), str(MODEL_DIR)], str(tmp_path / "twice"))
    shipped, twice = load_blur_model(str(MODEL_DIR)), load_blur_model(str(tmp_path / "twice"))
    for ours, theirs in zip(shipped.predict(views), twice.predict(views), strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
    version = json.loads((tmp_path / "twice" / "metadata.json").read_text())["version"]
    assert version == f"mean({shipped.version},{shipped.version})"


def test_transposed_average_is_the_mean_over_both_orientations(tmp_path, sharp_photos) -> None:
    views = _views(sharp_photos)
    average_models([str(MODEL_DIR)], str(tmp_path / "mirrored"), transposed=True)
    shipped, mirrored = load_blur_model(str(MODEL_DIR)), load_blur_model(str(tmp_path / "mirrored"))
    turned = np.ascontiguousarray(views.swapaxes(2, 3))
    for plain, swapped, both in zip(
        shipped.predict(views), shipped.predict(turned), mirrored.predict(views), strict=True
    ):
        np.testing.assert_allclose((plain.numpy() + swapped.numpy()) / 2, both.numpy(), atol=1e-5)
