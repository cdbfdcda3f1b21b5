"""The real-motion held-out set: real camera shake and moving subjects (training.motion_sources, held-out
recordings only) at 300 px to full size, their sharp partners, and sharp night scenes with lights (the
real night shots of photos/camera, always held out, plus low-light versions of held-out sharp sources).
Its figures sit beside the Laplacian@100 rule on the same photos, with the issue's other real-photo and
blur-type figures that are read off the main sets (`issue_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from model.labels import KEEP_TYPES
from training import dataset, motion_sources, sources
from training.evaluation.metrics import count, share
from training.evaluation.plan import REAL_COPY_QUALITY, SyntheticTask, draw_spec
from training.evaluation.rows import Row

MOTION_SIZES = (300, 400, 700, None)
"""Long sides of the real motion-blurred photos (None: as published, 1280 or 1024 px)."""
PARTNER_SIZES = (400, None)
NIGHT_SIZES = (400, 1000)
NIGHT_PER_SOURCE = 1
OUT_OF_FOCUS = ("gaussian", "defocus")
"""The study's protocol counts these two as one out-of-focus family."""

_CNN_OK = attrgetter("cnn_ok")
_LAPLACIAN_OK = attrgetter("laplacian_ok")


@dataclass(frozen=True)
class MotionTask:
    """One held-out real motion file (blurred or its sharp partner), shrunk to `size` px or as it is."""

    index: int
    photo: motion_sources.MotionPhoto
    size: int | None

    chunk = 2
    expensive = False


def motion_tasks(photos: list[motion_sources.MotionPhoto], start: int = 0) -> list[MotionTask]:
    """Blurred files at MOTION_SIZES, sharp partners at PARTNER_SIZES (index from `start`)."""
    tasks: list[MotionTask] = []
    for photo in photos:
        for size in MOTION_SIZES if photo.blurry else PARTNER_SIZES:
            tasks.append(MotionTask(start + len(tasks), photo, size))
    return tasks


def make_motion(task: MotionTask) -> tuple[Row, np.ndarray]:
    photo = task.photo
    if task.size is None:
        data = Path(photo.path).read_bytes()
        source_long_side = 0
    else:
        rgb = sources.load_rgb(sources.Photo(photo.name, photo.path, "none"))
        source_long_side = max(rgb.shape[:2])
        data = dataset.encode_jpeg(dataset.resize_long_side(rgb, task.size), REAL_COPY_QUALITY)
    example = dataset.example_from_jpeg(data, int(photo.blurry), -1, photo.name)
    row = Row(
        set="motion",
        source=photo.scene,
        kind="real motion blur" if photo.blurry else "sharp partner",
        blur_type="motion" if photo.blurry else "none",
        blurry=photo.blurry,
        size="original" if task.size is None else str(task.size),
        long_side=example.long_side,
        source_long_side=source_long_side or example.long_side,
        laplacian_var=example.laplacian_var,
        file=Path(photo.path).name,
    )
    return row, example.views


def night_tasks(source_count: int, mask_count: int, seed: int) -> list[SyntheticTask]:
    """NIGHT_PER_SOURCE sharp low-light versions (lamps, lit windows, high-ISO noise; training.dataset's
    'night' keep variant) of each held-out sharp source, at NIGHT_SIZES."""
    rng = np.random.default_rng(seed + 1)
    tasks: list[SyntheticTask] = []
    for source_index in range(source_count):
        for _ in range(NIGHT_PER_SOURCE):
            spec = draw_spec(rng, "none", mask_count, lambda s: s.variant == "night")
            crop_seed = int(rng.integers(2**31))
            for size in NIGHT_SIZES:
                tasks.append(SyntheticTask(len(tasks), source_index, crop_seed, spec, size, -1, "none/night"))
    return tasks


def _is_night(row: Row) -> bool:
    return row.kind == "none/night" or (row.size == "original" and row.source in sources.NIGHT_SHARP)


def _both(rows: list[Row]) -> dict[str, Any]:
    return {"cnn": share(rows, _CNN_OK), "laplacian": share(rows, _LAPLACIAN_OK)}


