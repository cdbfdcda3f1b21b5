"""Where one core's time goes, stage by stage, for the job's per-photo work (no Beam).

    python -m bench.stages FILE_LIST [--batch 32]

Calls the job's own pure functions with TensorFlow and OpenCV held to one thread, and times each stage
in CPU time of the process (time.process_time), which other work on the machine barely changes.
The sum is what one core spends per photo before any runner overhead; decode alone is the floor's
cost per photo. Prints one JSON line of milliseconds per photo.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cv2

from model import MODEL_DIR
from pipeline.job.measure import measure_photo
from pipeline.photo.decode import decode_photo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file_list", help="a text file with one path per line")
    parser.add_argument("--batch", type=int, default=32, help="photos per model call")
    parser.add_argument("--model", default=str(MODEL_DIR))
    args = parser.parse_args()
    with open(args.file_list, encoding="utf-8") as stream:
        paths = [line.strip() for line in stream if line.strip()]

    cv2.setNumThreads(1)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from model.contract import load_blur_model
    from pipeline.job.inference import stack_padded

    model = load_blur_model(args.model)

    spent = {"read": 0.0, "decode": 0.0, "measure": 0.0, "infer": 0.0}
    views = []
    for path in paths:
        started = time.process_time()
        with open(path, "rb") as stream:
            data = stream.read()
        read = time.process_time()
        photo = decode_photo(data)
        decoded = time.process_time()
        views.append(measure_photo(photo).views)
        measured = time.process_time()
        spent["read"] += read - started
        spent["decode"] += decoded - read
        spent["measure"] += measured - decoded
    # Batches as the job makes them (pipeline.job.inference: the last one padded to the batch size).
    model.predict(stack_padded(views[: args.batch], args.batch))  # builds the graph: not a photo's cost
    for start in range(0, len(views), args.batch):
        started = time.process_time()
        model.predict(stack_padded(views[start : start + args.batch], args.batch))
        spent["infer"] += time.process_time() - started
    per_photo = {stage: round(seconds * 1000 / len(paths), 2) for stage, seconds in spent.items()}
    per_photo["total"] = round(sum(per_photo.values()), 2)
    print(
        json.dumps({"photos": len(paths), "batch": args.batch, "pid": os.getpid(), "ms_per_photo": per_photo})
    )


if __name__ == "__main__":
    main()
