"""The team's burst set: real frames given burst timestamps, written as JPEGs with EXIF
DateTimeOriginal, SubSecTimeOriginal, Make and Model, with the truth of which photos are one burst
and which frame is its best. Used by bench/bursts.py and by the real-job test in tests/test_bursts.py.

From ../shared/data (read in place, never copied into the repository):
- GoPro bursts: consecutive 240 fps frames of motion/gopro_frames/GOPR0477_11_00; a burst is a sharp
  frame (its best) and three averages of 7-13 frames around it, averaged in linear light as the GoPro
  blur dataset was (real motion blur). One burst straddles a five-minute bucket edge.
- Phone bursts: motion/real/real_sbdd_setNNN_* (frames of one set are one hand-held scene, no sharp
  partner: no best is known); set009's single frame is a photo alone.
- Camera bursts: a photos/camera photo (the best) and two copies blurred with real measured shake
  kernels (kernels/levin09_*) and shifted by a few pixels, as a hand-held burst's frames are.
- Different subjects within the gap (the precision test): other photos/camera photos 0.5 s apart
  from the same camera, and one right after each camera burst. All alone.
- No capture time: a photo and its re-encoded, resized copy (near-identical: one burst), and other
  photos without a time (alone).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GOPRO = SHARED / "motion" / "gopro_frames" / "GOPR0477_11_00"
PHONE = SHARED / "motion" / "real"
CAMERA = SHARED / "photos" / "camera"
KERNELS = SHARED / "kernels"

START = datetime(2026, 6, 1, 10, 0, 0)
"""The set's first second: on a five-minute bucket edge, so `BUCKET_EDGE_S` is one too."""

BUCKET_EDGE_S = 300.0

GOPRO_CAMERA = ("GoPro", "HERO4 Black")
PHONE_CAMERA = ("Google", "Pixel 3")
STILL_CAMERA = ("Canon", "Canon EOS R6")


@dataclass(frozen=True)
class Shot:
    """One photo of the set: its file name, when it was taken (seconds after START, None: no time),
    its camera, its true burst (None: alone) and whether it is that burst's best frame."""

    name: str
    rgb: np.ndarray
    seconds: float | None
    camera: tuple[str, str] | None
    burst: str | None = None
    best: bool = False


