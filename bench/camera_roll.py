"""Make benchmark photo folders: a phone camera roll of 12 MP JPEGs, and many small JPEGs for the scale run.

Phone-like means what a decoder sees: 4032x3024 pixels, JPEG quality 92 with 4:2:0 chroma, per-pixel
sensor noise (which is what makes a real 12 MP JPEG 2.5-4 MB: a smooth upscaled photo compresses to a
fraction of that and decodes faster than any real one), and portrait shots stored sideways with EXIF
orientation 6, as phones store them. Each photo gets its own crop, zoom and noise, so no two files are
alike even when they come from the same source photo.

Folders are cached: a manifest records how the files were made, and a later call with the same recipe
only makes the files still missing (so a 300-photo roll reuses the first 150 of an earlier run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif")
EXIF_ORIENTATION = 0x0112
ROTATE_90_CW_TO_VIEW = 6  # EXIF: the stored pixels must be turned 90 degrees clockwise to be viewed
MANIFEST = "manifest.json"
RECIPE_VERSION = 1  # bump when the way photos are made changes, so cached folders are remade


@dataclass(frozen=True)
class RollRecipe:
    """How every photo of a folder is made; photo i depends only on this and i."""

    width: int = 4032
    height: int = 3024
    quality: int = 92
    noise_sigma: float = 4.0  # sensor noise in 8-bit levels at mid-grey; each photo varies it by +-25%
    seed: int = 2024
    sources_digest: str = ""  # which source photos (names and sizes), so a changed source set remakes
    version: int = RECIPE_VERSION


def image_files(folder: str | Path) -> list[Path]:
    """Image files directly in `folder`, by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def sources_digest(sources: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sources:
        digest.update(f"{Path(path).name}:{Path(path).stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def photo_name(index: int) -> str:
    return f"IMG_{index:05d}.jpg"


def sensor_noise(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """training.degrade.add_sensor_noise's model (shot plus read noise, luma plus weaker chroma), drawn in
    float32 because at 12 MP the float64 original takes 2-5 s a photo and dominates making the roll."""
    values = rgb.astype(np.float32)
    scale = np.sqrt(np.maximum(values, 1.0) * (1.0 / 255.0))  # brighter pixels carry more photon noise
    scale *= 0.5 * sigma
    scale += 0.5 * sigma
    noise = rng.standard_normal(rgb.shape, dtype=np.float32)
    noise *= 0.5
    noise += rng.standard_normal(rgb.shape[:2] + (1,), dtype=np.float32)
    noise *= scale
    values += noise
    values += 0.5
    np.clip(values, 0, 255, out=values)
    return values.astype(np.uint8)


def frame_photo(
    rgb: np.ndarray, width: int, height: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """The source photo upscaled (bicubic, with a random extra zoom of up to 25%) and cropped at a random
    place to exactly `height` x `width` in landscape; a portrait source is turned a quarter left first.
    Returns (pixels as stored, whether the photo is portrait and needs EXIF orientation 6 to view)."""
    portrait = rgb.shape[0] > rgb.shape[1]
    if portrait:
        rgb = np.rot90(rgb, 1)  # orientation 6 turns it back clockwise for viewing
    src_h, src_w = rgb.shape[:2]
    zoom = max(width / src_w, height / src_h) * rng.uniform(1.0, 1.25)
    scaled_w, scaled_h = max(width, round(src_w * zoom)), max(height, round(src_h * zoom))
    big = cv2.resize(np.ascontiguousarray(rgb), (scaled_w, scaled_h), interpolation=cv2.INTER_CUBIC)
    top = int(rng.integers(0, scaled_h - height + 1))
    left = int(rng.integers(0, scaled_w - width + 1))
    return np.ascontiguousarray(big[top : top + height, left : left + width]), portrait


def make_photo(source: Path, target: Path, recipe: RollRecipe, index: int) -> int:
    """Write photo `index` of the roll to `target` (atomically); returns its size in bytes."""
    rng = np.random.default_rng([recipe.seed, index])
    with Image.open(source) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    framed, portrait = frame_photo(rgb, recipe.width, recipe.height, rng)
    noisy = sensor_noise(framed, recipe.noise_sigma * rng.uniform(0.75, 1.25), rng)
    exif = Image.Exif()
    if portrait:
        exif[EXIF_ORIENTATION] = ROTATE_90_CW_TO_VIEW
    partial = target.with_suffix(".part")
    Image.fromarray(noisy).save(partial, "JPEG", quality=recipe.quality, exif=exif)
    os.replace(partial, target)
    return target.stat().st_size


def _make_photo_job(job: tuple[str, str, RollRecipe, int]) -> int:
    source, target, recipe, index = job
    return make_photo(Path(source), Path(target), recipe, index)


def source_for(index: int, sources: Sequence[Path], seed: int) -> Path:
    """Photo i's source: the sources in a seeded random order, round and round, so any prefix of the
    roll spreads over all kinds of source (phone, test photo, wallpaper) rather than the first few names."""
    order = np.random.default_rng(seed).permutation(len(sources))
    return sources[int(order[index % len(sources)])]


def make_roll(
    sources: Sequence[Path], folder: str | Path, count: int, recipe: RollRecipe, processes: int | None = None
) -> list[Path]:
    """The first `count` photos of the roll `recipe` makes from `sources`, in `folder`; made if missing."""
    if not sources:
        raise ValueError("no source photos to make a camera roll from")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    wanted = asdict(recipe)
    if manifest_path.exists() and json.loads(manifest_path.read_text()) != wanted:
        shutil.rmtree(folder)  # made another way: start again rather than mix two recipes
        folder.mkdir(parents=True)
    manifest_path.write_text(json.dumps(wanted, indent=1))
    paths = [folder / photo_name(index) for index in range(count)]
    jobs = [
        (str(source_for(index, sources, recipe.seed)), str(path), recipe, index)
        for index, path in enumerate(paths)
        if not path.exists()
    ]
    if jobs:
        processes = processes or os.cpu_count() or 1
        if processes == 1 or len(jobs) == 1:
            for job in jobs:
                _make_photo_job(job)
        else:
            with Pool(processes) as pool:
                for _ in pool.imap_unordered(_make_photo_job, jobs):
                    pass
    return paths


def link_subset(files: Sequence[Path], folder: str | Path, count: int) -> Path:
    """A folder holding exactly `count` files named IMG_00000.jpg..., linked (hard links, or symlinks
    across file systems) to `files` taken round and round, so a run can point a glob at just them."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for index in range(count):
        source = Path(files[index % len(files)]).resolve()
        link = folder / f"IMG_{index:05d}{source.suffix.lower()}"
        try:
            os.link(source, link)
        except OSError:
            link.symlink_to(source)
    return folder


def warm_page_cache(files: Sequence[Path]) -> int:
    """Read every file once so all measured runs read from memory alike; returns the bytes read."""
    total = 0
    for path in files:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 22):
                total += len(chunk)
    return total
