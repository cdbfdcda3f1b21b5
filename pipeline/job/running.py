"""Running the built pipeline from the launcher: in a helper thread so that the launcher can report
progress and stop at Ctrl-C or SIGTERM at once, and the clean-up of a stopped run's worker processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from typing import Any

import apache_beam as beam
from apache_beam.runners.runner import PipelineResult, PipelineState

from pipeline.job.progress import ProgressReporter


def runs_on_this_machine(pipeline: beam.Pipeline) -> bool:
    """Whether the pipeline's workers run here (the DirectRunner, either mode), so they can tell the
    launcher their progress through a local folder. Dataflow shows progress in its console."""
    return type(pipeline.runner).__name__ in {"DirectRunner", "SwitchingDirectRunner", "FnApiRunner"}


def run_pipeline(
    pipeline: beam.Pipeline, reporter: ProgressReporter | None, poll_s: float = 0.2
) -> PipelineResult:
    """Run `pipeline` to its end in a helper thread, reporting progress from this one.

    The DirectRunner's run() blocks until the whole pipeline is done, and a main thread blocked inside
    Beam does not see Ctrl-C until then. Here the main thread only waits, a fraction of a second at a
    time, so KeyboardInterrupt (or the job's SIGTERM handler) reaches it at once. A runner that returns
    while its job goes on (Dataflow) has its job cancelled then."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = pipeline.run()
            outcome["result"].wait_until_finish()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, name="blur-job-pipeline", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(timeout=poll_s)
            if reporter:
                reporter.poll()
    except BaseException:
        if "result" in outcome:
            with contextlib.suppress(Exception):
                outcome["result"].cancel()
        raise
    if "error" in outcome:
        raise outcome["error"]
    result = outcome["result"]
    if result.state != PipelineState.DONE:
        raise RuntimeError(f"the pipeline ended in state {result.state}")
    return result


class Interrupted(KeyboardInterrupt):
    """The launcher got SIGTERM (or SIGINT): stop, commit nothing."""


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Make SIGINT and SIGTERM raise Interrupted in the main thread (call from the main thread)."""
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux: read from /proc; elsewhere none are found)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stream:
                    parents[int(entry)] = int(stream.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def stop_child_processes() -> None:
    """Stop the DirectRunner's worker processes (multi_processing mode: a shell and its Python), which
    would otherwise go on scoring, then print tracebacks once the launcher is gone."""
    for pid in reversed(_descendants(os.getpid())):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Unavailable))(?::\s*(.*))?$")
_WHILE_RUNNING = re.compile(r"\s*\[while running '[^']*'\]")


def failure_line(error: BaseException) -> str:
    """One line saying why a run failed. A runner passes a worker's exception on as text (its type and
    message among traceback lines); the line of the job's own StorageUnavailable, else of an OSError
    (a full disk), else the last exception line, is the cause."""
    text = "\n".join(str(cause) for cause in _chain(error))
    lines = [match for line in text.splitlines() if (match := _EXCEPTION_LINE.match(line))]
    for preferred in ("StorageUnavailable", "OSError"):
        chosen = [match for match in lines if match.group(1) == preferred]
        if chosen:
            lines = chosen
            break
    if lines:
        name, message = lines[-1].group(1), lines[-1].group(2) or ""
        one = message if name == "StorageUnavailable" else f"{name}: {message}".rstrip(": ")
    else:
        one = f"{type(error).__name__}: {text.strip().splitlines()[0] if text.strip() else ''}".rstrip(": ")
    return _WHILE_RUNNING.sub("", one)[:500]


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 8 and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


class BeamErrorsInOneLine(logging.Filter):
    """Beam logs a failing step's exception with its traceback before the run fails; the job then says
    why in one line (failure_line). Keep Beam's record to its first line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("apache_beam") and record.levelno >= logging.ERROR:
            first = record.getMessage().strip().splitlines()
            record.msg, record.args = (first[0] if first else ""), None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
