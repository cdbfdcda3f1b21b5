"""The training set: synthetic examples made from sharp photos (training.dataset), real labelled photos,
real motion files and averaged GoPro frames, made in worker processes straight into preallocated arrays,
and kept on disk between runs (save_examples / load_examples)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from model.inputs import VIEW_SIZE, VIEWS_PER_PHOTO, WORKING_LONG_SIDE
from model.labels import BLUR_TYPES
from training import dataset, motion_sources, sources

MIN_LONG_SIDE = 300
MAX_UPSCALE = 1.6
AVERAGED_BLURRY = 900
"""Real motion blur made from the raw GoPro frames (3-15 averaged; the still ones labelled sharp), plus
AVERAGED_SHARP single frames."""
AVERAGED_SHARP = 300
REAL_COPIES = 2
"""Extra copies of each real training photo, resized and re-saved through the camera chain's last steps
(sharpening, resize, one or two JPEGs); low-detail sharp photos get twice as many (hard negatives)."""
SHAKE_COPIES = 6
"""Copies of each real shaken photo (motion/real's training scenes and the motion pairs' blurred files)
at sizes from 300 px to its own, each re-saved its own way; sharp partners get half as many."""

_worker_state: dict = {}


def _init_worker(photos: list[sources.Photo], masks: list[str]) -> None:
    dataset.measured_kernels()  # read once per process
    # Each generator process loads the sources once, at most 1.5x the working scale (crops shrink them).
    _worker_state["sources"] = [
        sources.load_rgb(p, max_long_side=int(WORKING_LONG_SIDE * 1.5)) for p in photos
    ]
    _worker_state["names"] = [p.name for p in photos]
    _worker_state["masks"] = masks


def _make_synthetic(seed: int) -> dataset.Example:
    rng = np.random.default_rng(seed)
    index = int(rng.integers(len(_worker_state["sources"])))
    source = dataset.random_crop(_worker_state["sources"][index], rng)
    blur_type = str(
        rng.choice(list(dataset.SYNTHETIC_TYPE_SHARE), p=list(dataset.SYNTHETIC_TYPE_SHARE.values()))
    )
    mild_share = dataset.TRAINING_MILD_SHARE.get(blur_type, dataset.MILD_SHARE)
    spec = dataset.sample_spec(rng, blur_type, len(_worker_state["masks"]), mild_share=mild_share)
    # Sizes from thumbnail to the working scale, a third of them near the working scale (what every large
    # photo is reduced to). Enlarging a source by up to MAX_UPSCALE softens it less than the 1-px blur
    # still labelled sharp, so small sources can stand in for large photos.
    top = min(WORKING_LONG_SIDE, int(max(source.shape[:2]) * MAX_UPSCALE))
    band = rng.choice([(MIN_LONG_SIDE, 500), (500, 800), (800, WORKING_LONG_SIDE)], p=[0.35, 0.35, 0.3])
    long_side = int(min(rng.uniform(*band), top))
    # Every synthetic example goes through the camera's processing (training.degrade.camera_chain),
    # sharp ones included: the evaluation's synthetic set keeps the older, plainer degradation.
    return dataset.camera_example(
        source, spec, long_side, _worker_state["names"][index], _worker_state["masks"]
    )


def _make_real(task: tuple[sources.Photo, int, int, bool]) -> dataset.Example:
    """A real labelled photo at a long side: re-encoded plainly at a JPEG quality (reprocess False), or
    resized and re-saved through the camera chain's last steps with the given seed."""
    photo, long_side, quality_or_seed, reprocess = task
    rgb = sources.load_rgb(photo)
    blurry = int(photo.label not in ("none", "bokeh"))
    blur_type = BLUR_TYPES.index(photo.label) if photo.label in BLUR_TYPES else -1
    if reprocess:
        data = dataset.reprocess_real(rgb, long_side, quality_or_seed)
    else:
        if long_side < max(rgb.shape[:2]):
            rgb = dataset.resize_long_side(rgb, long_side)
        data = dataset.encode_jpeg(rgb, quality_or_seed)
    return dataset.example_from_jpeg(data, blurry, blur_type, photo.name)


