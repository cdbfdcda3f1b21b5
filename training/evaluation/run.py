"""One evaluation from start to finish: plan both held-out sets, make the examples, predict, gather the
figures (`evaluate`), then write evaluation.json, the plots and EVALUATION.md (`write_outputs`).

The held-out sets are the entries of `task_sets` in `evaluate`: a new set adds its tasks there (see
plan.py and examples.py), its figures in figures.py and its section in report_template.md.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from model import MODEL_FILE
from pipeline.verdict import DEFAULT_BLUR_THRESHOLD, DEFAULT_LAPLACIAN_THRESHOLD
from training import motion_sources, sources
from training.evaluation import figures as figures_module
from training.evaluation import motion
from training.evaluation.examples import generate
from training.evaluation.plan import (
    LARGE_LABEL,
    LARGE_SIZE,
    NONE_VARIANTS,
    PAIR_SIZE,
    REAL_COPY_QUALITY,
    EvaluationPhotos,
    Plan,
    real_tasks,
    synthetic_tasks,
)
from training.evaluation.plots import write_plots
from training.evaluation.predict import measure_cost, predict
from training.evaluation.report import write_report

log = logging.getLogger("evaluate")


def method() -> dict[str, Any]:
    """The settings behind the figures, recorded in the JSON so the report states them from there."""
    return {
        "held_out_percent": sources.HELD_OUT_PERCENT,
        "low_detail_sharp": list(sources.LOW_DETAIL_SHARP),
        "always_held_out": [*sources.ALWAYS_HELD_OUT_LOW_DETAIL, *sources.NIGHT_SHARP],
        "keep_variants": list(dict.fromkeys(NONE_VARIANTS)),
        "large_size": LARGE_SIZE,
        "large_label": LARGE_LABEL,
        "pair_size": PAIR_SIZE,
        "real_copy_quality": REAL_COPY_QUALITY,
        "laplacian_threshold": DEFAULT_LAPLACIAN_THRESHOLD,
        "blur_threshold": DEFAULT_BLUR_THRESHOLD,
        "native_large_max_upscale": figures_module.NATIVE_LARGE_MAX_UPSCALE,
        "study": {**figures_module.STUDY, "set": figures_module.STUDY_SET},
        "motion_sizes": [size or "original" for size in motion.MOTION_SIZES],
        "night_sizes": list(motion.NIGHT_SIZES),
        "held_out_motion_scenes": sorted(motion_sources.HELD_OUT_MOTION_SCENES),
        "night_sharp": list(sources.NIGHT_SHARP),
        "real_shake_held_out_percent": motion_sources.REAL_SHAKE_HELD_OUT_PERCENT,
    }


def make_examples(
    photos: EvaluationPhotos, plan: Plan, seed: int, processes: int, cache: Path | None = None
) -> dict[str, tuple[list, np.ndarray]]:
    """Every held-out set's rows and views. With `cache`, they are read from there when present, else
    made and kept there: a second model is then evaluated on exactly the same examples, without the
    most expensive part of a run (the examples depend only on the photos, the plan and the seed)."""
    if cache is not None and (cache / "rows.pickle").exists():
        with open(cache / "rows.pickle", "rb") as stream:
            kept = pickle.load(stream)
        if kept["key"] != _cache_key(photos, plan, seed):
            raise SystemExit(f"{cache} holds examples of other photos, plan or seed")
        log.info("examples read from %s", cache)
        return {name: (rows, np.load(cache / f"{name}.npy")) for name, rows in kept["rows"].items()}
    made = _make(photos, plan, seed, processes)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for name, (_, views) in made.items():
            np.save(cache / f"{name}.npy", views)
        with open(cache / "rows.pickle", "wb") as stream:
            rows = {name: rows for name, (rows, _) in made.items()}
            pickle.dump({"key": _cache_key(photos, plan, seed), "rows": rows}, stream)
    return made


def _cache_key(photos: EvaluationPhotos, plan: Plan, seed: int) -> str:
    return repr((photos, plan, seed))


def _make(
    photos: EvaluationPhotos, plan: Plan, seed: int, processes: int
) -> dict[str, tuple[list, np.ndarray]]:
    synthetic_sources, masks = photos.synthetic_sources, photos.masks
    task_sets = {
        "synthetic": synthetic_tasks(
            len(synthetic_sources), len(masks), seed, plan.sizes, plan.large_per_source, plan.specs_per_type
        ),
        "real": real_tasks(photos.real_photos, plan.real_reduced_sizes),
        "motion": motion.motion_tasks(photos.motion_photos),
        "night": motion.night_tasks(len(synthetic_sources), len(masks), seed),
        "shake": motion.shake_tasks(photos.shake_photos),
    }
    log.info("making %s examples", ", ".join(f"{len(tasks)} {name}" for name, tasks in task_sets.items()))
    return generate(synthetic_sources, masks, task_sets, processes)


def evaluate(
    model_dir: str,
    photos: EvaluationPhotos,
    plan: Plan,
    seed: int,
    processes: int,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Make (or read from `cache`) the held-out sets, run the model, and gather every figure (nothing
    written yet)."""
    started = time.time()
    synthetic_sources, masks = photos.synthetic_sources, photos.masks
    made = make_examples(photos, plan, seed, processes, cache)
    generated = time.time()
    log.info("examples made in %.0f s; running the model", generated - started)
    model = predict(model_dir, made.values())
    predicted = time.time()
    real_views, synth_views = made["real"][1], made["synthetic"][1]
    cost = measure_cost(model, real_views if len(real_views) else synth_views, plan.cost_batches)
    log.info("model alone: %.1f ms per photo", cost["ms_per_photo"])
    figures = figures_module.compute_figures(
        made["synthetic"][0], made["real"][0], made["motion"][0], made["night"][0], made["shake"][0]
    )
    metadata = model.metadata
    return {
        "seed": seed,
        "specs_per_type": plan.specs_per_type,
        "sizes": list(plan.sizes),
        "real_reduced_sizes": list(plan.real_reduced_sizes),
        "inputs": {
            "masks": len(masks),
            "synthetic_sources": [p.name for p in synthetic_sources],
            "real_photos": [Path(p.path).name for p in photos.real_photos],
            "motion_photos": [Path(p.path).name for p in photos.motion_photos],
            "shake_photos": [Path(p.path).name for p in photos.shake_photos],
        },
        "model": {
            "dir": str(model_dir),
            "version": metadata.version,
            "file_bytes": (Path(model_dir) / MODEL_FILE).stat().st_size,
            "metadata": metadata.to_json(),
        },
        "method": method(),
        "cost": cost,
        "figures": figures,
        "targets": figures_module.targets(figures),
        "stage_seconds": {
            "examples": round(generated - started, 1),
            "inference": round(predicted - generated, 1),
        },
    }


def jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars to Python, NaN to null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(result), indent=1) + "\n")


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """EVALUATION.md, evaluation.json and the three PNG plots in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    write_plots(result["figures"], out)
    write_report(result, out)
    write_json(result, out / "evaluation.json")
