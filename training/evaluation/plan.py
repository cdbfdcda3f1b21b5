"""Planning the held-out sets: how big a run is (`Plan`), and the list of examples to make (tasks).

Nothing here reads a photo: a task says which source, crop seed, degradation and size an example gets,
so the whole set is fixed by the seed before any worker starts. `examples.py` turns each task into a row
and its views.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from training import dataset, motion_sources, sources

SEED = 20261127
SYNTHETIC_SIZES = (300, 400, 700, 1000)
LARGE_SIZE = 4000
"""Long side of the '12 MP' copies (4000x3000 for a 4:3 crop)."""
LARGE_LABEL = "12MP"
"""How the 12-MP copies are named in the rows and tables."""
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


@dataclass(frozen=True)
class EvaluationPhotos:
    """What a run draws on: the sharp sources of the synthetic set, the real photos, and the masks."""

    synthetic_sources: list[sources.Photo]
    real_photos: list[sources.Photo]
    masks: list[str]
    motion_photos: list[motion_sources.MotionPhoto] = field(default_factory=list)  # real motion blur
    shake_photos: list[motion_sources.ShakePhoto] = field(default_factory=list)  # motion/real, held out


@dataclass(frozen=True)
class SyntheticTask:
    """One synthetic example: a crop of a held-out source, degraded by `spec`, at `size` px."""

    index: int
    source_index: int
    crop_seed: int
    spec: dataset.BlurSpec
    size: int
    pair: int
    kind: str

    chunk = 4  # tasks a worker takes at a time

    @property
    def expensive(self) -> bool:
        """The 12-MP copies take seconds each: made first, so the workers finish together."""
        return self.size == LARGE_SIZE


@dataclass(frozen=True)
class RealTask:
    """One real held-out photo, as it is on disk (size None) or shrunk to `size` px."""

    index: int
    photo: sources.Photo
    size: int | None  # None: the file as it is

    chunk = 2
    expensive = False


def first_per_label(photos: list[sources.Photo], max_per_label: int | None) -> list[sources.Photo]:
    """At most max_per_label photos of each label (all when None), in their order."""
    if max_per_label is None:
        return photos
    by_label: dict[str, list[sources.Photo]] = {}
    for photo in photos:
        by_label.setdefault(photo.label, []).append(photo)
    return [p for group in by_label.values() for p in group[:max_per_label]]


def draw_spec(
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
                specs.append(draw_spec(rng, "none", mask_count, lambda s, v=variant: s.variant == v))
            elif blur_type in TYPES_WITH_MILD_BAND:
                mild = j % 2 == 0
                specs.append(
                    draw_spec(rng, blur_type, mask_count, lambda s, m=mild: (s.variant == "mild") == m)
                )
            else:
                specs.append(dataset.sample_spec(rng, blur_type, mask_count))
    return specs


def _large_slots(source_index: int, spec_count: int, large_per_source: int) -> set[int]:
    """Which spec slots of a source also get a 12-MP copy: spread over all slots (so over all blur
    types) across sources."""
    if not large_per_source:
        return set()
    return {
        (source_index * large_per_source + k * spec_count // max(large_per_source, 1)) % spec_count
        for k in range(large_per_source)
    }


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
        large = _large_slots(source_index, len(specs), large_per_source)
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
