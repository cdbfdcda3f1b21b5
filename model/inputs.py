"""Pixels every consumer of a photo agrees on: the working scale, the sharpness score, the model's views.

Training (`training/`) and scoring (`pipeline/`) both call these functions, so the network sees the
same pixels at training time and in the job. Everything here is pure NumPy/OpenCV on RGB uint8 arrays.

The working scale: a photo is shrunk (never enlarged) so that its long side is at most
WORKING_LONG_SIDE pixels, with OpenCV's INTER_AREA kernel. Variance of the Laplacian depends on both
the scale and the kernel (the same photo scores 83 at 4000x3000 and 376 at 1000x750), so the
threshold only means something at one fixed scale and kernel: these two.
"""

from __future__ import annotations

import cv2
import numpy as np

WORKING_LONG_SIDE = 1000
"""Long side, in pixels, of every photo at the working scale (smaller photos keep their size)."""

WORKING_RESIZE_KERNEL = cv2.INTER_AREA
"""Resize kernel for the working scale: area averaging, the kernel that does not alias when shrinking."""

VIEW_SIZE = 200
"""Side of one square model view, in pixels: the study's 200x200 RGB input."""

DETAIL_CROPS = 3
"""Crops taken where the photo has most detail: if any of them is sharp, the photo has a sharp subject."""

VIEWS_PER_PHOTO = 1 + DETAIL_CROPS + 1
"""Whole frame, the most detailed crops, and one crop of median detail (what the background looks like)."""

_CROP_STRIDE = VIEW_SIZE // 4


def working_size(width: int, height: int) -> tuple[int, int]:
    """Size (width, height) of a width x height photo at the working scale; never larger than the photo."""
    scale = min(1.0, WORKING_LONG_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


CROP_SLACK = 1.03
"""An image at most this much larger than its working size is centre-cropped to it, not resampled: a
resize by a factor just above 1 moves most pixels by a fraction of a pixel, a 2-tap average that blurs
(see pipeline.photo.decode.reduction_factor, which reduces large photos to land within this slack)."""


def to_working_scale(rgb: np.ndarray) -> np.ndarray:
    """Bring an RGB (or gray) image to the working scale: small images are kept, those within CROP_SLACK
    of their working size are centre-cropped to it, larger ones shrunk with the fixed kernel."""
    height, width = rgb.shape[:2]
    target_width, target_height = working_size(width, height)
    if (target_width, target_height) == (width, height):
        return rgb
    if max(width, height) <= CROP_SLACK * max(target_width, target_height):
        top, left = (height - target_height) // 2, (width - target_width) // 2
        return np.ascontiguousarray(rgb[top : top + target_height, left : left + target_width])
    return cv2.resize(rgb, (target_width, target_height), interpolation=WORKING_RESIZE_KERNEL)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601) of an RGB uint8 image, uint8."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def gray_laplacian(rgb: np.ndarray) -> np.ndarray:
    """3x3 Laplacian of the image's gray levels, int16 (exact: it fits 8-bit input)."""
    return cv2.Laplacian(to_gray(rgb), cv2.CV_16S)


def laplacian_var(rgb: np.ndarray, laplacian: np.ndarray | None = None) -> float:
    """Variance of the 3x3 Laplacian of the image's gray levels (0-255 scale); higher means more fine detail.

    Call it on a working-scale image: only there is the value comparable between photos. `laplacian`,
    if given, is gray_laplacian(rgb), already computed.
    """
    # meanStdDev accumulates in float64: the same value as numpy's var of a float64 Laplacian (to
    # 1e-12), about 6x faster.
    _, std = cv2.meanStdDev(gray_laplacian(rgb) if laplacian is None else laplacian)
    return float(std[0, 0]) ** 2


