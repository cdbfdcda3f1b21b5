"""Progress of a running job on this machine: what the workers have done, told to the launcher.

The DirectRunner returns nothing until the whole run is over (its metrics arrive at the end), and in
multi_processing mode the work happens in other processes. So the job's steps tally what they see
(`Tally`: files matched, rows made by status) into one small JSON file per worker process, in a
folder the launcher made; the launcher sums those files and prints a line every --progress_interval
seconds (`ProgressReporter`). Only runs on this machine get the folder: on Dataflow the workers are
elsewhere and the Dataflow console shows progress.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import apache_beam as beam

_log = logging.getLogger(__name__)

MATCHED = "matched"
"""Tally key of the files the match step found; photos done are tallied by their row's status."""

FLUSH_EVERY_S = 1.0
"""How often a worker process rewrites its tally file while rows flow (and at every bundle's end)."""


class _ProcessTally:
    """One process's counts for one progress folder, shared by all its threads and DoFn instances."""

    def __init__(self, folder: str):
        self._path = os.path.join(folder, f"{os.getpid()}.json")
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._flushed_at = 0.0

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1
            if time.monotonic() - self._flushed_at >= FLUSH_EVERY_S:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._flushed_at = time.monotonic()
        temporary = f"{self._path}.tmp"
        try:
            with open(temporary, "w") as stream:
                json.dump(self._counts, stream)
            os.replace(temporary, self._path)  # the launcher reads a whole file or the previous one
        except OSError:  # the launcher removed the folder: the run is over or stopping
            pass


_TALLIES: dict[str, _ProcessTally] = {}
_TALLIES_LOCK = threading.Lock()


def _tally_for(folder: str) -> _ProcessTally:
    with _TALLIES_LOCK:
        if folder not in _TALLIES:
            _TALLIES[folder] = _ProcessTally(folder)
        return _TALLIES[folder]


class Tally(beam.DoFn):
    """Counts each element passing by under `key` in the progress folder; passes it on."""

    def __init__(self, folder: str, key: str):
        super().__init__()
        self._folder = folder
        self._key = key

    def setup(self) -> None:
        self._tally = _tally_for(self._folder)

    def process(self, element):
        self._tally.add(self._key)
        yield element

    def finish_bundle(self) -> None:
        self._tally.flush()


def tally(folder: str, key: str) -> beam.ParDo:
    """A step counting its elements as `key` (MATCHED, or a row status) for the progress lines."""
    return beam.ParDo(Tally(folder, key))


def read_tallies(folder: str) -> Counter[str]:
    """The sum of every worker process's tally file in `folder`."""
    total: Counter[str] = Counter()
    try:
        names = [name for name in os.listdir(folder) if name.endswith(".json")]
    except OSError:
        return total
    for name in names:
        try:
            with open(os.path.join(folder, name)) as stream:
                total.update(json.load(stream))
        except (OSError, ValueError):  # being replaced right now: the next read will have it
            continue
    return total


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass(frozen=True)
class Progress:
    """A snapshot: files matched so far (None before any), rows done by status, and the rate."""

    elapsed_s: float
    matched: int | None
    done: int
    errors: int
    skipped: int
    rate: float | None  # rows per second since the first row, None before there is one

    def line(self) -> str:
        """One line for a person watching the run."""
        if self.done == 0:
            found = "matching files" if not self.matched else f"{self.matched:,} files matched"
            return f"progress: {found}, none scored yet ({_duration(self.elapsed_s)} in)"
        of = f" of {self.matched:,}" if self.matched else ""
        share = f" ({100 * self.done / self.matched:.0f}%)" if self.matched else ""
        parts = [f"progress: {self.done:,}{of} files done{share}"]
        if self.rate:
            parts.append(f"{self.rate:.1f} files/s")
        parts.append(f"{self.errors:,} errors")
        if self.skipped:
            parts.append(f"{self.skipped:,} skipped")
        if self.matched and self.rate and self.done < self.matched:
            parts.append(f"ETA {_duration((self.matched - self.done) / self.rate)}")
        parts.append(f"{_duration(self.elapsed_s)} in")
        return ", ".join(parts)


def snapshot(counts: Counter[str], elapsed_s: float, rate: float | None) -> Progress:
    done = sum(value for key, value in counts.items() if key != MATCHED)
    return Progress(
        elapsed_s=elapsed_s,
        matched=counts.get(MATCHED) or None,
        done=done,
        errors=counts.get("error", 0),
        skipped=counts.get("skipped", 0),
        rate=rate,
    )


class ProgressReporter:
    """Logs a progress line every `interval_s` seconds of a run, read from the tallies in `folder`.
    Call `poll` often (it reads the tallies at most once a second until the first row, to time the rate
    from there, and logs only when the interval has passed)."""

    def __init__(self, folder: str, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.folder = folder
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._last_report = self._last_read = self._started
        self._first_row: tuple[float, int] | None = None  # (when rows were first seen, rows done then)

    def _done(self, counts: Counter[str]) -> int:
        return sum(value for key, value in counts.items() if key != MATCHED)

    def poll(self) -> Progress | None:
        """Log and return a progress snapshot if the interval has passed since the last one."""
        now = self._clock()
        if self._first_row is None and now - self._last_read >= FLUSH_EVERY_S:
            self._last_read = now
            if done := self._done(read_tallies(self.folder)):
                self._first_row = (now, done)
        if now - self._last_report < self._interval_s:
            return None
        self._last_report = now
        counts = read_tallies(self.folder)
        rate = None
        if self._first_row is not None and now > self._first_row[0]:
            rate = (self._done(counts) - self._first_row[1]) / (now - self._first_row[0]) or None
        progress = snapshot(counts, now - self._started, rate)
        _log.info("%s", progress.line())
        return progress
