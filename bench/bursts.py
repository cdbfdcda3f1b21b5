"""Benchmark the burst step: how well it groups and picks, what it costs per photo, and how it scales.

    python -m bench.bursts                       # all three parts
    python -m bench.bursts --skip-job            # only the cost and the scale parts
    python -m bench.bursts --rows 1000000        # the scale part's row count (default 1,000,000)
    python -m bench.bursts --scale-only          # only the scale part (its memory figure is then not
                                                 # hidden under the peak the photos of parts 1-2 made)
    python -m bench.bursts --skip-job --rows 1000 --beam-rows 100000   # the Beam step on the DirectRunner

1. Quality: the team's burst set (bench/burst_set.py: real GoPro, phone and camera frames given burst
   timestamps and EXIF) written to a temporary folder, the real job (python -m pipeline.score) run
   over it, its rows read back. Pairwise grouping precision and recall (a pair of photos is grouped
   when they share a burst_id), best-pick accuracy (of the true bursts with a known best frame, the
   share whose only best_in_burst frame is that one), and photos alone that were merged into a burst.
2. Cost per photo, on one core (process CPU time, OpenCV on one thread): the content hash of the
   whole-frame view, and the detail box (pipeline.job.measure.view_origin; beside it, for scale, what
   calling crop_origins again would cost) on the set's working-scale photos; and how many pairs of the
   138 different photos in photos/camera are as alike as frames of a burst.
3. Scale: the pure grouping functions (pipeline.job.burst_groups), run as the Beam step runs them
   (keys, groups, links, label merging, ranking) over simulated rows: cameras shooting over a year,
   a third of the photos in bursts of 2-8 frames with a few hash bits flipped, 5% without a time. Wall
   and CPU time, and the peak memory (max RSS) of this process over its size before. With
   --beam-rows, the Beam step (FindBursts) itself over simulated rows on the DirectRunner.
Figures go to stdout and, as JSON, to --out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from bench import burst_set
from model.inputs import crop_origins, gray_laplacian, model_views, to_working_scale
from pipeline.job.burst_groups import (
    BURST_MAX_DISTANCE,
    SWUNG_MAX_DISTANCE,
    TWIN_MAX_DISTANCE,
    BurstFacts,
    alike,
    group_keys,
    local_components,
    merge_labels,
    rank_burst,
)
from pipeline.job.measure import view_origin
from pipeline.job.similarity import color_histogram, content_hash, hash_distance, histogram_overlap

REPO = Path(__file__).resolve().parent.parent


def _pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {pair for members in groups.values() for pair in itertools.combinations(sorted(members), 2)}


def quality(rows: list[dict], truth: dict[str, burst_set.Shot], gap_s: float = 2.0) -> dict:
    """Grouping precision and recall over pairs, best-pick accuracy, photos alone merged."""
    by_uri = {row["uri"]: row for row in rows}
    predicted: dict[str, list[str]] = defaultdict(list)
    actual: dict[str, list[str]] = defaultdict(list)
    for uri, shot in truth.items():
        row = by_uri[uri]
        if row["burst_id"] is not None:
            predicted[row["burst_id"]].append(uri)
        if shot.burst is not None:
            actual[shot.burst].append(uri)
    found, real = _pairs(predicted), _pairs(actual)
    picks = {}
    for burst, members in actual.items():
        best = [uri for uri in members if truth[uri].best]
        if best:
            chosen = sorted(uri for uri in members if by_uri[uri]["best_in_burst"])
            picks[burst] = chosen == best
    alone_merged = sorted(
        Path(uri).name
        for uri, shot in truth.items()
        if shot.burst is None and by_uri[uri]["burst_id"] is not None
    )
    # The precision test proper: pairs of different subjects from one camera within the gap.
    timed = [(uri, shot) for uri, shot in truth.items() if shot.seconds is not None]
    close_strangers = [
        (a, b)
        for (a, first), (b, second) in itertools.combinations(timed, 2)
        if first.camera == second.camera and abs(first.seconds - second.seconds) <= gap_s
        and (first.burst is None or first.burst != second.burst)
    ]  # fmt: skip
    merged_strangers = [
        (a, b) for a, b in close_strangers
        if by_uri[a]["burst_id"] is not None and by_uri[a]["burst_id"] == by_uri[b]["burst_id"]
    ]  # fmt: skip
    split = {
        burst: sorted({by_uri[uri]["burst_id"] for uri in members}, key=str)
        for burst, members in actual.items()
    }
    return {
        "photos": len(truth),
        "true_bursts": len(actual),
        "true_pairs": len(real),
        "found_pairs": len(found),
        "precision": len(found & real) / len(found) if found else 1.0,
        "recall": len(found & real) / len(real) if real else 1.0,
        "bursts_with_known_best": len(picks),
        "best_pick_accuracy": sum(picks.values()) / len(picks) if picks else None,
        "best_pick_wrong": sorted(burst for burst, right in picks.items() if not right),
        "alone_merged": alone_merged,
        "different_subject_pairs_within_gap": len(close_strangers),
        "different_subject_pairs_merged": len(merged_strangers),
        "bursts_not_found_whole": sorted(
            burst for burst, ids in split.items() if len(ids) != 1 or ids[0] is None
        ),
    }


def run_job(folder: Path, out: Path) -> tuple[list[dict], float]:
    """The real job over the folder (one process: the set is small); its rows and wall seconds."""
    from pipeline.results.reader import read_results

    prefix = out / "scores"
    command = [sys.executable, "-m", "pipeline.score", "--input", f"{folder}/*.jpg", "--output", str(prefix)]
    command += ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=REPO)
    return read_results(str(prefix)).to_pylist(), time.monotonic() - started


def cost_per_photo(shots: list[burst_set.Shot], repeats: int = 20) -> dict:
    """CPU ms per photo of the content hash and of the detail box's crop_origins, on one core."""
    cv2.setNumThreads(1)
    working = [to_working_scale(shot.rgb) for shot in shots]
    prepared = [(rgb, gray_laplacian(rgb)) for rgb in working]
    views = [model_views(rgb, laplacian) for rgb, laplacian in prepared]

    def per_photo(step) -> float:
        started = time.process_time()
        for _ in range(repeats):
            for _result in step():
                pass
        return (time.process_time() - started) * 1000 / (repeats * len(shots))

    return {
        "photos": len(shots),
        "content_hash_ms": per_photo(lambda: (content_hash(each[0]) for each in views)),
        "color_histogram_ms": per_photo(lambda: (color_histogram(each[0]) for each in views)),
        "detail_box_ms": per_photo(
            lambda: (view_origin(rgb, each[1], lap) for (rgb, lap), each in zip(prepared, views, strict=True))
        ),
        "crop_origins_again_ms": per_photo(lambda: (crop_origins(rgb, lap)[0] for rgb, lap in prepared)),
    }


