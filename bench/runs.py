"""The two benchmarks: the systems over n1 and n2 photos of a camera roll (`run_main`, with the job's
stage costs), and the job over many small files (`run_scale`); and the steady-state figures of each
system from its runs (`summarize_system`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import camera_roll
from bench.figures import ratio, rounded, steady_state
from bench.procs import measure_command
from bench.systems import JOB_ALL, JOBS, PEER, REPO, RUN_TIMEOUT_S, Bench, job_env, last_json_line, log

SHARP_PHOTOS = REPO.parent / "shared" / "data" / "photos" / "sharp"
WARMUP_PHOTOS = 4
STAGE_PHOTOS = 60


def roll_files(args: argparse.Namespace, work: Path) -> tuple[list[Path], dict]:
    """The n2 photos to measure on, and how they were made."""
    if args.folder:
        files = camera_roll.image_files(args.folder)[: args.n2]
        if len(files) < args.n2:
            sys.exit(f"bench: {args.folder} has {len(files)} image files, fewer than n2={args.n2}")
        return files, {"folder": str(Path(args.folder).resolve()), "made": False}
    sources = camera_roll.image_files(SHARP_PHOTOS)
    recipe = camera_roll.RollRecipe(sources_digest=camera_roll.sources_digest(sources))
    folder = work / "roll_4032x3024"
    started = time.perf_counter()
    log(f"camera roll: {args.n2} photos of {recipe.width}x{recipe.height} in {folder} (made once, reused)")
    files = camera_roll.make_roll(sources, folder, args.n2, recipe)
    return files, {
        "folder": str(folder),
        "made": True,
        "sources": str(SHARP_PHOTOS),
        "source_photos": len(sources),
        "recipe": recipe.__dict__,
        "seconds_to_make_or_check": round(time.perf_counter() - started, 1),
    }


def describe_files(files: Sequence[Path]) -> dict:
    from PIL import Image

    sizes = [path.stat().st_size for path in files]
    with Image.open(files[0]) as first:
        dimensions = f"{first.width}x{first.height}"
    return {
        "count": len(files),
        "first_file_pixels": dimensions,
        "mean_mb": round(sum(sizes) / len(sizes) / 1e6, 2),
        "min_mb": round(min(sizes) / 1e6, 2),
        "max_mb": round(max(sizes) / 1e6, 2),
    }


def summarize_system(runs: list[dict], n1: int, n2: int, cpus: int) -> dict:
    """Steady state from the fastest run at each size."""
    best = {
        n: min((run for run in runs if run["n"] == n), key=lambda run: run["wall_s"], default=None)
        for n in (n1, n2)
    }
    failed = [run for run in runs if run["reported"].get("problems")]
    summary: dict = {"runs": runs, "valid": not failed}
    if best[n1] is None or best[n2] is None or failed:
        return summary
    steady = steady_state(
        n1, best[n1]["wall_s"], n2, best[n2]["wall_s"], best[n1]["cpu_s"], best[n2]["cpu_s"]
    )
    summary.update(
        steady_images_per_s=rounded(steady.images_per_s),
        steady_images_per_s_per_core=rounded(ratio(steady.images_per_s, cpus)),
        startup_s=rounded(steady.startup_s, 1),
        cpu_s_per_image=rounded(steady.cpu_s_per_image, 4),
        images_per_cpu_s=rounded(ratio(1.0, steady.cpu_s_per_image)),
        whole_run_images_per_s=rounded(n2 / best[n2]["wall_s"]),
        inrun_images_per_s=best[n2].get("inrun_images_per_s"),
        peak_rss_mb=max(run["peak_rss_mb"] for run in runs),
        peak_pss_mb=max(run["peak_pss_mb"] for run in runs),
    )
    return summary


def run_main(args: argparse.Namespace, work: Path, bench: Bench) -> dict:
    files, origin = roll_files(args, work)
    log(f"warming the page cache: {camera_roll.warm_page_cache(files) / 1e6:.0f} MB")
    folders = {n: camera_roll.link_subset(files, work / "runs" / f"n{n}", n) for n in (args.n1, args.n2)}
    warmup = camera_roll.link_subset(files, work / "runs" / "warmup", WARMUP_PHOTOS)
    runs: dict[str, list[dict]] = {system: [] for system in args.systems}
    for system in args.systems:
        # Untimed: a first run reads TensorFlow and the rest from disk; the timed runs must not.
        log(f"{system}: warm-up on {WARMUP_PHOTOS} photos")
        bench.run(system, warmup, WARMUP_PHOTOS, f"{system}_warmup")
    for repeat in range(args.repeats):
        for system in args.systems:
            for n in (args.n1, args.n2):
                run = bench.run(system, folders[n], n, f"{system}_n{n}_r{repeat}")
                run["repeat"] = repeat
                runs[system].append(run)
                log(
                    f"{system:16s} n={n:5d}: {run['wall_s']:7.1f} s wall, {run['cpu_s']:7.1f} s CPU, "
                    f"peak RSS {run['peak_rss_mb']:7.0f} MB (PSS {run['peak_pss_mb']:.0f})"
                )
    systems = {
        system: summarize_system(runs[system], args.n1, args.n2, bench.cpus) for system in args.systems
    }
    stages = stage_costs(work, files[:STAGE_PHOTOS], bench) if set(JOBS) & set(args.systems) else None
    if PEER in systems:
        systems[PEER]["offline"] = bench.offline
    return {
        "photos": {**origin, **describe_files(files)},
        "sizes": [args.n1, args.n2],
        "systems": systems,
        "stage_costs": stages,
    }


def stage_costs(work: Path, files: Sequence[Path], bench: Bench) -> dict:
    """CPU milliseconds per photo of each of the job's stages on one core (bench.stages)."""
    listing = work / "lists" / "stages.txt"
    listing.write_text("".join(f"{path}\n" for path in files))
    log(f"stage costs: the job's per-photo functions on one core over {len(files)} photos")
    measured = measure_command(
        [sys.executable, "-m", "bench.stages", str(listing)],
        cwd=REPO,
        env=job_env(),
        log_prefix=bench.logs / "stages",
        timeout=RUN_TIMEOUT_S,
    )
    found = last_json_line(measured.stdout)
    if measured.returncode != 0 or not found:
        return {"problems": [f"exit code {measured.returncode}"], "log": str(bench.logs / "stages.err")}
    costs = found["ms_per_photo"]
    found["best_job_vs_floor"] = round(costs["decode"] / costs["total"], 3)
    found["note"] = (
        "process CPU time, TensorFlow and OpenCV on one thread; best_job_vs_floor = decode / total, the "
        "job/floor ratio a runner with no overhead of its own would reach"
    )
    return found