def generate_training_set(
    sharp: list[sources.Photo],
    real: list[sources.Photo],
    masks: list[str],
    count: int,
    seed: int,
    processes: int,
    motion: list[motion_sources.MotionPhoto] | None = None,
    averaged: tuple[int, int] = (0, 0),
    shakes: list[motion_sources.ShakePhoto] | None = None,
) -> dict[str, np.ndarray]:
    """`count` synthetic examples; each real photo at two sizes plus REAL_COPIES re-saved copies; each
    real motion file at two or three sizes plus re-saved copies (SHAKE_COPIES for shaken files, with
    motion/real's training scenes); and `averaged` (blurry, sharp) examples from the raw GoPro frames;
    made in `processes` worker processes and written straight into preallocated arrays (a list of
    examples would need twice the memory). The synthetic examples come first, in random order (the
    validation share)."""
    rng = np.random.default_rng(seed)
    real_tasks = [
        (photo, int(size), int(rng.integers(75, 96)), False)
        for photo in real
        for size in (10_000, rng.integers(MIN_LONG_SIDE, 500))
    ]
    for photo in real:
        copies = REAL_COPIES * (2 if photo.name in sources.LOW_DETAIL_SHARP else 1)
        for _ in range(copies):
            real_tasks.append((photo, int(rng.integers(MIN_LONG_SIDE, 1600)), int(rng.integers(2**31)), True))
    shaken = [(p.name, p.path, True) for p in shakes or []]
    shaken += [(p.name, p.path, p.blurry) for p in motion or []]
    shake_tasks = [
        (name, path, int(rng.integers(MIN_LONG_SIDE, 1400)), int(rng.integers(2**31)), blurry)
        for name, path, blurry in shaken
        for _ in range(SHAKE_COPIES if blurry else SHAKE_COPIES // 2)
    ]
    seeds = [int(s) for s in rng.integers(0, 2**31, count)]
    motion_tasks = [
        (photo, int(size), int(rng.integers(80, 96)))
        for photo in motion or []
        for size in (10_000, rng.integers(MIN_LONG_SIDE, 500))
        + ((int(rng.integers(500, WORKING_LONG_SIDE)),) if photo.blurry else ())
    ]
    averaged_tasks = [(int(rng.integers(2**31)), k < averaged[0]) for k in range(sum(averaged))]
    total = count + len(real_tasks) + len(motion_tasks) + len(averaged_tasks) + len(shake_tasks)
    arrays = {
        "views": np.empty((total, VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), np.uint8),
        "blurry": np.empty(total, np.float32),
        "blur_type": np.empty(total, np.int32),
        "blur_type_weight": np.empty(total, np.float32),
    }
    with multiprocessing.get_context("spawn").Pool(processes, _init_worker, (sharp, masks)) as pool:
        made = [
            pool.imap(_make_synthetic, seeds, chunksize=16),
            pool.imap(_make_real, real_tasks, chunksize=8),
            pool.imap(motion_sources.motion_example, motion_tasks, chunksize=4),
            pool.imap(motion_sources.averaged_example, averaged_tasks, chunksize=4),
            pool.imap(motion_sources.shake_example, shake_tasks, chunksize=4),
        ]
        for row, example in enumerate(example for stream in made for example in stream):
            for key, value in dataset.stack([example]).items():
                arrays[key][row] = value[0]
    return arrays


def save_examples(arrays: dict[str, np.ndarray], folder: Path) -> None:
    """Keep generated examples: the views as a plain .npy (memory-mapped when read back), the rest in .npz."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "views.npy", arrays["views"])
    np.savez(folder / "labels.npz", **{k: v for k, v in arrays.items() if k != "views"})


def load_examples(folder: Path) -> dict[str, np.ndarray]:
    """Examples kept by save_examples; the views (several GB) stay on disk, memory-mapped."""
    return {"views": np.load(folder / "views.npy", mmap_mode="r"), **np.load(folder / "labels.npz")}
