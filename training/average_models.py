"""Average blur models into one model folder the job and training.evaluate load like any other.

    python -m training.average_models --out /tmp/averaged model/ /tmp/other_model/
    python -m training.average_models --out /tmp/mirrored --transposed model/

Each member sees the photo's views (and, with --transposed, the views with rows and columns swapped,
which changes neither whether nor how a photo is blurred); `blurry` and `blur_type` are the means of
the members' outputs. The cost per photo grows with the number of passes. Used to measure what
ensembles and test-time mirroring would buy (model/HISTORY.md, blur-cnn-20261127-0529); none is shipped.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from model import MODEL_FILE
from model.contract import read_metadata
from model.inputs import VIEW_SIZE, VIEWS_PER_PHOTO


def average_models(model_dirs: list[str], out: str, transposed: bool = False) -> None:
    """Write out/blur_model.keras (the averaged model) and out/metadata.json (the first member's, with
    a version naming the members)."""
    import keras
    from keras import layers

    from model import layers as _registers_the_models_own_layers  # noqa: F401

    views = keras.Input((VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), dtype="uint8", name="views")
    inputs = [views, layers.Permute((1, 3, 2, 4))(views)] if transposed else [views]
    metadata = [read_metadata(d) for d in model_dirs]
    outputs = []
    for index, model_dir in enumerate(model_dirs):
        member = keras.saving.load_model(Path(model_dir) / MODEL_FILE, compile=False)
        member.name = f"member_{index}"  # two copies of one architecture would share a name
        outputs += [member(x) for x in inputs]

    def mean(name: str):
        tensors = [o[name] for o in outputs]
        return layers.Average(name=name)(tensors) if len(tensors) > 1 else tensors[0]

    model = keras.Model(views, {"blurry": mean("blurry"), "blur_type": mean("blur_type")})
    Path(out).mkdir(parents=True, exist_ok=True)
    model.save(Path(out) / MODEL_FILE)
    members = ",".join(m.version for m in metadata)
    version = f"mean({members}{', transposed' if transposed else ''})"
    dataclasses.replace(metadata[0], version=version).write(out)


def interpolate_weights(first: str, second: str, alpha: float, out: str) -> None:
    """Write out/ with the weights (1 - alpha) * first + alpha * second, one network of the members'
    shape (the cost of one model, unlike average_models). Meant for a model fine-tuned from another (a
    warm start): the two lie in one basin, and the straight line between them trades what the fine-tune
    gained against what it lost (weight-space ensembles, Wortsman et al. 2022, "WiSE-FT")."""
    import keras

    from model import layers as _registers_the_models_own_layers  # noqa: F401

    models = [keras.saving.load_model(Path(d) / MODEL_FILE, compile=False) for d in (first, second)]
    weights = [m.get_weights() for m in models]
    if [w.shape for w in weights[0]] != [w.shape for w in weights[1]]:
        raise SystemExit("the two models are not the same network")
    models[1].set_weights([(1 - alpha) * a + alpha * b for a, b in zip(*weights, strict=True)])
    Path(out).mkdir(parents=True, exist_ok=True)
    models[1].save(Path(out) / MODEL_FILE)
    second_metadata = read_metadata(second)
    version = second_metadata.version + f"-wise{round(100 * alpha)}"
    training = dict(second_metadata.training or {})
    training["interpolation"] = {
        "command": f"python -m training.average_models --interpolate {alpha:g} --out {out} {first} {second}",
        "first": read_metadata(first).version,
        "second": second_metadata.version,
        "alpha": alpha,
    }
    dataclasses.replace(second_metadata, version=version, training=training).write(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="model folders (blur_model.keras + metadata.json)")
    parser.add_argument("--out", required=True, help="folder for the averaged model")
    parser.add_argument("--transposed", action="store_true", help="also average over transposed views")
    parser.add_argument(
        "--interpolate",
        type=float,
        metavar="ALPHA",
        help="instead: one network with weights (1 - ALPHA) * first + ALPHA * second (two models only)",
    )
    args = parser.parse_args(argv)
    if args.interpolate is not None:
        if len(args.models) != 2:
            raise SystemExit("--interpolate takes exactly two model folders")
        interpolate_weights(args.models[0], args.models[1], args.interpolate, args.out)
    else:
        average_models(args.models, args.out, args.transposed)


if __name__ == "__main__":
    main()
