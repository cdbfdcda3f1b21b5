"""--undo: reverse what one cull run did, as its cull log records it, and nothing else.

A row is acted on only when it is well formed (size a whole number, sha256 a SHA-256, created yes or
no), its paths lie under the roots the run recorded, and the file found now has the recorded size and
SHA-256: a tampered or stale row is refused, never guessed at.

- copied / sidecar written (created yes): the file is removed.
- skipped: already there (created no): nothing; cull did not make that file.
- moved: the photo is copied back with its permission bits and times, checked, and the moved file
  removed (kept when cull did not create it: an identical file that was already at the destination).
- sidecar merged: the sidecar as it was before is put back (from LOG.originals/).
Folders the run created are removed at the end, once empty.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.results.cull import fileops
from pipeline.results.cull.cull_log import CullLog, Row, originals_folder, parse_row
from pipeline.results.cull.fileops import Facts
from pipeline.results.cull.plan import Action
from pipeline.results.cull.safety import has_dot_segments, normal, under

UNDOABLE = {
    Action.COPY: ("copied",),
    Action.MOVE: ("moved",),
    Action.XMP: ("sidecar written", "sidecar merged"),
}


@dataclass(frozen=True)
class Reversal:
    """One row to reverse, checked; `line` describes it in the direction the undo goes."""

    row: Row
    problem: str | None = None


def check_row(cells: dict[str, str], log: CullLog) -> Reversal | None:
    """The row to reverse, a Reversal carrying why it is refused, or None when the row needs no undo."""
    action, result = cells.get("action"), cells.get("result")
    if action not in UNDOABLE or result not in UNDOABLE[action]:
        return None
    placeholder = Row(cells.get("source") or "", cells.get("destination") or "", action, result or "")
    try:
        row = parse_row(cells)
    except ValueError as error:
        return Reversal(placeholder, f"refused: a malformed row ({error})")
    dest_root = log.source_root if action == Action.XMP else log.dest_root
    for label, path, root in (
        ("photo", row.source, log.source_root),
        ("file", row.destination, dest_root),
    ):
        if not root or has_dot_segments(path) or not under(normal(path), normal(root)):
            return Reversal(
                row, f"refused: the {label} {path} lies outside the run's folder {root or '(none)'}"
            )
    for folder in row.folders:
        if not under(normal(folder), normal(dest_root)) or has_dot_segments(folder):
            return Reversal(row, f"refused: the folder {folder} lies outside {dest_root}")
    if result == "sidecar merged" and not row.original_sha256:
        return Reversal(row, "refused: a merged sidecar without the original's SHA-256")
    return Reversal(row)


def _kept(row: Row) -> Facts | None:
    if row.mode is None and row.mtime_ns is None:
        return None
    return Facts(row.size or 0, row.mtime_ns, row.atime_ns, row.mode)


def reverse(reversal: Reversal, apply: bool, log_path: Path) -> str:
    """Reverse one checked row (or say what would happen); the outcome as one line."""
    if reversal.problem is not None:
        return f"failed: {reversal.problem}"
    row = reversal.row
    recorded = (row.size, row.sha256)
    if not fileops.exists(row.destination):
        if (
            row.action == Action.MOVE
            and fileops.exists(row.source)
            and fileops.digest(row.source) == recorded
        ):
            return "skipped: already back"
        return "skipped: already removed" if row.action != Action.MOVE else "failed: the moved photo is gone"
    if fileops.digest(row.destination) != recorded:
        return "conflict: the file changed since cull made it (left alone)"
    if row.action == Action.MOVE:
        return _move_back(row, apply)
    if row.result == "sidecar merged":
        original = originals_folder(log_path) / row.original_sha256
        try:
            data = original.read_bytes()
        except OSError:
            return f"failed: the sidecar's original is missing ({original})"
        if hashlib.sha256(data).hexdigest() != row.original_sha256:
            return f"failed: the sidecar's kept original does not match its SHA-256 ({original})"
        if not apply:
            return "would restore the sidecar as it was"
        fileops.replace(row.destination, data)
        return "sidecar restored"
    if not row.created:
        return "nothing to undo (cull did not create the file)"
    if not apply:
        return "would remove"
    fileops.delete(row.destination)
    return "removed"


def _move_back(row: Row, apply: bool) -> str:
    recorded = (row.size, row.sha256)
    if fileops.exists(row.source):
        if fileops.digest(row.source) != recorded:
            return "conflict: a different file is at the photo's place (both left alone)"
        if not row.created:
            return "skipped: already back"
        if not apply:
            return "would remove the moved copy (the photo is back already)"
        fileops.delete(row.destination)
        return "moved back"
    if not apply:
        return "would move back" if row.created else "would copy back"
    fileops.make_folders(row.source.rsplit("/", 1)[0] or "/")
    if not fileops.copy_new(row.destination, row.source, _kept(row)):
        return "conflict: a file appeared at the photo's place (left alone)"
    if fileops.digest(row.source) != recorded:
        return "failed: the copy back does not match (the moved file is kept)"
    fileops.keep_times(row.source, _kept(row))
    if not row.created:  # an identical file was there before the move: it stays
        return "copied back (the file at the destination was there before cull and stays)"
    fileops.delete(row.destination)
    return "moved back"


def printed(reversal: Reversal, outcome: str) -> str:
    """The dry run's line, in the direction the undo goes: back from the destination to the photo."""
    row = reversal.row
    if outcome.startswith(("would move back", "would copy back")):
        return f"{outcome}: {row.destination} -> {row.source}"
    return f"{outcome}: {row.destination}"