def run_scale(args: argparse.Namespace, work: Path, bench: Bench) -> dict:
    sources = camera_roll.image_files(SHARP_PHOTOS)
    recipe = camera_roll.RollRecipe(
        width=640, height=480, quality=90, noise_sigma=3.0, sources_digest=camera_roll.sources_digest(sources)
    )
    distinct = camera_roll.make_roll(sources, work / "small_640x480", args.scale_distinct, recipe)
    camera_roll.warm_page_cache(distinct)
    warmup = camera_roll.link_subset(distinct, work / "runs" / "scale_warmup", WARMUP_PHOTOS)
    log(f"scale: warm-up on {WARMUP_PHOTOS} files")
    bench.run(JOB_ALL, warmup, WARMUP_PHOTOS, "scale_warmup")
    results = []
    for count in args.scale_counts:
        folder = camera_roll.link_subset(distinct, work / "runs" / f"scale_n{count}", count)
        log(f"scale: job_all_cores over {count} files ({len(distinct)} distinct 640x480 JPEGs, linked)")
        run = bench.run(JOB_ALL, folder, count, f"scale_n{count}")
        log(f"scale n={count}: {run['wall_s']:.1f} s wall, peak RSS {run['peak_rss_mb']:.0f} MB")
        results.append(run)
    summary: dict = {
        "files": "640x480 JPEGs, quality 90, hard links to the distinct files round and round",
        "distinct_files": len(distinct),
        "runs": results,
    }
    valid = all(not run["reported"].get("problems") for run in results)
    summary["valid"] = valid
    if valid and len(results) >= 2:
        first, last = results[0], results[-1]
        steady = steady_state(
            first["n"], first["wall_s"], last["n"], last["wall_s"], first["cpu_s"], last["cpu_s"]
        )
        summary.update(
            steady_images_per_s=rounded(steady.images_per_s),
            startup_s=rounded(steady.startup_s, 1),
            whole_run_images_per_s=[rounded(run["n"] / run["wall_s"]) for run in results],
            peak_rss_mb=[run["peak_rss_mb"] for run in results],
            peak_pss_mb=[run["peak_pss_mb"] for run in results],
            peak_rss_growth=rounded(ratio(last["peak_rss_mb"], first["peak_rss_mb"]), 3),
            model_loads=[run["reported"].get("model_loads_metric") for run in results],
        )
    return summary