def motion_figures(motion: list[Row], night: list[Row], real: list[Row]) -> dict[str, Any]:
    """Real motion caught (by size, by scene), its blur type, the sharp partners and night scenes kept;
    the model beside Laplacian@100 on the same photos."""
    blurred = [r for r in motion if r.blurry]
    partners = [r for r in motion if not r.blurry]
    caught = [r for r in blurred if r.verdict]
    night_rows = night + [r for r in real if _is_night(r)]
    sizes = ["300", "400", "700", "original"]
    return {
        "caught": _both(blurred),
        "caught_at_full_size": _both([r for r in blurred if r.size == "original"]),
        "by_size": {s: _both([r for r in blurred if r.size == s]) for s in sizes},
        "by_scene": {
            s: _both([r for r in blurred if r.source == s]) for s in sorted({r.source for r in blurred})
        },
        "typed_motion_when_caught": share(caught, lambda r: r.predicted_type == "motion"),
        "missed_kept_as": count(r.predicted_type for r in blurred if not r.verdict),
        "sharp_partners_kept": _both(partners),
        "night_kept": {
            **_both(night_rows),
            "synthetic": share(night, _CNN_OK),
            "real": share([r for r in night_rows if r.set == "real"], _CNN_OK),
            "real_photos": sorted({r.file for r in night_rows if r.set == "real"}),
        },
        "missed": [
            {
                "file": r.file,
                "size": r.size,
                "blur_probability": round(r.probability, 3),
                "laplacian_var": round(r.laplacian_var, 1),
                "kept_as": r.predicted_type,
            }
            for r in blurred
            if not r.verdict
        ],
        "scenes": sorted({r.source for r in motion}),
        "held_out_scenes": sorted(motion_sources.HELD_OUT_MOTION_SCENES),
    }


def _family(blur_type: str) -> str:
    return "out-of-focus" if blur_type in OUT_OF_FOCUS else blur_type


def issue_figures(synth: list[Row], real: list[Row]) -> dict[str, Any]:
    """The issue's other figures, read off the main sets: blur type on the study's protocol (gaussian
    and defocus one family), gaussian vs defocus, real blurry caught and real sharp kept (as on disk)."""
    typed = [r for r in synth if r.blur_type not in ("blurry",)]
    focus = [r for r in typed if r.blur_type in OUT_OF_FOCUS and r.predicted_type in OUT_OF_FOCUS]
    original = [r for r in real if r.size == "original"]
    return {
        "blur_type_protocol": share(typed, lambda r: _family(r.predicted_type) == _family(r.blur_type)),
        "gaussian_vs_defocus": share(focus, lambda r: r.predicted_type == r.blur_type),
        "real_blurry_caught": _both([r for r in original if r.blurry]),
        "real_sharp_kept": _both([r for r in original if r.blur_type == "none"]),
        "real_keep_kept": _both([r for r in original if r.blur_type in KEEP_TYPES]),
    }


@dataclass(frozen=True)
class ShakeTask:
    """One held-out real shaken photo of motion/real (a held-out scene, or an EVALUATION ONLY row), as
    it is on disk."""

    index: int
    photo: motion_sources.ShakePhoto

    chunk = 2
    expensive = False


def shake_tasks(photos: list[motion_sources.ShakePhoto]) -> list[ShakeTask]:
    return [ShakeTask(index, photo) for index, photo in enumerate(photos)]


def shake_kind(photo: motion_sources.ShakePhoto) -> str:
    """The row's kind: its LIST.csv set, EVALUATION ONLY rows marked as such."""
    return f"{photo.group} (EVALUATION ONLY)" if photo.evaluation_only else photo.group


def make_shake(task: ShakeTask) -> tuple[Row, np.ndarray]:
    photo = task.photo
    example = dataset.example_from_jpeg(Path(photo.path).read_bytes(), 1, -1, photo.name)
    row = Row(
        set="shake",
        source=photo.scene,
        kind=shake_kind(photo),
        blur_type="motion",
        blurry=True,
        size="original",
        long_side=example.long_side,
        source_long_side=example.long_side,
        laplacian_var=example.laplacian_var,
        file=Path(photo.path).name,
    )
    return row, example.views


RELIABILITY_BINS = tuple(round(0.1 * k, 1) for k in range(11))


