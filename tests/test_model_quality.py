"""The shipped model judges real photos right: checks that a wrong or untrained model fails.

The loading checks (test_inference.py, test_model_contract.py) pass for any network of the right shape,
trained or not. These run the model on real photos of ../shared/data (present at the same path beside
the project in CI) that training never saw (held-out scenes, training.sources and
training.motion_sources), through the job's own decoder, views and verdict rule.

BLUR_MODEL_UNDER_TEST=DIR runs them against another model folder (an untrained network of the shipped
shape fails them: see model/EVALUATION.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from model import MODEL_DIR
from model.contract import load_blur_model, read_metadata
from model.inputs import sharpness_and_views
from pipeline.photo.decode import decode_photo
from pipeline.verdict import DEFAULT_BLUR_THRESHOLD, DEFAULT_LAPLACIAN_THRESHOLD, verdict
from training import motion_sources, sources

DATA = sources.SHARED_DATA
MODEL_UNDER_TEST = os.environ.get("BLUR_MODEL_UNDER_TEST", str(MODEL_DIR))
SHAKE_CAUGHT_AT_LEAST = 0.75
"""Of the 50 held-out real shakes: 0424 caught 28 (56%), the Laplacian@100 rule 38 (76%), the shipped
blur-cnn-20261203-1509 39 (78%; model/HISTORY.md)."""
CAUGHT_BY_0424 = 28
"""Real shakes (of those 50) the model before, blur-cnn-20261130-0424, caught: the shipped model must
catch more."""
CONFIDENT_MISSES_AT_MOST = 3
"""0424 kept 14 of those 50 at a blur probability below 0.1, the shipped 1509 7, the candidate 0958 1."""
_VERSION = read_metadata(MODEL_UNDER_TEST).version
_KNOWN = "known to miss it (issue 21, model/HISTORY.md); strict: should it pass, the suite says so"
shake_caught_check = pytest.mark.xfail(
    _VERSION in {"blur-cnn-20261130-0424"}, reason=f"0424 catches less real shake than the rule: {_KNOWN}",
    strict=True,
)  # fmt: skip
shake_confidence_check = pytest.mark.xfail(
    _VERSION in {"blur-cnn-20261130-0424", "blur-cnn-20261203-1509"},
    reason=f"keeps 7 or more real shakes at p < 0.1: {_KNOWN}",
    strict=True,
)
"""Models known to fail one of the real-shake checks below: for them that check is expected to fail; for
any other model it must pass."""


@pytest.fixture(scope="module")
def model():
    assert DATA.is_dir(), f"the shared photos must be at {DATA} (beside the project, as in CI)"
    return load_blur_model(MODEL_UNDER_TEST)


@pytest.fixture(scope="module")
def score(model):
    """A function: photo paths -> (blur probability, Laplacian variance at the working scale) each."""

    def scores(paths: list[str]) -> list[tuple[float, float]]:
        missing = [p for p in paths if not Path(p).is_file()]
        assert not missing, f"shared photos missing (they must be beside the project, as in CI): {missing}"
        scored = [sharpness_and_views(decode_photo(Path(p).read_bytes()).rgb) for p in paths]
        predictions = model.predict(np.stack([views for _, views in scored]))
        return [
            (float(p), laplacian)
            for p, (laplacian, _) in zip(predictions.blur_probability, scored, strict=True)
        ]

    return scores


@pytest.fixture(scope="module")
def judge(model):
    """A function: photo paths -> the job's verdicts for them (blurry, blur type)."""

    def verdicts(paths: list[str]) -> list[tuple[bool, str]]:
        scored = [sharpness_and_views(decode_photo(Path(p).read_bytes()).rgb) for p in paths]
        predictions = model.predict(np.stack([views for _, views in scored]))
        return [
            tuple(verdict(p, types, laplacian)[::2])  # (blurry, blur_type)
            for p, types, (laplacian, _) in zip(
                predictions.blur_probability, predictions.type_probabilities, scored, strict=True
            )
        ]

    return verdicts


def _held_out(folder: str, prefix: str = "") -> list[str]:
    photos = sources.list_photos(DATA / "photos" / folder)
    return [p.path for p in photos if p.held_out and p.name.startswith(prefix)]


def test_held_out_blurry_phone_photos_are_flagged(judge) -> None:
    paths = _held_out("blurry")
    assert len(paths) >= 20
    flagged = [blurry for blurry, _ in judge(paths)]
    assert np.mean(flagged) >= 0.95, f"{sum(flagged)} of {len(paths)} blurry photos flagged"


