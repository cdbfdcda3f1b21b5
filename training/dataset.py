"""Training and evaluation examples: sharp photos degraded the way cameras blur them, then put through
the job's own decoder and preprocessing, so the network trains on the pixels it will score.

Blur strengths are drawn in pixels of a 1000-px-long photo (the working scale) and scaled to the size
of the photo they are applied to, so one BlurSpec means the same blur at 400 px and at 12 MP.
Near the decision boundary: blurry examples start at a Gaussian-equivalent sigma of 2 px (at 1000 px),
sharp ones may be softened up to 1 px; the band between is left out so labels are not coin flips.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image

from model.inputs import WORKING_LONG_SIDE, sharpness_and_views
from model.labels import BLUR_TYPES, KEEP_TYPES
from pipeline.photo.decode import decode_photo
from training import degrade, sources

SYNTHETIC_TYPE_SHARE = {
    "none": 0.27,
    "gaussian": 0.10,
    "motion": 0.25,
    "minfilter": 0.09,
    "defocus": 0.14,
    "bokeh": 0.15,
}
MILD_SHARE = 0.35
"""Share of blurry examples drawn from the mild band just past the decision boundary."""
TRAINING_MILD_SHARE = {"motion": 0.5}
"""Training draws more mild shakes than the evaluation's specs do: the real shakes the shipped model
missed are mild (5-15 px at the working scale: 8-frame GoPro averages, RealBlur frames)."""


MOTION_PATHS = {"line": 0.2, "shake": 0.35, "kernel": 0.45}
"""How a motion blur's path is drawn: a straight line, a random smooth hand-held walk, or one of the
measured camera-shake kernels (../shared/data/kernels) rescaled and turned."""
STRONG_MOTION_LENGTH = (11.0, 90.0)
"""Strong motion path lengths at 1000 px: real shake spans about 13-75 px on 800-px photos."""
NIGHT_SHARE = {"none": 0.12, "gaussian": 0.08, "motion": 0.25, "defocus": 0.1}
"""Share of each type made as a low-light scene (darkened, lamps and lit windows, high-ISO noise)."""
OVER_BOKEH_SHARE = 0.15
"""Share of strong gaussian/motion/defocus blurs laid over a bokeh photo: nothing sharp is left, so
such a frame is blurry, never bokeh."""
ROTATION_SHARE = 0.3
"""Share of motion blurs with a slight camera turn as well, so the blur varies across the frame."""


@dataclass(frozen=True)
class BlurSpec:
    """One degradation, sizes in pixels of a 1000-px-long photo."""

    blur_type: str
    variant: str = "plain"  # e.g. "haze", "soft", "night", "mild", or the motion path of a strong motion
    amount: float = 0.0  # sigma, length, size or radius, per blur type
    angle: float = 0.0
    haze: float = 0.0
    noise_sigma: float = 0.0
    jpeg_quality: int = 90
    mask_index: int = -1
    seed: int = 0
    mild: bool = False  # in the band just past the decision boundary
    path: str = ""  # motion only: a MOTION_PATHS key
    kernel_index: int = -1  # path "kernel": which measured kernel
    rotation: float = 0.0  # motion only: degrees the camera turns during the exposure
    night: bool = False  # low-light scene with lights
    over_bokeh: bool = False  # blur laid over a bokeh composite (mask_index set)

    @property
    def blurry(self) -> bool:
        return self.blur_type not in KEEP_TYPES


def sample_spec(
    rng: np.random.Generator,
    blur_type: str,
    mask_count: int = 0,
    kernel_count: int = 0,
    mild_share: float = MILD_SHARE,
) -> BlurSpec:
    """Random degradation of the given type, mild ones included. kernel_count defaults to the measured
    kernels found in ../shared/data/kernels (none: the "kernel" path falls back to a random walk)."""
    if kernel_count == 0:
        kernel_count = len(measured_kernels())
    mild = rng.random() < mild_share
    variant, amount, angle, haze = "plain", 0.0, float(rng.uniform(0, 180)), 0.0
    path, kernel_index, rotation = "", -1, 0.0
    night = rng.random() < NIGHT_SHARE.get(blur_type, 0.0)
    if blur_type == "none":
        variant = (
            "night" if night else rng.choice(["plain", "plain", "haze", "low_contrast", "soft", "sharpened"])
        )
        if variant == "haze":
            haze = float(rng.uniform(0.3, 0.7))
        elif variant == "low_contrast":
            haze = float(rng.uniform(0.4, 0.75))
        elif variant == "soft":
            amount = float(rng.uniform(0.3, 1.0))
    elif blur_type == "gaussian":
        amount = float(rng.uniform(2.0, 3.0) if mild else np.exp(rng.uniform(np.log(3.0), np.log(9.0))))
    elif blur_type == "motion":
        path = str(rng.choice(list(MOTION_PATHS), p=list(MOTION_PATHS.values())))
        if path == "kernel":
            if kernel_count:
                kernel_index = int(rng.integers(kernel_count))
            else:
                path = "shake"
        variant = path
        low, high = STRONG_MOTION_LENGTH
        amount = float(rng.uniform(7.0, 11.0) if mild else np.exp(rng.uniform(np.log(low), np.log(high))))
        if rng.random() < ROTATION_SHARE:
            # at 500 px from the turning point the arc is 0.3-1x the path length
            rotation = float(np.degrees(rng.uniform(0.3, 1.0) * amount / 500))
    elif blur_type == "minfilter":
        amount = float(rng.choice([5, 7, 9, 11, 13]))
    elif blur_type == "defocus":
        amount = float(rng.uniform(4.0, 5.5) if mild else np.exp(rng.uniform(np.log(5.5), np.log(20.0))))
    elif blur_type == "bokeh":
        amount = float(rng.uniform(6.0, 20.0))
    else:
        raise ValueError(f"unknown blur type {blur_type!r}")
    if blur_type not in ("none",) and rng.random() < 0.1:
        haze = float(rng.uniform(0.2, 0.5))
    over_bokeh = (
        blur_type in ("gaussian", "motion", "defocus") and not mild and mask_count > 0
        and rng.random() < OVER_BOKEH_SHARE
    )  # fmt: skip
    noise = float(rng.choice([rng.uniform(0, 1), rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(4, 8)]))
    if night:
        noise, haze = float(rng.uniform(5, 14)), 0.0  # high ISO
    mild = mild and blur_type not in KEEP_TYPES | {"minfilter"}
    return BlurSpec(
        blur_type=blur_type,
        variant=("mild" if mild else str(variant)),
        amount=amount,
        angle=angle,
        haze=haze,
        noise_sigma=noise,
        jpeg_quality=int(rng.integers(70, 96)),
        mask_index=int(rng.integers(mask_count))
        if (blur_type == "bokeh" or over_bokeh) and mask_count
        else -1,
        seed=int(rng.integers(2**31)),
        mild=mild,
        path=path,
        kernel_index=kernel_index,
        rotation=rotation,
        night=night,
        over_bokeh=over_bokeh,
    )


@functools.cache
def measured_kernels() -> tuple[np.ndarray, ...]:
    """The measured camera-shake kernels of ../shared/data/kernels, each normalised to sum 1 (empty when
    the folder is absent)."""
    folder = sources.SHARED_DATA / "kernels"
    paths = sorted(folder.glob("*.png")) if folder.is_dir() else []
    kernels = []
    for path in paths:
        kernel = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32)
        kernels.append(kernel / kernel.sum())
    return tuple(kernels)


def motion_kernel(spec: BlurSpec, size: float, rng: np.random.Generator) -> np.ndarray:
    """The spec's motion path as a kernel `size` pixels long (in this photo's pixels)."""
    if spec.path == "kernel" and measured_kernels():
        kernels = measured_kernels()
        return degrade.measured_kernel(
            kernels[spec.kernel_index % len(kernels)], size, spec.angle, rng.random() < 0.5
        )
    if spec.path == "line":
        return degrade.line_kernel(size, spec.angle)
    return degrade.shake_kernel(size, rng)


def load_mask(path: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A real blur mask (white = blurred) resized to size (w, h), randomly mirrored; float32 in [0, 1]."""
    mask = np.asarray(Image.open(path).convert("L"), np.float32) / 255.0
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    return cv2.resize(np.ascontiguousarray(mask), size, interpolation=cv2.INTER_LINEAR)


