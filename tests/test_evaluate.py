"""training/evaluation/: its metric helpers on known inputs, the held-out plan, the figures and the report
from hand-made rows, and one --quick run of `python -m training.evaluate` on photos made here."""

from __future__ import annotations

import copy
import json
import math
from itertools import count, islice
from pathlib import Path
from string import Template

import cv2
import numpy as np
import pytest

from model import MODEL_DIR
from model.labels import BLUR_TYPES
from training import sources
from training.evaluation import cli, figures, metrics, motion, plan, report, rows

# --- metric helpers -----------------------------------------------------------------------------------


def test_accuracy_counts_equal_entries():
    assert metrics.accuracy([True, False, True, True], [True, True, True, False]) == 0.5
    assert metrics.accuracy(np.array([1, 2, 3]), np.array([1, 2, 3])) == 1.0
    assert math.isnan(metrics.accuracy([], []))
    with pytest.raises(ValueError):
        metrics.accuracy([True], [True, False])


def test_laplacian_verdict_is_strictly_below_threshold():
    assert metrics.laplacian_verdict([0.0, 99.9, 100.0, 250.0]).tolist() == [True, True, False, False]
    assert metrics.laplacian_verdict([150.0], threshold=200).tolist() == [True]


def test_confusion_matrix_rows_are_truth_columns_are_predictions():
    matrix = metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert metrics.confusion_matrix([], [], classes=2).tolist() == [[0, 0], [0, 0]]


def test_roc_curve_points_and_auc_on_a_known_case():
    # The classic example (also scikit-learn's): AUC 0.75.
    fpr, tpr, thresholds = metrics.roc_curve([False, False, True, True], [0.1, 0.4, 0.35, 0.8])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thresholds.tolist() == [np.inf, 0.8, 0.4, 0.35, 0.1]
    assert metrics.auc(fpr, tpr) == pytest.approx(0.75)


def test_auc_extremes_and_ties():
    truth = [False, False, True, True]
    assert metrics.auc(*metrics.roc_curve(truth, [0.1, 0.2, 0.8, 0.9])[:2]) == 1.0
    assert metrics.auc(*metrics.roc_curve(truth, [0.9, 0.8, 0.2, 0.1])[:2]) == 0.0
    # All scores tied: one diagonal step, chance level.
    fpr, tpr, _ = metrics.roc_curve(truth, [0.5, 0.5, 0.5, 0.5])
    assert (fpr.tolist(), tpr.tolist()) == ([0.0, 1.0], [0.0, 1.0])
    assert metrics.auc(fpr, tpr) == 0.5
    with pytest.raises(ValueError):
        metrics.roc_curve([True, True], [0.1, 0.2])


def test_auc_equals_the_probability_a_positive_outscores_a_negative():
    rng = np.random.default_rng(3)
    truth = rng.random(300) < 0.4
    scores = np.round(rng.normal(truth * 0.8, 1.0), 1)  # rounded, so there are many ties
    positives, negatives = scores[truth], scores[~truth]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (
        positives[:, None] == negatives[None, :]
    ).sum()
    expected = wins / (len(positives) * len(negatives))
    assert metrics.auc(*metrics.roc_curve(truth, scores)[:2]) == pytest.approx(expected)


def test_wilson_interval_known_values():
    low, high = metrics.wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    low, high = metrics.wilson_interval(50, 50)
    assert high == 1.0 and 0.92 < low < 0.94
    assert all(math.isnan(v) for v in metrics.wilson_interval(0, 0))


def test_roc_corners_keep_the_curve():
    fpr = np.array([0.0, 0.0, 0.0, 0.5, 1.0])
    tpr = np.array([0.0, 0.5, 1.0, 1.0, 1.0])
    corners = metrics.roc_corners(fpr, tpr)
    assert corners.tolist() == [0, 2, 4]  # (0, 0.5) and (0.5, 1) lie on straight stretches
    assert metrics.auc(fpr[corners], tpr[corners]) == metrics.auc(fpr, tpr) == 1.0


def test_agreement_of_verdicts():
    assert metrics.agreement([True, False, True], [True, True, True]) == pytest.approx(2 / 3)


# --- the held-out sets --------------------------------------------------------------------------------