def _pad_to_view(rgb: np.ndarray) -> np.ndarray:
    """Mirror-pad an image whose sides are shorter than VIEW_SIZE so a full view can be cut from it."""
    height, width = rgb.shape[:2]
    pad_h, pad_w = max(0, VIEW_SIZE - height), max(0, VIEW_SIZE - width)
    if pad_h == 0 and pad_w == 0:
        return rgb
    # BORDER_REFLECT_101 needs the image to be larger than the pad; BORDER_WRAP repeats any size.
    border = cv2.BORDER_REFLECT_101 if pad_h < height and pad_w < width else cv2.BORDER_WRAP
    top, left = pad_h // 2, pad_w // 2
    return cv2.copyMakeBorder(rgb, top, pad_h - top, left, pad_w - left, border)


def crop_origins(rgb: np.ndarray, laplacian: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of the crops in model_views: the DETAIL_CROPS windows with the most
    Laplacian energy (overlapping each other by at most half a view), then the window of median energy.
    `laplacian`, if given, is gray_laplacian(rgb), already computed."""
    height, width = rgb.shape[:2]
    energy = np.abs(gray_laplacian(rgb) if laplacian is None else laplacian).astype(np.float32)
    window_sum = cv2.integral(energy)  # (h+1, w+1) summed-area table, float64
    ys = np.unique(np.r_[np.arange(0, height - VIEW_SIZE + 1, _CROP_STRIDE), height - VIEW_SIZE])
    xs = np.unique(np.r_[np.arange(0, width - VIEW_SIZE + 1, _CROP_STRIDE), width - VIEW_SIZE])
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    yy, xx = yy.ravel(), xx.ravel()
    scores = (
        window_sum[yy + VIEW_SIZE, xx + VIEW_SIZE]
        - window_sum[yy, xx + VIEW_SIZE]
        - window_sum[yy + VIEW_SIZE, xx]
        + window_sum[yy, xx]
    )
    order = np.argsort(-scores, kind="stable")
    chosen: list[tuple[int, int]] = []
    for index in order:
        y, x = int(yy[index]), int(xx[index])
        if all(abs(y - cy) >= VIEW_SIZE // 2 or abs(x - cx) >= VIEW_SIZE // 2 for cy, cx in chosen):
            chosen.append((y, x))
            if len(chosen) == DETAIL_CROPS:
                break
    while len(chosen) < DETAIL_CROPS:  # small photos have fewer distinct windows: repeat the best
        chosen.append(chosen[len(chosen) % max(1, len(chosen))] if chosen else (0, 0))
    median = order[len(order) // 2]
    chosen.append((int(yy[median]), int(xx[median])))
    return chosen


def model_views(rgb: np.ndarray, laplacian: np.ndarray | None = None) -> np.ndarray:
    """The VIEWS_PER_PHOTO views of a working-scale RGB uint8 photo the network sees, (V, 200, 200, 3) uint8.

    View 0 is the whole frame squeezed to 200x200 (global context: is the background blurred?); the
    others are 200x200 crops at the working scale, where blur is still visible, taken by crop_origins.
    `laplacian`, if given, is gray_laplacian(rgb), already computed.
    """
    whole = cv2.resize(
        rgb,
        (VIEW_SIZE, VIEW_SIZE),
        interpolation=cv2.INTER_AREA if min(rgb.shape[:2]) >= VIEW_SIZE else cv2.INTER_LINEAR,
    )
    padded = _pad_to_view(rgb)
    origins = crop_origins(padded, laplacian if padded is rgb else None)
    crops = [padded[y : y + VIEW_SIZE, x : x + VIEW_SIZE] for y, x in origins]
    return np.ascontiguousarray(np.stack([whole, *crops]))


def sharpness_and_views(rgb: np.ndarray) -> tuple[float, np.ndarray]:
    """laplacian_var and model_views of a working-scale photo, computing its gray Laplacian once."""
    laplacian = gray_laplacian(rgb)
    return laplacian_var(rgb, laplacian), model_views(rgb, laplacian)
