"""Making the held-out examples: each task (plan.py) becomes a Row and its model views, in worker
processes, through the job's own decoder and view cutter (training.dataset).

A new held-out set needs a task class in plan.py, a `_make_...` function here registered in `_MAKERS`,
and its task list passed to `generate`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.inputs import VIEW_SIZE, VIEWS_PER_PHOTO
from model.labels import KEEP_TYPES
from training import dataset, sources
from training.evaluation.motion import MotionTask, ShakeTask, make_motion, make_shake
from training.evaluation.plan import (
    LARGE_LABEL,
    LARGE_SIZE,
    LOW_DETAIL_VARIANTS,
    REAL_COPY_QUALITY,
    RealTask,
    SyntheticTask,
)
from training.evaluation.rows import Row

Task = SyntheticTask | RealTask | MotionTask | ShakeTask

_worker: dict[str, Any] = {}


def _init_worker(photos: list[sources.Photo], masks: list[str]) -> None:
    # Full resolution: the 12-MP copies are enlarged from the largest crop available.
    _worker["sources"] = [sources.load_rgb(photo) for photo in photos]
    _worker["names"] = [photo.name for photo in photos]
    _worker["masks"] = masks


def _make_synthetic(task: SyntheticTask) -> tuple[Row, np.ndarray]:
    name = _worker["names"][task.source_index]
    crop = dataset.random_crop(_worker["sources"][task.source_index], np.random.default_rng(task.crop_seed))
    example = dataset.synthetic_example(crop, task.spec, task.size, name, _worker["masks"])
    row = Row(
        set="synthetic",
        source=name,
        kind=task.kind,
        blur_type=task.spec.blur_type,
        blurry=task.spec.blurry,
        size=LARGE_LABEL if task.size == LARGE_SIZE else str(task.size),
        long_side=example.long_side,
        source_long_side=max(crop.shape[:2]),
        pair=task.pair,
        low_detail=task.spec.blur_type == "none"
        and (task.spec.variant in LOW_DETAIL_VARIANTS or name in sources.LOW_DETAIL_SHARP),
        hazy=task.spec.haze > 0,
        laplacian_var=example.laplacian_var,
    )
    return row, example.views


def _make_real(task: RealTask) -> tuple[Row, np.ndarray]:
    photo = task.photo
    source_long_side = 0
    if task.size is None:
        data = Path(photo.path).read_bytes()  # the file as it is: the job's decoder sees what it would see
    else:
        rgb = sources.load_rgb(photo)
        source_long_side = max(rgb.shape[:2])
        data = dataset.encode_jpeg(dataset.resize_long_side(rgb, task.size), REAL_COPY_QUALITY)
    example = dataset.example_from_jpeg(data, int(photo.label not in KEEP_TYPES), -1, photo.name)
    source_long_side = source_long_side or example.long_side
    row = Row(
        set="real",
        source=photo.name,
        kind=_real_kind(photo),
        blur_type=photo.label,
        blurry=photo.label not in KEEP_TYPES,
        size="original" if task.size is None else str(task.size),
        long_side=example.long_side,
        source_long_side=source_long_side,
        low_detail=photo.name in sources.LOW_DETAIL_SHARP,
        laplacian_var=example.laplacian_var,
        file=Path(photo.path).name,
    )
    return row, example.views


def _real_kind(photo: sources.Photo) -> str:
    if photo.name in sources.LOW_DETAIL_SHARP:
        return "real/low-detail sharp"
    label = "sharp" if photo.label == "none" else photo.label
    return f"real/{label} ({photo.name.split('_', 1)[0]})"


_MAKERS = {
    SyntheticTask: _make_synthetic,
    RealTask: _make_real,
    MotionTask: make_motion,
    ShakeTask: make_shake,
}


def make_example(task: Task) -> tuple[int, Row, np.ndarray]:
    """(task index, row, views) for one task, in a worker started by `generate`."""
    row, views = _MAKERS[type(task)](task)
    return task.index, row, views


def generate(
    synthetic_sources: list[sources.Photo],
    masks: list[str],
    task_sets: Mapping[str, Sequence[Task]],
    processes: int,
) -> dict[str, tuple[list[Row], np.ndarray]]:
    """{set name: (rows, views (N, V, 200, 200, 3) uint8)} for each set of tasks, in task order, made in
    `processes` worker processes (spawned: no TensorFlow state inherited; the same on every OS)."""
    made: dict[str, tuple[list[Row], np.ndarray]] = {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, _init_worker, (synthetic_sources, masks)) as pool:
        for name, tasks in task_sets.items():
            rows: list[Row | None] = [None] * len(tasks)
            views = np.zeros((len(tasks), VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), np.uint8)
            ordered = sorted(tasks, key=lambda t: not t.expensive)  # expensive first, then in order
            chunk = type(tasks[0]).chunk if tasks else 1
            for index, row, example_views in pool.imap_unordered(make_example, ordered, chunksize=chunk):
                rows[index], views[index] = row, example_views
            made[name] = (rows, views)  # type: ignore[assignment]
    return made
