"""Evaluate the blur model on held-out photos only and write model/EVALUATION.md, evaluation.json and plots.

    python -m training.evaluate --model model/ --photos ../shared/data/photos/sharp \
        --real ../shared/data/photos --masks ../shared/data/masks --out model/

Two held-out sets, both drawn only from scenes and masks for which training.sources.is_held_out is True:
- synthetic: each held-out sharp photo (plus held-out scikit-image photos) is cropped at random and
  degraded with every blur type, mild and strong, and every 'keep' variant (plain, haze, low contrast,
  soft, sharpened, bokeh), then put through JPEG and the job's own decoder at 300, 400, 700 and 1000 px;
  some of the same degraded crops are also made at 12 MP (the crop enlarged to 4000 px, the same
  BlurSpec applied, whose sizes scale with the photo) so the 400-px and 12-MP verdicts can be compared;
- real: the held-out real sharp, blurry and bokeh photos as they are on disk, plus copies shrunk to
  400 and 1000 px as extra rows.

The model is run the way the job runs it (model.contract.load_blur_model: keras.saving.load_model
and one tf.function, no Beam), the Laplacian baseline is the job's laplacian_var at the working scale, < 100
meaning blurry. Fixed seed; at most --processes worker processes; nothing is cached.

`--seen-scenes N` is a diagnostic, not the evaluation: the same synthetic set made from N scenes the
model was trained on (fresh crops and degradations), written to evaluation_seen_scenes.json. The gap
between it and the held-out figures is what unseen scenes cost; what it misses itself, the model (or
the task as posed) cannot do even on familiar scenes.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model import MODEL_FILE
from model.contract import load_blur_model
from pipeline.labels import BLUR_TYPES, KEEP_TYPES
from pipeline.preprocess import VIEW_SIZE, VIEWS_PER_PHOTO, WORKING_LONG_SIDE
from pipeline.verdict import (
    DEFAULT_BLUR_THRESHOLD,
    DEFAULT_LAPLACIAN_THRESHOLD,
    blur_type_for_verdict,
    is_blurry,
    is_laplacian_blurry,
)
from training import dataset, sources

log = logging.getLogger("evaluate")

SEED = 20261127
SYNTHETIC_SIZES = (300, 400, 700, 1000)
LARGE_SIZE = 4000
"""Long side of the '12 MP' copies (4000x3000 for a 4:3 crop)."""
PAIR_SIZE = 400
"""The small size each 12-MP copy is compared with."""
REAL_REDUCED_SIZES = (400, 1000)
REAL_COPY_QUALITY = 92
"""JPEG quality of the shrunk copies of real photos (a phone's or a photo tool's usual export quality)."""
SPECS_PER_TYPE = {"none": 4, "gaussian": 2, "motion": 2, "minfilter": 2, "defocus": 2, "bokeh": 2}
QUICK_SPECS_PER_TYPE = {"none": 2, "gaussian": 1, "motion": 1, "minfilter": 1, "defocus": 1, "bokeh": 1}
NONE_VARIANTS = ("plain", "haze", "low_contrast", "soft", "sharpened", "plain")
LOW_DETAIL_VARIANTS = ("haze", "low_contrast")
TYPES_WITH_MILD_BAND = ("gaussian", "motion", "defocus")
LARGE_PER_SOURCE = 2
COST_BATCH = 64
ROC_POINTS = 200

STUDY = {"laplacian": 0.85, "cnn": 0.95, "blur_type": 0.90}
"""The seed study's table (1000 clear + 1000 blurry photos)."""

TARGET_NAMES = {
    "synthetic_cnn_accuracy": "blurry vs keep, held-out synthetic",
    "real_cnn_accuracy": "blurry vs keep, held-out real",
    "blur_type_accuracy": "blur type over six types (synthetic)",
    "bokeh_kept": "bokeh photos kept (synthetic + 3 real)",
    "low_detail_kept": "low-detail sharp photos kept (haze/low-contrast synthetic + 4 real)",
}
TARGETS = {
    "synthetic_cnn_accuracy": 0.97,
    "real_cnn_accuracy": 0.95,
    "blur_type_accuracy": 0.95,
    "bokeh_kept": 0.95,
    "low_detail_kept": 0.95,
}


# ---------------------------------------------------------------------------------------------------
# Pure metric helpers (tested in tests/test_evaluate.py)
# ---------------------------------------------------------------------------------------------------


def accuracy(truth: Sequence[bool] | np.ndarray, predicted: Sequence[bool] | np.ndarray) -> float:
    """Share of equal entries; NaN when there are none."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape:
        raise ValueError(f"shapes differ: {truth.shape} vs {predicted.shape}")
    return float(np.mean(truth == predicted)) if truth.size else math.nan


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible for small counts and for 0% or 100%)."""
    if total == 0:
        return math.nan, math.nan
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def confusion_matrix(truth: Iterable[int], predicted: Iterable[int], classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), np.int64)
    for t, p in zip(truth, predicted, strict=True):
        matrix[int(t), int(p)] += 1
    return matrix


