"""The report, model/EVALUATION.md: `report_template.md` filled in from the evaluation's result (the
figures, the targets, the plan, the method's settings and the model's metadata), nothing written by hand.

Tables are made here; every sentence is in the template, with a `${name}` for each fact. A new held-out
set gets a section in the template and its values in `report_values`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from string import Template
from typing import Any

from training.evaluation.figures import TARGET_NAMES

TEMPLATE = Path(__file__).with_name("report_template.md")
MAX_CORE_MS = 12.0
"""The model's budget per photo (issue 21, was 8 in issue 11): the job must stay near the decode floor."""


def pct(share: dict[str, Any] | float | None) -> str:
    """A share as '92.6%', or with its count and interval '92.6% (n=2784, 95% CI 92-93%)'."""
    value = share["value"] if isinstance(share, dict) else share
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(share, dict) and "ci95" in share:
        low, high = share["ci95"]
        return f"{100 * value:.1f}% (n={share['n']}, 95% CI {100 * low:.0f}-{100 * high:.0f}%)"
    return f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def group_table(groups: dict[str, dict], heading: str, laplacian: str) -> str:
    """A split as a table: n, CNN and Laplacian accuracy, and blur-type accuracy where known."""
    typed = all("blur_type" in g for g in groups.values())
    header = [heading, "n", "CNN", laplacian] + (["CNN blur type"] if typed else [])
    rows = []
    for name, group in groups.items():
        cells = [name, str(group["cnn"]["n"]), pct(group["cnn"]["value"]), pct(group["laplacian"]["value"])]
        if typed:
            cells.append(pct(group["blur_type"]["value"]))
        rows.append(cells)
    return _table(header, rows)


def kind_by_size_table(table: dict[str, dict[str, float]], sizes: list[str]) -> str:
    sizes = [s for s in sizes if any(s in row for row in table.values())]
    rows = [[kind, *(pct(row[s]) if s in row else "-" for s in sizes)] for kind, row in table.items()]
    return _table(["CNN accuracy: kind \\ long side", *sizes], rows)


def targets_table(result: dict[str, Any]) -> str:
    figures, cost = result["figures"], result["cost"]
    real_counts = {
        "bokeh_kept": figures["bokeh_kept"]["real"]["n"],
        "low_detail_kept": figures["low_detail_kept"]["real"]["n"],
    }
    rows = []
    for target in result["targets"]:
        name = TARGET_NAMES[target["target"]]
        if target["target"] in real_counts:
            name = name.replace("+ real", f"+ {real_counts[target['target']]} real")
        verdict = "PASS" if target["pass"] else "FAIL"
        rows.append([name, f"{target['at_least']:.0%}", pct(target["measured"]), verdict])
    rows.append(
        [
            "model cost per photo",
            f"{MAX_CORE_MS:g} core-ms",
            f"{cost['ms_per_photo']:.1f} ms wall ({cost['photos_per_second']:.0f} photos/s),"
            f" {cost['cpu_ms_per_photo']:.1f} core-ms",
            "PASS" if cost["cpu_ms_per_photo"] <= MAX_CORE_MS else "FAIL",
        ]
    )
    return _table(["target", "at least", "measured", ""], rows)


def agreement_table(by_size: dict[str, dict], laplacian: str) -> str:
    rows = [[size, str(a["n"]), pct(a["cnn"]), pct(a["laplacian"])] for size, a in by_size.items()]
    return _table(["same verdict as the 12-MP copy", "n", "CNN", laplacian], rows)


def kept_lines(figures: dict[str, Any], laplacian: str) -> str:
    lines = []
    for key, title in (("bokeh_kept", "Bokeh photos kept"), ("low_detail_kept", "Low-detail sharp kept")):
        block = figures[key]
        lines.append(
            f"- {title}: {pct(block)}; synthetic {pct(block['synthetic'])}, real {pct(block['real'])},"
            f" real shrunk copies {pct(block['real_reduced_sizes'])}."
            f" {laplacian} keeps {pct(block['laplacian'])}."
        )
    return "\n".join(lines)


