"""Benchmark the blur job against the decode floor and CleanVision, on the same 12 MP photos.

    python -m bench.run_bench                      # runs over 150 and 300 photos -> bench/results/latest.json
    python -m bench.run_bench --photos 40          # a quick look (20 + 40)
    python -m bench.run_bench --folder ~/DCIM      # your own photos instead of the made-up camera roll
    python -m bench.run_bench --scale              # also the 2,000 / 10,000 small-file memory run
    bench/run.sh ...                               # the same, creating .venv first on a fresh clone

What is measured, each as a separate process, on the same files (page cache warmed first):
  decode_floor      only reading + reduced decoding to the working scale (pipeline.decode.decode_photo),
                    a multiprocessing Pool of os.cpu_count() processes: the floor for any detector here
  job_all_cores     python -m pipeline.score on the DirectRunner, multi_processing, one worker per core
  job_one_process   the same job, in_memory runner, 1 worker (TensorFlow still uses every core)
  cleanvision       CleanVision's "blurry" check (its own venv, n_jobs = os.cpu_count()), run offline
Each runs over n1 and then n2 photos after an untimed warm-up; steady-state images/s is
(n2 - n1) / (t2 - t1), which cancels start-up (imports, model load, worker start). Peak memory is
sampled over the whole process tree (see bench.procs). Figures go to --out as JSON and a Markdown table
beside it. Other work on the machine slows every system; the JSON records the load before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import camera_roll
from bench.figures import (
    N1_STANDARD_4,
    DataflowPrices,
    dataflow_cost_per_million,
    inrun_rate,
    ratio,
    steady_state,
)
from bench.procs import CLOCK_TICKS, Measured, measure_command, parse_stat
from model import METADATA_FILE, MODEL_FILE

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
SHARP_PHOTOS = REPO.parent / "shared" / "data" / "photos" / "sharp"
CLEANVISION_REQUIREMENTS = BENCH / "requirements-cleanvision.txt"

FLOOR, JOB_ALL, JOB_ONE, PEER = "decode_floor", "job_all_cores", "job_one_process", "cleanvision"
SYSTEMS = (FLOOR, JOB_ALL, JOB_ONE, PEER)
WARMUP_PHOTOS = 4
STAGE_PHOTOS = 60
RUN_TIMEOUT_S = 3600.0

TARGETS = {"job_vs_floor_min": 0.60, "job_vs_cleanvision_min": 3.0, "scale_peak_rss_mb_max": 3 * 1024}


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


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------- the machine, and what else runs on it


def busy_processes(seconds: float = 2.0, min_share: float = 0.10) -> list[dict]:
    """Processes that used more than `min_share` of a core over the next `seconds`: other work that
    would slow the benchmark down."""

    def cpu_by_pid() -> dict[int, float]:
        found = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as stream:
                        found[int(name)] = parse_stat(stream.read())[1]
                except (OSError, ValueError):
                    continue
        return found

    before = cpu_by_pid()
    time.sleep(seconds)
    after = cpu_by_pid()
    busy = []
    for pid, cpu in after.items():
        share = (cpu - before.get(pid, cpu)) / seconds
        if share >= min_share and pid != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline") as stream:
                    line = stream.read().replace("\0", " ").strip()[:160]
            except OSError:
                line = "?"
            busy.append({"pid": pid, "cores": round(share, 2), "command": line})
    return sorted(busy, key=lambda entry: -entry["cores"])


def machine_state() -> dict:
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_1_5_15": [round(value, 2) for value in os.getloadavg()],
        "busy_processes": busy_processes(),
    }


def machine_facts() -> dict:
    model = "?"
    try:
        with open("/proc/cpuinfo") as stream:
            model = next(line.split(":", 1)[1].strip() for line in stream if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "clock_ticks": CLOCK_TICKS,
    }


def model_facts() -> dict:
    """Which model the job ran: the figures change with it."""
    model_dir = REPO / "model"
    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    weights = model_dir / MODEL_FILE
    return {
        "version": metadata.get("version"),
        "file_mb": round(weights.stat().st_size / 1e6, 2),
        "file_modified": datetime.fromtimestamp(weights.stat().st_mtime, UTC).isoformat(timespec="seconds"),
    }


# ---------------------------------------------------------------- the photos


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


# ---------------------------------------------------------------- the systems


def job_env(extra: Sequence[str] = ()) -> dict[str, str]:
    """The environment of every measured process: this one's, the repo importable, TensorFlow's
    start-up chatter off, and any NAME=VALUE of `extra`."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for pair in extra:
        name, _, value = pair.partition("=")
        env[name] = value
    return env