def apply_spec(rgb: np.ndarray, spec: BlurSpec, mask_paths: list[str] | None = None) -> np.ndarray:
    """Blur an RGB uint8 photo per spec (sizes scaled to this photo), then haze and sensor noise.

    Gaussian, motion and defocus blur (and night scenes) are made in linear light with the clipped
    highlights restored above white, and clipped again after blurring, as a sensor does: a lamp
    becomes a bright streak or disk, not a grey smear."""
    rng = np.random.default_rng(spec.seed)
    scale = max(rgb.shape[:2]) / WORKING_LONG_SIDE
    size = spec.amount * scale
    if spec.blur_type == "bokeh" and spec.mask_index < 0:
        raise ValueError("bokeh examples need blur masks")
    if spec.mask_index >= 0:
        if not mask_paths:
            raise ValueError("bokeh examples need blur masks")
        mask = load_mask(mask_paths[spec.mask_index % len(mask_paths)], (rgb.shape[1], rgb.shape[0]), rng)
        radius = (rng.uniform(6.0, 20.0) * scale) if spec.over_bokeh else size
        rgb = degrade.bokeh_composite(rgb, mask, radius)
    if spec.night or spec.blur_type in ("gaussian", "motion", "defocus"):
        if spec.night:
            linear = degrade.night_scene(rgb, rng, scale)
        else:
            linear = degrade.restore_highlights(degrade.to_linear(rgb), float(rng.uniform(1.5, 6.0)))
        linear = _blur_linear(linear, spec, size, rng, gaussian=spec.blur_type == "gaussian")
        rgb = degrade.to_display(linear)
    elif spec.blur_type == "none":
        if spec.variant == "soft" and size >= 0.3:
            rgb = degrade.gaussian_blur(rgb, size)
        elif spec.variant == "sharpened":
            soft = degrade.gaussian_blur(rgb, max(1.0 * scale, 0.5))
            rgb = cv2.addWeighted(rgb, 1.6, soft, -0.6, 0)
    elif spec.blur_type == "minfilter":
        rgb = degrade.min_filter(rgb, max(3, int(round(size)) | 1))
    if spec.haze > 0:
        rgb = degrade.add_haze(rgb, spec.haze, rng)
    return degrade.add_sensor_noise(rgb, spec.noise_sigma * min(1.0, scale**0.5 if scale > 1 else 1.0), rng)


