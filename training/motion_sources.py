"""Real motion blur: the blurred/sharp pairs of ../shared/data/motion/pairs and blur made by averaging
consecutive raw 240 fps GoPro frames (../shared/data/motion/gopro_frames), split by scene.

Files of one GoPro recording are strongly correlated (the same square, the same people), so the split
is by recording, not by file: pairs whose recording is known are grouped by it, the others by the
repository that published them (a repository's examples may come from one recording; grouping them
keeps that unknown on one side). The raw frames belong to recording GOPR0477_11_00, on the training side.
"""

from __future__ import annotations

import csv
import functools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.inputs import WORKING_LONG_SIDE
from model.labels import BLUR_TYPES
from training import dataset, degrade, sources

PAIRS_FOLDER = sources.SHARED_DATA / "motion" / "pairs"
FRAMES_FOLDER = sources.SHARED_DATA / "motion" / "gopro_frames" / "GOPR0477_11_00"

GOPR0384_COPIES = (
    "deepdeblur_istanbul",
    "deblurgan-tf_00",
    "deepdeblur_gamma-seq1-frame8",
    "deblurganv2_000027",
)
"""Pairs the data README names as frames of the Istanbul square recording GOPR0384_11_00."""

HELD_OUT_MOTION_SCENES = frozenset({"gopr0410", "deblurgan-tf", "deepdeblur-gamma", "srn", "nafnet"})
"""Scenes of real motion blur kept for evaluation: 20 blurred photos (one a single real hand-held
exposure, srn_4c6) and 10 sharp partners. Training keeps GOPR0374, GOPR0384, GOPR0477 (with the raw
frames) and the flower pair."""

AVERAGED_FRAMES = (3, 15)
"""How many consecutive 240 fps frames one made exposure averages (1/80 to 1/16 s): the short ones make
the mild shakes (the held-out 8-frame averages the shipped model missed keep 64-71% of their middle
frame's gradient energy)."""
MAX_AVERAGE_DETAIL = 0.72
"""An average keeps at most this share of its middle frame's gradient energy to count as blurry."""
MIN_STILL_DETAIL = 0.9
"""An average that keeps at least this share is labelled sharp: the camera hardly moved. Between the
two the label would be a coin flip, so such draws are not used."""
MILD_DETAIL = 0.6
"""Averages above this share are mild: they are made at 640 px or more, where their blur is still
more than the 2 px the labels draw the line at (shrunk to 300 px, a 6-px shake is 2 px)."""


@dataclass(frozen=True)
class MotionPhoto:
    name: str  # file stem
    path: str
    pair: str  # pair id: a blurred file and its sharp partner share it
    scene: str  # recording (or publishing repository) the split is made by
    blurry: bool

    @property
    def held_out(self) -> bool:
        return self.scene in HELD_OUT_MOTION_SCENES


def motion_scene(pair: str) -> str:
    """The recording a pair comes from, or the repository when the recording is not known."""
    if pair.startswith("dsgen_gopr"):
        return pair.split("-")[0].removeprefix("dsgen_")  # e.g. gopr0384 (its 11_00 and 11_02 parts)
    if pair in GOPR0384_COPIES:
        return "gopr0384"
    if pair.startswith("deepdeblur_gamma"):
        return "deepdeblur-gamma"
    if pair.startswith("deepdeblur_"):
        return pair.removeprefix("deepdeblur_")
    return pair.split("_")[0]  # deblurgan-tf, srn, nafnet


def list_motion_photos(folder: Path = PAIRS_FOLDER) -> list[MotionPhoto]:
    """Every file of the pairs folder's LIST.csv, with its scene."""
    with open(Path(folder) / "LIST.csv", newline="") as listing:
        rows = list(csv.DictReader(listing))
    return [
        MotionPhoto(
            name=Path(row["file"]).stem,
            path=str(Path(folder) / row["file"]),
            pair=row["pair_id"],
            scene=motion_scene(row["pair_id"]),
            blurry=row["kind"] == "blur",
        )
        for row in rows
    ]


