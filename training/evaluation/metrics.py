"""Metrics: pure functions of verdicts and scores (no model, no photos), tested on known inputs in
tests/test_evaluate.py."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

from pipeline.verdict import DEFAULT_LAPLACIAN_THRESHOLD

Item = TypeVar("Item")


def accuracy(truth: Sequence[bool] | np.ndarray, predicted: Sequence[bool] | np.ndarray) -> float:
    """Share of equal entries; NaN when there are none."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape:
        raise ValueError(f"shapes differ: {truth.shape} vs {predicted.shape}")
    return float(np.mean(truth == predicted)) if truth.size else math.nan


def agreement(first: Sequence[bool] | np.ndarray, second: Sequence[bool] | np.ndarray) -> float:
    """Share of pairs with the same verdict."""
    return accuracy(first, second)


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible for small counts and for 0% or 100%)."""
    if total == 0:
        return math.nan, math.nan
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def share(items: Sequence[Item], correct: Callable[[Item], bool]) -> dict[str, Any]:
    """How many of `items` are `correct`: value (NaN when none), n, hits and the 95% Wilson interval."""
    hits = sum(bool(correct(item)) for item in items)
    low, high = wilson_interval(hits, len(items))
    return {
        "value": hits / len(items) if items else math.nan,
        "n": len(items),
        "hits": hits,
        "ci95": [low, high],
    }


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


def laplacian_verdict(
    laplacian_vars: Sequence[float] | np.ndarray, threshold: float = DEFAULT_LAPLACIAN_THRESHOLD
) -> np.ndarray:
    """The baseline: variance of the Laplacian at the working scale below the threshold means blurry."""
    return np.asarray(laplacian_vars, np.float64) < threshold


def count(values: Iterable[str]) -> dict[str, int]:
    """How often each value occurs, most first."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
