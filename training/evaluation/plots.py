"""Plots: the confusion matrix, the ROC curves and accuracy by size, as PNG files, from the figures
(not the rows), so a saved evaluation.json can be plotted again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.labels import BLUR_TYPES


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


def write_plots(figures: dict[str, Any], out: Path) -> None:
    """confusion_matrix.png, roc.png and accuracy_by_size.png in `out` (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    plot_confusion(np.asarray(figures["blur_type"]["confusion_matrix"]), out / "confusion_matrix.png")
    plot_roc(figures["roc"], out / "roc.png")
    plot_by_size(figures["synthetic_by_size"], figures["real_by_size"], out / "accuracy_by_size.png")