def _load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _frame_average(frames: dict[int, np.ndarray], centre: int, count: int) -> np.ndarray:
    linear = np.mean(
        [(frames[i] / 255.0) ** 2.2 for i in range(centre - count // 2, centre + count // 2 + 1)], 0
    )
    return np.clip(linear ** (1 / 2.2) * 255 + 0.5, 0, 255).astype(np.uint8)


def gopro_bursts(centres: tuple[int, ...] = (20, 60, 100, 140, 180, 220, 260)) -> list[Shot]:
    """Bursts of four: the sharp frame at each centre and three frame averages around it."""
    needed = sorted({i for c in centres for i in range(c - 18, c + 27)})
    frames = {i: _load(GOPRO / f"{i:06d}.jpg") for i in needed if (GOPRO / f"{i:06d}.jpg").exists()}
    shots = []
    for number, centre in enumerate(centres):
        burst = f"gopro{number}"
        # The last burst straddles the bucket edge; the others sit 40 s apart well inside buckets.
        start = BUCKET_EDGE_S - 0.4 if number == len(centres) - 1 else 20.0 + 40.0 * number
        frames_of_burst = [
            (_frame_average(frames, centre - 12, 9), False),
            (frames[centre], True),
            (_frame_average(frames, centre + 12, 13), False),
            (_frame_average(frames, centre + 20, 7), False),
        ]
        for index, (rgb, best) in enumerate(frames_of_burst):
            shots.append(Shot(f"{burst}_{index}.jpg", rgb, start + 0.25 * index, GOPRO_CAMERA, burst, best))
    return shots


def phone_bursts() -> list[Shot]:
    """The SBDD phone bursts, frames 0.4 s apart in burst order; a set of one frame is a photo alone."""
    sets: dict[str, list[Path]] = {}
    for path in sorted(PHONE.glob("real_sbdd_set0*")):
        sets.setdefault(path.name.split("_")[2], []).append(path)
    shots = []
    for number, (name, paths) in enumerate(sorted(sets.items())):
        burst = f"phone_{name}" if len(paths) > 1 else None
        for index, path in enumerate(paths):
            seconds = 400.0 + 30.0 * number + 0.4 * index
            shots.append(Shot(f"{name}_{index}.jpg", _load(path), seconds, PHONE_CAMERA, burst))
    return shots


def _shaken(rgb: np.ndarray, kernel_path: Path, shift: tuple[int, int]) -> np.ndarray:
    kernel = cv2.imread(str(kernel_path), cv2.IMREAD_UNCHANGED).astype(np.float64)
    kernel /= kernel.sum()
    blurred = cv2.filter2D(
        rgb.astype(np.float32), -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT
    )
    moved = np.roll(blurred, shift, axis=(0, 1))
    return np.clip(moved + 0.5, 0, 255).astype(np.uint8)


def camera_photos() -> list[Path]:
    return sorted(CAMERA.glob("*.jpg"))


def camera_bursts(photos: list[Path], intruders: list[Path]) -> list[Shot]:
    """A burst of three per photo (the photo, two shaken copies), then a different photo 0.8 s later."""
    kernels = sorted(KERNELS.glob("levin09_*.png"))
    shots = []
    for number, (path, intruder) in enumerate(zip(photos, intruders, strict=True)):
        burst, start = f"camera{number}", 700.0 + 30.0 * number
        sharp = _load(path)
        frames = [
            (_shaken(sharp, kernels[(2 * number) % len(kernels)], (6, -4)), False),
            (sharp, True),
            (_shaken(sharp, kernels[(2 * number + 1) % len(kernels)], (-5, 7)), False),
        ]
        for index, (rgb, best) in enumerate(frames):
            shots.append(Shot(f"{burst}_{index}.jpg", rgb, start + 0.3 * index, STILL_CAMERA, burst, best))
        shots.append(Shot(f"{burst}_next_subject.jpg", _load(intruder), start + 1.4, STILL_CAMERA))
    return shots


def different_subjects(photos: list[Path], run: int = 6) -> list[Shot]:
    """Runs of `run` different photos 0.5 s apart from one camera: none may be merged."""
    return [
        Shot(
            f"subject{index}.jpg",
            _load(path),
            1100.0 + 30.0 * (index // run) + 0.5 * (index % run),
            STILL_CAMERA,
        )
        for index, path in enumerate(photos)
    ]


def untimed(pairs: list[Path], singles: list[Path]) -> list[Shot]:
    """Photos without EXIF: each of `pairs` with a copy at 80% (one burst); `singles` alone."""
    shots = []
    for number, path in enumerate(pairs):
        rgb = _load(path)
        small = cv2.resize(rgb, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
        shots.append(Shot(f"copy{number}_a.jpg", rgb, None, None, f"copy{number}"))
        shots.append(Shot(f"copy{number}_b.jpg", small, None, None, f"copy{number}"))
    shots.extend(Shot(f"undated{index}.jpg", _load(path), None, None) for index, path in enumerate(singles))
    return shots


def burst_set(
    camera_bursts_count: int = 8, subjects: int = 36, pairs: int = 6, singles: int = 10
) -> list[Shot]:
    """The whole set (about 150 photos with the defaults)."""
    # Spread over the list so the groups do not all come from one source's files.
    photos = camera_photos()[::2] + camera_photos()[1::2]
    used = 0

    def take(count: int) -> list[Path]:
        nonlocal used
        chosen = photos[used : used + count]
        used += count
        return chosen

    shots = gopro_bursts() + phone_bursts()
    shots += camera_bursts(take(camera_bursts_count), take(camera_bursts_count))
    shots += different_subjects(take(subjects))
    shots += untimed(take(pairs), take(singles))
    return shots


def jpeg_with_exif(shot: Shot, quality: int = 92) -> bytes:
    """The shot as a JPEG; with its capture time (to the millisecond) and camera in EXIF when it has them."""
    exif = Image.Exif()
    if shot.camera is not None:
        exif[0x010F], exif[0x0110] = shot.camera  # Make, Model
    if shot.seconds is not None:
        moment = START + timedelta(seconds=shot.seconds)
        details = exif.get_ifd(0x8769)
        details[0x9003] = moment.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
        details[0x9291] = f"{moment.microsecond // 1000:03d}"  # SubSecTimeOriginal
    out = io.BytesIO()
    Image.fromarray(shot.rgb).save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def write_set(folder: Path, shots: list[Shot]) -> dict[str, Shot]:
    """Write the shots into `folder`; returns file path -> Shot."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for shot in shots:
        path = folder / shot.name
        path.write_bytes(jpeg_with_exif(shot))
        written[str(path)] = shot
    return written
