"""What the read step hands the decode step: a file's bytes, its name and the time left. Pure: no Beam.

The time budget covers read and decode together, so one file cannot hold a worker for long: it starts
when the read starts and travels with the bytes. It is kept in wall-clock seconds since the epoch
(not a monotonic clock), because the two steps may run in different processes.
"""

from __future__ import annotations

import time
from typing import NamedTuple

DEFAULT_SECONDS_PER_FILE = 60.0
"""Read + decode budget of one file (the job's --max_seconds_per_file). A 12 MP photo needs 0.03-0.1 s;
a JPEG with 21,000 empty progressive scans took 83 s before the scan limit (pipeline.photo.damage)."""

DEFAULT_MAX_FILE_MB = 512.0
"""Largest file read (the job's --max_file_mb): far above any photo (a 100 MP RAW is about 150 MB),
far below what would take a worker's memory."""


class TimeBudget(NamedTuple):
    """`seconds` from `started` (time.time()) to read and decode one file."""

    seconds: float
    started: float

    @classmethod
    def start(cls, seconds: float) -> TimeBudget:
        return cls(seconds, time.time())

    def remaining(self) -> float:
        return self.seconds - (time.time() - self.started)

    def expired(self) -> bool:
        return self.remaining() <= 0

    def reason(self, doing: str = "to read and decode") -> str:
        return f"took longer than {self.seconds:g} s {doing} (the per-file limit, --max_seconds_per_file)"


class ReadFile(NamedTuple):
    """A file's bytes as read, its URI (the name tells RAW kinds apart) and its time budget."""

    data: bytes
    uri: str
    budget: TimeBudget | None = None


class OverBudget(Exception):
    """A file that took longer than its time budget; str(error) is the row's reason."""
