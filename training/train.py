"""Train the blur model and ship it to model/.

    python -m training.train --photos ../shared/data/photos/sharp --real ../shared/data/photos \
        --masks ../shared/data/masks --out model/

Sharp photos (plus the ones inside scikit-image) are degraded into the six blur types at random sizes
between thumbnail and the working scale; real labelled photos are mixed in. Held-out scenes
(training.sources.is_held_out) are never used here. Fixed seed; the defaults make the shipped model,
about 27 minutes on this 2-core machine (4.5 min making 12,594 examples, 23 min for 10 epochs).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from model import MODEL_FILE
from model.contract import ModelMetadata
from pipeline.labels import BLUR_TYPES
from pipeline.preprocess import VIEW_SIZE, VIEWS_PER_PHOTO, WORKING_LONG_SIDE
from training import dataset, sources

log = logging.getLogger("training")
MIN_LONG_SIDE = 300
MAX_UPSCALE = 1.6
BATCH_SIZE = 32

_worker_state: dict = {}


def _init_worker(photos: list[sources.Photo], masks: list[str]) -> None:
    # Each generator process loads the sources once, at most 1.5x the working scale (crops shrink them).
    _worker_state["sources"] = [
        sources.load_rgb(p, max_long_side=int(WORKING_LONG_SIDE * 1.5)) for p in photos
    ]
    _worker_state["names"] = [p.name for p in photos]
    _worker_state["masks"] = masks


def _make_synthetic(seed: int) -> dataset.Example:
    rng = np.random.default_rng(seed)
    index = int(rng.integers(len(_worker_state["sources"])))
    source = dataset.random_crop(_worker_state["sources"][index], rng)
    blur_type = rng.choice(list(dataset.SYNTHETIC_TYPE_SHARE), p=list(dataset.SYNTHETIC_TYPE_SHARE.values()))
    spec = dataset.sample_spec(rng, str(blur_type), len(_worker_state["masks"]))
    # Sizes from thumbnail to the working scale, a third of them near the working scale (what every large
    # photo is reduced to). Enlarging a source by up to MAX_UPSCALE softens it less than the 1-px blur
    # still labelled sharp, so small sources can stand in for large photos.
    top = min(WORKING_LONG_SIDE, int(max(source.shape[:2]) * MAX_UPSCALE))
    band = rng.choice([(MIN_LONG_SIDE, 500), (500, 800), (800, WORKING_LONG_SIDE)], p=[0.35, 0.35, 0.3])
    long_side = int(min(rng.uniform(*band), top))
    return dataset.synthetic_example(
        source, spec, long_side, _worker_state["names"][index], _worker_state["masks"]
    )


def _make_real(task: tuple[sources.Photo, int, int]) -> dataset.Example:
    photo, long_side, quality = task
    rgb = sources.load_rgb(photo)
    if long_side < max(rgb.shape[:2]):
        rgb = dataset.resize_long_side(rgb, long_side)
    blurry = int(photo.label not in ("none", "bokeh"))
    blur_type = BLUR_TYPES.index(photo.label) if photo.label in BLUR_TYPES else -1
    return dataset.example_from_jpeg(
        dataset.encode_jpeg(rgb, quality), blurry, blur_type, photo.name, f"real/{photo.label}"
    )


def generate_training_set(
    sharp: list[sources.Photo],
    real: list[sources.Photo],
    masks: list[str],
    count: int,
    seed: int,
    processes: int,
) -> dict[str, np.ndarray]:
    """`count` synthetic examples plus each real photo at two sizes, made in `processes` worker processes
    and written straight into preallocated arrays (a list of examples would need twice the memory)."""
    rng = np.random.default_rng(seed)
    real_tasks = [
        (photo, int(size), int(rng.integers(75, 96)))
        for photo in real
        for size in (10_000, rng.integers(MIN_LONG_SIDE, 500))
    ]
    seeds = [int(s) for s in rng.integers(0, 2**31, count)]
    total = count + len(real_tasks)
    arrays = {
        "views": np.empty((total, VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), np.uint8),
        "blurry": np.empty(total, np.float32),
        "blur_type": np.empty(total, np.int32),
        "blur_type_weight": np.empty(total, np.float32),
        "laplacian_var": np.empty(total),
        "long_side": np.empty(total),
    }
    with multiprocessing.get_context("spawn").Pool(processes, _init_worker, (sharp, masks)) as pool:
        made = [
            pool.imap(_make_synthetic, seeds, chunksize=16),
            pool.imap(_make_real, real_tasks, chunksize=8),
        ]
        for row, example in enumerate(example for stream in made for example in stream):
            for key, value in dataset.stack([example]).items():
                arrays[key][row] = value[0]
    return arrays


def flip_and_turn(views: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each photo's views (N, V, H, W, 3) mirrored and/or turned a quarter at random, the same way for
    all views of one photo. Neither changes whether or how a photo is blurred (a motion path turns with
    it), and it shows the network eight times as many different pictures."""
    views = np.array(views)  # a copy: the arrays may be a read-only memory map
    for index in range(len(views)):
        turned = views[index]
        if rng.random() < 0.5:
            turned = turned[:, :, ::-1]
        if rng.random() < 0.5:
            turned = turned[:, ::-1]
        if rng.random() < 0.5:
            turned = turned.swapaxes(1, 2)
        views[index] = turned
    return views