def ensure_cleanvision_venv(work: Path) -> Path:
    """bench/work/cleanvision-venv with requirements-cleanvision.txt installed (pip runs only when the
    requirements changed); returns its python."""
    venv = work / "cleanvision-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = CLEANVISION_REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    log(f"installing CleanVision into {venv} from {CLEANVISION_REQUIREMENTS.name}")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-r",
            str(CLEANVISION_REQUIREMENTS),
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return python


def can_run_offline() -> bool:
    """Whether `unshare --net` works here: it runs a command in a new network namespace with no
    network at all, which proves the peer needs none."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


class Bench:
    """Runs each system over a folder of photos and checks it scored them all."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.args = args
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.cpus = os.cpu_count() or 1
        self.offline = False
        self.peer_python: Path | None = None

    def prepare(self, systems: Sequence[str]) -> None:
        if PEER in systems:
            self.peer_python = ensure_cleanvision_venv(self.work)
            self.offline = can_run_offline()

    def command(self, system: str, folder: Path, label: str) -> list[str]:
        if system == FLOOR:
            listing = self.work / "lists" / f"{label}.txt"
            listing.parent.mkdir(parents=True, exist_ok=True)
            listing.write_text("".join(f"{path}\n" for path in sorted(folder.iterdir())))
            return [sys.executable, "-m", "bench.floor", str(listing), f"--processes={self.cpus}"]
        if system in (JOB_ALL, JOB_ONE):
            output = self.work / "out" / label
            if output.exists():
                shutil.rmtree(output)
            output.mkdir(parents=True)
            mode = (
                ["--direct_running_mode=multi_processing", f"--direct_num_workers={self.cpus}"]
                if system == JOB_ALL
                else ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
            )
            return [
                sys.executable,
                "-m",
                "pipeline.score",
                "--input",
                f"{folder}/*",
                "--output",
                f"{output}/scores",
                *mode,
                *self.args.job_arg,
            ]
        if system == PEER:
            assert self.peer_python is not None
            command = [str(self.peer_python), str(BENCH / "cleanvision_peer.py"), str(folder)]
            command.append(f"--processes={self.cpus}")
            return ["unshare", "--net", "--", *command] if self.offline else command
        raise ValueError(system)

    def run(self, system: str, folder: Path, count: int, label: str) -> dict:
        command = self.command(system, folder, label)
        extra = self.args.job_env if system in (JOB_ALL, JOB_ONE) else ()
        measured = measure_command(
            command, cwd=REPO, env=job_env(extra), log_prefix=self.logs / label, timeout=RUN_TIMEOUT_S
        )
        figures = {"n": count, **measured.summary(), **check_output(system, measured, count)}
        if system in (JOB_ALL, JOB_ONE) and measured.returncode == 0:
            figures["inrun_images_per_s"] = _round(inrun_rate(scored_at_times(self.work / "out" / label)))
        elif system in (FLOOR, PEER):
            figures["inrun_images_per_s"] = figures["reported"].get("inrun_images_per_s")
        figures["memory_series_mb"] = measured.memory_series_mb
        figures["command"] = " ".join(command)
        figures["log"] = str(self.logs / label) + ".{out,err}"
        return figures


def scored_at_times(output: Path) -> list[float]:
    """The `scored_at` time stamps (seconds) of the ok rows the job wrote under `output`."""
    import pyarrow.parquet as pq

    times: list[float] = []
    for path in sorted(output.glob("*.parquet")):
        table = pq.read_table(path, columns=["status", "scored_at"])
        for status, scored in zip(
            table.column("status").to_pylist(), table.column("scored_at").to_pylist(), strict=True
        ):
            if status == "ok":
                times.append(scored.timestamp())
    return times


def last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def parse_job_summary(stdout: str) -> dict:
    """The counts the job prints at the end of a run (pipeline.summary.RunSummary)."""
    found: dict = {}
    for key in ("files", "ok", "errors", "blurry"):
        match = re.search(rf"^{key}:\s+(\d+)", stdout, re.MULTILINE)
        if match:
            found[key] = int(match.group(1))
    loads = re.search(r"model loaded (\d+)x", stdout)
    found["model_loads_metric"] = int(loads.group(1)) if loads else None
    return found


def model_load_lines(stderr: str) -> dict:
    """The job's "Loaded blur model ... in pid P" log lines (pipeline.inference). The DirectRunner
    forwards only warnings from its worker processes, so in multi_processing mode these come from the
    launcher alone and the Beam metric (model_loads_metric) is the count that covers every worker."""
    pids = re.findall(r"Loaded blur model .* in pid (\d+)", stderr)
    return {"model_load_log_lines": len(pids), "model_load_log_pids": len(set(pids))}


