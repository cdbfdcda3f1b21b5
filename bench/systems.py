"""The systems measured, and how each is checked: the commands of the decode floor, the job (all cores,
one process) and CleanVision, run through bench.procs, and what each reported.

The job's counts come from the run's manifest (PREFIX-manifest.json, written by pipeline.job.commit), and
its in-run rate from the `scored_at` of the rows in the shards the manifest lists: a job run without a
manifest is not a result. The floor and CleanVision print one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import inrun_rate, rounded
from bench.procs import Measured, measure_command
from model import MODEL_DIR, MODEL_FILE
from model.contract import read_metadata
from pipeline.schema import manifest_path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
CLEANVISION_REQUIREMENTS = BENCH / "requirements-cleanvision.txt"

FLOOR, JOB_ALL, JOB_ONE, PEER = "decode_floor", "job_all_cores", "job_one_process", "cleanvision"
SYSTEMS = (FLOOR, JOB_ALL, JOB_ONE, PEER)
JOBS = (JOB_ALL, JOB_ONE)
RUN_TIMEOUT_S = 3600.0
JOB_OUTPUT_NAME = "scores"
"""The job writes to WORK/out/LABEL/scores: its shards and scores-manifest.json."""


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def model_facts() -> dict:
    """Which model the job ran: the figures change with it."""
    weights = MODEL_DIR / MODEL_FILE
    return {
        "version": read_metadata(MODEL_DIR).version,
        "file_mb": round(weights.stat().st_size / 1e6, 2),
        "file_modified": datetime.fromtimestamp(weights.stat().st_mtime, UTC).isoformat(timespec="seconds"),
    }


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
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-r", str(CLEANVISION_REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def can_run_offline() -> bool:
    """Whether `unshare --net` works here: it runs a command in a new network namespace with no
    network at all, which proves the peer needs none."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


# ---------------------------------------------------------------- what a system reported


def last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def read_job_manifest(output_prefix: Path) -> dict | None:
    """The manifest of the job run that wrote to `output_prefix`, or None if it wrote none."""
    path = Path(manifest_path(str(output_prefix)))
    return json.loads(path.read_text()) if path.exists() else None


def job_shards(output_prefix: Path, manifest: dict) -> list[Path]:
    """The Parquet shards a manifest lists (their names are relative to the manifest's folder)."""
    return [output_prefix.parent / name for name in manifest["shards"]]


def scored_at_times(shards: Sequence[Path]) -> list[float]:
    """The `scored_at` time stamps (seconds) of the ok rows in `shards`."""
    from pipeline.results.reader import read_shard

    times: list[float] = []
    for path in shards:
        table = read_shard(str(path), columns=["status", "scored_at"])
        for status, scored in zip(
            table.column("status").to_pylist(), table.column("scored_at").to_pylist(), strict=True
        ):
            if status == "ok":
                times.append(scored.timestamp())
    return times


def job_counts(manifest: dict | None) -> dict:
    """The counts a job run reports, from its manifest: files, ok, errors, blurry, and the number of
    models loaded (the job's `model_loads` Beam counter, one per worker process that loaded one)."""
    if manifest is None:
        return {"manifest": None, "model_loads_metric": None}
    found = {key: manifest[key] for key in ("files", "ok", "errors", "blurry")}
    found["model_loads_metric"] = manifest.get("model_loads")
    found["manifest"] = {key: manifest[key] for key in ("run_id", "model_version", "rows", "shards")}
    return found


def model_load_lines(stderr: str) -> dict:
    """The job's "Loaded blur model ... in pid P" log lines (pipeline.job.inference). The DirectRunner
    forwards only warnings from its worker processes, so in multi_processing mode these come from the
    launcher alone and the Beam metric (model_loads_metric) is the count that covers every worker."""
    pids = re.findall(r"Loaded blur model .* in pid (\d+)", stderr)
    return {"model_load_log_lines": len(pids), "model_load_log_pids": len(set(pids))}


def check_output(system: str, measured: Measured, count: int, output_prefix: Path | None = None) -> dict:
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
        assert output_prefix is not None
        found = {**job_counts(read_job_manifest(output_prefix)), **model_load_lines(measured.stderr)}
        # Beam starts each SDK worker through `/bin/sh -c python -m ...sdk_worker_main`: count the pythons.
        found["worker_processes"] = sum(
            "sdk_worker_main" in line and not line.startswith("/bin/sh") for line in measured.descendants
        )
        if found["manifest"] is None:
            problems.append(f"no {manifest_path(str(output_prefix))}: the job wrote no result")
        elif found.get("files") != count or found.get("ok") != count:
            problems.append(f"files {found.get('files')}, ok {found.get('ok')} of {count}")
    if problems:
        found["problems"] = problems
        tail = "\n".join(measured.stderr.strip().splitlines()[-15:])
        log(f"  !! {system} n={count}: {'; '.join(problems)}\n{tail}")
    return {"reported": found}


# ---------------------------------------------------------------- running them


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

    def job_output(self, label: str) -> Path:
        """The output prefix of the job run called `label`."""
        return self.work / "out" / label / JOB_OUTPUT_NAME

    def command(self, system: str, folder: Path, label: str) -> list[str]:
        if system == FLOOR:
            listing = self.work / "lists" / f"{label}.txt"
            listing.parent.mkdir(parents=True, exist_ok=True)
            listing.write_text("".join(f"{path}\n" for path in sorted(folder.iterdir())))
            return [sys.executable, "-m", "bench.floor", str(listing), f"--processes={self.cpus}"]
        if system in JOBS:
            output = self.job_output(label)
            if output.parent.exists():
                shutil.rmtree(output.parent)
            output.parent.mkdir(parents=True)
            mode = (
                ["--direct_running_mode=multi_processing", f"--direct_num_workers={self.cpus}"]
                if system == JOB_ALL
                else ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
            )
            job = [sys.executable, "-m", "pipeline.score", "--input", f"{folder}/*", "--output", str(output)]
            return [*job, *mode, *self.args.job_arg]
        if system == PEER:
            assert self.peer_python is not None
            command = [str(self.peer_python), str(BENCH / "cleanvision_peer.py"), str(folder)]
            command.append(f"--processes={self.cpus}")
            return ["unshare", "--net", "--", *command] if self.offline else command
        raise ValueError(system)

    def run(self, system: str, folder: Path, count: int, label: str) -> dict:
        command = self.command(system, folder, label)
        extra = self.args.job_env if system in JOBS else ()
        measured = measure_command(
            command, cwd=REPO, env=job_env(extra), log_prefix=self.logs / label, timeout=RUN_TIMEOUT_S
        )
        output = self.job_output(label) if system in JOBS else None
        figures = {"n": count, **measured.summary(), **check_output(system, measured, count, output)}
        if output is not None and measured.returncode == 0 and figures["reported"]["manifest"]:
            manifest = read_job_manifest(output)
            figures["inrun_images_per_s"] = rounded(inrun_rate(scored_at_times(job_shards(output, manifest))))
        elif system in (FLOOR, PEER):
            figures["inrun_images_per_s"] = figures["reported"].get("inrun_images_per_s")
        figures["memory_series_mb"] = measured.memory_series_mb
        figures["command"] = " ".join(command)
        figures["log"] = str(self.logs / label) + ".{out,err}"
        return figures