def save_examples(arrays: dict[str, np.ndarray], folder: Path) -> None:
    """Keep generated examples: the views as a plain .npy (memory-mapped when read back), the rest in .npz."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "views.npy", arrays["views"])
    np.savez(folder / "labels.npz", **{k: v for k, v in arrays.items() if k != "views"})


def load_examples(folder: Path) -> dict[str, np.ndarray]:
    """Examples kept by save_examples; the views (several GB) stay on disk, memory-mapped."""
    return {"views": np.load(folder / "views.npy", mmap_mode="r"), **np.load(folder / "labels.npz")}


class _Batches:
    """Keras PyDataset over rows of the example arrays; reshuffled every epoch when seeded."""

    def __new__(cls, *args, **kwargs):
        import keras

        class Batches(keras.utils.PyDataset):
            def __init__(self, arrays: dict[str, np.ndarray], rows: np.ndarray, seed: int | None):
                super().__init__()
                self.arrays, self.rows = arrays, rows.copy()
                self.rng = np.random.default_rng(seed) if seed is not None else None
                if self.rng is not None:
                    self.rng.shuffle(self.rows)

            def __len__(self) -> int:
                return int(np.ceil(len(self.rows) / BATCH_SIZE))

            def __getitem__(self, index: int):
                rows = np.sort(self.rows[index * BATCH_SIZE : (index + 1) * BATCH_SIZE])
                a = self.arrays
                views = a["views"][rows]
                if self.rng is not None:
                    views = flip_and_turn(views, self.rng)
                return (
                    views,
                    {"blurry": a["blurry"][rows], "blur_type": a["blur_type"][rows]},
                    {"blurry": np.ones(len(rows), np.float32), "blur_type": a["blur_type_weight"][rows]},
                )

            def on_epoch_end(self) -> None:
                if self.rng is not None:
                    self.rng.shuffle(self.rows)

        return Batches(*args, **kwargs)


def train_model(train: dict[str, np.ndarray], epochs: int, seed: int, width: int):
    import keras

    from training.network import build_blur_model

    keras.utils.set_random_seed(seed)
    model = build_blur_model(width)
    steps = epochs * int(np.ceil(len(train["views"]) * 0.9 / BATCH_SIZE))
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps, alpha=0.05)),
        loss={"blurry": "binary_crossentropy", "blur_type": "sparse_categorical_crossentropy"},
        metrics={"blurry": ["accuracy"], "blur_type": ["accuracy"]},
    )
    # The views array is several GB: batches are cut from it one at a time (a PyDataset), never copied
    # whole into a tensor. The first rows are synthetic examples in random order, so the first tenth
    # is a fair validation sample.
    split = len(train["views"]) // 10
    history = model.fit(
        _Batches(train, np.arange(split, len(train["views"])), seed),
        validation_data=_Batches(train, np.arange(split), seed=None),
        epochs=epochs,
        verbose=2,
    )
    return model, history.history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", action="append", default=[], help="folder of sharp photos to degrade")
    parser.add_argument(
        "--real", action="append", default=[], help="folder with sharp/, blurry/, partial/ sub-folders"
    )
    parser.add_argument("--masks", required=True, help="folder of blur masks (white = blurred)")
    parser.add_argument("--no-skimage", action="store_true", help="do not use the photos inside scikit-image")
    parser.add_argument("--out", default="model", help="where blur_model.keras and metadata.json go")
    parser.add_argument("--examples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=16, help="network width (channels of its first layers)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--cache",
        help="folder to keep the generated examples in (views.npy + labels.npz) and reuse on the next run",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.time()

    sharp, real, masks = sources.split_side(
        args.photos, args.real, args.masks, held_out=False, use_skimage=not args.no_skimage
    )
    log.info(
        "training sources: %d sharp photos, %d real labelled photos, %d masks",
        len(sharp),
        len(real),
        len(masks),
    )

    cache = Path(args.cache) if args.cache else None
    from_cache = bool(cache and (cache / "views.npy").exists())
    if from_cache:
        arrays = load_examples(cache)
    else:
        arrays = generate_training_set(sharp, real, masks, args.examples, args.seed, args.processes)
        if cache:
            save_examples(arrays, cache)
    generated = time.time()
    log.info("generated %d examples in %.0f s", len(arrays["views"]), generated - started)
    model, history = train_model(arrays, args.epochs, args.seed, args.width)
    trained = time.time()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_FILE)
    metadata = ModelMetadata.for_this_job(
        version=datetime.now(UTC).strftime("blur-cnn-%Y%m%d-%H%M"),
        training={
            "command": "python -m training.train "
            + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
            "seed": args.seed,
            "examples": len(arrays["views"]),
            "epochs": args.epochs,
            "width": args.width,
            "sharp_sources": len(sharp),
            "real_photos": len(real),
            "masks": len(masks),
            "examples_from_cache": from_cache,
            "generate_seconds": round(generated - started),
            "train_seconds": round(trained - generated),
            "final": {k: round(float(v[-1]), 4) for k, v in history.items()},
        },
    )
    metadata.write(out)
    log.info("wrote %s in %.0f s total", out, time.time() - started)


if __name__ == "__main__":
    main()
