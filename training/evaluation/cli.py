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
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from training import motion_sources, sources
from training.evaluation import plan as planning
from training.evaluation.run import evaluate, make_examples, write_json, write_outputs

log = logging.getLogger("evaluate")

COMMAND = "python -m training.evaluate"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=COMMAND, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--model", default="model", help="folder with blur_model.keras and metadata.json")
    add("--photos", action="append", default=[], help="folder of sharp photos (its held-out ones are used)")
    add("--real", action="append", default=[], help="folder with sharp/, blurry/, partial/ sub-folders")
    add("--masks", required=True, help="folder of blur masks (its held-out ones are used)")
    add(
        "--motion",
        default=str(motion_sources.PAIRS_FOLDER),
        help="folder of real motion pairs with LIST.csv (its held-out recordings are used)",
    )
    add(
        "--real-shake",
        default=str(motion_sources.REAL_SHAKE_FOLDER),
        help="folder of real shaken photos with LIST.csv (held-out scenes and EVALUATION ONLY rows are used)",
    )
    add("--out", default="model", help="where EVALUATION.md, evaluation.json and the plots go")
    add("--no-skimage", action="store_true", help="do not use the photos inside scikit-image")
    add("--seed", type=int, default=planning.SEED)
    add("--processes", type=int, default=2, help="worker processes making examples")
    add(
        "--large-per-source",
        type=int,
        default=planning.LARGE_PER_SOURCE,
        help="12-MP copies per synthetic source",
    )
    add(
        "--examples-cache",
        metavar="DIR",
        help="keep the held-out examples in DIR, or read them from there when present (the same examples"
        " for every model evaluated with the same photos, plan and seed)",
    )
    add(
        "--examples-only",
        action="store_true",
        help="only make the held-out examples into --examples-cache (no model needed yet)",
    )
    add("--quick", action="store_true", help="small smoke run: 3 sources, 2 sizes, few real photos")
    add(
        "--seen-scenes",
        type=int,
        metavar="N",
        help="diagnostic: N training scenes instead of the held-out ones (fresh crops, degradations and"
        " seed; training masks; no real photos, which training saw as they are). Tells how much of the"
        " error comes from scenes never seen. Writes only evaluation_seen_scenes.json to --out.",
    )
    return parser.parse_args(argv)


def choose_photos(args: argparse.Namespace, plan: planning.Plan) -> planning.EvaluationPhotos:
    """The photos and masks of the side asked for: held out, or seen in training."""
    seen = args.seen_scenes is not None
    sharp, real, masks = sources.split_side(
        args.photos, args.real, args.masks, held_out=not seen, use_skimage=not args.no_skimage
    )
    if seen:  # evenly spaced through the list, so the sample spans every folder (and scikit-image's)
        spaced = np.unique(np.linspace(0, len(sharp) - 1, min(args.seen_scenes, len(sharp))).round())
        sharp, real = [sharp[int(i)] for i in spaced], []
    synthetic_sources = sharp[: plan.max_sources]
    real_photos = planning.first_per_label(real, plan.max_real_per_label)
    if not synthetic_sources:
        raise SystemExit("no sharp photos of that side in --photos")
    log.info(
        "%s: %d sharp sources, %d real photos, %d masks",
        "seen in training" if seen else "held out",
        len(synthetic_sources),
        len(real_photos),
        len(masks),
    )
    motion = [] if seen else motion_sources.motion_side(Path(args.motion), held_out=True)
    shake = [] if seen else motion_sources.shake_side(Path(args.real_shake), held_out=True)
    if plan.max_real_per_label is not None:
        motion = motion[: plan.max_real_per_label]
        shake = shake[: plan.max_real_per_label]
    return planning.EvaluationPhotos(synthetic_sources, real_photos, masks, motion, shake)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.time()
    plan = planning.QUICK_PLAN if args.quick else planning.Plan(large_per_source=args.large_per_source)
    photos = choose_photos(args, plan)
    cache = Path(args.examples_cache) if args.examples_cache else None
    if args.examples_only:
        if cache is None:
            raise SystemExit("--examples-only needs --examples-cache")
        make_examples(photos, plan, args.seed, args.processes, cache)
        log.info("examples kept in %s in %.0f s", cache, time.time() - started)
        return {}
    result = evaluate(args.model, photos, plan, args.seed, args.processes, cache)
    result.update(
        command=f"{COMMAND} " + " ".join(argv if argv is not None else sys.argv[1:]),
        evaluated_at=time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        quick=args.quick,
        seconds=time.time() - started,
    )
    result["inputs"].update(photos=args.photos, real=args.real, masks_folder=args.masks)
    if args.seen_scenes is not None:
        result["inputs"]["scenes"] = "seen in training"
        write_json(result, Path(args.out) / "evaluation_seen_scenes.json")
        for row in result["targets"]:
            log.info("seen scenes: %s %.1f%%", row["target"], 100 * row["measured"])
        return result
    write_outputs(result, Path(args.out))
    log.info("wrote %s in %.0f s", Path(args.out) / "EVALUATION.md", time.time() - started)
    return result
