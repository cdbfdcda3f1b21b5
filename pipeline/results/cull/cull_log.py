"""The cull log: a CSV of what one cull run did, written as it happens and read by --undo.

Its first row (action "run") records the run's roots: `source` the photos' folder, `destination` the
--to folder (empty for sidecars, which sit next to the photos). Every other row is one photo:

    source, destination, action   the photo, the file the action produced, copy | move | xmp
    result                        "copied", "moved", "sidecar written", "sidecar merged", "skipped: ...", ...
    size, sha256                  of the file the action produced (what an undo checks before touching it)
    created                       yes: this run created the file at `destination`; no: it was there before
    mode, atime_ns, mtime_ns      the photo's permission bits and times, restored by an undo
    folders                       JSON list of the folders the action created (removed by an undo once empty)
    original_sha256               a merged sidecar's content before the merge (kept in LOG.originals/)

Each row is appended, flushed and fsynced when its action completes; a move deletes the photo only
after its row is on disk, so a run killed at any moment leaves a cull log that lists every photo it
took away.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from dataclasses import dataclass, fields
from pathlib import Path

COLUMNS = ("source", "destination", "action", "result", "size", "sha256", "created", "mode", "atime_ns",
           "mtime_ns", "folders", "original_sha256")  # fmt: skip
RUN_ACTION = "run"
FORMAT = "cull log 2"
MAX_LOG_BYTES = 512 * 1024 * 1024


class NotACullLog(ValueError):
    """The file given to --undo is not a cull log (its message is the command's one-line error)."""


@dataclass(frozen=True)
class Row:
    source: str
    destination: str
    action: str
    result: str
    size: int | None = None
    sha256: str = ""
    created: bool | None = None
    mode: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None
    folders: tuple[str, ...] = ()
    original_sha256: str = ""

    def cells(self) -> list[str]:
        values = []
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                values.append("")
            elif isinstance(value, bool):
                values.append("yes" if value else "no")
            elif isinstance(value, tuple):
                values.append(json.dumps(list(value)) if value else "")
            else:
                values.append(str(value))
        return values


def originals_folder(log: Path) -> Path:
    """Where the sidecars a run merged into are kept as they were, by SHA-256."""
    return log.with_name(log.name + ".originals")


class Journal:
    """Appends rows to a cull log, each one on disk before `record` returns; thread-safe. A dry run's
    journal (path None) records nothing."""

    def __init__(self, path: Path | None, source_root: str, dest_root: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stream = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Open for the journal's life; "x": never over another run's log.
            self._stream = open(path, "x", newline="", encoding="utf-8")  # noqa: SIM115
            self._write(list(COLUMNS))
            self._write(Row(source_root, dest_root, RUN_ACTION, FORMAT).cells())
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)  # the log's name survives a crash, not only its bytes
            finally:
                os.close(folder)

    def _write(self, cells: list[str]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)
        self._stream.write(buffer.getvalue())
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def record(self, row: Row) -> None:
        if self._stream is None:
            return
        with self._lock:
            self._write(row.cells())

    def keep_original(self, data: bytes, sha256: str) -> None:
        """Keep a sidecar's content before cull changes it, for the undo (on disk first)."""
        if self.path is None:
            return
        folder = originals_folder(self.path)
        folder.mkdir(exist_ok=True)
        target = folder / sha256
        with open(target, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


@dataclass(frozen=True)
class CullLog:
    source_root: str
    dest_root: str
    rows: list[dict[str, str]]  # as written; undo.check_row validates each before it is acted on


def read_cull_log(path: str) -> CullLog:
    """A cull log's roots and rows. Raises NotACullLog (one line) for anything else."""
    try:
        if os.path.getsize(path) > MAX_LOG_BYTES:
            raise NotACullLog(f"{path} is not a cull log (over {MAX_LOG_BYTES >> 20} MB)")
        with open(path, encoding="utf-8", newline="") as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "not UTF-8 text"
        raise NotACullLog(f"{path} cannot be read as a cull log ({reason})") from None
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise NotACullLog(f"{path} is not a cull log (not CSV: {error})") from None
    if not table or tuple(table[0]) != COLUMNS:
        older = table and {"source", "destination", "action", "result"} <= set(table[0])
        why = "written by an older cull, which did not record what it created" if older else "other columns"
        raise NotACullLog(f"{path} is not a cull log of this version ({why}); nothing was changed")
    if len(table) < 2 or len(table[1]) != len(COLUMNS) or table[1][2] != RUN_ACTION or table[1][3] != FORMAT:
        raise NotACullLog(f"{path} is not a cull log (its first row must record the run's folders)")
    rows = [dict(zip(COLUMNS, cells, strict=False)) for cells in table[2:] if cells]
    return CullLog(table[1][0], table[1][1], rows)


_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_row(cells: dict[str, str]) -> Row:
    """A cull log row as written, checked field by field; ValueError says what is wrong with it."""
    if None in cells.values() or len(cells) != len(COLUMNS) or any(v is None for v in cells.values()):
        raise ValueError("its number of fields is wrong")

    def number(name: str, required: bool = False) -> int | None:
        text = cells[name]
        if not text and not required:
            return None
        if not _DIGITS.fullmatch(text):
            raise ValueError(f"{name} {text!r} is not a whole number")
        return int(text)

    size = number("size", required=True)
    if not _HEX64.fullmatch(cells["sha256"]):
        raise ValueError(f"sha256 {cells['sha256']!r} is not a SHA-256")
    if cells["created"] not in ("yes", "no"):
        raise ValueError(f"created {cells['created']!r} is neither yes nor no")
    if cells["original_sha256"] and not _HEX64.fullmatch(cells["original_sha256"]):
        raise ValueError("original_sha256 is not a SHA-256")
    try:
        folders = json.loads(cells["folders"]) if cells["folders"] else []
    except json.JSONDecodeError:
        raise ValueError("folders is not a JSON list") from None
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise ValueError("folders is not a JSON list of paths")
    return Row(
        cells["source"], cells["destination"], cells["action"], cells["result"], size, cells["sha256"],
        cells["created"] == "yes", number("mode"), number("atime_ns"), number("mtime_ns"), tuple(folders),
        cells["original_sha256"],
    )  # fmt: skip
