"""The peer: CleanVision's blurry check over one folder, as a user would run it.

    bench/work/cleanvision-venv/bin/python bench/cleanvision_peer.py FOLDER [--processes N]

Runs in CleanVision's own virtualenv (bench/requirements-cleanvision.txt), so it imports nothing from
this project. Only the "blurry" issue type is checked, with CleanVision's defaults, over
os.cpu_count() processes (its n_jobs). Prints one JSON line: images, blurry, seconds in find_issues.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time


def inrun_rate(timestamps: list[float], low: float = 0.1, high: float = 0.9) -> float | None:
    """bench.figures.inrun_rate, repeated because this script cannot import the project."""
    times = sorted(timestamps)
    first, last = int(len(times) * low), int(len(times) * high) - 1
    if last <= first or times[last] <= times[first]:
        return None
    return round((last - first) / (times[last] - times[first]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder")
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    args = parser.parse_args()

    from cleanvision import Imagelab  # imported here: part of the start-up the two-size runs cancel out
    from cleanvision.issue_managers import image_property_issue_manager

    # Observe, without changing, when each image's scores come back: CleanVision wraps its pool's
    # results in tqdm, so a pass-through wrapper there sees every image as it is done.
    done: list[float] = []

    def timed(iterable, *args, **kwargs):
        for item in iterable:
            done.append(time.time())
            yield item

    image_property_issue_manager.tqdm = timed

    # CleanVision prints progress bars and a report; only the JSON line below is ours.
    with contextlib.redirect_stdout(io.StringIO()):
        lab = Imagelab(data_path=args.folder)
        started = time.perf_counter()
        lab.find_issues({"blurry": {}}, n_jobs=args.processes, verbose=False)
        seconds = time.perf_counter() - started
    issues = lab.issues
    print(
        json.dumps(
            {
                "images": int(len(issues)),
                "blurry": int(issues["is_blurry_issue"].sum()),
                "find_issues_s": round(seconds, 3),
                "inrun_images_per_s": inrun_rate(done),
            }
        )
    )


if __name__ == "__main__":
    main()