def scene_linear(rgb: np.ndarray, spec: BlurSpec, mask_paths: list[str] | None = None) -> np.ndarray:
    """The light reaching the sensor, blurred per spec: float32 linear light (highlights above 1), before
    any noise. The camera chain's counterpart of apply_spec: every type is blurred in linear light here
    (minfilter, the study's display-value filter, excepted), fog is part of the scene, and no step of
    the camera's own processing (noise, smoothing, sharpening, JPEG) is applied yet."""
    rng = np.random.default_rng(spec.seed)
    scale = max(rgb.shape[:2]) / WORKING_LONG_SIDE
    size = spec.amount * scale
    if spec.mask_index >= 0:
        if not mask_paths:
            raise ValueError("bokeh examples need blur masks")
        mask = load_mask(mask_paths[spec.mask_index % len(mask_paths)], (rgb.shape[1], rgb.shape[0]), rng)
        radius = (rng.uniform(6.0, 20.0) * scale) if spec.over_bokeh else size
        rgb = degrade.bokeh_composite(rgb, mask, radius)
    elif spec.blur_type == "bokeh":
        raise ValueError("bokeh examples need blur masks")
    if spec.haze > 0:
        rgb = degrade.add_haze(rgb, spec.haze, rng)
    if spec.blur_type == "minfilter":
        rgb = degrade.min_filter(rgb, max(3, int(round(size)) | 1))
    if spec.night:
        linear = degrade.night_scene(rgb, rng, scale)
    else:
        linear = degrade.restore_highlights(degrade.to_linear(rgb), float(rng.uniform(1.5, 6.0)))
    soft = spec.blur_type == "none" and spec.variant == "soft" and size >= 0.3
    return _blur_linear(linear, spec, size, rng, gaussian=spec.blur_type == "gaussian" or soft)


