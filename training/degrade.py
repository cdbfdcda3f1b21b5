"""Degrade sharp photos the way cameras blur them. Pure NumPy/OpenCV on RGB uint8 arrays at the working scale.

Blur is applied to linear-ish pixel values before noise and JPEG encoding, as in a camera: optics and
motion blur the scene, then the sensor adds noise, then the phone compresses. Sizes (sigma, length,
radius) are in pixels of the image they are applied to.
"""

from __future__ import annotations

from dataclasses import dataclass

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


GAMMA = 2.2
"""Camera-like encoding: linear light = (value / 255) ** GAMMA."""


_TO_LINEAR = ((np.arange(256, dtype=np.float32) / 255.0) ** GAMMA).astype(np.float32)


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB-like pixels to linear light, float32 in [0, 1]."""
    return _TO_LINEAR[rgb]


def to_display(linear: np.ndarray) -> np.ndarray:
    """Linear light back to uint8, clipping everything above 1 the way a sensor saturates."""
    return (cv2.pow(np.clip(linear, 0.0, 1.0), 1 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def restore_highlights(linear: np.ndarray, gain: float) -> np.ndarray:
    """Saturated pixels stood for brighter light than 1: scale what is near clipping by up to `gain`, so
    that a blur spreads a lamp or a sunlit window into a bright streak instead of a grey smear."""
    # the same as linear.max(axis=2), several times faster on a 3-channel image
    brightness = np.maximum(np.maximum(linear[:, :, 0], linear[:, :, 1]), linear[:, :, 2])[:, :, None]
    boost = 1.0 + (gain - 1.0) * np.clip((brightness - 0.85) / 0.15, 0.0, 1.0)
    return linear * boost


def convolve_linear(linear: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve float linear light with a kernel (normalised to sum 1 here)."""
    kernel = kernel.astype(np.float32)
    return cv2.filter2D(linear, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT_101)