def test_stratified_specs_cover_every_variant_and_strength():
    rng = np.random.default_rng(0)
    specs = [s for i in range(6) for s in plan.stratified_specs(rng, i, mask_count=10)]
    kinds = {plan.spec_kind(s) for s in specs}
    assert {f"none/{v}" for v in plan.NONE_VARIANTS} <= kinds
    assert {"gaussian/mild", "gaussian/strong", "defocus/mild", "defocus/strong", "motion/mild"} <= kinds
    assert {"minfilter", "bokeh"} <= kinds and kinds & {"motion/line", "motion/shake"}
    per_source = len(specs) // 6
    assert per_source == sum(plan.SPECS_PER_TYPE.values())
    assert all(s.mask_index >= 0 for s in specs if s.blur_type == "bokeh")
    # No masks, no bokeh composites.
    assert all(s.blur_type != "bokeh" for s in plan.stratified_specs(rng, 0, mask_count=0))


def test_each_12mp_copy_has_twins_at_every_size_with_the_same_crop_and_blur():
    tasks = plan.synthetic_tasks(5, 10, seed=1, sizes=(300, 700), large_per_source=2)
    pairs: dict[int, list] = {}
    for task in tasks:
        if task.pair >= 0:
            pairs.setdefault(task.pair, []).append(task)
    assert len(pairs) == 10
    for twins in pairs.values():
        # The 400-px twin is added even when 400 is not among the sizes: the agreement needs it.
        assert sorted(t.size for t in twins) == [300, 400, 700, plan.LARGE_SIZE]
        assert len({t.spec for t in twins}) == 1 and len({t.crop_seed for t in twins}) == 1
    assert len({t.spec.blur_type for twins in pairs.values() for t in twins}) == len(BLUR_TYPES)
    assert [t.index for t in tasks] == list(range(len(tasks)))
    assert tasks == plan.synthetic_tasks(5, 10, seed=1, sizes=(300, 700), large_per_source=2)


def _row(blurry: bool, probability: float, laplacian: float, **fields) -> rows.Row:
    blur_type = fields.pop("blur_type", "gaussian" if blurry else "none")
    types = [0.0] * 6
    predicted = fields.pop("predicted", blur_type if blur_type in BLUR_TYPES else "motion")
    types[BLUR_TYPES.index(predicted)] = 1.0
    return rows.Row(
        set=fields.pop("set", "synthetic"),
        source=fields.pop("source", "s"),
        kind=fields.pop("kind", blur_type),
        blur_type=blur_type,
        blurry=blurry,
        size=fields.pop("size", "400"),
        long_side=400,
        source_long_side=500,
        probability=probability,
        laplacian_var=laplacian,
        type_probabilities=types,
        **fields,
    )


def test_compute_figures_on_hand_made_rows():
    synth = [
        _row(True, 0.9, 20, pair=0),  # right, Laplacian right
        _row(True, 0.2, 300, pair=0, size="12MP"),  # wrong (and so the pair disagrees), Laplacian wrong
        _row(False, 0.1, 500, pair=1),
        _row(False, 0.4, 500, pair=1, size="12MP"),  # pair agrees
        _row(False, 0.7, 50, blur_type="bokeh", predicted="motion"),  # bokeh flagged
        _row(False, 0.3, 40, low_detail=True),  # low-detail kept, Laplacian flags it
    ]
    real = [
        _row(True, 0.8, 10, set="real", blur_type="blurry", file="b.jpg", size="original"),
        _row(False, 0.6, 900, set="real", file="s.jpg", size="original"),
        _row(False, 0.2, 30, set="real", blur_type="bokeh", file="k.jpg", size="original"),
    ]
    found = figures.compute_figures(synth, real)
    assert found["synthetic"]["cnn"]["value"] == pytest.approx(4 / 6)
    assert found["synthetic"]["laplacian"]["value"] == pytest.approx(3 / 6)
    assert found["real"]["cnn"]["value"] == pytest.approx(2 / 3)
    agree = found["size_agreement_400_vs_12mp"]
    assert (agree["cnn"]["value"], agree["cnn"]["n"]) == (0.5, 2)
    assert found["bokeh_kept"]["value"] == 0.5 and found["bokeh_kept"]["n"] == 2
    assert found["low_detail_kept"]["value"] == 1.0 and found["low_detail_kept"]["laplacian"]["value"] == 0.0
    matrix = np.array(found["blur_type"]["confusion_matrix"])
    assert matrix.sum() == 6  # real blurry photos have no type and are left out
    # The 12-MP gaussian row was called sharp, so its type is read as a keep type.
    assert matrix[BLUR_TYPES.index("gaussian"), BLUR_TYPES.index("none")] == 1
    assert matrix[BLUR_TYPES.index("bokeh"), BLUR_TYPES.index("motion")] == 1
    assert [m["file"] for m in found["misclassified_real"]] == ["s.jpg"]
    assert found["roc"]["real"]["cnn"]["auc"] == 1.0
    passed = {t["target"]: t["pass"] for t in figures.targets(found)}
    assert [passed[name] for name in list(figures.TARGETS)[:5]] == [False, False, False, False, True]
    assert passed["real_blurry_caught"] and not passed["real_sharp_kept"]  # b.jpg caught, s.jpg flagged
    assert not passed["real_motion_caught"] and not passed["night_kept"]  # no such rows: n/a, not a pass


