"""The camera chain every training example goes through (training.degrade.camera_chain,
training.dataset.camera_degrade): its order, and that sharpening never turns a shaken example sharp
(measured by edge width, which halos do not fake, beside the Laplacian variance, which they do)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from training import dataset, degrade, motion_sources, sources

STRONG_SHARPENING = degrade.CameraChain(
    noise=0.0, smooth=0.0, sharpen_amount=2.5, sharpen_radius=2.0, export_sharpen=1.2, export_radius=0.7
)


def _step_edge(width: int = 240, height: int = 60) -> np.ndarray:
    """Linear light: a dark left half and a bright right half (a vertical edge)."""
    linear = np.full((height, width, 3), 0.05, np.float32)
    linear[:, width // 2 :] = 0.6
    return linear


def _profile(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return gray[gray.shape[0] // 4 : 3 * gray.shape[0] // 4].mean(axis=0)


def test_the_chain_runs_its_steps_in_the_camera_order() -> None:
    rng = np.random.default_rng(0)
    once, twice = [], []
    plain = degrade.CameraChain(noise=2.0, smooth=0.5, sharpen_amount=1.0, export_sharpen=0.5)
    degrade.camera_chain(_step_edge(), plain, 120, rng, trace=once)
    resaved = degrade.CameraChain(noise=2.0, smooth=0.5, sharpen_amount=1.0, second_scale=0.8)
    degrade.camera_chain(_step_edge(), resaved, 120, rng, trace=twice)
    assert twice == list(degrade.CHAIN_STEPS)
    assert once == [step for step in degrade.CHAIN_STEPS if step != "second_jpeg"]


def test_noise_comes_before_the_smoothing_and_sharpening_after_the_blur() -> None:
    """Raw noise smoothed by the demosaic/denoise step is correlated between neighbours (noise added
    after it would not be), and sharpening after the blur leaves halos beside the blurred edge."""
    flat = np.full((200, 200, 3), 0.2, np.float32)
    smoothed = degrade.camera_chain(
        flat, degrade.CameraChain(noise=6.0, smooth=1.0), 200, np.random.default_rng(1)
    )
    raw = degrade.camera_chain(flat, degrade.CameraChain(noise=6.0), 200, np.random.default_rng(1))

    def neighbour_correlation(rgb: np.ndarray) -> float:
        g = rgb[:, :, 1].astype(np.float64)
        return float(np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1])

    assert neighbour_correlation(raw) < 0.15 < 0.5 < neighbour_correlation(smoothed)

    shaken = degrade.convolve_linear(_step_edge(), degrade.line_kernel(15.0, 0.0))
    profile = _profile(degrade.camera_chain(shaken, STRONG_SHARPENING, 240, np.random.default_rng(2)))
    dark, bright = np.median(profile[:30]), np.median(profile[-30:])
    assert profile.min() < dark - 5 and profile.max() > bright + 5  # under- and overshoot: halos


def test_a_shaken_edge_stays_wide_after_strong_sharpening_while_its_laplacian_rises() -> None:
    """A 15-px shake is 12 px from 10% to 90% (a box's rise). The camera's strongest sharpening leaves it
    at least 8 px wide, while a sharp edge through the same chain is under 3 px, and the Laplacian
    variance of the shaken edge is raised severalfold: the halos fake a score, not a narrow edge."""
    rng = np.random.default_rng(3)
    shaken = degrade.convolve_linear(_step_edge(), degrade.line_kernel(15.0, 0.0))
    plain = degrade.to_display(shaken)
    sharpened = degrade.camera_chain(shaken, STRONG_SHARPENING, 240, rng)
    sharp = degrade.camera_chain(_step_edge(), STRONG_SHARPENING, 240, rng)
    assert degrade.edge_width(_profile(plain)) == pytest.approx(12.0, abs=1.5)
    assert degrade.edge_width(_profile(sharpened)) >= 8.0
    assert degrade.edge_width(_profile(sharp)) < 3.0
    laplacian = [
        cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for x in (plain, sharpened)
    ]
    assert laplacian[1] > 3 * laplacian[0]


def test_camera_degrade_on_a_real_photo_keeps_labels_apart_by_edge_energy() -> None:
    """A real sharp photo through the camera chain, sharp and mildly shaken (9 px at 1000 px) with the
    same chain draw: the shaken one has far less fine gradient energy, whatever the sharpening drew."""
    folder = sources.SHARED_DATA / "photos" / "camera"
    assert folder.is_dir(), f"the shared photos must be at {folder} (beside the project, as in CI)"
    path = sorted(folder.glob("*.jpg"))[10]
    rgb = sources.load_rgb(sources.Photo(path.stem, str(path), "none"), max_long_side=1500)
    for seed in range(4):
        sharp_spec = dataset.BlurSpec("none", seed=seed, noise_sigma=2.0, jpeg_quality=90)
        shaken_spec = dataset.BlurSpec(
            "motion", variant="mild", amount=9.0, path="line", seed=seed, noise_sigma=2.0, jpeg_quality=90
        )
        sharp, _ = dataset.camera_degrade(rgb, sharp_spec, 800)
        shaken, _ = dataset.camera_degrade(rgb, shaken_spec, 800)
        assert (
            sharp.shape == shaken.shape and 0.7 * 800 - 1 <= max(sharp.shape[:2]) <= 800
        )  # a re-save may shrink it
        ratio = motion_sources.gradient_energy(shaken) / motion_sources.gradient_energy(sharp)
        assert ratio < 0.6, (seed, ratio)


def test_real_shake_is_split_by_scene_and_evaluation_only_rows_are_never_trained_on() -> None:
    photos = motion_sources.list_real_shake()
    assert len(photos) == 55, (
        f"../shared/data/motion/real/LIST.csv must list 55 photos at {sources.SHARED_DATA}"
    )
    sides: dict[str, set[bool]] = {}
    for photo in photos:
        sides.setdefault(photo.scene, set()).add(photo.held_out)
    assert all(len(side) == 1 for side in sides.values())  # no scene on both sides
    assert {p.scene for p in photos if p.name.startswith("real_sbdd_set002")} == {"set002"}
    assert {p.scene for p in photos if "scene085" in p.name} == {"scene085"}
    training = motion_sources.shake_side(held_out=False)
    assert len([p for p in photos if p.evaluation_only]) == 9
    assert not any(p.evaluation_only or p.name.startswith("real_lednet") for p in training)
    held_out = motion_sources.shake_side(held_out=True)
    assert len(training) + len(held_out) == 55 and len(training) >= 20 and len(held_out) - 9 >= 15