def measured_kernel(kernel: np.ndarray, length: float, angle_deg: float, mirror: bool) -> np.ndarray:
    """A measured shake kernel rescaled so its longer extent is about `length` pixels, mirrored and
    rotated by `angle_deg`, normalised to sum 1 (kernels from ../shared/data/kernels)."""
    kernel = kernel.astype(np.float32) / kernel.sum()
    ys, xs = np.nonzero(kernel > kernel.max() * 0.05)
    extent = max(np.ptp(ys) + 1, np.ptp(xs) + 1) if len(ys) else kernel.shape[0]
    scale = max(length, 1.0) / extent
    size = max(3, int(round(kernel.shape[0] * scale)) | 1)
    resized = cv2.resize(
        kernel, (size, size), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    if mirror:
        resized = resized[:, ::-1]
    padded = int(np.ceil(size * 1.42)) | 1  # room for any rotation
    canvas = np.zeros((padded, padded), np.float32)
    offset = (padded - size) // 2
    canvas[offset : offset + size, offset : offset + size] = resized
    turn = cv2.getRotationMatrix2D(((padded - 1) / 2, (padded - 1) / 2), angle_deg, 1.0)
    rotated = np.maximum(cv2.warpAffine(canvas, turn, (padded, padded), flags=cv2.INTER_LINEAR), 0)
    return rotated / max(rotated.sum(), 1e-12)


def rotation_blur(
    linear: np.ndarray, degrees: float, centre: tuple[float, float], steps: int = 7
) -> np.ndarray:
    """The camera turning by `degrees` about `centre` during the exposure: the mean of `steps` turned
    copies, so the blur grows with the distance from the centre (shake is never the same everywhere)."""
    height, width = linear.shape[:2]
    total = np.zeros_like(linear)
    for angle in np.linspace(-degrees / 2, degrees / 2, steps):
        turn = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
        total += cv2.warpAffine(
            linear, turn, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
    return total / steps


def night_scene(rgb: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A low-light version of a photo in linear light: the scene darkened 8-30x, plus point lights
    (street lamps) and lit windows far brighter than the sensor's white, which blur into streaks.
    Sizes are pixels of a 1000-px photo times `scale`."""
    height, width = rgb.shape[:2]
    linear = to_linear(rgb) * float(rng.uniform(1 / 30, 1 / 8))
    linear *= np.array(
        [1.0, rng.uniform(0.75, 0.95), rng.uniform(0.45, 0.8)], np.float32
    )  # sodium/tungsten cast
    lights = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(3, 25))):
        x, y = int(rng.integers(width)), int(rng.integers(int(height * 0.8)))
        if rng.random() < 0.5:  # a lamp: a small bright disk
            radius = max(1, int(round(rng.uniform(1.0, 4.0) * scale)))
            cv2.circle(lights, (x, y), radius, float(rng.uniform(3, 40)), -1, lineType=cv2.LINE_AA)
        else:  # a lit window: a small rectangle
            w, h = (max(1, int(round(v * scale))) for v in rng.uniform(4, 20, 2))
            cv2.rectangle(lights, (x, y), (x + w, y + h), float(rng.uniform(0.8, 4)), -1)
    tint = np.array(rng.uniform(0.7, 1.0, 3), np.float32)
    tint /= tint.max()
    return linear + lights[:, :, None] * tint


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


# --- The camera's own processing, applied to every training example (sharp ones too) ----------------
#
# A phone or camera does not stop at the blur: it adds sensor noise in raw (linear) space, demosaics and
# denoises (which smooths), sharpens every frame by some amount, resizes, and compresses, and photo tools
# resize and compress again (Real-ESRGAN's second-order degradation, BSRGAN, Brooks et al. 2019's noise in
# raw space). Without those steps a shaken training example has none of the crisp halos and ringing of a
# real shaken photo, and a network learns to read one-pixel structure as "sharp".

CHAIN_STEPS = ("blur", "noise", "smooth", "sharpen", "resize", "export_sharpen", "jpeg", "second_jpeg")
"""The order of the camera chain (camera_chain): optics and motion blur the scene in linear light; the
sensor adds noise there; demosaicing and denoising smooth; the camera sharpens; the photo is resized
(and sometimes sharpened again for export); then JPEG, sometimes a second time after another resize."""


@dataclass(frozen=True)
class CameraChain:
    """One draw of the camera's processing. Pixel sizes are in pixels of the image the step runs on."""

    noise: float = 0.0  # display grey levels of noise at mid grey (linear 0.2); darker is noisier
    chroma_noise: float = 0.5  # share of the noise that is independent per channel
    smooth: float = 0.0  # sigma of the demosaic/denoise smoothing (0: none)
    bilateral: bool = False  # edge-preserving denoise instead of a plain Gaussian
    sharpen_amount: float = 0.0  # unsharp-mask gain (0: none)
    sharpen_radius: float = 1.0
    export_sharpen: float = 0.0  # unsharp-mask gain after the resize, radius export_radius
    export_radius: float = 0.7
    jpeg_quality: int = 90
    second_scale: float = 0.0  # >0: resized by this, then JPEG again at second_quality
    second_quality: int = 85
    resize_kernel: int = cv2.INTER_AREA


def sample_chain(rng: np.random.Generator, noise: float, jpeg_quality: int) -> CameraChain:
    """A random camera chain: sharpening of random strength (none in one case of five, strong in one of
    four), denoise or demosaic softness, sometimes export sharpening and a second JPEG."""
    sharpen = (
        0.0
        if rng.random() < 0.2
        else float(rng.uniform(0.3, 1.2) if rng.random() < 0.75 else rng.uniform(1.2, 2.5))
    )
    second = rng.random() < 0.3
    return CameraChain(
        noise=noise,
        chroma_noise=float(rng.uniform(0.2, 0.8)),
        smooth=0.0 if rng.random() < 0.25 else float(rng.uniform(0.3, 0.7)),
        bilateral=bool(noise > 3 and rng.random() < 0.4),
        sharpen_amount=sharpen,
        sharpen_radius=float(rng.uniform(0.6, 2.0)),
        export_sharpen=float(rng.uniform(0.3, 1.2)) if rng.random() < 0.35 else 0.0,
        export_radius=float(rng.uniform(0.5, 1.0)),
        jpeg_quality=jpeg_quality,
        second_scale=float(rng.uniform(0.7, 1.0)) if second else 0.0,
        second_quality=int(rng.integers(60, 96)),
        resize_kernel=int(rng.choice([cv2.INTER_AREA, cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC])),
    )


def add_raw_noise(linear: np.ndarray, noise: float, chroma: float, rng: np.random.Generator) -> np.ndarray:
    """Shot plus read noise in linear light, as a sensor makes it (Brooks et al. 2019): variance grows with
    the signal, so in display values dark areas get more noise than bright ones. `noise` is the display
    noise at linear 0.2 (mid grey); `chroma` the share independent per channel (the rest shared: luma)."""
    if noise <= 0:
        return linear
    # d(display)/d(linear) at 0.2 is about 279 grey levels per unit of linear light
    sigma = cv2.sqrt((np.maximum(linear, 0.0) + np.float32(0.02)) * np.float32(1 / 0.22))
    sigma *= np.float32(noise / 279.0)
    # OpenCV's generator, seeded from rng (so fixed by the example's seed): 5-10x faster than NumPy's
    cv2.setRNGSeed(int(rng.integers(2**31)))
    shared = np.empty(linear.shape[:2], np.float32)
    own = np.empty((linear.shape[0], linear.shape[1] * linear.shape[2]), np.float32)  # one channel
    cv2.randn(shared, 0.0, float(np.sqrt(1 - chroma)))
    cv2.randn(own, 0.0, float(np.sqrt(chroma)))
    own = own.reshape(linear.shape)
    own += shared[:, :, None]
    own *= sigma
    return linear + own


def unsharp_mask(rgb: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """The sharpening every camera applies: rgb + amount * (rgb - Gaussian(rgb, radius)), clipped. It
    steepens edges and adds halos (overshoot) but cannot undo a blur wider than its radius."""
    if amount <= 0:
        return rgb
    values = rgb.astype(np.float32)
    soft = cv2.GaussianBlur(values, (0, 0), sigmaX=radius, sigmaY=radius, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(values + amount * (values - soft) + 0.5, 0, 255).astype(np.uint8)


def smooth(rgb: np.ndarray, sigma: float, bilateral: bool, noise: float) -> np.ndarray:
    """Demosaic softness or denoising: a small Gaussian, or an edge-preserving bilateral filter whose
    range follows the noise level (it smooths noise and keeps strong edges)."""
    if bilateral:
        return cv2.bilateralFilter(rgb, 5, sigmaColor=float(3 * noise), sigmaSpace=max(sigma * 2, 1.0))
    if sigma <= 0:
        return rgb
    return gaussian_blur(rgb, sigma)


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def camera_chain(
    linear: np.ndarray,
    chain: CameraChain,
    long_side: int,
    rng: np.random.Generator,
    trace: list[str] | None = None,
) -> np.ndarray:
    """The steps after the blur, in CHAIN_STEPS order: linear light (already blurred, at the sensor's
    size) -> raw noise -> display values -> demosaic/denoise smoothing -> sharpening -> resize to
    `long_side` -> export sharpening -> display uint8, ready for the last JPEG (chain.jpeg_quality,
    written by the caller). A second JPEG, when drawn, happens here: resize by chain.second_scale and
    JPEG at chain.second_quality (the caller's JPEG is then the third save of a re-shared photo's path,
    as on a messaging app). `trace`, when given, collects the names of the steps run."""
    note = trace.append if trace is not None else (lambda _: None)
    note("blur")
    linear = add_raw_noise(linear, chain.noise, chain.chroma_noise, rng)
    note("noise")
    rgb = to_display(linear)
    rgb = smooth(rgb, chain.smooth, chain.bilateral, chain.noise)
    note("smooth")
    rgb = unsharp_mask(rgb, chain.sharpen_amount, chain.sharpen_radius)
    note("sharpen")
    if max(rgb.shape[:2]) != long_side:
        scale = long_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        kernel = chain.resize_kernel if scale < 1 else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, size, interpolation=kernel)
    note("resize")
    rgb = unsharp_mask(rgb, chain.export_sharpen, chain.export_radius)
    note("export_sharpen")
    if chain.second_scale > 0:
        rgb = jpeg_roundtrip(rgb, chain.jpeg_quality)
        note("jpeg")
        size = (
            max(1, round(rgb.shape[1] * chain.second_scale)),
            max(1, round(rgb.shape[0] * chain.second_scale)),
        )
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        note("second_jpeg")  # the caller's encode at chain.second_quality
    else:
        note("jpeg")  # the caller's encode at chain.jpeg_quality
    return rgb


def final_quality(chain: CameraChain) -> int:
    """JPEG quality of the caller's (last) encode."""
    return chain.second_quality if chain.second_scale > 0 else chain.jpeg_quality


def edge_width(profile: np.ndarray) -> float:
    """10-90% rise distance, in pixels, of a 1-D profile across one step edge (rising or falling), the
    levels read from its two ends (the outer eighths, by median) so that sharpening halos next to the
    edge do not move them. A just-noticeable-blur style measure (Marziliano et al. 2002, CPBD): noise and
    halos change a Laplacian's variance, not how far an edge takes to rise."""
    line = np.asarray(profile, np.float64)
    end = max(1, len(line) // 8)
    low, high = float(np.median(line[:end])), float(np.median(line[-end:]))
    if high < low:
        line, low, high = -line, -low, -high
    span = high - low
    if span <= 0:
        return float("nan")
    centre = int(np.argmax(np.gradient(line)))
    ten, ninety = low + 0.1 * span, low + 0.9 * span
    left = centre
    while left > 0 and line[left] > ten:
        left -= 1
    right = centre
    while right < len(line) - 1 and line[right] < ninety:
        right += 1
    # sub-pixel: interpolate the two crossings
    left_x = left + (ten - line[left]) / max(line[left + 1] - line[left], 1e-9)
    right_x = right - 1 + (ninety - line[right - 1]) / max(line[right] - line[right - 1], 1e-9)
    return float(max(right_x - left_x, 0.0))