def motion_values(figures: dict[str, Any], laplacian: str) -> dict[str, str]:
    """The real-motion and night section (figures of training/evaluation/motion.py)."""
    block, issue = figures["real_motion"], figures["issue"]
    missed = [
        [m["file"], m["size"], f"{m['blur_probability']:.3f}", f"{m['laplacian_var']:.1f}", m["kept_as"]]
        for m in block["missed"]
    ] or [["(none)", "", "", "", ""]]
    night = block["night_kept"]
    return {
        "motion_scenes": ", ".join(f"`{s}`" for s in block["scenes"]) or "none",
        "motion_caught_table": group_table(
            {"all sizes": block["caught"], **block["by_size"]}, "real motion blur, long side", laplacian
        ),
        "motion_scene_table": group_table(block["by_scene"], "real motion blur, recording", laplacian),
        "motion_typed": pct(block["typed_motion_when_caught"]),
        "motion_missed_as": ", ".join(f"{k} {n}" for k, n in block["missed_kept_as"].items()) or "none",
        "motion_missed_table": _table(
            ["file", "size", "blur probability", "Laplacian var", "kept as"], missed
        ),
        "partners_kept": f"{pct(block['sharp_partners_kept']['cnn'])}"
        f" ({laplacian}: {pct(block['sharp_partners_kept']['laplacian'])})",
        "night_kept": f"{pct(night['cnn'])}; synthetic {pct(night['synthetic'])}, real {pct(night['real'])}"
        f" ({', '.join(night['real_photos']) or 'none'}); {laplacian} keeps {pct(night['laplacian'])}",
        "protocol_type": pct(issue["blur_type_protocol"]),
        "gaussian_vs_defocus": pct(issue["gaussian_vs_defocus"]),
        "real_blurry_caught": f"{pct(issue['real_blurry_caught']['cnn'])}"
        f" ({laplacian}: {pct(issue['real_blurry_caught']['laplacian'])})",
        "real_sharp_kept": f"{pct(issue['real_sharp_kept']['cnn'])}"
        f" ({laplacian}: {pct(issue['real_sharp_kept']['laplacian'])})",
    }


def real_sets_table(real_sets: dict[str, dict], laplacian: str) -> str:
    """One row per held-out real set: caught (blurry sets) or kept (keep sets), model and rule."""
    rows = []
    for name, block in real_sets.items():
        measure = "caught" if name.startswith(("shake:", "blurry:")) else "kept"
        cnn, rule = block["cnn"], block["laplacian"]
        rows.append(
            [
                name.split(": ", 1)[1],
                measure,
                str(cnn["n"]),
                f"{pct(cnn['value'])} ({cnn['hits']})",
                f"{pct(rule['value'])} ({rule['hits']})",
            ]
        )
    return _table(["held-out real set", "", "n", "CNN", laplacian], rows)


def reliability_table(bins: list[dict[str, Any]]) -> str:
    rows = [
        [
            b["bin"],
            str(b["n"]),
            "-" if b["mean_probability"] is None else f"{b['mean_probability']:.2f}",
            pct(b["value"]) if b["n"] else "-",
        ]
        for b in bins
    ]
    return _table(["blur probability", "photos", "mean probability", "share really blurry"], rows)


def shake_values(figures: dict[str, Any], laplacian: str) -> dict[str, str]:
    block = figures["real_shake"]
    missed = [
        [m["file"], m["set"], f"{m['blur_probability']:.3f}", f"{m['laplacian_var']:.1f}"]
        for m in block["missed"]
    ] or [["(none)", "", "", ""]]
    detail = block["motion_vs_out_of_focus_detail"]
    return {
        "real_sets_table": real_sets_table(figures["real_sets"], laplacian),
        "real_shake_caught": (
            f"{pct(block['caught']['cnn'])} ({laplacian}: {pct(block['caught']['laplacian'])})"
        ),
        "above_laplacian": "yes" if block["above_laplacian_on_every_blur_set"] else "no",
        "motion_vs_oof": pct(block["motion_vs_out_of_focus"]),
        "shake_typed_motion": pct(detail["shake_typed_motion"]),
        "phone_typed_oof": pct(detail["phone_typed_out_of_focus"]),
        "shake_missed_table": _table(["file", "set", "blur probability", "Laplacian var"], missed),
        "reliability_table": reliability_table(block["reliability"]),
    }


def roc_table(roc: dict[str, Any]) -> str:
    rows = [
        [name, f"{curves['cnn']['auc']:.3f}", f"{curves['laplacian']['auc']:.3f}"]
        for name, curves in roc.items()
        if curves
    ]
    return _table(["set", "AUC CNN", "AUC Laplacian"], rows)


