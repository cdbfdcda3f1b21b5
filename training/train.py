"""Train the blur model and ship it to model/.

    python -m training.train --photos ../shared/data/photos/sharp --photos ../shared/data/photos/camera \
        --real ../shared/data/photos --masks ../shared/data/masks --out model/

Sharp photos (plus the ones inside scikit-image) are degraded into the six blur types at random sizes
between thumbnail and the working scale (camera shake from measured kernels and hand-held paths, blurred
in linear light, night scenes among them), and every one of them, sharp ones too, then goes through the
camera's own processing (training.degrade.camera_chain: raw noise, demosaic/denoise smoothing,
sharpening of random strength, resize, export sharpening, JPEG sometimes twice). Real labelled photos,
real motion pairs, motion/real's training scenes (never its EVALUATION ONLY rows) and averaged GoPro
frames (3-15 frames) are mixed in, with re-saved copies. Held-out scenes (training.sources.is_held_out,
training.motion_sources) are never used here. Fixed seed. `--init-from DIR` starts from a trained
model's weights (a warm start); model/metadata.json records the command and what it started from.
The examples and a checkpoint per epoch are kept in --cache; --resume continues.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from model import MODEL_FILE
from model.contract import ModelMetadata
from model.labels import BLUR_TYPES
from training import dataset, motion_sources, sources
from training.training_set import (
    AVERAGED_BLURRY,
    AVERAGED_SHARP,
    generate_training_set,
    load_examples,
    save_examples,
)

log = logging.getLogger("training")
BATCH_SIZE = 32
KEEP_WEIGHTS = (2.0, 4.0)  # sharp, bokeh: see blurry_loss_weights
CHECKPOINT_FILE = "checkpoint.keras"
CHECKPOINT_STATE = "checkpoint.json"


def blurry_loss_weights(
    blurry: np.ndarray, blur_type: np.ndarray, sharp_weight: float, bokeh_weight: float
) -> np.ndarray:
    """Per-example weights of the `blurry` loss: 1 for blurry photos, sharp_weight for sharp ones and
    bokeh_weight for bokeh ones. A false alarm on a bokeh portrait or a foggy landscape costs a user
    more than a missed blurry photo; with the real motion examples, blurry photos are 57% of the set."""
    keep = blurry < 0.5
    bokeh = blur_type == BLUR_TYPES.index("bokeh")
    return np.where(keep, np.where(bokeh, bokeh_weight, sharp_weight), 1.0).astype(np.float32)


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


class _Batches:
    """Keras PyDataset over rows of the example arrays; reshuffled every epoch when seeded, from
    (seed, epoch), so a resumed run sees the same order an uninterrupted one would."""

    def __new__(cls, *args, **kwargs):
        import keras

        class Batches(keras.utils.PyDataset):
            def __init__(
                self,
                arrays: dict[str, np.ndarray],
                rows: np.ndarray,
                seed: int | None,
                epoch: int = 0,
                keep_weights: tuple[float, float] = (1.0, 1.0),
            ):
                super().__init__()
                self.arrays, self.rows, self.seed = arrays, rows.copy(), seed
                self.keep_weights = keep_weights
                self._start_epoch(epoch)

            def _start_epoch(self, epoch: int) -> None:
                self.epoch = epoch
                self.rng = np.random.default_rng([self.seed, epoch]) if self.seed is not None else None
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
                    {
                        "blurry": blurry_loss_weights(
                            a["blurry"][rows], a["blur_type"][rows], *self.keep_weights
                        ),
                        "blur_type": a["blur_type_weight"][rows],
                    },
                )

            def on_epoch_end(self) -> None:
                self._start_epoch(self.epoch + 1)

        return Batches(*args, **kwargs)


class _EpochCheckpoint:
    """Keras callback: after every epoch, the whole model with its optimizer state (checkpoint.keras,
    replaced atomically) and the epochs done with their history (checkpoint.json)."""

    def __new__(cls, *args, **kwargs):
        import keras

        class EpochCheckpoint(keras.callbacks.Callback):
            def __init__(self, folder: Path, history: dict[str, list[float]]):
                super().__init__()
                self.folder, self.history = folder, history

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                for key, value in (logs or {}).items():
                    self.history.setdefault(key, []).append(float(value))
                self.folder.mkdir(parents=True, exist_ok=True)
                partial = self.folder / ("partial-" + CHECKPOINT_FILE)
                self.model.save(partial)
                partial.replace(self.folder / CHECKPOINT_FILE)
                state = {"epochs_done": epoch + 1, "history": self.history}
                (self.folder / CHECKPOINT_STATE).write_text(json.dumps(state, indent=1) + "\n")

        return EpochCheckpoint(*args, **kwargs)


def train_model(
    train: dict[str, np.ndarray],
    epochs: int,
    seed: int,
    width: int,
    checkpoints: Path | None = None,
    resume: bool = False,
    keep_weights: tuple[float, float] = (1.0, 1.0),
    init_from: Path | None = None,
    learning_rate: float = 3e-3,
):
    """Train (or, with resume, continue from the last epoch checkpoint in `checkpoints`). The `blurry`
    loss of photos to keep is weighted by keep_weights (sharp, bokeh): see blurry_loss_weights.
    `init_from`, a model folder, starts from its weights instead of random ones (a warm start: the
    network must have the same layers; its optimizer state is not reused)."""
    import keras

    from model import layers as _registers_the_models_own_layers  # noqa: F401  (load_model looks them up)
    from training.network import build_blur_model

    keras.utils.set_random_seed(seed)
    done, history = 0, {}
    if resume and checkpoints and (checkpoints / CHECKPOINT_STATE).exists():
        state = json.loads((checkpoints / CHECKPOINT_STATE).read_text())
        done, history = int(state["epochs_done"]), state["history"]
        model = keras.saving.load_model(checkpoints / CHECKPOINT_FILE)
        log.info("resuming after epoch %d of %d from %s", done, epochs, checkpoints)
    else:
        model = build_blur_model(width)
        if init_from is not None:
            model.set_weights(keras.saving.load_model(Path(init_from) / MODEL_FILE).get_weights())
            log.info("warm start from %s", init_from)
        steps = epochs * int(np.ceil(len(train["views"]) * 0.9 / BATCH_SIZE))
        model.compile(
            optimizer=keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
            ),
            loss={"blurry": "binary_crossentropy", "blur_type": "sparse_categorical_crossentropy"},
            metrics={"blurry": ["accuracy"], "blur_type": ["accuracy"]},
        )
    # The views array is several GB: batches are cut from it one at a time (a PyDataset), never copied
    # whole into a tensor. The first rows are synthetic examples in random order, so the first tenth
    # is a fair validation sample.
    split = len(train["views"]) // 10
    callbacks = [_EpochCheckpoint(checkpoints, history)] if checkpoints else []
    if done < epochs:
        model.fit(
            _Batches(train, np.arange(split, len(train["views"])), seed, done, keep_weights),
            validation_data=_Batches(train, np.arange(split), None, keep_weights=keep_weights),
            epochs=epochs,
            initial_epoch=done,
            verbose=2,
            callbacks=callbacks,
        )
    return model, history


VALIDATION_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def threshold_on_validation(model, arrays: dict[str, np.ndarray]) -> dict[str, object]:
    """The `blurry` threshold read off training's own validation rows (the first tenth, never trained
    on): accuracy at each of VALIDATION_THRESHOLDS, and the best one (0.5 on a tie: the job's default).
    Held-out photos play no part in it."""
    rows = np.arange(len(arrays["views"]) // 10)
    probabilities = []
    for start in range(0, len(rows), 64):
        out = model(np.asarray(arrays["views"][rows[start : start + 64]]), training=False)
        probabilities.append(np.asarray(out["blurry"])[:, 0])
    probability = np.concatenate(probabilities) if probabilities else np.zeros(0)
    truth = arrays["blurry"][rows] >= 0.5
    accuracy = {str(t): round(float(np.mean((probability >= t) == truth)), 4) for t in VALIDATION_THRESHOLDS}
    best = max(VALIDATION_THRESHOLDS, key=lambda t: (accuracy[str(t)], t == 0.5))
    return {"rows": len(rows), "accuracy": accuracy, "chosen": best}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished worker processes (the machine is shared: wall time
    alone says little)."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


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
    parser.add_argument(
        "--motion",
        default=str(motion_sources.PAIRS_FOLDER),
        help="folder of real motion pairs with LIST.csv (its training scenes are used)",
    )
    parser.add_argument(
        "--averaged",
        type=int,
        nargs=2,
        default=(AVERAGED_BLURRY, AVERAGED_SHARP),
        metavar=("BLURRY", "SHARP"),
        help="examples made from the raw GoPro frames of ../shared/data/motion/gopro_frames",
    )
    parser.add_argument("--examples", type=int, default=16000, help="synthetic examples")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=16, help="network width (channels of its first layers)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--keep-weight",
        type=float,
        nargs=2,
        default=KEEP_WEIGHTS,
        metavar=("SHARP", "BOKEH"),
        help="weights of sharp and of bokeh photos in the blurry loss (blurry photos: 1)",
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--cache",
        default="training_cache",
        help="folder that keeps the generated examples (views.npy + labels.npz, reused by the next run)"
        " and a checkpoint after every epoch",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last epoch checkpoint in --cache"
    )
    parser.add_argument(
        "--init-from",
        metavar="MODEL_DIR",
        help="warm start: begin from this model folder's weights (same network) instead of random ones",
    )
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="initial rate of the cosine decay")
    parser.add_argument(
        "--real-shake",
        default=str(motion_sources.REAL_SHAKE_FOLDER),
        help="folder of real shaken photos with LIST.csv (its training scenes, never EVALUATION ONLY rows)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.time()

    sharp, real, masks = sources.split_side(
        args.photos, args.real, args.masks, held_out=False, use_skimage=not args.no_skimage
    )
    motion = motion_sources.motion_side(Path(args.motion), held_out=False)
    shakes = motion_sources.shake_side(Path(args.real_shake), held_out=False)
    averaged = tuple(args.averaged) if motion_sources.frame_paths() else (0, 0)
    log.info(
        "training sources: %d sharp photos, %d real labelled photos, %d masks, %d real motion files,"
        " %d real shaken photos, %d measured kernels, %d + %d examples from GoPro frames",
        len(sharp),
        len(real),
        len(masks),
        len(motion),
        len(shakes),
        len(dataset.measured_kernels()),
        *averaged,
    )

    cache = Path(args.cache) if args.cache else None
    from_cache = bool(cache and (cache / "views.npy").exists())
    if from_cache:
        arrays = load_examples(cache)
    else:
        arrays = generate_training_set(
            sharp, real, masks, args.examples, args.seed, args.processes, motion, averaged, shakes
        )
        if cache:
            save_examples(arrays, cache)
            arrays = load_examples(cache)  # memory-mapped: frees the GBs held while the examples were made
    generated = time.time()
    log.info("generated %d examples in %.0f s", len(arrays["views"]), generated - started)
    checkpoints = cache / "checkpoints" if cache else None
    model, history = train_model(
        arrays,
        args.epochs,
        args.seed,
        args.width,
        checkpoints,
        args.resume,
        tuple(args.keep_weight),
        Path(args.init_from) if args.init_from else None,
        args.learning_rate,
    )
    trained = time.time()
    threshold = threshold_on_validation(model, arrays)
    log.info("validation accuracy by threshold: %s", threshold["accuracy"])

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
            "keep_weights": list(args.keep_weight),
            "sharp_sources": len(sharp),
            "real_photos": len(real),
            "masks": len(masks),
            "real_motion_files": len(motion),
            "real_shake_files": len(shakes),
            "init_from": args.init_from,
            "learning_rate": args.learning_rate,
            "threshold_on_validation": threshold,
            "averaged_frame_examples": list(averaged),
            "measured_kernels": len(dataset.measured_kernels()),
            "examples_from_cache": from_cache,
            "resumed": args.resume,
            "generate_seconds": round(generated - started),
            "train_seconds": round(trained - generated),
            "cpu_seconds": round(_cpu_seconds()),
            "final": {k: round(float(v[-1]), 4) for k, v in history.items()},
        },
    )
    metadata.write(out)
    log.info("wrote %s in %.0f s total", out, time.time() - started)


if __name__ == "__main__":
    main()