# --- one quick run, end to end -------------------------------------------------------------------------


def _held_out_names(prefix: str, wanted: int, held_out: bool = True) -> list[str]:
    names = (f"{prefix}{i:03d}" for i in count())
    return list(islice((n for n in names if sources.is_held_out(n) == held_out), wanted))


def _scene(rng: np.random.Generator, width: int = 320, height: int = 240) -> np.ndarray:
    """A photo-like image with edges at many scales: shapes, text and mild noise."""
    image = np.full((height, width, 3), rng.integers(60, 200, 3), np.uint8)
    for _ in range(25):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(image, centre, int(rng.integers(5, 50)), colour, -1)
        else:
            cv2.rectangle(image, centre, (centre[0] + int(rng.integers(5, 80)), centre[1] + 30), colour, -1)
    cv2.putText(image, "SHARP 123", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)


def _save(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _photo_folders(tmp_path: Path) -> tuple[Path, Path, Path, list[str], str]:
    """sharp/, real/ and masks/ folders with three held-out scenes and one training scene."""
    rng = np.random.default_rng(7)
    sharp, real, masks = tmp_path / "sharp", tmp_path / "real", tmp_path / "masks"
    held = _held_out_names("scene_", 3)
    trained_on = _held_out_names("scene_", 1, held_out=False)[0]
    for name in [*held, trained_on]:
        _save(sharp / f"{name}.jpg", _scene(rng))
    for name in held[:2]:
        rgb = _scene(rng)
        _save(real / "sharp" / f"{name}.jpg", rgb)
        _save(real / "blurry" / f"{name}.jpg", cv2.GaussianBlur(rgb, (0, 0), 4))
    sky = np.linspace(120, 220, 480, dtype=np.float32)[None, :, None].repeat(300, 0).repeat(3, 2)
    _save(real / "sharp" / "plasma_Kite.jpg", sky.astype(np.uint8))  # always held out: low-detail sharp
    bokeh = cv2.GaussianBlur(_scene(rng, 480, 300), (0, 0), 6)
    bokeh[100:200, 180:300] = _scene(rng, 120, 100)
    _save(real / "partial" / "plasma_BytheWater.jpg", bokeh)  # always held out: real bokeh
    for name in [*_held_out_names("motion", 2), _held_out_names("motion", 1, held_out=False)[0]]:
        mask = np.full((120, 160), 255, np.uint8)
        cv2.ellipse(mask, (80, 60), (40, 30), 0, 0, 360, 0, -1)  # black = the sharp subject
        _save(masks / f"{name}.png", np.repeat(mask[:, :, None], 3, 2))
    return sharp, real, masks, held, trained_on


def test_quick_run_writes_the_report_from_held_out_photos_only(tmp_path):
    sharp, real, masks, held, _ = _photo_folders(tmp_path)
    out = tmp_path / "out"
    result = cli.main(
        ["--model", str(MODEL_DIR), "--photos", str(sharp), "--real", str(real), "--masks", str(masks)]
        + ["--out", str(out), "--quick", "--no-skimage", "--processes", "1"]
    )

    saved = json.loads((out / "evaluation.json").read_text())
    assert saved["inputs"]["synthetic_sources"] == held  # the one training scene is left out
    assert saved["inputs"]["masks"] == 2
    assert sorted(saved["inputs"]["real_photos"]) == sorted(
        [f"{n}.jpg" for n in held[:2]] * 2 + ["plasma_Kite.jpg", "plasma_BytheWater.jpg"]
    )
    found = saved["figures"]
    specs = sum(plan.QUICK_SPECS_PER_TYPE.values())
    assert found["counts"]["synthetic_rows"] == 3 * specs * 2 + 3  # 2 sizes, plus one 12-MP copy each
    assert found["counts"]["real_photos"] == 6
    assert found["counts"]["real_rows"] == 6 + 2  # 400-px copies of the two photos larger than 400 px
    assert found["synthetic_by_size"]["12MP"]["cnn"]["n"] == 3
    assert found["size_agreement_400_vs_12mp"]["cnn"]["n"] == 3
    assert np.array(found["blur_type"]["confusion_matrix"]).sum() == found["counts"]["synthetic_rows"]
    assert found["bokeh_kept"]["real"]["n"] == 1 and found["low_detail_kept"]["real"]["n"] == 1
    for share in (found["synthetic"]["cnn"], found["real"]["cnn"], found["blur_type"]["accuracy"]):
        assert 0.0 <= share["value"] <= 1.0
    assert {t["target"] for t in saved["targets"]} == set(figures.TARGETS)
    assert saved["cost"]["photos_per_second"] > 0 and saved["model"]["file_bytes"] > 0
    assert result["figures"]["counts"] == found["counts"]

    written = (out / "EVALUATION.md").read_text()
    assert "| Laplacian@100 accuracy | 85% |" in written and "Quick smoke run" in written
    assert written.count("PASS") + written.count("FAIL") >= 5
    for name in ("confusion_matrix.png", "roc.png", "accuracy_by_size.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name})" in written

    # Every fact in the report comes from the result: the template names exactly the values made from
    # it, the saved JSON renders the same text, and a changed setting shows in the text.
    assert set(Template(report.TEMPLATE.read_text()).get_identifiers()) == set(report.report_values(saved))
    assert report.render_report(saved) == written
    changed = copy.deepcopy(saved)
    changed["method"].update(held_out_percent=33, laplacian_threshold=150.0)
    changed["model"]["metadata"]["working_scale"]["long_side"] = 1200
    text = report.render_report(changed)
    assert "33% of scenes by hash" in text and "| Laplacian@150 accuracy |" in text
    assert "Laplacian@100" not in text and "long side <= 1200 px" in text


def test_seen_scenes_diagnostic_uses_training_scenes_and_leaves_the_report_alone(tmp_path):
    sharp, real, masks, _, trained_on = _photo_folders(tmp_path)
    out = tmp_path / "out"
    cli.main(
        ["--model", str(MODEL_DIR), "--photos", str(sharp), "--real", str(real), "--masks", str(masks)]
        + ["--out", str(out), "--quick", "--no-skimage", "--processes", "1", "--seen-scenes", "5"]
    )

    saved = json.loads((out / "evaluation_seen_scenes.json").read_text())
    assert saved["inputs"]["synthetic_sources"] == [trained_on]  # the only training scene
    assert saved["inputs"]["masks"] == 1 and saved["inputs"]["real_photos"] == []
    assert saved["inputs"]["scenes"] == "seen in training"
    assert 0.0 <= saved["figures"]["synthetic"]["cnn"]["value"] <= 1.0
    assert sorted(p.name for p in out.iterdir()) == ["evaluation_seen_scenes.json"]


def test_real_motion_figures_on_hand_made_rows() -> None:
    """Real motion caught by size and recording, beside the Laplacian rule; night scenes kept; the
    study's protocol counts gaussian and defocus as one family."""
    motion_rows = [
        _row(True, 0.9, 40, set="motion", blur_type="motion", source="a", size="original", file="a.jpg"),
        _row(True, 0.2, 300, set="motion", blur_type="motion", source="a", size="300", file="a.jpg",
             predicted="bokeh"),
        _row(True, 0.7, 150, set="motion", blur_type="motion", source="b", size="original", file="b.jpg",
             predicted="defocus"),
        _row(False, 0.1, 500, set="motion", source="b", size="original", kind="sharp partner"),
    ]  # fmt: skip
    night = [_row(False, 0.1, 80, kind="none/night"), _row(False, 0.6, 300, kind="none/night")]
    real = [_row(False, 0.2, 50, set="real", source="mdx_nexus-4", size="original", file="n.jpg")]
    found = motion.motion_figures(motion_rows, night, real)
    assert found["caught"]["cnn"]["value"] == pytest.approx(2 / 3)
    assert found["caught"]["laplacian"]["value"] == pytest.approx(1 / 3)
    assert found["by_size"]["300"]["cnn"]["value"] == 0.0 and found["by_size"]["original"]["cnn"]["n"] == 2
    assert found["by_scene"]["b"]["cnn"]["value"] == 1.0
    assert found["typed_motion_when_caught"]["value"] == 0.5
    assert found["missed_kept_as"] == {"bokeh": 1}
    assert found["sharp_partners_kept"]["cnn"]["value"] == 1.0
    assert found["night_kept"]["cnn"]["value"] == pytest.approx(2 / 3)  # 2 synthetic + 1 real night photo
    assert found["night_kept"]["real"]["n"] == 1 and found["night_kept"]["laplacian"][
        "value"
    ] == pytest.approx(1 / 3)
    synth = [
        _row(True, 0.9, 10, blur_type="gaussian", predicted="defocus"),
        _row(True, 0.9, 10, blur_type="motion", predicted="minfilter"),
        _row(False, 0.1, 500, blur_type="none"),
    ]
    issue = motion.issue_figures(synth, [])
    assert issue["blur_type_protocol"]["value"] == pytest.approx(2 / 3)
    assert issue["gaussian_vs_defocus"]["value"] == 0.0


def test_real_shake_sets_reliability_and_motion_vs_out_of_focus_on_hand_made_rows() -> None:
    """One row per real set beside the Laplacian rule, all real shake together, motion vs out-of-focus
    on the caught real blurred photos, and the reliability table's bands."""
    motion_rows = [
        _row(True, 0.9, 40, set="motion", blur_type="motion", size="original", kind="real motion blur"),
        _row(True, 0.3, 40, set="motion", blur_type="motion", size="400", kind="real motion blur"),
        _row(False, 0.05, 500, set="motion", size="original", kind="sharp partner"),
    ]
    shake = [
        _row(True, 0.75, 300, set="shake", blur_type="motion", size="original", kind="realblur", file="r1"),
        _row(True, 0.2, 50, set="shake", blur_type="motion", size="original", kind="realblur", file="r2"),
        _row(True, 0.95, 20, set="shake", blur_type="motion", size="original", kind="x (EVALUATION ONLY)",
             predicted="defocus"),
    ]  # fmt: skip
    real = [
        _row(True, 0.8, 10, set="real", blur_type="blurry", predicted="gaussian", size="original"),
        _row(False, 0.72, 900, set="real", source="phone_001", size="original"),
        _row(False, 0.1, 30, set="real", blur_type="bokeh", size="original"),
    ]
    sets = motion.real_set_figures(motion_rows, shake, real)
    everything = sets["shake: all real camera shake above, as on disk"]
    assert (everything["cnn"]["n"], everything["cnn"]["hits"], everything["laplacian"]["hits"]) == (4, 3, 3)
    assert sets["shake: motion/real realblur, held-out scenes"]["cnn"]["value"] == 0.5
    assert sets["shake: motion/real x (EVALUATION ONLY)"]["cnn"]["n"] == 1
    assert sets["keep: sharp phone photos"]["cnn"]["value"] == 0.0
    assert sets["keep: sharp phone photos"]["laplacian"]["value"] == 1.0
    found = motion.real_shake_figures(motion_rows, shake, real)
    assert found["caught"]["cnn"]["value"] == 0.75
    assert not found["above_laplacian_on_every_blur_set"]  # realblur: 1 of 2 both ways
    # caught: 2 shakes typed motion, 1 typed defocus; the blurry phone photo typed gaussian (out of focus)
    assert found["motion_vs_out_of_focus"]["value"] == 0.75
    assert [m["file"] for m in found["missed"]] == ["r2"]
    bands = {b["bin"]: b for b in found["reliability"]}
    assert sum(b["n"] for b in bands.values()) == 8  # every row as on disk, the 400-px copy left out
    assert bands["0.7-0.8"]["n"] == 2 and bands["0.7-0.8"]["value"] == 0.5
    assert bands["0.9-1.0"]["n"] == 2 and bands["0.9-1.0"]["value"] == 1.0


def test_examples_cache_gives_a_second_model_the_very_same_examples(tmp_path):
    """--examples-only makes the examples into --examples-cache; a run reading them gives the figures a
    run making its own would; other photos refuse the cache instead of mixing sets."""
    sharp, real, masks, _, _ = _photo_folders(tmp_path)
    common = ["--model", str(MODEL_DIR), "--photos", str(sharp), "--real", str(real), "--masks", str(masks)]
    common += ["--quick", "--no-skimage", "--processes", "1"]
    cache = tmp_path / "cache"
    assert (
        cli.main([*common, "--out", str(tmp_path / "a"), "--examples-cache", str(cache), "--examples-only"])
        == {}
    )
    assert (cache / "rows.pickle").exists() and not (tmp_path / "a").exists()
    cached = cli.main([*common, "--out", str(tmp_path / "b"), "--examples-cache", str(cache)])
    fresh = cli.main([*common, "--out", str(tmp_path / "c")])
    assert cached["figures"] == fresh["figures"]
    with pytest.raises(SystemExit, match="other photos"):
        cli.main([*common, "--out", str(tmp_path / "d"), "--examples-cache", str(cache), "--seed", "7"])