def roc_curve(truth: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray):
    """ROC of `scores` (higher = more likely positive): (false positive rates, true positive rates,
    thresholds), from (0, 0) to (1, 1); tied scores move both rates in one step."""
    truth = np.asarray(truth, bool)
    scores = np.asarray(scores, np.float64)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("ROC needs both positive and negative examples")
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    true_positives = np.cumsum(truth)[last_of_tie]
    false_positives = (last_of_tie + 1) - true_positives
    fpr = np.r_[0.0, false_positives / negatives]
    tpr = np.r_[0.0, true_positives / positives]
    thresholds = np.r_[np.inf, scores[last_of_tie]]
    return fpr, tpr, thresholds


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a curve by the trapezoid rule (x must be non-decreasing)."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def roc_corners(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """Indices of the points where an ROC curve turns: dropping the others leaves the same polyline."""
    turns = np.logical_or(np.diff(fpr, 2) != 0, np.diff(tpr, 2) != 0) if len(fpr) > 2 else np.array([], bool)
    return np.nonzero(np.r_[True, turns, True])[0]


def agreement(first: Sequence[bool] | np.ndarray, second: Sequence[bool] | np.ndarray) -> float:
    """Share of pairs with the same verdict."""
    return accuracy(first, second)


def laplacian_verdict(
    laplacian_vars: Sequence[float] | np.ndarray, threshold: float = DEFAULT_LAPLACIAN_THRESHOLD
):
    """The baseline: variance of the Laplacian at the working scale below the threshold means blurry."""
    return np.asarray(laplacian_vars, np.float64) < threshold


# ---------------------------------------------------------------------------------------------------
# Held-out examples
# ---------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One evaluated photo: its labels, how it was made, and (after inference) the verdicts."""

    set: str  # "synthetic" or "real"
    source: str  # scene name
    kind: str  # e.g. "gaussian/mild", "none/haze", "real/blurry"
    blur_type: str  # true type, or "blurry" for real blurry photos (type unknown)
    blurry: bool  # true label
    size: str  # "300", "400", "700", "1000", "12MP", "original"
    long_side: int  # long side of the JPEG the decoder saw
    source_long_side: int  # long side of the (cropped) source before resizing
    pair: int = -1  # a degraded crop that also has a 12-MP copy: all its sizes share this id
    low_detail: bool = False
    hazy: bool = False  # haze or low contrast laid over the photo (keep variants and 10% of blurry ones)
    laplacian_var: float = 0.0
    probability: float = math.nan
    type_probabilities: list[float] = field(default_factory=list)
    file: str = ""

    @property
    def working_upscale(self) -> float:
        """How much the source was enlarged, as the network sees it (at the working scale)."""
        return min(self.long_side, WORKING_LONG_SIDE) / max(self.source_long_side, 1)

    @property
    def verdict(self) -> bool:
        return is_blurry(self.probability, DEFAULT_BLUR_THRESHOLD)

    @property
    def laplacian_blurry(self) -> bool:
        return is_laplacian_blurry(self.laplacian_var, DEFAULT_LAPLACIAN_THRESHOLD)

    @property
    def predicted_type(self) -> str:
        return blur_type_for_verdict(np.asarray(self.type_probabilities), self.verdict)


@dataclass(frozen=True)
class SyntheticTask:
    index: int
    source_index: int
    crop_seed: int
    spec: dataset.BlurSpec
    size: int
    pair: int
    kind: str


@dataclass(frozen=True)
class RealTask:
    index: int
    photo: sources.Photo
    size: int | None  # None: the file as it is


def _draw_spec(
    rng: np.random.Generator, blur_type: str, mask_count: int, wanted: Callable[[dataset.BlurSpec], bool]
) -> dataset.BlurSpec:
    """A sample_spec draw that meets `wanted` (rejection sampling, so the set covers every variant)."""
    for _ in range(10_000):
        spec = dataset.sample_spec(rng, blur_type, mask_count)
        if wanted(spec):
            return spec
    raise RuntimeError(f"no {blur_type} spec met the condition")


def spec_kind(spec: dataset.BlurSpec) -> str:
    """Name of a degradation for the tables: type plus variant, mild or strong."""
    if spec.blur_type == "none":
        return f"none/{spec.variant}"
    if spec.blur_type == "bokeh":
        return "bokeh"
    if spec.blur_type == "minfilter":
        return "minfilter"  # the study's filter has no mild band: sizes 5-13 px at 1000 px
    if spec.variant == "mild":
        return f"{spec.blur_type}/mild"
    return "motion/" + spec.variant if spec.blur_type == "motion" else f"{spec.blur_type}/strong"


def stratified_specs(
    rng: np.random.Generator, source_index: int, mask_count: int, per_type: dict[str, int] | None = None
) -> list[dataset.BlurSpec]:
    """per_type (default SPECS_PER_TYPE) degradations for one source: every keep variant in turn across
    sources, mild and strong blur alternated."""
    specs = []
    for blur_type, count in (per_type or SPECS_PER_TYPE).items():
        if blur_type == "bokeh" and mask_count == 0:
            continue
        for j in range(count):
            if blur_type == "none":
                variant = NONE_VARIANTS[(source_index * count + j) % len(NONE_VARIANTS)]
                specs.append(_draw_spec(rng, "none", mask_count, lambda s, v=variant: s.variant == v))
            elif blur_type in TYPES_WITH_MILD_BAND:
                mild = j % 2 == 0
                specs.append(
                    _draw_spec(rng, blur_type, mask_count, lambda s, m=mild: (s.variant == "mild") == m)
                )
            else:
                specs.append(dataset.sample_spec(rng, blur_type, mask_count))
    return specs


