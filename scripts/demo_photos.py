"""Build a small demo folder of real photos: sharp originals, blurred copies of each blur kind, bokeh shots.

    python -m scripts.demo_photos OUT_DIR

The photos are the colour photographs that ship inside scikit-image (no download), so the demo runs
offline on a fresh machine. Each blurred copy is made by training/degrade.py, the same code that makes
training examples, then gets light sensor noise and JPEG encoding like a camera's output; the sharp
originals get the same noise and encoding, so noise and compression never tell the two apart.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import skimage.io

from training.degrade import add_sensor_noise, bokeh_composite, demo_degradations

JPEG_QUALITY = 90
NOISE_SIGMA = 2.0
BLURS_PER_PHOTO = 2
"""Each photo gets this many blur kinds, rotating through demo_degradations' kinds so every kind shows up."""

BOKEH_PHOTOS = ("astronaut", "chelsea")
"""Photos with one subject near the centre: an elliptical mask around it makes a portrait-mode-like shot."""


def demo_photos() -> dict[str, np.ndarray]:
    """The colour photographs shipped in scikit-image, RGB uint8, by name."""
    photos = {
        "astronaut": skimage.data.astronaut(),
        "chelsea": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
        "rocket": skimage.data.rocket(),
        "motorcycle": skimage.io.imread(os.path.join(skimage.data.data_dir, "motorcycle_left.png")),
        "hubble_deep_field": skimage.data.hubble_deep_field(),
        "retina": skimage.data.retina(),
    }
    return {name: np.ascontiguousarray(rgb[:, :, :3]) for name, rgb in photos.items()}


def subject_mask(height: int, width: int) -> np.ndarray:
    """Background mask for a bokeh composite: 0 inside a centred upright ellipse (the subject), 1 outside."""
    mask = np.ones((height, width), np.float32)
    centre = (width // 2, int(height * 0.55))
    axes = (int(width * 0.28), int(height * 0.42))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 0.0, thickness=-1)
    return mask


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 array as a JPEG (OpenCV wants BGR)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"could not write {path}")


def build_demo_folder(out_dir: Path, seed: int = 0) -> list[Path]:
    """Write the demo photos into out_dir (created if missing) and return their paths, sorted.

    Names say what each file is: `NAME.jpg` sharp, `NAME_blur-KIND.jpg` blurred, `NAME_bokeh.jpg` a sharp
    subject on a defocused background (a keeper, not a blurry photo)."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (name, rgb) in enumerate(demo_photos().items()):
        write_jpeg(out_dir / f"{name}.jpg", add_sensor_noise(rgb, NOISE_SIGMA, rng))
        written.append(out_dir / f"{name}.jpg")
        blurred = demo_degradations(rgb, rng)
        kinds = list(blurred)
        for step in range(BLURS_PER_PHOTO):
            kind = kinds[(index * BLURS_PER_PHOTO + step) % len(kinds)]
            path = out_dir / f"{name}_blur-{kind}.jpg"
            write_jpeg(path, add_sensor_noise(blurred[kind], NOISE_SIGMA, rng))
            written.append(path)
        if name in BOKEH_PHOTOS:
            radius = max(4.0, max(rgb.shape[:2]) / 60.0)
            bokeh = bokeh_composite(rgb, subject_mask(*rgb.shape[:2]), radius)
            path = out_dir / f"{name}_bokeh.jpg"
            write_jpeg(path, add_sensor_noise(bokeh, NOISE_SIGMA, rng))
            written.append(path)
    return sorted(written)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the demo photos (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for blur angles and noise")
    args = parser.parse_args(argv)
    paths = build_demo_folder(args.out_dir, args.seed)
    print(f"wrote {len(paths)} demo photos to {args.out_dir}")


if __name__ == "__main__":
    main()
