"""The model's own layer (model.layers.LogPowerSpectrum), the training-time flips, and a freshly built
network saved and loaded back the way the job loads the shipped one."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from model.inputs import VIEW_SIZE, VIEWS_PER_PHOTO
from training import degrade
from training.train import flip_and_turn

pytest.importorskip("tensorflow")


def _textured(seed: int = 0) -> np.ndarray:
    """A 200x200 RGB image with detail at every scale and direction (smoothed noise at several sizes)."""
    rng = np.random.default_rng(seed)
    layers = [
        cv2.resize(rng.normal(0, 1, (size, size)).astype(np.float32), (VIEW_SIZE, VIEW_SIZE))
        for size in (12, 50, 200)
    ]
    gray = np.clip(128 + 25 * sum(layers), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _spectrum(rgb: np.ndarray) -> np.ndarray:
    from model.layers import LogPowerSpectrum

    return LogPowerSpectrum(pool=4)(rgb[None].astype(np.float32) / 255.0).numpy()[0, :, :, 0]


def test_spectrum_shape_and_brightness_contrast_invariance():
    sharp = _textured()
    spectrum = _spectrum(sharp)
    assert spectrum.shape == (VIEW_SIZE // 4, VIEW_SIZE // 2 // 4)
    assert abs(spectrum.mean()) < 1e-4
    dimmer = (sharp.astype(np.float32) * 0.5 + 40).astype(np.uint8)  # half the contrast, shifted
    assert np.abs(_spectrum(dimmer) - spectrum).max() < 0.3


def test_blur_removes_high_frequencies_and_motion_removes_one_direction():
    sharp = _textured()
    spectrum = _spectrum(sharp)
    blurred = _spectrum(degrade.gaussian_blur(sharp, 3.0))
    centre = spectrum.shape[0] // 2
    # Power at the highest horizontal frequencies (right columns, middle rows) relative to the lowest:
    # far smaller after blur.
    rows = slice(centre - 2, centre + 3)
    falloff = spectrum[rows, -4:].mean() - spectrum[rows, 1:3].mean()
    assert blurred[rows, -4:].mean() - blurred[rows, 1:3].mean() < falloff - 3.0

    horizontal_motion = _spectrum(degrade.motion_blur(sharp, 15, 0.0))
    along = horizontal_motion[centre - 1 : centre + 2, 8:].mean()  # horizontal frequencies
    across = horizontal_motion[:8, :3].mean()  # vertical frequencies
    assert along < across - 2.0


def test_flip_and_turn_moves_all_views_of_a_photo_together():
    rng = np.random.default_rng(3)
    views = rng.integers(0, 255, (16, VIEWS_PER_PHOTO, 8, 8, 3), dtype=np.uint8)
    turned = flip_and_turn(views, np.random.default_rng(1))
    changed = 0
    for before, after in zip(views, turned, strict=True):
        candidates = [before, before[:, :, ::-1], before[:, ::-1], before[:, ::-1, ::-1]]
        candidates += [c.swapaxes(1, 2) for c in candidates]
        assert any(np.array_equal(after, c) for c in candidates)
        changed += not np.array_equal(after, before)
    assert changed > 8  # 7 of 8 transforms change a random photo


def test_a_built_network_saves_and_loads_the_way_the_job_loads_it(tmp_path):
    from model import METADATA_FILE, MODEL_FILE
    from model.contract import load_blur_model
    from training.network import build_blur_model

    model = build_blur_model(width=4)
    model.save(tmp_path / MODEL_FILE)
    shutil.copy("model/metadata.json", tmp_path / METADATA_FILE)
    views = np.stack([np.stack([_textured(seed)] * VIEWS_PER_PHOTO) for seed in range(3)])
    loaded = load_blur_model(str(tmp_path))
    blurry, types = loaded.predict(views)
    expected = model(views, training=False)
    np.testing.assert_allclose(blurry, expected["blurry"].numpy()[:, 0], atol=1e-5)
    np.testing.assert_allclose(types.sum(axis=1), 1.0, atol=1e-5)
    assert json.loads((tmp_path / METADATA_FILE).read_text())["version"] == loaded.version