def _blur_linear(
    linear: np.ndarray, spec: BlurSpec, size: float, rng: np.random.Generator, *, gaussian: bool
) -> np.ndarray:
    """Gaussian (when `gaussian`), defocus or motion blur of linear light, then a night scene's exposure
    gain; the random draws in the same order for both degradation paths."""
    if gaussian:
        linear = cv2.GaussianBlur(linear, (0, 0), sigmaX=size, sigmaY=size, borderType=cv2.BORDER_REFLECT_101)
    elif spec.blur_type == "defocus":
        linear = degrade.convolve_linear(linear, degrade.disk_kernel(size))
    elif spec.blur_type == "motion":
        linear = degrade.convolve_linear(linear, motion_kernel(spec, size, rng))
        if spec.rotation > 0:
            height, width = linear.shape[:2]
            centre = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
            linear = degrade.rotation_blur(linear, spec.rotation, centre)
    if spec.night:
        linear *= float(rng.uniform(1.0, 3.0))  # the camera's exposure gain
    return linear


SENSOR_OVERSIZE = (1.0, 1.6)
"""The camera chain runs at up to this many times the example's size (never above the source's own
size), then the photo is resized down, as a phone's output or a shared copy is."""
SMOOTH_REFERENCE = 1000
"""Demosaic/denoise softness is drawn in pixels of a sensor image this long; a smaller rendering gets
proportionally less (a thumbnail of a 12 MP photo shows none of it)."""


def camera_degrade(
    source_rgb: np.ndarray, spec: BlurSpec, long_side: int, mask_paths: list[str] | None = None
) -> tuple[np.ndarray, int]:
    """source -> sensor-sized -> blurred in linear light (scene_linear) -> the camera chain of
    training.degrade (raw noise, smoothing, sharpening of random strength, resize to long_side, export
    sharpening, sometimes a first JPEG) -> (RGB uint8, quality of the last JPEG to write)."""
    rng = np.random.default_rng([spec.seed, 1])
    source_long = max(source_rgb.shape[:2])
    sensor = int(min(max(long_side, source_long), round(long_side * rng.uniform(*SENSOR_OVERSIZE))))
    linear = scene_linear(resize_long_side(source_rgb, sensor), spec, mask_paths)
    chain = degrade.sample_chain(rng, spec.noise_sigma, spec.jpeg_quality)
    chain = replace(chain, smooth=chain.smooth * min(1.0, sensor / SMOOTH_REFERENCE))
    return degrade.camera_chain(linear, chain, long_side, rng), degrade.final_quality(chain)


def camera_example(
    source_rgb: np.ndarray, spec: BlurSpec, long_side: int, source: str, mask_paths: list[str] | None = None
) -> Example:
    """Training's synthetic example: camera_degrade, then JPEG and the job's decoder and views."""
    rgb, quality = camera_degrade(source_rgb, spec, long_side, mask_paths)
    return example_from_jpeg(
        encode_jpeg(rgb, quality),
        blurry=int(spec.blurry),
        blur_type=BLUR_TYPES.index(spec.blur_type),
        source=source,
    )