def _real_sets(motion_rows: list[Row], shake: list[Row], real: list[Row]) -> dict[str, list[Row]]:
    """Every held-out real set, one entry each, as on disk (motion pairs also at every size)."""
    original = [r for r in real if r.size == "original"]
    pairs_blurred = [r for r in motion_rows if r.blurry]
    sets: dict[str, list[Row]] = {
        "shake: motion pairs' held-out recordings, as published": [
            r for r in pairs_blurred if r.size == "original"
        ],
        "shake: motion pairs' held-out recordings, 300 px to full size": pairs_blurred,
    }
    for kind in sorted({r.kind for r in shake}):
        sets[
            f"shake: motion/real {kind}, held-out scenes"
            if "ONLY" not in kind
            else f"shake: motion/real {kind}"
        ] = [r for r in shake if r.kind == kind]
    sets["shake: all real camera shake above, as on disk"] = [
        r for r in pairs_blurred if r.size == "original"
    ] + list(shake)
    sets["blurry: phone photos (defocus + box blur)"] = [r for r in original if r.blurry]
    sharp = [
        r
        for r in original
        if r.blur_type == "none" and not r.low_detail and r.source not in sources.NIGHT_SHARP
    ]
    sets["keep: sharp phone photos"] = [r for r in sharp if r.source.startswith("phone_")]
    sets["keep: sharp camera photos (photos/camera)"] = [
        r for r in sharp if r.source.startswith(("mdx_", "budgie_", "unsplash_", "popos_"))
    ]
    sets["keep: other sharp photos (opencv, plasma)"] = [
        r for r in sharp if r.source.startswith(("opencv_", "plasma_"))
    ]
    sets["keep: motion pairs' sharp partner frames, as published"] = [
        r for r in motion_rows if not r.blurry and r.size == "original"
    ]
    sets["keep: bokeh (photos/partial)"] = [r for r in original if r.blur_type == "bokeh"]
    sets["keep: low-detail sharp"] = [r for r in original if r.blur_type == "none" and r.low_detail]
    sets["keep: sharp night"] = [r for r in original if r.source in sources.NIGHT_SHARP]
    return sets


def real_set_figures(motion_rows: list[Row], shake: list[Row], real: list[Row]) -> dict[str, Any]:
    """One row per held-out real set: the model and Laplacian@100 right (caught for blurry sets, kept
    for keep sets) on the same photos."""
    return {name: _both(rows) for name, rows in _real_sets(motion_rows, shake, real).items() if rows}


def reliability(rows: list[Row]) -> list[dict[str, Any]]:
    """Of the photos scored in each tenth of blur probability, how many are blurry (the held-out real
    photos as on disk): a probability people can trust has about p of them blurry."""
    table = []
    for low, high in zip(RELIABILITY_BINS[:-1], RELIABILITY_BINS[1:], strict=True):
        inside = [r for r in rows if low <= r.probability < high or (high == 1.0 and r.probability == 1.0)]
        table.append(
            {
                "bin": f"{low:.1f}-{high:.1f}",
                **share(inside, attrgetter("blurry")),
                "mean_probability": float(np.mean([r.probability for r in inside])) if inside else None,
            }
        )
    return table


def real_shake_figures(motion_rows: list[Row], shake: list[Row], real: list[Row]) -> dict[str, Any]:
    """The issue's real-photo figures: real camera shake caught (motion pairs' held-out recordings as
    published + motion/real's held-out scenes + its EVALUATION ONLY rows), each real blur set against
    Laplacian@100, motion vs out-of-focus on caught real blurred photos, and the reliability table."""
    sets = _real_sets(motion_rows, shake, real)
    all_shake = sets["shake: all real camera shake above, as on disk"]
    blurry_phone = sets["blurry: phone photos (defocus + box blur)"]
    caught_shake = [r for r in all_shake if r.verdict]
    caught_phone = [r for r in blurry_phone if r.verdict]
    typed = [(r, "motion") for r in caught_shake] + [(r, "out-of-focus") for r in caught_phone]
    blur_sets = {name: rows for name, rows in sets.items() if name.startswith(("shake:", "blurry:")) and rows}
    as_on_disk = (
        [r for r in real if r.size == "original"]
        + [r for r in motion_rows if r.size == "original"]
        + list(shake)
    )
    return {
        "caught": _both(all_shake),
        "above_laplacian_on_every_blur_set": all(
            share(rows, _CNN_OK)["value"] > share(rows, _LAPLACIAN_OK)["value"] for rows in blur_sets.values()
        ),
        "motion_vs_out_of_focus": share(typed, lambda pair: _family(pair[0].predicted_type) == pair[1]),
        "motion_vs_out_of_focus_detail": {
            "shake_typed_motion": share(caught_shake, lambda r: r.predicted_type == "motion"),
            "phone_typed_out_of_focus": share(
                caught_phone, lambda r: _family(r.predicted_type) == "out-of-focus"
            ),
        },
        "missed": [
            {
                "file": r.file,
                "set": r.kind,
                "blur_probability": round(r.probability, 3),
                "laplacian_var": round(r.laplacian_var, 1),
            }
            for r in all_shake
            if not r.verdict
        ],
        "reliability": reliability(as_on_disk),
    }