def synthetic_tasks(
    source_count: int,
    mask_count: int,
    seed: int,
    sizes: Sequence[int],
    large_per_source: int,
    per_type: dict[str, int] | None = None,
) -> list[SyntheticTask]:
    """Every source x its stratified specs x sizes, plus `large_per_source` of its specs at 12 MP."""
    rng = np.random.default_rng(seed)
    tasks: list[SyntheticTask] = []
    pair = 0
    for source_index in range(source_count):
        specs = stratified_specs(rng, source_index, mask_count, per_type)
        # Spread the expensive 12-MP copies over all spec slots (so over all blur types) across sources.
        large = (
            {
                (source_index * large_per_source + k * len(specs) // max(large_per_source, 1)) % len(specs)
                for k in range(large_per_source)
            }
            if large_per_source
            else set()
        )
        for spec_index, spec in enumerate(specs):
            crop_seed = int(rng.integers(2**31))
            spec_sizes = list(sizes)
            this_pair = -1
            if spec_index in large:
                this_pair, pair = pair, pair + 1
                spec_sizes.append(LARGE_SIZE)
                if PAIR_SIZE not in spec_sizes:
                    spec_sizes.append(PAIR_SIZE)
            for size in spec_sizes:
                tasks.append(
                    SyntheticTask(
                        index=len(tasks),
                        source_index=source_index,
                        crop_seed=crop_seed,
                        spec=spec,
                        size=size,
                        pair=this_pair,
                        kind=spec_kind(spec),
                    )
                )
    return tasks


_worker: dict[str, Any] = {}


def _init_worker(photos: list[sources.Photo], masks: list[str]) -> None:
    # Full resolution: the 12-MP copies are enlarged from the largest crop available.
    _worker["sources"] = [sources.load_rgb(photo) for photo in photos]
    _worker["names"] = [photo.name for photo in photos]
    _worker["masks"] = masks


def _make_synthetic(task: SyntheticTask) -> tuple[int, Row, np.ndarray]:
    name = _worker["names"][task.source_index]
    crop = dataset.random_crop(_worker["sources"][task.source_index], np.random.default_rng(task.crop_seed))
    example = dataset.synthetic_example(crop, task.spec, task.size, name, _worker["masks"])
    row = Row(
        set="synthetic",
        source=name,
        kind=task.kind,
        blur_type=task.spec.blur_type,
        blurry=task.spec.blurry,
        size="12MP" if task.size == LARGE_SIZE else str(task.size),
        long_side=example.long_side,
        source_long_side=max(crop.shape[:2]),
        pair=task.pair,
        low_detail=task.spec.blur_type == "none"
        and (task.spec.variant in LOW_DETAIL_VARIANTS or name in sources.LOW_DETAIL_SHARP),
        hazy=task.spec.haze > 0,
        laplacian_var=example.laplacian_var,
    )
    return task.index, row, example.views


def _make_real(task: RealTask) -> tuple[int, Row, np.ndarray]:
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
    return task.index, row, example.views


def _real_kind(photo: sources.Photo) -> str:
    if photo.name in sources.LOW_DETAIL_SHARP:
        return "real/low-detail sharp"
    label = "sharp" if photo.label == "none" else photo.label
    return f"real/{label} ({photo.name.split('_', 1)[0]})"


def real_tasks(photos: list[sources.Photo], reduced_sizes: Sequence[int]) -> list[RealTask]:
    """Each real photo as it is on disk, plus a shrunk copy at each reduced size below its own size."""
    from PIL import Image

    tasks: list[RealTask] = []
    for photo in photos:
        tasks.append(RealTask(len(tasks), photo, None))
        with Image.open(photo.path) as image:
            long_side = max(image.size)
        for size in reduced_sizes:
            if size < long_side:
                tasks.append(RealTask(len(tasks), photo, size))
    return tasks


def generate(
    synthetic_sources: list[sources.Photo],
    masks: list[str],
    synth: list[SyntheticTask],
    real: list[RealTask],
    processes: int,
) -> tuple[list[Row], list[Row], np.ndarray, np.ndarray]:
    """Rows and views (N, V, 200, 200, 3) uint8 for both sets, made in `processes` worker processes."""
    synth_views = np.zeros((len(synth), VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), np.uint8)
    real_views = np.zeros((len(real), VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), np.uint8)
    synth_rows: list[Row | None] = [None] * len(synth)
    real_rows: list[Row | None] = [None] * len(real)
    # The 12-MP copies take seconds each: start them first so the two workers finish together.
    large_first = sorted(synth, key=lambda t: t.size != LARGE_SIZE)
    context = multiprocessing.get_context("spawn")  # no TensorFlow state inherited; same on every OS
    with context.Pool(processes, _init_worker, (synthetic_sources, masks)) as pool:
        for index, row, views in pool.imap_unordered(_make_synthetic, large_first, chunksize=4):
            synth_rows[index], synth_views[index] = row, views
        for index, row, views in pool.imap_unordered(_make_real, real, chunksize=2):
            real_rows[index], real_views[index] = row, views
    return synth_rows, real_rows, synth_views, real_views  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------


def predict(model_dir: str, rows_and_views: list[tuple[list[Row], np.ndarray]], batch: int = COST_BATCH):
    """Run the model (as the job loads it) over every set; fill in each row's probabilities.
    Returns the loaded model for the cost measurement."""
    model = load_blur_model(model_dir)
    for rows, views in rows_and_views:
        for start in range(0, len(rows), batch):
            predictions = model.predict(views[start : start + batch])
            for offset, row in enumerate(rows[start : start + batch]):
                row.probability = float(predictions.blur_probability[offset])
                row.type_probabilities = [float(p) for p in predictions.type_probabilities[offset]]
    return model


def measure_cost(model, views: np.ndarray, batches: int) -> dict[str, float]:
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


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------


def _share(rows: list[Row], correct: Callable[[Row], bool]) -> dict[str, Any]:
    hits = sum(bool(correct(r)) for r in rows)
    low, high = wilson_interval(hits, len(rows))
    return {
        "value": hits / len(rows) if rows else math.nan,
        "n": len(rows),
        "hits": hits,
        "ci95": [low, high],
    }


def _cnn_ok(row: Row) -> bool:
    return row.verdict == row.blurry


def _lap_ok(row: Row) -> bool:
    return row.laplacian_blurry == row.blurry


def _twin_agreement(twins: list[tuple[Row, Row]]) -> dict[str, Any]:
    """How often two copies of the same degraded crop get the same verdict, CNN and Laplacian."""
    return {
        "n": len(twins),
        "cnn": agreement([a.verdict for a, _ in twins], [b.verdict for _, b in twins]),
        "laplacian": agreement(
            [a.laplacian_blurry for a, _ in twins], [b.laplacian_blurry for _, b in twins]
        ),
    }


def _origin(row: Row) -> str:
    """'native-large' when the network sees the source at or below its own resolution, else 'upscaled'."""
    return "native-large" if row.working_upscale <= 1.05 else "upscaled"


def _groups(rows: list[Row], key: Callable[[Row], str]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return dict(sorted(groups.items()))


def _by(rows: list[Row], key: Callable[[Row], str], order: Sequence[str] | None = None) -> dict[str, dict]:
    groups = _groups(rows, key)
    names = [n for n in order if n in groups] if order else sorted(groups)
    result = {}
    for name in names:
        group = groups[name]
        result[name] = {"cnn": _share(group, _cnn_ok), "laplacian": _share(group, _lap_ok)}
        if all(r.blur_type in BLUR_TYPES for r in group):  # synthetic rows: the true type is known
            result[name]["blur_type"] = _share(group, _type_ok)
    return result


def _type_ok(row: Row) -> bool:
    return row.predicted_type == row.blur_type


def _roc(rows: list[Row]) -> dict[str, Any]:
    truth = [r.blurry for r in rows]
    if all(truth) or not any(truth):
        return {}
    result = {}
    for name, scores in (
        ("cnn", [r.probability for r in rows]),
        ("laplacian", [-math.log1p(r.laplacian_var) for r in rows]),  # low variance = blurry
    ):
        fpr, tpr, _ = roc_curve(truth, scores)
        # The JSON (and the plot) keep the curve's corners, at most ROC_POINTS of them; AUC uses every point.
        keep = roc_corners(fpr, tpr)
        keep = keep[np.unique(np.linspace(0, len(keep) - 1, min(len(keep), ROC_POINTS)).round().astype(int))]
        result[name] = {
            "auc": auc(fpr, tpr),
            "fpr": np.round(fpr[keep], 4).tolist(),
            "tpr": np.round(tpr[keep], 4).tolist(),
        }
    return result


def compute_figures(synth: list[Row], real: list[Row]) -> dict[str, Any]:
    """Every figure of the report, as plain JSON-able data."""
    size_order = [str(s) for s in SYNTHETIC_SIZES] + ["12MP"]
    real_original = [r for r in real if r.size == "original"]
    typed = [r for r in synth if r.blur_type in BLUR_TYPES]
    matrix = confusion_matrix(
        (BLUR_TYPES.index(r.blur_type) for r in typed), (BLUR_TYPES.index(r.predicted_type) for r in typed), 6
    )
    pairs: dict[int, dict[str, Row]] = {}  # pair id -> size -> row
    for row in synth:
        if row.pair >= 0:
            pairs.setdefault(row.pair, {})[row.size] = row
    complete = [p for p in pairs.values() if str(PAIR_SIZE) in p and "12MP" in p]
    small, large = [p[str(PAIR_SIZE)] for p in complete], [p["12MP"] for p in complete]
    # Agreement with the 12-MP copy at every size; then at 400 px split by label and by source origin,
    # since enlarging a 500-700 px source to 12 MP softens it and muddies what "the same photo" means.
    agreement_by_size = {}
    for size in [str(s) for s in SYNTHETIC_SIZES]:
        twins = [(p[size], p["12MP"]) for p in pairs.values() if size in p and "12MP" in p]
        if twins:
            agreement_by_size[f"{size} px"] = _twin_agreement(twins)
    split: dict[str, list[tuple[Row, Row]]] = {}
    for small_row, large_row in zip(small, large, strict=True):
        label = "blurry" if small_row.blurry else "keep"
        split.setdefault(f"{PAIR_SIZE} px, {label}, {_origin(large_row)} source", []).append(
            (small_row, large_row)
        )
    agreement_by_size.update({name: _twin_agreement(twins) for name, twins in sorted(split.items())})

    synth_bokeh = [r for r in synth if r.blur_type == "bokeh"]
    real_bokeh = [r for r in real_original if r.blur_type == "bokeh"]
    synth_low = [r for r in synth if r.low_detail]
    real_low = [r for r in real_original if r.low_detail]
    kept = lambda r: not r.verdict  # noqa: E731
    lap_kept = lambda r: not r.laplacian_blurry  # noqa: E731

    large_rows = [r for r in synth if r.size in ("1000", "12MP")]
    figures: dict[str, Any] = {
        "counts": {
            "synthetic_rows": len(synth),
            "synthetic_sources": sorted({r.source for r in synth}),
            "real_rows": len(real),
            "real_photos": len(real_original),
        },
        "synthetic": {"cnn": _share(synth, _cnn_ok), "laplacian": _share(synth, _lap_ok)},
        "real": {"cnn": _share(real_original, _cnn_ok), "laplacian": _share(real_original, _lap_ok)},
        "real_all_sizes": {"cnn": _share(real, _cnn_ok), "laplacian": _share(real, _lap_ok)},
        "blur_type": {
            "accuracy": _share(typed, _type_ok),
            "classes": list(BLUR_TYPES),
            "confusion_matrix": matrix.tolist(),
            "by_size": {
                size: _share([r for r in typed if r.size == size], _type_ok)
                for size in size_order
                if any(r.size == size for r in typed)
            },
        },
        "synthetic_by_size": _by(synth, lambda r: r.size, size_order),
        "synthetic_large_by_origin": _by(
            large_rows, lambda r: f"{r.size}, {'blurry' if r.blurry else 'keep'}, {_origin(r)} source"
        ),
        "synthetic_by_kind": _by(synth, lambda r: r.kind),
        "synthetic_by_kind_and_size": {
            kind: {
                size: _share(rows, _cnn_ok)["value"]
                for size, rows in _groups(group, lambda r: r.size).items()
            }
            for kind, group in _groups(synth, lambda r: r.kind).items()
        },
        "synthetic_by_strength": _by(
            [r for r in synth if r.blurry],
            lambda r: (
                "mild" if r.kind.endswith("/mild") else ("minfilter" if r.kind == "minfilter" else "strong")
            ),
        ),
        "synthetic_blurry_haze": _by(
            [r for r in synth if r.blurry], lambda r: "blurry + haze" if r.hazy else "blurry, no haze"
        ),
        "real_by_size": _by(real, lambda r: r.size, ["original", *map(str, REAL_REDUCED_SIZES)]),
        "real_by_kind": _by(real_original, lambda r: r.kind),
        "bokeh_kept": {
            **_share(synth_bokeh + real_bokeh, kept),
            "synthetic": _share(synth_bokeh, kept),
            "real": _share(real_bokeh, kept),
            "real_reduced_sizes": _share(
                [r for r in real if r.blur_type == "bokeh" and r.size != "original"], kept
            ),
            "laplacian": _share(synth_bokeh + real_bokeh, lap_kept),
        },
        "low_detail_kept": {
            **_share(synth_low + real_low, kept),
            "synthetic": _share(synth_low, kept),
            "real": _share(real_low, kept),
            "real_reduced_sizes": _share([r for r in real if r.low_detail and r.size != "original"], kept),
            "laplacian": _share(synth_low + real_low, lap_kept),
        },
        "size_agreement_400_vs_12mp": {
            "cnn": {
                "value": agreement([r.verdict for r in small], [r.verdict for r in large]),
                "n": len(complete),
            },
            "laplacian": {
                "value": agreement([r.laplacian_blurry for r in small], [r.laplacian_blurry for r in large]),
                "n": len(complete),
            },
            "cnn_accuracy_400": _share(small, _cnn_ok)["value"],
            "cnn_accuracy_12mp": _share(large, _cnn_ok)["value"],
            "sources": sorted({r.source for r in large}),
            "with_12mp_by_size": agreement_by_size,
        },
        "roc": {"synthetic": _roc(synth), "real": _roc(real_original)},
        "misclassified_real": [
            {
                "file": r.file,
                "size": r.size,
                "label": r.blur_type,
                "blur_probability": round(r.probability, 4),
                "laplacian_var": round(r.laplacian_var, 1),
                "predicted_type": r.predicted_type,
            }
            for r in real
            if not _cnn_ok(r)
        ],
        "misclassified_synthetic_by_source": _count(r.source for r in synth if not _cnn_ok(r)),
    }
    return figures


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    measured = {
        "synthetic_cnn_accuracy": figures["synthetic"]["cnn"]["value"],
        "real_cnn_accuracy": figures["real"]["cnn"]["value"],
        "blur_type_accuracy": figures["blur_type"]["accuracy"]["value"],
        "bokeh_kept": figures["bokeh_kept"]["value"],
        "low_detail_kept": figures["low_detail_kept"]["value"],
    }
    return [
        {"target": name, "at_least": goal, "measured": measured[name], "pass": bool(measured[name] >= goal)}
        for name, goal in TARGETS.items()
    ]


# ---------------------------------------------------------------------------------------------------
# Plots and the report
# ---------------------------------------------------------------------------------------------------


def plot_confusion(matrix: np.ndarray, path: Path) -> None:
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    recall = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(6.4, 5.4))
    image = axes.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(matrix)):
        for j in range(len(matrix)):
            axes.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if recall[i, j] > 0.5 else "black",
            )
    axes.set_xticks(range(len(BLUR_TYPES)), BLUR_TYPES, rotation=30)
    axes.set_yticks(range(len(BLUR_TYPES)), BLUR_TYPES)
    axes.set_xlabel("predicted blur type")
    axes.set_ylabel("true blur type")
    axes.set_title("Blur type, held-out synthetic photos (counts; colour = row share)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_roc(roc: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, all_axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for axes, (name, curves) in zip(all_axes, roc.items(), strict=True):
        for method, label in (("cnn", "CNN"), ("laplacian", "Laplacian variance")):
            if method in curves:
                curve = curves[method]
                axes.plot(curve["fpr"], curve["tpr"], label=f"{label} (AUC {curve['auc']:.3f})")
        axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        axes.set_title(f"ROC, held-out {name} photos (positive = blurry)")
        axes.set_xlabel("false positive rate (sharp/bokeh flagged)")
        axes.set_ylabel("true positive rate (blurry caught)")
        axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_by_size(by_size: dict[str, dict], real_by_size: dict[str, dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, all_axes = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [5, 3]})
    for axes, (title, groups) in zip(all_axes, (("synthetic", by_size), ("real", real_by_size)), strict=True):
        names = list(groups)
        x = np.arange(len(names))
        for offset, method, label in ((-0.2, "cnn", "CNN"), (0.2, "laplacian", "Laplacian@100")):
            axes.bar(x + offset, [groups[n][method]["value"] for n in names], 0.4, label=label)
        axes.set_xticks(x, names)
        axes.set_ylim(0, 1)
        axes.set_xlabel("long side of the photo (px)")
        axes.set_ylabel("accuracy, blurry vs keep")
        axes.set_title(f"Held-out {title} photos by size")
        axes.axhline(0.95, color="grey", linewidth=0.8, linestyle=":")
        axes.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _pct(share: dict[str, Any] | float) -> str:
    value = share["value"] if isinstance(share, dict) else share
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(share, dict) and "ci95" in share:
        low, high = share["ci95"]
        return f"{100 * value:.1f}% (n={share['n']}, 95% CI {100 * low:.0f}-{100 * high:.0f}%)"
    return f"{100 * value:.1f}%"


def _group_table(groups: dict[str, dict], heading: str) -> list[str]:
    """Markdown table of a split: n, CNN and Laplacian accuracy, and blur-type accuracy where known."""
    typed = all("blur_type" in g for g in groups.values())
    lines = [
        f"| {heading} | n | CNN | Laplacian@100 |" + (" CNN blur type |" if typed else ""),
        "| --- | --- | --- | --- |" + (" --- |" if typed else ""),
    ]
    for name, group in groups.items():
        cells = [name, str(group["cnn"]["n"]), _pct(group["cnn"]["value"]), _pct(group["laplacian"]["value"])]
        if typed:
            cells.append(_pct(group["blur_type"]["value"]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _kind_by_size_table(table: dict[str, dict[str, float]]) -> list[str]:
    sizes = [s for s in [*map(str, SYNTHETIC_SIZES), "12MP"] if any(s in row for row in table.values())]
    lines = [
        "| CNN accuracy: kind \\ long side | " + " | ".join(sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    for kind, row in table.items():
        lines.append(f"| {kind} | " + " | ".join(_pct(row[s]) if s in row else "-" for s in sizes) + " |")
    return lines


def write_report(result: dict[str, Any], out: Path) -> None:
    """EVALUATION.md: the study's table, the targets, then every split, with the plots."""
    figures, meta, cost = result["figures"], result["model"], result["cost"]
    synthetic, real, types = figures["synthetic"], figures["real"], figures["blur_type"]
    counts, agree = figures["counts"], figures["size_agreement_400_vs_12mp"]
    quick = " **Quick smoke run: the figures mean little.**" if result["quick"] else ""
    lines = [
        "# Blur model evaluation (held-out photos only)",
        "",
        f"Model `{meta['version']}` ({meta['file_bytes'] / 1e6:.2f} MB), evaluated {result['evaluated_at']}"
        f" in {result['seconds']:.0f} s with:",
        "",
        f"    {result['command']}",
        "",
        "Every photo comes from a held-out scene (`training.sources.is_held_out`: 20% of scenes by hash, plus"
        " the low-detail photos and the real bokeh photos), which training never sees; bokeh composites use"
        f" held-out masks only ({result['inputs']['masks']}). Fixed seed {result['seed']}.{quick}",
        "",
        "## The study's table, side by side",
        "",
        "| | study (1000 clear + 1000 blurry) | ours, held-out synthetic | ours, held-out real |",
        "| --- | --- | --- | --- |",
        f"| Laplacian@100 accuracy | {STUDY['laplacian']:.0%} | {_pct(synthetic['laplacian'])}"
        f" | {_pct(real['laplacian'])} |",
        f"| CNN accuracy, blurry vs keep | {STUDY['cnn']:.0%} | {_pct(synthetic['cnn'])}"
        f" | {_pct(real['cnn'])} |",
        f"| CNN blur-type accuracy (6 types) | {STUDY['blur_type']:.0%} | {_pct(types['accuracy'])}"
        " | - (real blurry photos carry no type) |",
        "",
        "Both methods are scored on the same photos. Laplacian@100: variance of the Laplacian at the working"
        " scale (long side <= 1000 px, INTER_AREA) below 100 means blurry. 'Keep' = sharp or bokeh.",
        "",
        "## Targets (issue 3)",
        "",
        "| target | at least | measured | |",
        "| --- | --- | --- | --- |",
    ]
    for target in result["targets"]:
        verdict = "PASS" if target["pass"] else "FAIL"
        lines.append(
            f"| {TARGET_NAMES[target['target']]} | {target['at_least']:.0%} | {_pct(target['measured'])}"
            f" | {verdict} |"
        )
    lines += [
        f"| same verdict at 400 px and 12 MP | (report) | {_pct(agree['cnn'])}"
        f" of {agree['cnn']['n']} pairs | |",
        f"| model cost per photo | (report) | {cost['ms_per_photo']:.1f} ms wall"
        f" ({cost['photos_per_second']:.0f} photos/s), {cost['cpu_ms_per_photo']:.1f} core-ms | |",
        "",
        "## The data, and its limits",
        "",
        f"- Synthetic: {counts['synthetic_rows']} photos from {len(counts['synthetic_sources'])} held-out"
        " sharp sources: " + ", ".join(f"`{s}`" for s in counts["synthetic_sources"]) + ".",
        "  Each source gets random crops (at least half the frame) degraded as "
        + ", ".join(f"{t} x{n}" for t, n in result["specs_per_type"].items())
        + " (keep variants rotate through plain, haze, low contrast, soft, sharpened; blur alternates mild"
        " and strong), each at " + ", ".join(map(str, result["sizes"])) + f" px; {agree['cnn']['n']} of the"
        f" degraded crops also at 12 MP ({LARGE_SIZE} px long side, the same BlurSpec scaled with the"
        " photo).",
        "- **Most sources are only 500-700 px** (phone photos 500x667, OpenCV samples 340-640 px): for the"
        " 1000-px and 12-MP rows they are enlarged first (INTER_CUBIC), so those rows test enlarged photos."
        " Only the 2560x1600 `plasma_*` photos are natively large, and four of them are the low-detail"
        " fog/sky/dusk scenes. Enlarging softens: a 667-px photo enlarged to 12 MP is 1.5x enlarged at the"
        " working scale, so 'keep' rows from enlarged sources are partly soft for real (see the tables split"
        " by source origin). Sources of the 12-MP rows: "
        + (
            f"all {len(agree['sources'])} sources"
            if agree["sources"] == counts["synthetic_sources"]
            else ", ".join(agree["sources"])
        )
        + ".",
        f"- Real: {counts['real_photos']} held-out photos as they are on disk (phone sharp/blurry scene"
        " pairs, OpenCV and plasma sharp photos, the 3 real bokeh photos), plus copies shrunk to "
        + " and ".join(map(str, result["real_reduced_sizes"]))
        + f" px where the photo is larger ({counts['real_rows']} rows in all). The real blurry photos are"
        " heavily blurred (their publisher added blur), so they say little about mild natural blur.",
        "",
        "## Accuracy by image size",
        "",
        "![accuracy by size](accuracy_by_size.png)",
        "",
        *_group_table(figures["synthetic_by_size"], "synthetic, long side"),
        "",
        *_group_table(figures["synthetic_large_by_origin"], "synthetic large rows, by source"),
        "",
        *_group_table(figures["real_by_size"], "real, size"),
        "",
        "Blur-type accuracy by size: "
        + ", ".join(f"{size}: {_pct(share)}" for size, share in types["by_size"].items())
        + ".",
        "",
        "**400 px vs 12 MP**, the same degraded crop: the CNN gives the same verdict for"
        f" {_pct(agree['cnn'])} of {agree['cnn']['n']} pairs (Laplacian@100: {_pct(agree['laplacian'])});"
        " CNN accuracy"
        f" {_pct(agree['cnn_accuracy_400'])} at 400 px and {_pct(agree['cnn_accuracy_12mp'])} at 12 MP."
        " The 12-MP JPEGs go through the job's decoder, which decodes them in the DCT domain at 1/4 scale.",
        "",
        "| same verdict as the 12-MP copy | n | CNN | Laplacian@100 |",
        "| --- | --- | --- | --- |",
        *(
            f"| {size} | {a['n']} | {_pct(a['cnn'])} | {_pct(a['laplacian'])} |"
            for size, a in agree["with_12mp_by_size"].items()
        ),
        "",
        "## Accuracy by blur kind",
        "",
        *_group_table(figures["synthetic_by_kind"], "synthetic kind"),
        "",
        *_kind_by_size_table(figures["synthetic_by_kind_and_size"]),
        "",
        *_group_table(figures["synthetic_by_strength"], "synthetic blurry, strength"),
        "",
        *_group_table(figures["synthetic_blurry_haze"], "synthetic blurry, haze"),
        "",
        *_group_table(figures["real_by_kind"], "real photos (as on disk)"),
        "",
        "## Blur type",
        "",
        f"Accuracy over the six types: {_pct(types['accuracy'])}. The type is read off the outputs as the"
        " job does (`pipeline.verdict.blur_type_for_verdict`: the most probable type consistent with the"
        " verdict).",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "## Bokeh and low-detail photos",
        "",
    ]
    for key, title in (("bokeh_kept", "Bokeh photos kept"), ("low_detail_kept", "Low-detail sharp kept")):
        block = figures[key]
        lines.append(
            f"- {title}: {_pct(block)}; synthetic {_pct(block['synthetic'])}, real {_pct(block['real'])},"
            f" real shrunk copies {_pct(block['real_reduced_sizes'])}."
            f" Laplacian@100 keeps {_pct(block['laplacian'])}."
        )
    lines += [
        "",
        "## ROC",
        "",
        "![ROC](roc.png)",
        "",
        "| set | AUC CNN | AUC Laplacian |",
        "| --- | --- | --- |",
    ]
    for name, curves in figures["roc"].items():
        if curves:
            lines.append(f"| {name} | {curves['cnn']['auc']:.3f} | {curves['laplacian']['auc']:.3f} |")
    lines += [
        "",
        "## Misclassified real photos",
        "",
        "| file | size | label | blur probability | Laplacian var | predicted type |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in figures["misclassified_real"] or [{}]:
        lines.append(
            f"| {row['file']} | {row['size']} | {row['label']} | {row['blur_probability']:.3f}"
            f" | {row['laplacian_var']:.1f} | {row['predicted_type']} |"
            if row
            else "| (none) | | | | | |"
        )
    worst = list(figures["misclassified_synthetic_by_source"].items())[:8]
    lines += [
        "",
        "Synthetic errors by source, most first: "
        + (", ".join(f"{s} {n}" for s, n in worst) or "none")
        + ".",
        "",
        "## Cost",
        "",
        f"- Model file: {meta['file_bytes'] / 1e6:.2f} MB.",
        f"- Model alone: {cost['ms_per_photo']:.1f} ms per photo ({cost['photos_per_second']:.0f} photos/s):"
        f" its tf.function over batches of {cost['batch']} photos ({VIEWS_PER_PHOTO} views of 200x200 each),"
        f" {cost['photos_timed']} photos timed after a warm-up on this {cost['cpu_count']}-core CPU, shared"
        f" with other work while measured (load average {cost['load_average']:.1f}), so wall time is an upper"
        f" bound; CPU time: {cost['cpu_ms_per_photo']:.1f} core-ms per photo.",
        "- At 30 photos/s on 2 cores the job has 2 x 1000 / 30 = 67 core-ms per photo for everything; the"
        f" model takes {cost['cpu_ms_per_photo']:.0f} core-ms of it (a 12-MP decode with draft() costs about"
        " 35 ms, field notes). End-to-end speed is measured by bench/ (issue 4).",
        "",
        "## How the model was trained",
        "",
        *_training_lines(meta.get("metadata", {}).get("training")),
        "",
    ]
    (out / "EVALUATION.md").write_text("\n".join(lines))


def _training_lines(training: dict[str, Any] | None) -> list[str]:
    if not training:
        return ["- Not recorded: metadata.json has no `training` entry (an untrained development model?)."]
    get = training.get
    return [
        f"- Command: `{get('command', '?')}`",
        (
            f"- Time: {get('train_seconds', '?')} s training, on examples read from the `--cache` folder"
            " that an earlier run with the same seed and data made (see the README for its time)."
            if get("examples_from_cache")
            else f"- Time: {get('generate_seconds', '?')} s making examples + {get('train_seconds', '?')}"
            " s training."
        ),
        f"- Data: {get('examples', '?')} examples from {get('sharp_sources', '?')} sharp sources,"
        f" {get('real_photos', '?')} real labelled photos, {get('masks', '?')} masks; {get('epochs', '?')}"
        f" epochs, width {get('width', '?')}, seed {get('seed', '?')}.",
        f"- Final training metrics: `{json.dumps(get('final', {}))}`",
    ]


# ---------------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How big a run is: the full evaluation, or the --quick smoke run."""

    sizes: tuple[int, ...] = SYNTHETIC_SIZES
    specs_per_type: dict[str, int] = field(default_factory=lambda: dict(SPECS_PER_TYPE))
    large_per_source: int = LARGE_PER_SOURCE
    real_reduced_sizes: tuple[int, ...] = REAL_REDUCED_SIZES
    max_sources: int | None = None
    max_real_per_label: int | None = None
    cost_batches: int = 10


QUICK_PLAN = Plan(
    sizes=(300, 400),
    specs_per_type=dict(QUICK_SPECS_PER_TYPE),
    large_per_source=1,
    real_reduced_sizes=(400,),
    max_sources=3,
    max_real_per_label=3,
    cost_batches=2,
)


def first_per_label(photos: list[sources.Photo], max_per_label: int | None) -> list[sources.Photo]:
    """At most max_per_label photos of each label (all when None), in their order."""
    if max_per_label is None:
        return photos
    by_label: dict[str, list[sources.Photo]] = {}
    for photo in photos:
        by_label.setdefault(photo.label, []).append(photo)
    return [p for group in by_label.values() for p in group[:max_per_label]]


def evaluate(
    model_dir: str,
    synthetic_sources: list[sources.Photo],
    real_photos: list[sources.Photo],
    masks: list[str],
    plan: Plan,
    seed: int,
    processes: int,
) -> dict[str, Any]:
    """Make both held-out sets, run the model, and gather every figure (nothing written yet)."""
    started = time.time()
    synth_tasks = synthetic_tasks(
        len(synthetic_sources), len(masks), seed, plan.sizes, plan.large_per_source, plan.specs_per_type
    )
    rtasks = real_tasks(real_photos, plan.real_reduced_sizes)
    log.info("making %d synthetic and %d real examples", len(synth_tasks), len(rtasks))
    synth, real, synth_views, real_views = generate(synthetic_sources, masks, synth_tasks, rtasks, processes)
    generated = time.time()
    log.info("examples made in %.0f s; running the model", generated - started)
    model = predict(model_dir, [(synth, synth_views), (real, real_views)])
    predicted = time.time()
    cost = measure_cost(model, real_views if len(real_views) else synth_views, plan.cost_batches)
    log.info("model alone: %.1f ms per photo", cost["ms_per_photo"])
    figures = compute_figures(synth, real)
    metadata = model.metadata
    return {
        "seed": seed,
        "specs_per_type": plan.specs_per_type,
        "sizes": list(plan.sizes),
        "real_reduced_sizes": list(plan.real_reduced_sizes),
        "inputs": {
            "masks": len(masks),
            "synthetic_sources": [p.name for p in synthetic_sources],
            "real_photos": [Path(p.path).name for p in real_photos],
        },
        "model": {
            "dir": str(model_dir),
            "version": metadata.version,
            "file_bytes": (Path(model_dir) / MODEL_FILE).stat().st_size,
            "metadata": metadata.to_json(),
        },
        "cost": cost,
        "figures": figures,
        "targets": targets(figures),
        "stage_seconds": {
            "examples": round(generated - started, 1),
            "inference": round(predicted - generated, 1),
        },
    }


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """EVALUATION.md, evaluation.json and the three PNG plots in `out`."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    out.mkdir(parents=True, exist_ok=True)
    figures = result["figures"]
    plot_confusion(np.asarray(figures["blur_type"]["confusion_matrix"]), out / "confusion_matrix.png")
    plot_roc(figures["roc"], out / "roc.png")
    plot_by_size(figures["synthetic_by_size"], figures["real_by_size"], out / "accuracy_by_size.png")
    write_report(result, out)
    (out / "evaluation.json").write_text(json.dumps(_jsonable(result), indent=1) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--model", default="model", help="folder with blur_model.keras and metadata.json")
    add("--photos", action="append", default=[], help="folder of sharp photos (its held-out ones are used)")
    add("--real", action="append", default=[], help="folder with sharp/, blurry/, partial/ sub-folders")
    add("--masks", required=True, help="folder of blur masks (its held-out ones are used)")
    add("--out", default="model", help="where EVALUATION.md, evaluation.json and the plots go")
    add("--no-skimage", action="store_true", help="do not use the photos inside scikit-image")
    add("--seed", type=int, default=SEED)
    add("--processes", type=int, default=2, help="worker processes making examples")
    add("--large-per-source", type=int, default=LARGE_PER_SOURCE, help="12-MP copies per synthetic source")
    add("--quick", action="store_true", help="small smoke run: 3 sources, 2 sizes, few real photos")
    add(
        "--seen-scenes",
        type=int,
        metavar="N",
        help="diagnostic: N training scenes instead of the held-out ones (fresh crops, degradations and"
        " seed; training masks; no real photos, which training saw as they are). Tells how much of the"
        " error comes from scenes never seen. Writes only evaluation_seen_scenes.json to --out.",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.time()
    plan = QUICK_PLAN if args.quick else Plan(large_per_source=args.large_per_source)

    seen = args.seen_scenes is not None
    sharp, real, masks = sources.split_side(
        args.photos, args.real, args.masks, held_out=not seen, use_skimage=not args.no_skimage
    )
    if seen:  # evenly spaced through the list, so the sample spans every folder (and scikit-image's)
        spaced = np.unique(np.linspace(0, len(sharp) - 1, min(args.seen_scenes, len(sharp))).round())
        sharp, real = [sharp[int(i)] for i in spaced], []
    synthetic_sources = sharp[: plan.max_sources]
    real_photos = first_per_label(real, plan.max_real_per_label)
    if not synthetic_sources:
        raise SystemExit("no sharp photos of that side in --photos")
    log.info(
        "%s: %d sharp sources, %d real photos, %d masks",
        "seen in training" if seen else "held out",
        len(synthetic_sources),
        len(real_photos),
        len(masks),
    )

    result = evaluate(args.model, synthetic_sources, real_photos, masks, plan, args.seed, args.processes)
    result.update(
        command="python -m training.evaluate " + " ".join(argv if argv is not None else sys.argv[1:]),
        evaluated_at=time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        quick=args.quick,
        seconds=time.time() - started,
    )
    result["inputs"].update(photos=args.photos, real=args.real, masks_folder=args.masks)
    if seen:
        result["inputs"]["scenes"] = "seen in training"
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "evaluation_seen_scenes.json").write_text(json.dumps(_jsonable(result), indent=1))
        for row in result["targets"]:
            log.info("seen scenes: %s %.1f%%", row["target"], 100 * row["measured"])
        return result
    write_outputs(result, Path(args.out))
    log.info("wrote %s in %.0f s", Path(args.out) / "EVALUATION.md", time.time() - started)
    return result


def _jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars to Python, NaN to null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    main()
