"""Benchmark the blur job against the decode floor and CleanVision, on the same 12 MP photos.

    python -m bench.run_bench                      # runs over 150 and 300 photos -> bench/results/latest.json
    python -m bench.run_bench --photos 40          # a quick look (20 + 40)
    python -m bench.run_bench --folder ~/DCIM      # your own photos instead of the made-up camera roll
    python -m bench.run_bench --scale              # also the 2,000 / 10,000 small-file memory run
    bench/run.sh ...                               # the same, creating .venv first on a fresh clone

What is measured, each as a separate process, on the same files (page cache warmed first):
  decode_floor      only reading + reduced decoding to the working scale (pipeline.photo.decode.decode_photo),
                    a multiprocessing Pool of os.cpu_count() processes: the floor for any detector here
  job_all_cores     python -m pipeline.score on the DirectRunner, multi_processing, one worker per core
  job_one_process   the same job, in_memory runner, 1 worker (TensorFlow still uses every core)
  cleanvision       CleanVision's "blurry" check (its own venv, n_jobs = os.cpu_count()), run offline
Each runs over n1 and then n2 photos after an untimed warm-up; steady-state images/s is
(n2 - n1) / (t2 - t1), which cancels start-up (imports, model load, worker start). Peak memory is
sampled over the whole process tree (see bench.procs). Figures go to --out as JSON and a Markdown table
beside it. Other work on the machine slows every system; the JSON records the load before and after.

This module is the command line; the parts: bench.systems (the systems measured and what each
reported: the job through its PREFIX-manifest.json), bench.procs (process and machine measurement),
bench.runs (the roll and scale benchmarks), bench.report (ratios, targets, cost, tables), with
bench.figures (the arithmetic), bench.camera_roll (the photos), bench.floor, bench.stages and
bench.cleanvision_peer (the programs measured).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.procs import machine_facts, machine_state
from bench.report import headline, markdown
from bench.runs import run_main, run_scale
from bench.systems import BENCH, SYSTEMS, Bench, log, model_facts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--photos", type=int, default=300, help="n2, the larger run; n1 is half (default 300)"
    )
    parser.add_argument("--sizes", help="n1,n2 explicitly, e.g. 150,300 (overrides --photos)")
    parser.add_argument(
        "--folder", help="benchmark these photos (files directly in DIR) instead of a made-up roll"
    )
    parser.add_argument("--out", default=str(BENCH / "results" / "latest.json"), help="JSON results file")
    parser.add_argument("--work", default=str(BENCH / "work"), help="scratch folder (photos, venv, logs)")
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per system and size; the fastest counts")
    parser.add_argument("--scale", action="store_true", help="also run the job over many small files")
    parser.add_argument("--scale-only", action="store_true", help="only the scale run")
    parser.add_argument("--scale-counts", default="2000,10000", help="file counts of the scale run")
    parser.add_argument("--scale-distinct", type=int, default=300, help="distinct 640x480 files behind them")
    parser.add_argument(
        "--job-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for every job run, e.g. --job-arg=--blur_threshold=0.6 (repeatable)",
    )
    parser.add_argument(
        "--rereport",
        metavar="JSON",
        help="measure nothing: recompute the ratios, cost and table of an earlier results file",
    )
    parser.add_argument(
        "--job-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment variable for every job run, e.g. --job-env TF_NUM_INTRAOP_THREADS=1 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.sizes:
        args.n1, args.n2 = (int(part) for part in args.sizes.split(","))
    else:
        args.n1, args.n2 = args.photos // 2, args.photos
    if not 0 < args.n1 < args.n2:
        parser.error(f"need 0 < n1 < n2, got {args.n1}, {args.n2}")
    args.systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")
    args.scale_counts = [int(part) for part in args.scale_counts.split(",")]
    return args


def rereport(path: Path) -> int:
    result = json.loads(path.read_text())
    result["headline"] = headline(result, result["machine"]["cpus"])
    path.write_text(json.dumps(result, indent=1))
    table = markdown(result)
    path.with_suffix(".md").write_text(table)
    print(table)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rereport:
        return rereport(Path(args.rereport))
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "command": " ".join(["python -m bench.run_bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_facts(),
        "model": model_facts(),
        "before": machine_state(),
    }
    log(f"load before: {result['before']['loadavg_1_5_15']}, busy: {result['before']['busy_processes'][:3]}")
    bench = Bench(args, work)
    systems = [] if args.scale_only else args.systems
    bench.prepare(systems)
    if systems:
        result.update(run_main(args, work, bench))
    if args.scale or args.scale_only:
        result["scale"] = run_scale(args, work, bench)
    result["after"] = machine_state()
    result["headline"] = headline(result, bench.cpus)
    out.write_text(json.dumps(result, indent=1))
    table = markdown(result)
    out.with_suffix(".md").write_text(table)
    print(table)
    log(f"load after: {result['after']['loadavg_1_5_15']}; results in {out} and {out.with_suffix('.md')}")
    valid = all(figures.get("valid") for figures in result.get("systems", {}).values())
    return 0 if valid and result.get("scale", {}).get("valid", True) else 1


if __name__ == "__main__":
    sys.exit(main())