def test_held_out_sharp_photos_are_kept(judge) -> None:
    paths = _held_out("sharp", "phone_") + _held_out("camera")
    assert len(paths) >= 40
    kept = [not blurry for blurry, _ in judge(paths)]
    assert np.mean(kept) >= 0.9, f"{sum(kept)} of {len(paths)} sharp photos kept"


def test_real_bokeh_photos_are_kept(judge) -> None:
    paths = [p.path for p in sources.list_photos(DATA / "photos" / "partial")]
    assert len(paths) == 3 and all(sources.is_held_out(Path(p).stem) for p in paths)
    results = judge(paths)
    assert not any(blurry for blurry, _ in results), results


def test_a_really_shaken_photo_is_flagged_as_motion_and_its_sharp_frame_kept(judge) -> None:
    """deblurgan-tf_03: hand-held GoPro camera shake (a held-out recording) and its sharp middle frame.
    (srn_4c6, a single real hand-held exposure, is still kept as bokeh by the shipped model: README.)"""
    pairs = DATA / "motion" / "pairs"
    [shaken, sharp] = judge(
        [str(pairs / "deblurgan-tf_03_blur.jpg"), str(pairs / "deblurgan-tf_03_sharp.jpg")]
    )
    assert shaken == (True, "motion") and not sharp[0]


def test_held_out_real_motion_blur_is_caught(judge) -> None:
    photos = motion_sources.motion_side(held_out=True)
    blurred = [p.path for p in photos if p.blurry]
    assert len(blurred) >= 15
    caught = [blurry for blurry, _ in judge(blurred)]
    # The shipped model catches 13 of 20 at full size; the v2 candidate 17 (README, The model).
    assert np.mean(caught) >= 0.6, f"{sum(caught)} of {len(blurred)} real motion-blurred photos caught"


def _held_out_real_shake() -> list[str]:
    """Real camera shake never trained on: motion/real's held-out scenes and its EVALUATION ONLY rows,
    and the motion pairs' blurred files from held-out recordings, as published."""
    shakes = motion_sources.shake_side(held_out=True)
    assert len(shakes) >= 25, f"motion/real must be at {motion_sources.REAL_SHAKE_FOLDER} (as in CI)"
    pairs = [p.path for p in motion_sources.motion_side(held_out=True) if p.blurry]
    assert len(pairs) >= 15, f"motion/pairs must be at {motion_sources.PAIRS_FOLDER} (as in CI)"
    return [p.path for p in shakes] + pairs


@pytest.fixture(scope="module")
def real_shake_scores(score) -> list[tuple[float, float]]:
    """(blur probability, Laplacian variance) of each held-out real shake, scored once for all three."""
    return score(_held_out_real_shake())


@shake_caught_check
def test_held_out_real_camera_shake_is_caught_more_often_than_by_the_laplacian_rule(
    real_shake_scores,
) -> None:
    """The model before (blur-cnn-20261130-0424) caught fewer of these than the one-line Laplacian@100
    rule: see SHAKE_CAUGHT_AT_LEAST and model/EVALUATION.md."""
    caught = sum(p >= DEFAULT_BLUR_THRESHOLD for p, _ in real_shake_scores)
    rule = sum(laplacian < DEFAULT_LAPLACIAN_THRESHOLD for _, laplacian in real_shake_scores)
    assert caught >= SHAKE_CAUGHT_AT_LEAST * len(real_shake_scores) and caught > rule, (
        f"{caught} of {len(real_shake_scores)} real shakes caught (Laplacian@100: {rule})"
    )


def test_held_out_real_camera_shake_is_caught_more_often_than_by_0424(real_shake_scores) -> None:
    """The floor the shipped model must hold: more of the 50 than blur-cnn-20261130-0424 (which fails
    this check: it catches exactly CAUGHT_BY_0424)."""
    caught = sum(p >= DEFAULT_BLUR_THRESHOLD for p, _ in real_shake_scores)
    assert caught > CAUGHT_BY_0424, (
        f"{caught} of {len(real_shake_scores)} real shakes caught (0424: {CAUGHT_BY_0424})"
    )


@shake_confidence_check
def test_real_camera_shake_is_not_kept_with_confidence(real_shake_scores) -> None:
    """A shaken photo the model keeps should at least look borderline to it (CONFIDENT_MISSES_AT_MOST)."""
    confident = [round(p, 3) for p, _ in real_shake_scores if p < 0.1]
    assert len(confident) <= CONFIDENT_MISSES_AT_MOST, (
        f"{len(confident)} real shakes kept at p < 0.1: {confident}"
    )
