"""Real motion blur: the blurred/sharp pairs of ../shared/data/motion/pairs and blur made by averaging
consecutive raw 240 fps GoPro frames (../shared/data/motion/gopro_frames), split by scene.

Files of one GoPro recording are strongly correlated (the same square, the same people), so the split
is by recording, not by file: pairs whose recording is known are grouped by it, the others by the
repository that published them (a repository's examples may come from one recording; grouping them
keeps that unknown on one side). The raw frames belong to recording GOPR0477_11_00, on the training side.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.labels import BLUR_TYPES
from model.inputs import WORKING_LONG_SIDE
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

AVERAGED_FRAMES = (7, 15)
"""How many consecutive 240 fps frames one made exposure averages (about 1/34 to 1/16 s)."""
MAX_AVERAGE_DETAIL = 0.6
"""An average keeps at most this share of its middle frame's gradient energy to count as blurry: where
the camera hardly moved, the average is as sharp as a frame and would be a wrong label."""


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


def average_frames(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(blurred, sharp): the frames averaged in linear light, as the GoPro data set was made
    (mean(x ** 2.2) ** (1 / 2.2)), and the middle frame."""
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    linear = np.mean([degrade.to_linear(f) for f in frames], axis=0)
    return degrade.to_display(linear), frames[len(frames) // 2]


def averaged_motion(
    paths: list[Path], rng: np.random.Generator, tries: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """A made real-motion exposure of 7-15 consecutive frames at a random start, and its sharp middle
    frame; the first draw blurred enough (MAX_AVERAGE_DETAIL), else the most blurred draw."""
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(tries):
        count = int(rng.integers(AVERAGED_FRAMES[0], AVERAGED_FRAMES[1] + 1))
        start = int(rng.integers(0, len(paths) - count + 1))
        blurred, sharp = average_frames(paths[start : start + count])
        ratio = gradient_energy(blurred) / max(gradient_energy(sharp), 1e-6)
        if best is None or ratio < best[0]:
            best = (ratio, blurred, sharp)
        if ratio <= MAX_AVERAGE_DETAIL:
            break
    assert best is not None
    return best[1], best[2]


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
    """Training example made from the raw GoPro frames: an average of 7-15 (blurry, motion), or one
    frame (keep), at a random size; fixed by the task's seed."""
    seed, blurry = task
    rng = np.random.default_rng(seed)
    paths = frame_paths()
    if blurry:
        rgb, _ = averaged_motion(paths, rng)
        long_side = int(rng.uniform(MIN_LONG_SIDE, max(rgb.shape[:2])))
    else:
        rgb = sources.load_rgb(sources.Photo("frame", str(paths[int(rng.integers(len(paths)))]), "none"))
        long_side = int(rng.uniform(MIN_LONG_SIDE, WORKING_LONG_SIDE))
    rgb = dataset.resize_long_side(rgb, long_side)
    blur_type = BLUR_TYPES.index("motion" if blurry else "none")
    quality = int(rng.integers(80, 96))
    return dataset.example_from_jpeg(
        dataset.encode_jpeg(rgb, quality), int(blurry), blur_type, "gopro_" + FRAMES_FOLDER.name
    )