def check_output(system: str, measured: Measured, count: int) -> dict:
    """What the system reported, and whether it really handled all `count` photos."""
    problems = []
    if measured.returncode != 0:
        problems.append(f"exit code {measured.returncode}")
    if system == FLOOR:
        found = last_json_line(measured.stdout)
        if found.get("decoded") != count:
            problems.append(f"decoded {found.get('decoded')} of {count}")
    elif system == PEER:
        found = last_json_line(measured.stdout)
        if found.get("images") != count:
            problems.append(f"checked {found.get('images')} of {count}")
    else:
        found = {**parse_job_summary(measured.stdout), **model_load_lines(measured.stderr)}
        # Beam starts each SDK worker through `/bin/sh -c python -m ...sdk_worker_main`: count the pythons.
        found["worker_processes"] = sum(
            "sdk_worker_main" in line and not line.startswith("/bin/sh") for line in measured.descendants
        )
        if found.get("files") != count or found.get("ok") != count:
            problems.append(f"files {found.get('files')}, ok {found.get('ok')} of {count}")
    if problems:
        found["problems"] = problems
        tail = "\n".join(measured.stderr.strip().splitlines()[-15:])
        log(f"  !! {system} n={count}: {'; '.join(problems)}\n{tail}")
    return {"reported": found}


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
        steady_images_per_s=_round(steady.images_per_s),
        steady_images_per_s_per_core=_round(ratio(steady.images_per_s, cpus)),
        startup_s=_round(steady.startup_s, 1),
        cpu_s_per_image=_round(steady.cpu_s_per_image, 4),
        images_per_cpu_s=_round(ratio(1.0, steady.cpu_s_per_image)),
        whole_run_images_per_s=_round(n2 / best[n2]["wall_s"]),
        inrun_images_per_s=best[n2].get("inrun_images_per_s"),
        peak_rss_mb=max(run["peak_rss_mb"] for run in runs),
        peak_pss_mb=max(run["peak_pss_mb"] for run in runs),
    )
    return summary


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------- the two benchmarks


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
    stages = (
        stage_costs(work, files[:STAGE_PHOTOS], bench) if {JOB_ALL, JOB_ONE} & set(args.systems) else None
    )
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
            steady_images_per_s=_round(steady.images_per_s),
            startup_s=_round(steady.startup_s, 1),
            whole_run_images_per_s=[_round(run["n"] / run["wall_s"]) for run in results],
            peak_rss_mb=[run["peak_rss_mb"] for run in results],
            peak_pss_mb=[run["peak_pss_mb"] for run in results],
            peak_rss_growth=_round(ratio(last["peak_rss_mb"], first["peak_rss_mb"]), 3),
            model_loads=[run["reported"].get("model_loads_metric") for run in results],
        )
    return summary


def headline(result: dict, cpus: int) -> dict:
    """Ratios, targets and cost from the per-system figures."""
    systems = result.get("systems", {})

    def steady(name: str) -> float | None:
        return systems.get(name, {}).get("steady_images_per_s")

    def per_cpu_s(name: str) -> float | None:
        return systems.get(name, {}).get("images_per_cpu_s")

    figures: dict = {
        "job_vs_floor": _round(ratio(steady(JOB_ALL), steady(FLOOR)), 3),
        "job_vs_cleanvision": _round(ratio(steady(JOB_ALL), steady(PEER)), 2),
        "job_one_process_vs_floor": _round(ratio(steady(JOB_ONE), steady(FLOOR)), 3),
        # Per CPU-second of the whole process tree: what each system needs per photo, which other work
        # on the machine changes far less than wall time (it misses idle cores, so it flatters a little).
        "job_vs_floor_per_cpu_s": _round(ratio(per_cpu_s(JOB_ALL), per_cpu_s(FLOOR)), 3),
        "job_vs_cleanvision_per_cpu_s": _round(ratio(per_cpu_s(JOB_ALL), per_cpu_s(PEER)), 2),
        "job_one_process_vs_floor_per_cpu_s": _round(ratio(per_cpu_s(JOB_ONE), per_cpu_s(FLOOR)), 3),
        "targets": TARGETS,
    }
    figures["meets"] = {
        name: None if figures[name] is None else figures[name] >= TARGETS[f"{name}_min"]
        for name in ("job_vs_floor", "job_vs_cleanvision")
    }
    scale = result.get("scale", {})
    if scale.get("peak_rss_mb"):
        figures["meets"]["scale_peak_rss_under_3gb"] = (
            max(scale["peak_rss_mb"]) < TARGETS["scale_peak_rss_mb_max"]
        )
    job = systems.get(JOB_ALL, {})
    if job.get("steady_images_per_s"):
        per_vcpu = job["steady_images_per_s"] / cpus
        figures["dataflow_cost_per_million_12mp"] = {
            "from_wall_clock": dataflow_cost_per_million(per_vcpu),
            "if_cores_fully_used": dataflow_cost_per_million(job["images_per_cpu_s"])
            if job.get("images_per_cpu_s")
            else None,
            "basis": (
                "from_wall_clock: steady images/s of job_all_cores divided by this machine's cores; "
                "if_cores_fully_used: 1 / CPU-seconds per image (no idle or stolen time)"
            ),
            "assumptions": DataflowPrices.__doc__.strip()
            + " Worker "
            + N1_STANDARD_4.name
            + ", 25 GB standard boot disk, no boot or autoscaling time, one Dataflow vCPU = one core here.",
        }
    return figures


