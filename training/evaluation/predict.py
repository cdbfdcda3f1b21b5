"""Predicting: the model loaded the way the job loads it (model.contract, Keras only: no Beam) run over
every held-out set, and the model's own cost per photo."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import numpy as np

from model.contract import BlurModel, load_blur_model
from model.inputs import VIEW_SIZE, VIEWS_PER_PHOTO
from training.evaluation.rows import Row

COST_BATCH = 64


def predict(
    model_dir: str, rows_and_views: Iterable[tuple[list[Row], np.ndarray]], batch: int = COST_BATCH
) -> BlurModel:
    """Run the model over every set; fill in each row's probabilities. Returns the loaded model for the
    cost measurement."""
    model = load_blur_model(model_dir)
    for rows, views in rows_and_views:
        for start in range(0, len(rows), batch):
            predictions = model.predict(views[start : start + batch])
            for offset, row in enumerate(rows[start : start + batch]):
                row.probability = float(predictions.blur_probability[offset])
                row.type_probabilities = [float(p) for p in predictions.type_probabilities[offset]]
    return model


def measure_cost(model: BlurModel, views: np.ndarray, batches: int) -> dict[str, float]:
    """Photos per second of the model alone: its tf.function over batches of COST_BATCH photos."""
    batch_views = (
        np.resize(views, (COST_BATCH, *views.shape[1:]))
        if len(views)
        else np.zeros((COST_BATCH, VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), np.uint8)
    )
    model.predict(batch_views)  # warm-up: the graph is traced once
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(batches):
        model.predict(batch_views)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    photos = batches * COST_BATCH
    return {
        "batch": COST_BATCH,
        "photos_timed": photos,
        "photos_per_second": photos / seconds,
        "ms_per_photo": 1000 * seconds / photos,
        # CPU time counts every core the model used and depends less on what else the machine runs.
        "cpu_ms_per_photo": 1000 * cpu_seconds / photos,
        "cpu_count": os.cpu_count() or 0,
        "load_average": os.getloadavg()[0],
    }