def motion_side(folder: Path = PAIRS_FOLDER, *, held_out: bool) -> list[MotionPhoto]:
    """One side of the real-motion split (empty when the folder is absent)."""
    if not (Path(folder) / "LIST.csv").exists():
        return []
    return [p for p in list_motion_photos(folder) if p.held_out == held_out]


def frame_paths(folder: Path = FRAMES_FOLDER) -> list[Path]:
    return sorted(Path(folder).glob("*.jpg")) if Path(folder).is_dir() else []


def gradient_energy(rgb: np.ndarray) -> float:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean(cv2.Sobel(gray, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(gray, cv2.CV_32F, 0, 1) ** 2))


@functools.lru_cache(maxsize=320)
def _frame(path: Path) -> np.ndarray:
    """One raw GoPro frame, RGB (kept per worker process: an average reads up to 15 of them)."""
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def average_frames(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(blurred, sharp): the frames averaged in linear light, as the GoPro data set was made
    (mean(x ** 2.2) ** (1 / 2.2)), and the middle frame."""
    frames = [_frame(p) for p in paths]
    linear = np.mean([degrade.to_linear(f) for f in frames], axis=0)
    return degrade.to_display(linear), frames[len(frames) // 2]


def averaged_motion(
    paths: list[Path], rng: np.random.Generator, tries: int = 8
) -> tuple[np.ndarray, np.ndarray, float]:
    """A made real exposure of 3-15 consecutive frames at a random start, its sharp middle frame and the
    share of the middle frame's gradient energy it keeps: the first draw that is clearly blurred
    (<= MAX_AVERAGE_DETAIL) or clearly still (>= MIN_STILL_DETAIL), else the most blurred draw."""
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(tries):
        count = int(rng.integers(AVERAGED_FRAMES[0], AVERAGED_FRAMES[1] + 1))
        start = int(rng.integers(0, len(paths) - count + 1))
        blurred, sharp = average_frames(paths[start : start + count])
        ratio = gradient_energy(blurred) / max(gradient_energy(sharp), 1e-6)
        if best is None or ratio < best[0]:
            best = (ratio, blurred, sharp)
        if ratio <= MAX_AVERAGE_DETAIL or ratio >= MIN_STILL_DETAIL:
            return blurred, sharp, ratio
    assert best is not None
    return best[1], best[2], best[0]


MIN_LONG_SIDE = 300
"""Smallest long side of the real motion training examples (the thumbnails the job also scores)."""


def motion_example(task: tuple[MotionPhoto, int, int]) -> dataset.Example:
    """Training example of a real motion pair's file (blurred: motion; sharp partner: none) at a
    given long side and JPEG quality."""
    photo, long_side, quality = task
    rgb = sources.load_rgb(sources.Photo(photo.name, photo.path, "none"))
    if long_side < max(rgb.shape[:2]):
        rgb = dataset.resize_long_side(rgb, long_side)
    blur_type = BLUR_TYPES.index("motion" if photo.blurry else "none")
    return dataset.example_from_jpeg(
        dataset.encode_jpeg(rgb, quality), int(photo.blurry), blur_type, photo.name
    )


def averaged_example(task: tuple[int, bool]) -> dataset.Example:
    """Training example made from the raw GoPro frames: an average of 3-15 frames (motion when it keeps
    at most MAX_AVERAGE_DETAIL of its middle frame's detail, sharp when at least MIN_STILL_DETAIL), or
    one frame (keep), at a random size, through the camera's processing after the blur (raw noise,
    smoothing, sharpening of random strength, resize, JPEG: a real camera sharpens the long exposure
    it took; averaging already-sharpened frames had smoothed their halos away); fixed by the seed."""
    seed, blurry = task
    rng = np.random.default_rng(seed)
    paths = frame_paths()
    if blurry:
        rgb, _, ratio = averaged_motion(paths, rng)
        blurry = ratio <= MAX_AVERAGE_DETAIL
        low = 640 if ratio > MILD_DETAIL else MIN_LONG_SIDE
        long_side = int(rng.uniform(low, max(rgb.shape[:2])))
    else:
        rgb = _frame(paths[int(rng.integers(len(paths)))])
        long_side = int(rng.uniform(MIN_LONG_SIDE, WORKING_LONG_SIDE))
    blur_type = BLUR_TYPES.index("motion" if blurry else "none")
    noise = float(rng.uniform(0, 4))
    return dataset.example_from_jpeg(
        dataset.reprocess_real(rgb, long_side, int(rng.integers(2**31)), noise=noise, full_chain=True),
        int(blurry),
        blur_type,
        "gopro_" + FRAMES_FOLDER.name,
    )


REAL_SHAKE_FOLDER = sources.SHARED_DATA / "motion" / "real"
REAL_SHAKE_HELD_OUT_PERCENT = 50
"""Share of motion/real scenes (by hash) kept for evaluation; its EVALUATION ONLY rows always are."""
EVALUATION_ONLY = "EVALUATION ONLY"


@dataclass(frozen=True)
class ShakePhoto:
    """A real camera-shake photo of motion/real (no sharp partner)."""

    name: str  # file stem
    path: str
    group: str  # LIST.csv's set: realblur, phone_burst, lai2016_real, real_lol_blur, realblur_night
    scene: str  # what the split is made by
    evaluation_only: bool  # its licence forbids training on it

    @property
    def held_out(self) -> bool:
        return self.evaluation_only or zlib.crc32(self.scene.encode()) % 100 < REAL_SHAKE_HELD_OUT_PERCENT


def shake_scene(file_name: str) -> str:
    """The scene of a motion/real file: `setNNN` (frames of one phone burst), `sceneNNN` (shakes of one
    RealBlur scene), else the photo's own name (each of Lai et al.'s photos is its own scene)."""
    stem = Path(file_name).stem.removeprefix("real_")
    found = re.search(r"(set\d{3}|scene\d{3})", stem)
    return found.group(1) if found else stem


def list_real_shake(folder: Path = REAL_SHAKE_FOLDER) -> list[ShakePhoto]:
    """Every photo of motion/real's LIST.csv, with its scene and licence restriction."""
    if not (Path(folder) / "LIST.csv").exists():
        return []
    with open(Path(folder) / "LIST.csv", newline="") as listing:
        rows = list(csv.DictReader(listing))
    return [
        ShakePhoto(
            name=Path(row["file"]).stem,
            path=str(Path(folder) / row["file"]),
            group=row["set"],
            scene=shake_scene(row["file"]),
            evaluation_only=EVALUATION_ONLY in row["licence"],
        )
        for row in rows
    ]


def shake_side(folder: Path = REAL_SHAKE_FOLDER, *, held_out: bool) -> list[ShakePhoto]:
    """One side of the motion/real split; training's side never has an EVALUATION ONLY row."""
    photos = [p for p in list_real_shake(folder) if p.held_out == held_out]
    assert held_out or not any(p.evaluation_only for p in photos)
    return photos


def shake_example(task: tuple[str, str, int, int, bool]) -> dataset.Example:
    """Training example of a real photo given as (name, path, long side, seed, blurry): a shaken one
    (motion) or a sharp one (none), resized and re-saved the way photos are shared
    (dataset.reprocess_real)."""
    name, path, long_side, seed, blurry = task
    rgb = sources.load_rgb(sources.Photo(name, path, "none"))
    blur_type = BLUR_TYPES.index("motion" if blurry else "none")
    return dataset.example_from_jpeg(
        dataset.reprocess_real(rgb, long_side, seed), int(blurry), blur_type, name
    )