# ---------------------------------------------------------------- report


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    """The figures as Markdown tables, for the README."""
    lines = []
    systems = result.get("systems")
    if systems:
        n1, n2 = result["sizes"]
        photos = result["photos"]
        lines += [
            f"{photos['count']} photos, {photos['first_file_pixels']}, {photos['mean_mb']} MB on average; "
            f"steady state from runs over {n1} and {n2} photos.",
            "",
            "| system | steady images/s | in-run images/s | per core | start-up s | CPU ms/image "
            "| peak RSS MB (PSS) | model loads |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, figures in systems.items():
            if not figures.get("valid") or "steady_images_per_s" not in figures:
                lines.append(f"| {name} | failed: see the JSON | | | | | | |")
                continue
            loads = {run["reported"].get("model_loads_metric") for run in figures["runs"]}
            loads_text = "/".join(str(value) for value in sorted(loads, key=str)) if "job" in name else ""
            cpu = figures["cpu_s_per_image"]
            lines.append(
                f"| {name} | {_cell(figures['steady_images_per_s'])} "
                f"| {_cell(figures.get('inrun_images_per_s'))} "
                f"| {_cell(figures['steady_images_per_s_per_core'])} | {_cell(figures['startup_s'])} "
                f"| {_cell(None if cpu is None else cpu * 1000, 0)} "
                f"| {figures['peak_rss_mb']:.0f} ({figures['peak_pss_mb']:.0f}) | {loads_text} |"
            )
        head = result.get("headline", {})
        lines += [
            "",
            f"job/floor = {head.get('job_vs_floor')} (target >= {TARGETS['job_vs_floor_min']}); "
            f"job/CleanVision = {head.get('job_vs_cleanvision')} "
            f"(target >= {TARGETS['job_vs_cleanvision_min']})",
            f"per CPU-second: job/floor = {head.get('job_vs_floor_per_cpu_s')}, "
            f"job/CleanVision = {head.get('job_vs_cleanvision_per_cpu_s')}",
        ]
        stages = result.get("stage_costs") or {}
        if "ms_per_photo" in stages:
            costs = ", ".join(f"{stage} {ms:.1f}" for stage, ms in stages["ms_per_photo"].items())
            lines.append(f"CPU ms per photo on one core: {costs}; decode/total {stages['best_job_vs_floor']}")
        cost = head.get("dataflow_cost_per_million_12mp")
        if cost:
            wall = cost["from_wall_clock"]
            lines.append(
                f"Dataflow, 1M 12 MP photos on {wall['worker']['name']}: {wall['vcpu_hours']} vCPU-hours, "
                f"${wall['usd']['total']} (assumed list prices; see the JSON)"
            )
    scale = result.get("scale")
    if scale and scale.get("peak_rss_mb"):
        lines += [
            "",
            "| scale run: files | wall s | whole-run images/s | in-run images/s | peak RSS MB | peak PSS MB "
            "| model loads |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for run in scale["runs"]:
            lines.append(
                f"| {run['n']} | {run['wall_s']:.1f} | {run['n'] / run['wall_s']:.1f} "
                f"| {_cell(run.get('inrun_images_per_s'))} | {run['peak_rss_mb']:.0f} "
                f"| {run['peak_pss_mb']:.0f} | {run['reported'].get('model_loads_metric')} |"
            )
        lines.append(
            f"steady (two sizes) {_cell(scale['steady_images_per_s'])} images/s; "
            f"peak RSS growth x{scale['peak_rss_growth']}"
        )
    return "\n".join(lines) + "\n"


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
