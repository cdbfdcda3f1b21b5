"""Training data: camera-like shake and low light (training.degrade, training.dataset) and the real
motion split (training.motion_sources), on real files of ../shared/data where they are needed."""

from __future__ import annotations

import numpy as np
import pytest

from training import dataset, degrade, motion_sources


def test_a_lamp_blurred_in_linear_light_becomes_a_saturated_streak() -> None:
    """Blurred in linear light and clipped afterwards, a light 40x brighter than white stays white
    along its whole path; blurred in display values it would fade to a dim grey line."""
    linear = np.zeros((41, 41, 3), np.float32)
    linear[20, 20] = 40.0
    streak = degrade.to_display(degrade.convolve_linear(linear, degrade.line_kernel(21, 0.0)))
    assert (streak[20, :, 0] == 255).sum() >= 15
    display_blur = degrade.convolve_linear(np.clip(linear, 0, 1) * 255, degrade.line_kernel(21, 0.0))
    assert display_blur[20, :, 0].max() < 30


@pytest.mark.parametrize("length", [13.0, 40.0, 90.0])
def test_measured_kernels_are_rescaled_to_the_asked_length_and_sum_to_one(length: float) -> None:
    kernels = dataset.measured_kernels()
    assert len(kernels) == 10  # ../shared/data/kernels
    for index, kernel in enumerate(kernels):
        turned = degrade.measured_kernel(kernel, length, angle_deg=30.0 * index, mirror=index % 2 == 1)
        ys, xs = np.nonzero(turned > turned.max() * 0.05)
        extent = max(np.ptp(ys), np.ptp(xs)) + 1
        assert turned.sum() == pytest.approx(1.0, abs=1e-4)
        assert 0.5 * length <= extent <= 1.45 * length + 2  # turned: its bounding box grows


def test_specs_say_mild_and_the_motion_path_explicitly() -> None:
    rng = np.random.default_rng(3)
    specs = [dataset.sample_spec(rng, "motion", mask_count=10) for _ in range(400)]
    assert all(s.mild == (s.variant == "mild") for s in specs)
    assert {s.path for s in specs} == set(dataset.MOTION_PATHS)
    assert all(s.kernel_index >= 0 for s in specs if s.path == "kernel")
    assert any(s.night for s in specs) and any(s.rotation > 0 for s in specs)
    over = [s for s in specs if s.over_bokeh]
    assert over and all(s.mask_index >= 0 and not s.mild and s.blurry for s in over)
    nights = [dataset.sample_spec(rng, "none") for _ in range(200)]
    assert any(s.variant == "night" and s.night and not s.blurry for s in nights)


def test_sharp_night_scenes_keep_their_lamps_small_and_shaken_ones_streak_them() -> None:
    rng = np.random.default_rng(0)
    photo = (rng.uniform(60, 200, (400, 600, 3))).astype(np.uint8)
    sharp = dataset.BlurSpec("none", variant="night", night=True, seed=7)
    shaken = dataset.BlurSpec("motion", variant="line", amount=40.0, path="line", night=True, seed=7)
    bright_sharp = (dataset.apply_spec(photo, sharp).max(axis=2) == 255).sum()
    bright_shaken = (dataset.apply_spec(photo, shaken).max(axis=2) == 255).sum()
    assert bright_sharp > 0 and bright_shaken > 2 * bright_sharp


def test_real_motion_is_split_by_recording() -> None:
    photos = motion_sources.list_motion_photos()
    assert len(photos) == 64
    sides: dict[str, set[bool]] = {}
    for photo in photos:
        sides.setdefault(photo.scene, set()).add(photo.held_out)
    assert all(len(side) == 1 for side in sides.values())  # no recording on both sides
    istanbul = {p.pair for p in photos if p.scene == "gopr0384"}
    assert set(motion_sources.GOPR0384_COPIES) <= istanbul
    assert not any(p.held_out for p in photos if p.scene == "gopr0477")  # the raw frames' recording
    held_out = [p for p in photos if p.held_out and p.blurry]
    assert len(held_out) == 20 and any(p.name == "srn_4c6_blur" for p in held_out)


def test_averaged_gopro_frames_are_blurred_compared_with_their_middle_frame() -> None:
    paths = motion_sources.frame_paths()
    assert len(paths) == 299
    for seed in range(3):
        blurred, sharp, ratio = motion_sources.averaged_motion(paths, np.random.default_rng(seed))
        measured = motion_sources.gradient_energy(blurred) / motion_sources.gradient_energy(sharp)
        assert measured == pytest.approx(ratio)
        # clearly blurred or clearly still: the band between would be a coin-flip label
        assert ratio <= motion_sources.MAX_AVERAGE_DETAIL or ratio >= motion_sources.MIN_STILL_DETAIL


def test_batches_weight_photos_to_keep_in_the_blurry_loss_only() -> None:
    from training.train import _Batches

    blurry = np.array([1, 0, 1, 0, 0], np.float32)
    arrays = {
        "views": np.zeros((5, 5, 8, 8, 3), np.uint8),
        "blurry": blurry,
        "blur_type": np.array([2, 0, 1, 5, 0], np.int32),
        "blur_type_weight": np.array([1, 1, 1, 1, 0], np.float32),
    }
    _, labels, weights = _Batches(arrays, np.arange(5), seed=None, keep_weights=(2.5, 4.0))[0]
    assert weights["blurry"].tolist() == [1.0, 2.5, 1.0, 4.0, 2.5]
    assert weights["blur_type"].tolist() == [1, 1, 1, 1, 0]
    assert labels["blurry"].tolist() == blurry.tolist()
