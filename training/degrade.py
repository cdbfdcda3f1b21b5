"""Degrade sharp photos the way cameras blur them. Pure NumPy/OpenCV on RGB uint8 arrays at the working scale.

Blur is applied to linear-ish pixel values before noise and JPEG encoding, as in a camera: optics and
motion blur the scene, then the sensor adds noise, then the phone compresses. Sizes (sigma, length,
radius) are in pixels of the image they are applied to.
"""

from __future__ import annotations

import cv2
import numpy as np


def gaussian_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation sigma (pixels)."""
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)


def _apply_kernel(rgb: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    kernel = kernel.astype(np.float32)
    kernel /= kernel.sum()
    return cv2.filter2D(rgb, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def line_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A straight motion path `length` pixels long at `angle_deg`, anti-aliased, normalised to sum 1."""
    size = int(np.ceil(length)) | 1
    size = max(size, 3)
    kernel = np.zeros((size * 4, size * 4), np.float32)  # drawn at 4x then shrunk, for sub-pixel smoothness
    centre = size * 2
    dx, dy = np.cos(np.radians(angle_deg)) * length * 2, np.sin(np.radians(angle_deg)) * length * 2
    cv2.line(
        kernel,
        (int(round(centre - dx)), int(round(centre - dy))),
        (int(round(centre + dx)), int(round(centre + dy))),
        1.0,
        thickness=2,
        lineType=cv2.LINE_AA,
    )
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def shake_kernel(length: float, rng: np.random.Generator) -> np.ndarray:
    """A hand-held shake trajectory: a smooth random walk whose path is about `length` pixels long."""
    steps = 64
    angle = rng.uniform(0, 2 * np.pi)
    turn = rng.normal(0, 0.25, steps).cumsum()
    speeds = rng.uniform(0.5, 1.5, steps)
    path = np.stack([np.cos(angle + turn) * speeds, np.sin(angle + turn) * speeds], axis=1).cumsum(axis=0)
    path *= length / max(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)), 1e-6)
    path -= path.mean(axis=0)
    half = int(np.ceil(np.abs(path).max())) + 2
    size = 2 * half + 1
    kernel = np.zeros((size * 4, size * 4), np.float32)
    points = np.round((path + half + 0.5) * 4).astype(np.int32)
    cv2.polylines(kernel, [points.reshape(-1, 1, 2)], False, 1.0, thickness=2, lineType=cv2.LINE_AA)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def motion_blur(rgb: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Straight-line motion blur `length` pixels long."""
    return _apply_kernel(rgb, line_kernel(length, angle_deg))


def shake_blur(rgb: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """Hand-held camera shake along a random smooth trajectory about `length` pixels long."""
    return _apply_kernel(rgb, shake_kernel(length, rng))


def min_filter(rgb: np.ndarray, size: int) -> np.ndarray:
    """The study's 'Minfilter' (Pillow's ImageFilter.MinFilter): each pixel becomes the darkest of its box."""
    return cv2.erode(rgb, np.ones((size, size), np.uint8), borderType=cv2.BORDER_REFLECT_101)


def disk_kernel(radius: float) -> np.ndarray:
    """A uniform disk (the defocused lens's point spread), anti-aliased, normalised to sum 1."""
    half = int(np.ceil(radius)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    distance = np.sqrt(xx**2 + yy**2)
    kernel = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    return kernel / kernel.sum()


def defocus_blur(rgb: np.ndarray, radius: float) -> np.ndarray:
    """Out-of-focus lens blur: convolution with a disk of `radius` pixels."""
    return _apply_kernel(rgb, disk_kernel(radius))


def bokeh_composite(rgb: np.ndarray, blurred_mask: np.ndarray, radius: float) -> np.ndarray:
    """A sharp subject on a defocused background: `blurred_mask` (h, w) in [0, 1], 1 where the background is.

    The mask edge is feathered by the blur itself, as a real lens's depth falloff would be."""
    background = defocus_blur(rgb, radius)
    soft = cv2.GaussianBlur(blurred_mask.astype(np.float32), (0, 0), max(radius / 2, 1.0))[:, :, None]
    return np.clip(rgb * (1 - soft) + background * soft + 0.5, 0, 255).astype(np.uint8)


def add_sensor_noise(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor-like noise: signal-dependent (shot) plus constant (read) noise, partly shared by channels."""
    if sigma <= 0:
        return rgb
    values = rgb.astype(np.float32)
    shot = np.sqrt(np.maximum(values, 1.0) / 255.0)  # brighter pixels carry more photon noise
    luma_noise = rng.normal(0, 1, rgb.shape[:2] + (1,)).astype(np.float32)
    chroma_noise = rng.normal(0, 0.5, rgb.shape).astype(np.float32)
    noisy = values + sigma * (0.5 + 0.5 * shot) * (luma_noise + chroma_noise)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def add_haze(rgb: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Fog / low contrast: blend toward a bright, tinted veil. Sharpness is untouched, contrast drops."""
    veil = np.array(rng.uniform(170, 240, 3), np.float32)
    hazy = rgb.astype(np.float32) * (1 - amount) + veil * amount
    return np.clip(hazy + 0.5, 0, 255).astype(np.uint8)


def demo_degradations(rgb: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One clearly visible example of each blur kind, scaled to the photo's size (for the demo folder)."""
    scale = max(rgb.shape[:2]) / 1000.0
    return {
        "gaussian": gaussian_blur(rgb, 4.0 * scale),
        "motion": motion_blur(rgb, 20.0 * scale, float(rng.uniform(0, 180))),
        "shake": shake_blur(rgb, 20.0 * scale, rng),
        "minfilter": min_filter(rgb, max(3, int(round(7 * scale)) | 1)),
        "defocus": defocus_blur(rgb, 6.0 * scale),
    }