def unrelated_pairs(paths: list[Path]) -> dict:
    """Every pair of different photos among `paths`, as if one camera took them within the gap: how
    often two different subjects would pass the burst step's content check (`alike`), and the hash
    distances alone."""
    facts = []
    for index, path in enumerate(paths):
        view = model_views(to_working_scale(burst_set._load(path)))[0]
        facts.append(BurstFacts(str(index), "", 0.0, content_hash(view), 0.5, 0.0, color_histogram(view)))
    pairs = list(itertools.combinations(facts, 2))
    distances = np.array([hash_distance(a.content_hash, b.content_hash) for a, b in pairs])
    overlaps = np.array([histogram_overlap(a.colors, b.colors) for a, b in pairs])
    swung = (distances > BURST_MAX_DISTANCE) & (distances <= SWUNG_MAX_DISTANCE)
    return {
        "photos": len(facts),
        "pairs": len(pairs),
        "median": float(np.median(distances)),
        "alike": sum(alike(a, b) for a, b in pairs),
        "within_burst_max_distance": int((distances <= BURST_MAX_DISTANCE).sum()),
        "swung_zone": int(swung.sum()),
        "median_overlap": float(np.median(overlaps)),
        "within": {bits: int((distances <= bits).sum()) for bits in (12, 16, 20, 24, 28, 32, 36)},
        "within_twin_max_distance": int((distances <= TWIN_MAX_DISTANCE).sum()),
        "smallest": int(distances.min()),
    }


