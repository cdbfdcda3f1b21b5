"""Every figure of the report, from the predicted rows, as plain JSON-able data (`compute_figures`),
and the targets they are held to (`targets`).

Each part of the figures is its own function; a new held-out set adds its own part here (a function of
its rows returning a dict), a key in `compute_figures`, and, if it has a target, an entry in `TARGETS`
and `measured_for_targets`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from model.labels import BLUR_TYPES
from training.evaluation import motion
from training.evaluation.metrics import agreement, auc, confusion_matrix, count, roc_corners, roc_curve, share
from training.evaluation.plan import LARGE_LABEL, PAIR_SIZE, REAL_REDUCED_SIZES, SYNTHETIC_SIZES
from training.evaluation.rows import Row

ROC_POINTS = 200
"""At most this many corners of each ROC curve are kept in the JSON (AUC uses every point)."""
NATIVE_LARGE_MAX_UPSCALE = 1.05
"""A source enlarged by at most this much at the working scale counts as natively large."""

STUDY = {"laplacian": 0.85, "cnn": 0.95, "blur_type": 0.90}
"""The seed study's table (1000 clear + 1000 blurry photos)."""
STUDY_SET = "1000 clear + 1000 blurry"

TARGET_NAMES = {
    "synthetic_cnn_accuracy": "blurry vs keep, held-out synthetic",
    "real_cnn_accuracy": "blurry vs keep, held-out real",
    "blur_type_accuracy": "blur type over all types (synthetic)",
    "bokeh_kept": "bokeh photos kept (synthetic + real)",
    "low_detail_kept": "low-detail sharp photos kept (haze/low-contrast synthetic + real)",
    "real_motion_caught": "real motion blur caught (held-out recordings, 300 px to full size)",
    "real_blurry_caught": "real blurry photos caught (as on disk)",
    "real_sharp_kept": "real sharp photos kept (as on disk)",
    "blur_type_protocol": "blur type, study's protocol (gaussian + defocus one family)",
    "night_kept": "sharp night scenes kept (synthetic + real)",
    "size_agreement": "same verdict at 400 px and 12 MP",
    "real_shake_caught": "real camera shake caught (pairs' held-out recordings + held-out motion/real)",
    "motion_vs_out_of_focus": "motion vs out-of-focus on caught real blurred photos",
}
TARGETS = {
    "synthetic_cnn_accuracy": 0.97,
    "real_cnn_accuracy": 0.95,
    "blur_type_accuracy": 0.95,
    "bokeh_kept": 0.95,
    "low_detail_kept": 0.95,
    "real_motion_caught": 0.95,
    "real_blurry_caught": 0.97,
    "real_sharp_kept": 0.97,
    "blur_type_protocol": 0.95,
    "night_kept": 0.95,
    "size_agreement": 0.95,
    "real_shake_caught": 0.90,
    "motion_vs_out_of_focus": 0.90,
}


_CNN_OK = attrgetter("cnn_ok")
_LAPLACIAN_OK = attrgetter("laplacian_ok")
_TYPE_OK = attrgetter("type_ok")


def _kept(row: Row) -> bool:
    return not row.verdict


def _laplacian_kept(row: Row) -> bool:
    return not row.laplacian_blurry


def _cnn_and_laplacian(rows: list[Row]) -> dict[str, Any]:
    return {"cnn": share(rows, _CNN_OK), "laplacian": share(rows, _LAPLACIAN_OK)}


def _origin(row: Row) -> str:
    """'native-large' when the network sees the source at or below its own resolution, else 'upscaled'."""
    return "native-large" if row.working_upscale <= NATIVE_LARGE_MAX_UPSCALE else "upscaled"


