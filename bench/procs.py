"""Run a command and measure it: wall time, CPU time and peak memory of its whole process tree.

Memory is sampled from /proc (Linux) every `interval` seconds over the command's process and all its
descendants (Beam's multi-process DirectRunner starts one SDK worker process per worker):
- peak RSS sum: the largest sum of resident set sizes seen at one instant. Pages shared between the
  processes (TensorFlow's libraries, say) count once per process, so this over-states real use;
- peak PSS sum: the same with shared pages divided among their sharers (proportional set size, from
  /proc/PID/smaps_rollup): what the tree really occupies.
CPU time is the user+system time of the command and every descendant it waited for, from
getrusage(RUSAGE_CHILDREN) taken before and after; the sampled per-process CPU times are kept as a
cross-check for descendants that were never waited for.

`machine_facts` and `machine_state` describe the machine and what else runs on it (load average, the
processes using more than a tenth of a core), recorded before and after a benchmark.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return stream.read()
    except OSError:  # the process ended between listing and reading
        return None


def parse_stat(text: str) -> tuple[int, float]:
    """(parent pid, user+system CPU seconds) from the text of /proc/PID/stat.

    The command name (field 2) is in parentheses and may hold spaces or parentheses itself, so the
    fields are counted from the last ')'."""
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state(3) ppid(4) ... utime(14) stime(15), i.e. indexes 1 and 11, 12 here.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def all_processes() -> dict[int, tuple[int, float]]:
    """{pid: (parent pid, CPU seconds so far)} of every process now running."""
    found: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        text = _read(f"/proc/{name}/stat")
        if text is not None:
            found[int(name)] = parse_stat(text)
    return found


def process_tree(root: int) -> dict[int, float]:
    """{pid: CPU seconds so far} for `root` and all its living descendants."""
    processes = all_processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    tree: dict[int, float] = {}
    stack = [root] if root in processes else []
    while stack:
        pid = stack.pop()
        tree[pid] = processes[pid][1]
        stack.extend(children.get(pid, []))
    return tree


def rss_bytes(pid: int) -> int:
    text = _read(f"/proc/{pid}/statm")
    return int(text.split()[1]) * PAGE_SIZE if text else 0


def pss_bytes(pid: int) -> int:
    text = _read(f"/proc/{pid}/smaps_rollup")
    if not text:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def command_line(pid: int) -> str:
    text = _read(f"/proc/{pid}/cmdline")
    return text.replace("\0", " ").strip() if text else ""


@dataclass
class TreeSampler:
    """Samples a process tree's memory in a background thread until stopped."""

    root: int
    interval: float = 0.2
    peak_rss: int = 0
    peak_pss: int = 0
    peak_processes: int = 0
    samples: int = 0
    series: list[tuple[float, float]] = field(default_factory=list)  # (seconds, RSS sum MB), ~1 per second
    last_cpu: dict[int, float] = field(default_factory=dict)
    command_lines: dict[int, str] = field(default_factory=dict)
    peak_rss_by_pid: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def sample(self) -> None:
        tree = process_tree(self.root)
        rss_each = {pid: rss_bytes(pid) for pid in tree}
        for pid, value in rss_each.items():
            self.peak_rss_by_pid[pid] = max(value, self.peak_rss_by_pid.get(pid, 0))
        rss = sum(rss_each.values())
        pss = sum(pss_bytes(pid) for pid in tree)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_processes = max(self.peak_processes, len(tree))
        self.last_cpu.update(tree)
        for pid in tree:
            if pid not in self.command_lines:
                self.command_lines[pid] = command_line(pid)[:200]
        self.samples += 1
        elapsed = time.perf_counter() - self._started
        if rss and (not self.series or elapsed - self.series[-1][0] >= 1.0):
            self.series.append((round(elapsed, 1), round(rss / MB, 1)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


@dataclass
class Measured:
    """One measured run of a command."""

    command: list[str]
    returncode: int
    wall_s: float
    cpu_s: float  # user+system of the tree (the larger of the rusage and the sampled figure)
    cpu_s_rusage: float
    cpu_s_sampled: float
    peak_rss_mb: float
    peak_pss_mb: float
    peak_processes: int
    descendants: list[str]  # command line of every process seen under the command's own
    peak_rss_by_process_mb: list[tuple[str, float]]  # (command line, its own peak RSS), largest first
    memory_series_mb: list[tuple[float, float]]
    stdout: str
    stderr: str

    def summary(self) -> dict:
        """The figures, without the captured output."""
        return {
            key: value
            for key, value in self.__dict__.items()
            if key not in ("stdout", "stderr", "command", "memory_series_mb")
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_command(
    command: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    interval: float = 0.2,
    log_prefix: str | Path | None = None,
    timeout: float | None = None,
) -> Measured:
    """Run `command` to completion, measuring it; its stdout and stderr are captured (and written to
    LOG_PREFIX.out / .err when given). Runs nothing else meanwhile: CPU time comes from this process's
    children's rusage, which covers every child this process waits for."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    with subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    ) as process:
        sampler = TreeSampler(process.pid, interval=interval).start()
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += f"\n[bench] killed after {timeout} s\n"
        finally:
            sampler.stop()
    wall = time.perf_counter() - started
    cpu_rusage = _children_cpu() - cpu_before
    cpu_sampled = sum(sampler.last_cpu.values())
    if log_prefix is not None:
        Path(f"{log_prefix}.out").write_text(stdout)
        Path(f"{log_prefix}.err").write_text(stderr)
    return Measured(
        command=list(command),
        returncode=process.returncode,
        wall_s=round(wall, 3),
        cpu_s=round(max(cpu_rusage, cpu_sampled), 3),
        cpu_s_rusage=round(cpu_rusage, 3),
        cpu_s_sampled=round(cpu_sampled, 3),
        peak_rss_mb=round(sampler.peak_rss / MB, 1),
        peak_pss_mb=round(sampler.peak_pss / MB, 1),
        peak_processes=sampler.peak_processes,
        descendants=[line for pid, line in sampler.command_lines.items() if pid != process.pid],
        peak_rss_by_process_mb=sorted(
            (
                (sampler.command_lines.get(pid, "?")[:120], round(peak / MB, 1))
                for pid, peak in sampler.peak_rss_by_pid.items()
                if peak >= 10 * MB  # leave out the shells that start Beam's workers
            ),
            key=lambda entry: -entry[1],
        ),
        memory_series_mb=sampler.series,
        stdout=stdout,
        stderr=stderr,
    )


# ---------------------------------------------------------------- the machine, and what else runs on it


def busy_processes(seconds: float = 2.0, min_share: float = 0.10) -> list[dict]:
    """Processes that used more than `min_share` of a core over the next `seconds`: other work that
    would slow the benchmark down."""
    before = {pid: cpu for pid, (_, cpu) in all_processes().items()}
    time.sleep(seconds)
    busy = []
    for pid, (_, cpu) in all_processes().items():
        share = (cpu - before.get(pid, cpu)) / seconds
        if share >= min_share and pid != os.getpid():
            busy.append({"pid": pid, "cores": round(share, 2), "command": command_line(pid)[:160] or "?"})
    return sorted(busy, key=lambda entry: -entry["cores"])


def machine_state() -> dict:
    """The time, the load average and the busy processes: recorded before and after a benchmark."""
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_1_5_15": [round(value, 2) for value in os.getloadavg()],
        "busy_processes": busy_processes(),
    }


def machine_facts() -> dict:
    """The CPU, memory, Python and platform the figures were measured on."""
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