def simulated_facts(rows: int, seed: int = 7) -> list[BurstFacts]:
    """Rows as the burst step sees them: 2,000 cameras over a year; a third of the photos in bursts."""
    rng = random.Random(seed)
    shares = np.random.default_rng(seed).dirichlet(np.full(64, 0.3), size=1000) * 65535
    palettes = [np.rint(row).astype(">u2").tobytes() for row in shares]  # colour histograms to draw from
    facts: list[BurstFacts] = []
    year = 365 * 86400.0
    while len(facts) < rows:
        camera = f"make{rng.randrange(50)}|model{rng.randrange(40)}"
        seconds = None if rng.random() < 0.05 else rng.uniform(0, year)
        base, colors = rng.getrandbits(64), rng.choice(palettes)
        frames = rng.randint(2, 8) if rng.random() < 0.1 else 1
        for frame in range(frames):
            flipped = base
            for _ in range(rng.randint(0, 6) if frame else 0):
                flipped ^= 1 << rng.randrange(64)
            moment = None if seconds is None else seconds + 0.3 * frame
            uri = f"gs://bucket/photos/{camera}/{len(facts):08d}.jpg"
            facts.append(
                BurstFacts(uri, camera, moment, flipped, rng.random(), rng.uniform(10, 2000), colors)
            )
    return facts[:rows]


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def grouping_at_scale(rows: int, gap_s: float = 2.0) -> dict:
    """The burst step's pure functions over simulated rows, in the order the Beam step runs them."""
    facts = simulated_facts(rows)
    before_mb = _max_rss_mb()
    wall, cpu = time.monotonic(), time.process_time()
    groups: dict[tuple, list] = defaultdict(list)
    for item in facts:
        for key, borrowed in group_keys(item, gap_s):
            groups[key].append((item, borrowed))
    labels: dict[str, list[str]] = defaultdict(list)
    linked: dict[str, BurstFacts] = {}
    for key, members in groups.items():
        for item, label in local_components(key, members, gap_s):
            labels[item.uri].append(label)
            linked[item.uri] = item
    del groups
    merged = merge_labels(found for found in labels.values() if len(found) > 1)
    bursts: dict[str, list[BurstFacts]] = defaultdict(list)
    for uri, found in labels.items():
        first = min(found)
        bursts[merged.get(first, first)].append(linked[uri])
    ranked = [column for label, members in bursts.items() for column in rank_burst(label, members)]
    result = {
        "rows": rows,
        "wall_s": time.monotonic() - wall,
        "cpu_s": time.process_time() - cpu,
        "rss_before_mb": before_mb,  # the interpreter and the simulated rows themselves
        "peak_rss_growth_mb": _max_rss_mb() - before_mb,
        "rows_in_bursts": len(ranked),
        "bursts": len(bursts),
        "label_merges": len(merged),
    }
    return result


def beam_step_at_scale(rows: int, gap_s: float = 2.0) -> dict:
    """The Beam step itself (FindBursts) over simulated rows on the DirectRunner, in this process."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.job.bursts import FindBursts
    from pipeline.job.similarity import hash_hex

    epoch = datetime(1970, 1, 1)
    simulated = [
        {
            "uri": item.uri, "status": "ok", "low_information": False,
            "content_hash": hash_hex(item.content_hash), "color_histogram": item.colors,
            "camera_make": item.camera.split("|")[0], "camera_model": item.camera.split("|")[1],
            "captured_at": None if item.seconds is None else epoch + timedelta(seconds=item.seconds),
            "blur_probability": item.blur_probability, "laplacian_var": item.laplacian_var,
        }
        for item in simulated_facts(rows)
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="burst-beam-") as scratch:
        out = Path(scratch) / "counts.json"
        wall, cpu = time.monotonic(), time.process_time()
        with beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as pipeline:
            _ = (
                pipeline
                | beam.Create(simulated, reshuffle=False)
                | FindBursts(gap_s)
                | beam.Map(lambda row: (row["burst_id"] is not None, 1))
                | beam.CombinePerKey(sum)
                | beam.combiners.ToList()
                | beam.Map(lambda counts: out.write_text(json.dumps(dict(counts))))
            )
        counts = json.loads(out.read_text())
    return {
        "rows": rows,
        "wall_s": time.monotonic() - wall,
        "cpu_s": time.process_time() - cpu,
        "rows_in_bursts": counts.get("true", 0),
        "rows_alone": counts.get("false", 0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-job", action="store_true")
    parser.add_argument("--scale-only", action="store_true", help="only the scale part")
    parser.add_argument("--beam-rows", type=int, default=0, help="also run the Beam step on N simulated rows")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "bursts.json")
    args = parser.parse_args(argv)
    report: dict = {}
    if args.scale_only:
        report["scale"] = grouping_at_scale(args.rows)
        print(json.dumps(report["scale"], indent=1))
        return
    shots = burst_set.burst_set()
    report = {
        "cost": cost_per_photo(shots),
        "unrelated": unrelated_pairs(burst_set.camera_photos()),
        "unrelated_sharp": unrelated_pairs(sorted((burst_set.SHARED / "photos" / "sharp").glob("*"))),
    }
    print(json.dumps({name: report[name] for name in ("cost", "unrelated", "unrelated_sharp")}, indent=1))
    if not args.skip_job:
        with tempfile.TemporaryDirectory(prefix="burst-set-") as scratch:
            written = burst_set.write_set(Path(scratch) / "photos", shots)
            rows, seconds = run_job(Path(scratch) / "photos", Path(scratch))
            report["quality"] = {**quality(rows, written), "job_wall_s": seconds}
        print(json.dumps(report["quality"], indent=1), flush=True)
    report["scale"] = grouping_at_scale(args.rows)
    print(json.dumps(report["scale"], indent=1), flush=True)
    if args.beam_rows:
        report["beam_step"] = beam_step_at_scale(args.beam_rows)
        print(json.dumps(report["beam_step"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