def _groups(rows: list[Row], key: Callable[[Row], str]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return dict(sorted(groups.items()))


def _by(rows: list[Row], key: Callable[[Row], str], order: Sequence[str] | None = None) -> dict[str, dict]:
    """Accuracy (CNN, Laplacian, and blur type where the true type is known) of each group of rows."""
    groups = _groups(rows, key)
    names = [n for n in order if n in groups] if order else sorted(groups)
    result = {}
    for name in names:
        group = groups[name]
        result[name] = _cnn_and_laplacian(group)
        if all(r.blur_type in BLUR_TYPES for r in group):  # synthetic rows: the true type is known
            result[name]["blur_type"] = share(group, _TYPE_OK)
    return result


def _synthetic_size_order() -> list[str]:
    return [str(s) for s in SYNTHETIC_SIZES] + [LARGE_LABEL]


def counts(synth: list[Row], real: list[Row], real_original: list[Row]) -> dict[str, Any]:
    return {
        "synthetic_rows": len(synth),
        "synthetic_sources": sorted({r.source for r in synth}),
        "real_rows": len(real),
        "real_photos": len(real_original),
    }


def blur_type_figures(synth: list[Row]) -> dict[str, Any]:
    """Blur-type accuracy over the six types, its confusion matrix, and by size (synthetic rows only:
    real blurry photos carry no type)."""
    typed = [r for r in synth if r.blur_type in BLUR_TYPES]
    matrix = confusion_matrix(
        (BLUR_TYPES.index(r.blur_type) for r in typed), (BLUR_TYPES.index(r.predicted_type) for r in typed), 6
    )
    return {
        "accuracy": share(typed, _TYPE_OK),
        "classes": list(BLUR_TYPES),
        "confusion_matrix": matrix.tolist(),
        "by_size": {
            size: share([r for r in typed if r.size == size], _TYPE_OK)
            for size in _synthetic_size_order()
            if any(r.size == size for r in typed)
        },
    }


def split_tables(synth: list[Row], real: list[Row], real_original: list[Row]) -> dict[str, Any]:
    """Accuracy split by size, source origin, kind, strength and haze (synthetic), and by size and kind
    (real)."""
    large_rows = [r for r in synth if r.size in ("1000", LARGE_LABEL)]
    blurry = [r for r in synth if r.blurry]
    return {
        "synthetic_by_size": _by(synth, lambda r: r.size, _synthetic_size_order()),
        "synthetic_large_by_origin": _by(
            large_rows, lambda r: f"{r.size}, {'blurry' if r.blurry else 'keep'}, {_origin(r)} source"
        ),
        "synthetic_by_kind": _by(synth, lambda r: r.kind),
        "synthetic_by_kind_and_size": {
            kind: {
                size: share(rows, _CNN_OK)["value"] for size, rows in _groups(group, lambda r: r.size).items()
            }
            for kind, group in _groups(synth, lambda r: r.kind).items()
        },
        "synthetic_by_strength": _by(
            blurry,
            lambda r: (
                "mild" if r.kind.endswith("/mild") else ("minfilter" if r.kind == "minfilter" else "strong")
            ),
        ),
        "synthetic_blurry_haze": _by(blurry, lambda r: "blurry + haze" if r.hazy else "blurry, no haze"),
        "real_by_size": _by(real, lambda r: r.size, ["original", *map(str, REAL_REDUCED_SIZES)]),
        "real_by_kind": _by(real_original, lambda r: r.kind),
    }


def kept_figures(synth: list[Row], real: list[Row], chosen: Callable[[Row], bool]) -> dict[str, Any]:
    """How often the `chosen` keep photos (bokeh, low-detail sharp) are kept: synthetic and real
    originals together, each alone, the real shrunk copies, and the Laplacian baseline."""
    synthetic = [r for r in synth if chosen(r)]
    real_original = [r for r in real if chosen(r) and r.size == "original"]
    return {
        **share(synthetic + real_original, _kept),
        "synthetic": share(synthetic, _kept),
        "real": share(real_original, _kept),
        "real_reduced_sizes": share([r for r in real if chosen(r) and r.size != "original"], _kept),
        "laplacian": share(synthetic + real_original, _laplacian_kept),
    }


def _twin_agreement(twins: list[tuple[Row, Row]]) -> dict[str, Any]:
    """How often two copies of the same degraded crop get the same verdict, CNN and Laplacian."""
    return {
        "n": len(twins),
        "cnn": agreement([a.verdict for a, _ in twins], [b.verdict for _, b in twins]),
        "laplacian": agreement(
            [a.laplacian_blurry for a, _ in twins], [b.laplacian_blurry for _, b in twins]
        ),
    }


def size_agreement(synth: list[Row]) -> dict[str, Any]:
    """The same degraded crop at PAIR_SIZE px and at 12 MP: how often the verdicts agree, overall, at
    every size, and at PAIR_SIZE split by label and source origin."""
    pairs: dict[int, dict[str, Row]] = {}  # pair id -> size -> row
    for row in synth:
        if row.pair >= 0:
            pairs.setdefault(row.pair, {})[row.size] = row
    complete = [p for p in pairs.values() if str(PAIR_SIZE) in p and LARGE_LABEL in p]
    small, large = [p[str(PAIR_SIZE)] for p in complete], [p[LARGE_LABEL] for p in complete]
    # Agreement with the 12-MP copy at every size; then at 400 px split by label and by source origin,
    # since enlarging a 500-700 px source to 12 MP softens it and muddies what "the same photo" means.
    by_size = {}
    for size in [str(s) for s in SYNTHETIC_SIZES]:
        twins = [(p[size], p[LARGE_LABEL]) for p in pairs.values() if size in p and LARGE_LABEL in p]
        if twins:
            by_size[f"{size} px"] = _twin_agreement(twins)
    split: dict[str, list[tuple[Row, Row]]] = {}
    for small_row, large_row in zip(small, large, strict=True):
        label = "blurry" if small_row.blurry else "keep"
        split.setdefault(f"{PAIR_SIZE} px, {label}, {_origin(large_row)} source", []).append(
            (small_row, large_row)
        )
    by_size.update({name: _twin_agreement(twins) for name, twins in sorted(split.items())})
    return {
        "cnn": {
            "value": agreement([r.verdict for r in small], [r.verdict for r in large]),
            "n": len(complete),
        },
        "laplacian": {
            "value": agreement([r.laplacian_blurry for r in small], [r.laplacian_blurry for r in large]),
            "n": len(complete),
        },
        "cnn_accuracy_400": share(small, _CNN_OK)["value"],
        "cnn_accuracy_12mp": share(large, _CNN_OK)["value"],
        "sources": sorted({r.source for r in large}),
        "with_12mp_by_size": by_size,
    }


def roc(rows: list[Row]) -> dict[str, Any]:
    """ROC curves (their corners) and AUC of the CNN and the Laplacian variance; {} without both labels."""
    truth = [r.blurry for r in rows]
    if all(truth) or not any(truth):
        return {}
    result = {}
    for name, scores in (
        ("cnn", [r.probability for r in rows]),
        ("laplacian", [-math.log1p(r.laplacian_var) for r in rows]),  # low variance = blurry
    ):
        fpr, tpr, _ = roc_curve(truth, scores)
        keep = roc_corners(fpr, tpr)
        keep = keep[np.unique(np.linspace(0, len(keep) - 1, min(len(keep), ROC_POINTS)).round().astype(int))]
        result[name] = {
            "auc": auc(fpr, tpr),
            "fpr": np.round(fpr[keep], 4).tolist(),
            "tpr": np.round(tpr[keep], 4).tolist(),
        }
    return result


def misclassified(real: list[Row]) -> list[dict[str, Any]]:
    """The real photos (every size) the CNN got wrong."""
    return [
        {
            "file": r.file,
            "size": r.size,
            "label": r.blur_type,
            "blur_probability": round(r.probability, 4),
            "laplacian_var": round(r.laplacian_var, 1),
            "predicted_type": r.predicted_type,
        }
        for r in real
        if not r.cnn_ok
    ]


def compute_figures(
    synth: list[Row],
    real: list[Row],
    motion_rows: Sequence[Row] = (),
    night: Sequence[Row] = (),
    shake: Sequence[Row] = (),
) -> dict[str, Any]:
    """Every figure of the report, as plain JSON-able data."""
    real_original = [r for r in real if r.size == "original"]
    return {
        "real_sets": motion.real_set_figures(list(motion_rows), list(shake), real),
        "real_shake": motion.real_shake_figures(list(motion_rows), list(shake), real),
        "real_motion": motion.motion_figures(list(motion_rows), list(night), real),
        "issue": motion.issue_figures(synth, real),
        "counts": counts(synth, real, real_original),
        "synthetic": _cnn_and_laplacian(synth),
        "real": _cnn_and_laplacian(real_original),
        "real_all_sizes": _cnn_and_laplacian(real),
        "blur_type": blur_type_figures(synth),
        **split_tables(synth, real, real_original),
        "bokeh_kept": kept_figures(synth, real, lambda r: r.blur_type == "bokeh"),
        "low_detail_kept": kept_figures(synth, real, lambda r: r.low_detail),
        "size_agreement_400_vs_12mp": size_agreement(synth),
        "roc": {"synthetic": roc(synth), "real": roc(real_original)},
        "misclassified_real": misclassified(real),
        "misclassified_synthetic_by_source": count(r.source for r in synth if not r.cnn_ok),
    }


def measured_for_targets(figures: dict[str, Any]) -> dict[str, float]:
    """The figure each target is held to."""
    return {
        "synthetic_cnn_accuracy": figures["synthetic"]["cnn"]["value"],
        "real_cnn_accuracy": figures["real"]["cnn"]["value"],
        "blur_type_accuracy": figures["blur_type"]["accuracy"]["value"],
        "bokeh_kept": figures["bokeh_kept"]["value"],
        "low_detail_kept": figures["low_detail_kept"]["value"],
        "real_motion_caught": figures["real_motion"]["caught"]["cnn"]["value"],
        "real_blurry_caught": figures["issue"]["real_blurry_caught"]["cnn"]["value"],
        "real_sharp_kept": figures["issue"]["real_sharp_kept"]["cnn"]["value"],
        "blur_type_protocol": figures["issue"]["blur_type_protocol"]["value"],
        "night_kept": figures["real_motion"]["night_kept"]["cnn"]["value"],
        "size_agreement": figures["size_agreement_400_vs_12mp"]["cnn"]["value"],
        "real_shake_caught": figures["real_shake"]["caught"]["cnn"]["value"],
        "motion_vs_out_of_focus": figures["real_shake"]["motion_vs_out_of_focus"]["value"],
    }


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its goal, the measured figure, and whether it passes."""
    measured = measured_for_targets(figures)
    return [
        {"target": name, "at_least": goal, "measured": measured[name], "pass": bool(measured[name] >= goal)}
        for name, goal in TARGETS.items()
    ]