def misclassified_table(misclassified: list[dict[str, Any]]) -> str:
    rows = [
        [
            row["file"],
            row["size"],
            row["label"],
            f"{row['blur_probability']:.3f}",
            f"{row['laplacian_var']:.1f}",
            row["predicted_type"],
        ]
        for row in misclassified
    ] or [["(none)", "", "", "", "", ""]]
    return _table(["file", "size", "label", "blur probability", "Laplacian var", "predicted type"], rows)


def training_lines(training: dict[str, Any] | None) -> str:
    """How the model was made, from the `training` entry of its metadata."""
    if not training:
        return "- Not recorded: metadata.json has no `training` entry (an untrained development model?)."
    get = training.get
    time_line = (
        f"- Time: {get('train_seconds', '?')} s training, on examples read from the `--cache` folder"
        " that an earlier run with the same seed and data made."
        if get("examples_from_cache")
        else f"- Time: {get('generate_seconds', '?')} s making examples + {get('train_seconds', '?')}"
        " s training."
    )
    return "\n".join(
        [
            f"- Command: `{get('command', '?')}`",
            time_line,
            f"- Data: {get('examples', '?')} examples from {get('sharp_sources', '?')} sharp sources,"
            f" {get('real_photos', '?')} real labelled photos, {get('masks', '?')} masks;"
            f" {get('epochs', '?')} epochs, width {get('width', '?')}, seed {get('seed', '?')}"
            + (
                f"; sharp and bokeh photos weighted {get('keep_weights')} in the blurry loss."
                if get("keep_weights")
                else "."
            ),
            f"- Final training metrics: `{json.dumps(get('final', {}))}`",
        ]
    )


