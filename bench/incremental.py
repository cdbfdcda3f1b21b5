"""Benchmark an incremental re-run (--skip_scored) against the full run it follows.

    python -m bench.incremental                          # 10,000 files, then 100 new or changed
    python -m bench.incremental --files 2000 --changed 50

The files: 640x480 JPEGs (the scale run's recipe), hard links to --distinct files round and round.
1. The full run: the multi-process job over every file.
2. Half of --changed files are rewritten with other bytes (the link replaced by a new file, so its
   size and time change), the other half are new files.
3. The re-run: the same command plus --skip_scored <the full run's prefix>.
Both runs find the model's probe already recorded (pipeline/job/model_probe.py), as every night after the
first does: the benchmark records it first, untimed, in a cache folder of its own under --work.
Checked, not assumed: the re-run's output has one row per file, its manifest says files - changed rows
were carried, and exactly the changed and new files have carried_over = false (the only ones read).
Figures (wall and CPU seconds of both runs, their ratio, the load average) go to --out as JSON and
to stdout. The re-run reads at most 200 files, so it runs in one process (pipeline/job/incremental.py
fit_workers), although it is given the same multi-process flags.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import camera_roll
from model import MODEL_DIR
from pipeline.job.model_probe import CACHE_DIR_ENV
from pipeline.results.reader import read_results

REPO = Path(__file__).resolve().parent.parent
SHARP_PHOTOS = REPO.parent / "shared" / "data" / "photos" / "sharp"
JOB_FLAGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.incremental", description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=100, help="new or changed files before the re-run")
    parser.add_argument("--distinct", type=int, default=300, help="distinct 640x480 JPEGs behind the links")
    parser.add_argument("--work", default=str(REPO / "bench" / "work"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "incremental.json"))
    return parser.parse_args(argv)


def children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_job(args: list[str], log: Path) -> tuple[float, float]:
    """Run the job as a user would; return its wall and CPU seconds (the launcher and every process
    it waited for)."""
    started, cpu_before = time.monotonic(), children_cpu_s()
    with open(log, "w") as stream:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline.score", *args, *JOB_FLAGS],
            cwd=REPO,
            stdout=stream,
            stderr=stream,
        )
    seconds, cpu = time.monotonic() - started, children_cpu_s() - cpu_before
    if done.returncode:
        raise SystemExit(f"the job failed ({done.returncode}); see {log}")
    return seconds, cpu


def record_model_probe(cache: Path) -> None:
    """Probe the shipped model once into `cache` (untimed), as the first night's launch would."""
    shutil.rmtree(cache, ignore_errors=True)
    os.environ[CACHE_DIR_ENV] = str(cache)
    code = f"from pipeline.job.launch import check_model; check_model({str(MODEL_DIR)!r})"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)


def read_manifest(prefix: str) -> dict:
    return json.loads(Path(f"{prefix}-manifest.json").read_text())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work)
    sources = camera_roll.image_files(SHARP_PHOTOS)
    recipe = camera_roll.RollRecipe(
        width=640, height=480, quality=90, noise_sigma=3.0, sources_digest=camera_roll.sources_digest(sources)
    )
    # The extra distinct photos are the new and changed files' bytes, never linked into the roll.
    distinct = camera_roll.make_roll(sources, work / "small_640x480", args.distinct + args.changed, recipe)
    folder = camera_roll.link_subset(distinct[: args.distinct], work / "runs" / "incremental", args.files)
    camera_roll.warm_page_cache(distinct)
    out = work / "out" / "incremental"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    record_model_probe(work / "model-probes")
    load_before = os.getloadavg()

    full_prefix = str(out / "full")
    print(f"full run over {args.files} files ...", flush=True)
    full_s, full_cpu = run_job(["--input", str(folder), "--output", full_prefix], out / "full.log")

    extra = distinct[args.distinct :]
    links = sorted(folder.iterdir())
    changed = [links[index * (len(links) // max(1, args.changed // 2))] for index in range(args.changed // 2)]
    for path, source in zip(changed, extra, strict=False):
        path.unlink()  # break the hard link: only this name gets new bytes, size and time
        shutil.copyfile(source, path)
    new = [folder / f"NEW_{index:05d}.jpg" for index in range(args.changed - len(changed))]
    for path, source in zip(new, extra[len(changed) :], strict=True):
        shutil.copyfile(source, path)
    touched = {str(path) for path in changed + new}

    again_prefix = str(out / "again")
    print(f"re-run with {len(changed)} changed and {len(new)} new files ...", flush=True)
    again_s, again_cpu = run_job(
        ["--input", str(folder), "--output", again_prefix, "--skip_scored", full_prefix], out / "again.log"
    )

    manifest = read_manifest(again_prefix)
    table = read_results(again_prefix, columns=["uri", "carried_over"])  # the shards the manifest lists
    scored = {uri for uri, carried in zip(*table.to_pydict().values(), strict=True) if not carried}
    checks = {
        "one_row_per_file": table.num_rows
        == len(set(table.column("uri").to_pylist()))
        == args.files + len(new),
        "carried": manifest["carried"] == args.files - len(changed),
        "scored_only_the_new_and_changed": scored == touched,
    }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": args.files,
        "changed": len(changed),
        "new": len(new),
        "full_run_s": round(full_s, 1),
        "rerun_s": round(again_s, 1),
        "rerun_over_full": round(again_s / full_s, 3),
        "target": "rerun_over_full < 0.2",
        "full_run_cpu_s": round(full_cpu, 1),
        "rerun_cpu_s": round(again_cpu, 1),
        "rerun_said": [line for line in (out / "again.log").read_text().splitlines() if "score:" in line],
        "checks": checks,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "commands": f"python -m pipeline.score --input {folder} --output PREFIX {' '.join(JOB_FLAGS)} "
        "[--skip_scored FULL_PREFIX]",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