def reprocess_real(
    rgb: np.ndarray, long_side: int, seed: int, noise: float = 0.0, full_chain: bool = False
) -> bytes:
    """JPEG bytes of a real photo as it reaches people, through the chain's steps after the blur. A
    real photo was noised and processed by its camera already: by default only light extra sharpening
    (half the strength, half the time), the resize, export sharpening and one or two JPEGs. With
    `full_chain` (averaged video frames, whose averaging smoothed the camera's sharpening away) also
    `noise` grey levels of raw noise, smoothing and sharpening at full strength."""
    rng = np.random.default_rng([seed, 2])
    chain = degrade.sample_chain(rng, noise, int(rng.integers(75, 96)))
    if not full_chain:
        extra = 0.5 if rng.random() < 0.5 else 0.0
        chain = replace(
            chain, noise=0.0, smooth=0.0, bilateral=False, sharpen_amount=chain.sharpen_amount * extra
        )
    long_side = min(long_side, max(rgb.shape[:2]))
    out = degrade.camera_chain(degrade.to_linear(rgb), chain, long_side, rng)
    return encode_jpeg(out, degrade.final_quality(chain))


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def resize_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so the long side is long_side: INTER_AREA to shrink, INTER_CUBIC to enlarge."""
    scale = long_side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


@dataclass
class Example:
    """One photo ready for the network, as the job would see it."""

    views: np.ndarray  # (V, 200, 200, 3) uint8
    blurry: int  # 1 blurry, 0 keep
    blur_type: int  # index into BLUR_TYPES, -1 when unknown (real blurry photos)
    laplacian_var: float  # the job's score (the evaluation's Laplacian baseline)
    long_side: int
    source: str


def example_from_jpeg(data: bytes, blurry: int, blur_type: int, source: str) -> Example:
    """Decode JPEG bytes with the job's decoder and cut the job's views. Without the DC drift check:
    these are training's own freshly encoded JPEGs, intact by construction, and the check (made for
    real photos) once refused a strongly degraded synthetic crop; the pixels are the same either way."""
    photo = decode_photo(data, check_dc_drift=False)
    sharpness, views = sharpness_and_views(photo.rgb)
    return Example(
        views=views,
        blurry=blurry,
        blur_type=blur_type,
        laplacian_var=sharpness,
        long_side=max(photo.width, photo.height),
        source=source,
    )


def synthetic_example(
    source_rgb: np.ndarray, spec: BlurSpec, long_side: int, source: str, mask_paths: list[str] | None = None
) -> Example:
    """source -> resized to long_side -> degraded per spec -> JPEG -> job decoder -> views."""
    degraded = apply_spec(resize_long_side(source_rgb, long_side), spec, mask_paths)
    return example_from_jpeg(
        encode_jpeg(degraded, spec.jpeg_quality),
        blurry=int(spec.blurry),
        blur_type=BLUR_TYPES.index(spec.blur_type),
        source=source,
    )


def random_crop(rgb: np.ndarray, rng: np.random.Generator, min_area: float = 0.5) -> np.ndarray:
    """A random crop keeping at least min_area of the frame, aspect ratio kept roughly."""
    height, width = rgb.shape[:2]
    side = np.sqrt(rng.uniform(min_area, 1.0))
    crop_h, crop_w = max(1, int(height * side)), max(1, int(width * side))
    y, x = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
    crop = rgb[y : y + crop_h, x : x + crop_w]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def stack(examples: list[Example]) -> dict[str, np.ndarray]:
    """Arrays for Keras: views (N, V, 200, 200, 3) uint8 and labels."""
    return {
        "views": np.stack([e.views for e in examples]),
        "blurry": np.array([e.blurry for e in examples], np.float32),
        "blur_type": np.array([max(e.blur_type, 0) for e in examples], np.int32),
        "blur_type_weight": np.array([float(e.blur_type >= 0) for e in examples], np.float32),
    }