def _names(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def report_values(result: dict[str, Any]) -> dict[str, str]:
    """Every `${name}` of the template, from the result."""
    figures, model, cost, method = result["figures"], result["model"], result["cost"], result["method"]
    metadata = model["metadata"]
    counts, types = figures["counts"], figures["blur_type"]
    agree = figures["size_agreement_400_vs_12mp"]
    laplacian = f"Laplacian@{method['laplacian_threshold']:g}"
    large_groups = figures["synthetic_large_by_origin"]
    sizes = [*map(str, result["sizes"]), method["large_label"]]
    return {
        "model_version": model["version"],
        "model_mb": f"{model['file_bytes'] / 1e6:.2f}",
        "evaluated_at": result["evaluated_at"],
        "seconds": f"{result['seconds']:.0f}",
        "command": result["command"],
        "held_out_percent": str(method["held_out_percent"]),
        "always_held_out": _names(method["always_held_out"]),
        "masks": str(result["inputs"]["masks"]),
        "seed": str(result["seed"]),
        "quick_note": " **Quick smoke run: the figures mean little.**" if result["quick"] else "",
        "study_set": method["study"]["set"],
        "study_laplacian": f"{method['study']['laplacian']:.0%}",
        "study_cnn": f"{method['study']['cnn']:.0%}",
        "study_blur_type": f"{method['study']['blur_type']:.0%}",
        "laplacian": laplacian,
        "laplacian_threshold": f"{method['laplacian_threshold']:g}",
        "blur_threshold": f"{method['blur_threshold']:g}",
        "synthetic_laplacian": pct(figures["synthetic"]["laplacian"]),
        "synthetic_cnn": pct(figures["synthetic"]["cnn"]),
        "real_laplacian": pct(figures["real"]["laplacian"]),
        "real_cnn": pct(figures["real"]["cnn"]),
        "blur_type_accuracy": pct(types["accuracy"]),
        "type_count": str(len(types["classes"])),
        "working_long_side": str(metadata["working_scale"]["long_side"]),
        "resize_kernel": metadata["working_scale"]["resize_kernel"].removeprefix("cv2."),
        "targets_table": targets_table(result),
        "synthetic_rows": str(counts["synthetic_rows"]),
        "synthetic_source_count": str(len(counts["synthetic_sources"])),
        "synthetic_sources": _names(counts["synthetic_sources"]),
        "specs_per_type": ", ".join(f"{t} x{n}" for t, n in result["specs_per_type"].items()),
        "keep_variants": ", ".join(method["keep_variants"]),
        "sizes": ", ".join(map(str, result["sizes"])),
        "pairs": str(agree["cnn"]["n"]),
        "large_size": str(method["large_size"]),
        "large_sources": (
            f"all {len(agree['sources'])} sources"
            if agree["sources"] == counts["synthetic_sources"]
            else _names(agree["sources"])
        ),
        "large_rows": str(sum(group["cnn"]["n"] for group in large_groups.values())),
        "upscaled_rows": str(
            sum(group["cnn"]["n"] for name, group in large_groups.items() if "upscaled" in name)
        ),
        "native_large_max_upscale": f"{method['native_large_max_upscale']:g}",
        "real_photos": str(counts["real_photos"]),
        "real_kinds": ", ".join(
            f"{kind}: {group['cnn']['n']}" for kind, group in figures["real_by_kind"].items()
        ),
        "real_reduced_sizes": " and ".join(map(str, result["real_reduced_sizes"])),
        "real_copy_quality": str(method["real_copy_quality"]),
        "real_rows": str(counts["real_rows"]),
        "synthetic_by_size_table": group_table(
            figures["synthetic_by_size"], "synthetic, long side", laplacian
        ),
        "synthetic_large_by_origin_table": group_table(
            large_groups, "synthetic large rows, by source", laplacian
        ),
        "real_by_size_table": group_table(figures["real_by_size"], "real, size", laplacian),
        "blur_type_by_size": ", ".join(f"{size}: {pct(share)}" for size, share in types["by_size"].items()),
        "pair_size": str(method["pair_size"]),
        "agreement_cnn": pct(agree["cnn"]),
        "agreement_laplacian": pct(agree["laplacian"]),
        "pair_accuracy_small": pct(agree["cnn_accuracy_400"]),
        "pair_accuracy_large": pct(agree["cnn_accuracy_12mp"]),
        "agreement_table": agreement_table(agree["with_12mp_by_size"], laplacian),
        "synthetic_by_kind_table": group_table(figures["synthetic_by_kind"], "synthetic kind", laplacian),
        "kind_by_size_table": kind_by_size_table(figures["synthetic_by_kind_and_size"], sizes),
        "synthetic_by_strength_table": group_table(
            figures["synthetic_by_strength"], "synthetic blurry, strength", laplacian
        ),
        "synthetic_blurry_haze_table": group_table(
            figures["synthetic_blurry_haze"], "synthetic blurry, haze", laplacian
        ),
        "real_by_kind_table": group_table(figures["real_by_kind"], "real photos (as on disk)", laplacian),
        "kept_lines": kept_lines(figures, laplacian),
        "roc_table": roc_table(figures["roc"]),
        "misclassified_table": misclassified_table(figures["misclassified_real"]),
        "errors_by_source": ", ".join(
            f"{s} {n}" for s, n in list(figures["misclassified_synthetic_by_source"].items())[:8]
        )
        or "none",
        "cost_ms": f"{cost['ms_per_photo']:.1f}",
        "cost_rate": f"{cost['photos_per_second']:.0f}",
        "cost_batch": str(cost["batch"]),
        "views_per_photo": str(metadata["input"]["views_per_photo"]),
        "view_size": str(metadata["input"]["view_size"]),
        "cost_photos": str(cost["photos_timed"]),
        "cost_cpus": str(cost["cpu_count"]),
        "cost_load": f"{cost['load_average']:.1f}",
        "cost_cpu_ms": f"{cost['cpu_ms_per_photo']:.1f}",
        "training_lines": training_lines(metadata.get("training")),
        **motion_values(figures, laplacian),
        **shake_values(figures, laplacian),
        "threshold_line": threshold_line(metadata.get("training")),
    }


def threshold_line(training: dict[str, Any] | None) -> str:
    """How the blurry threshold was chosen, from the training run's own validation rows."""
    chosen = (training or {}).get("threshold_on_validation")
    if not chosen:
        return "The threshold was not chosen on training-side validation for this model (none recorded)."
    accuracy = ", ".join(f"{t}: {100 * a:.1f}%" for t, a in chosen["accuracy"].items())
    return (
        f"Chosen on training's own validation rows ({chosen['rows']} synthetic examples never trained on,"
        f" no held-out photo): accuracy by threshold {accuracy}; chosen {chosen['chosen']}."
    )


def render_report(result: dict[str, Any]) -> str:
    """EVALUATION.md's text: the template with every value filled in (a missing one is an error)."""
    return Template(TEMPLATE.read_text()).substitute(report_values(result))


def write_report(result: dict[str, Any], out: Path) -> None:
    (out / "EVALUATION.md").write_text(render_report(result))
