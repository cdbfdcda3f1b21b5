"""The overrides file: a person's keep or reject for single photos, made in the review page and honoured
by `pipeline.cull --overrides FILE`. Pure: text in, records out; no Beam, no photos, no run.

    uri,decision,file_size,modified_at,crc32c
    /photos/2024/IMG_0001.jpg,reject,2483112,2024-06-01T10:00:03.120000+00:00,1a2b3c4d
    /photos/2024/IMG_0002.jpg,keep,,,

UTF-8 CSV with exactly that header. `decision` is `keep` (never act on this photo, whatever the model
says) or `reject` (act on it, whatever the model says). The other three columns are the photo as it was
scored (the run's row: size in bytes, modification time as ISO 8601 with its UTC offset, CRC32C as 8 hex
digits); each may be empty when the run did not record it. They let a reader tell that a photo was
replaced or edited after the person looked at it: such an override is stale (see `stale_reason`).
A URI appears at most once. Any other shape is an OverridesError with a one-line reason naming the line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

KEEP = "keep"
REJECT = "reject"
DECISIONS = (KEEP, REJECT)
COLUMNS = ("uri", "decision", "file_size", "modified_at", "crc32c")
FILE_NAME = "overrides.csv"
"""The name the review page downloads the file under."""

MAX_BYTES = 64 * 1024 * 1024
"""A larger file is refused before it is parsed. A review page marks at most a few thousand photos
(about 100 bytes a line); the bound keeps a stray file (a video picked by mistake) from being read whole."""

_CRC32C = re.compile(r"[0-9a-f]{8}")


class OverridesError(ValueError):
    """A file that is not a well-formed overrides file; str(error) is one line for people."""


@dataclass(frozen=True)
class Override:
    """One photo's decision, with the photo's facts as the run recorded them (None: not recorded)."""

    uri: str
    decision: str  # KEEP or REJECT
    file_size: int | None = None
    modified_at: datetime | None = None  # aware, UTC
    crc32c: str | None = None  # 8 lower-case hex digits


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_row(cells: list[str], where: str) -> Override:
    if len(cells) != len(COLUMNS):
        raise OverridesError(f"{where}: {len(cells)} fields, expected {len(COLUMNS)} ({','.join(COLUMNS)})")
    uri, decision, size, modified, crc = cells
    if not uri:
        raise OverridesError(f"{where}: empty uri")
    if decision not in DECISIONS:
        raise OverridesError(f"{where}: decision {decision!r} is neither keep nor reject")
    file_size = None
    if size:
        if not size.isdigit() or not size.isascii():
            raise OverridesError(f"{where}: file_size {size!r} is not a whole number of bytes")
        file_size = int(size)
    modified_at = None
    if modified:
        try:
            parsed = datetime.fromisoformat(modified)
        except ValueError:
            raise OverridesError(f"{where}: modified_at {modified!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise OverridesError(f"{where}: modified_at {modified!r} has no UTC offset")
        modified_at = _utc(parsed)
    if crc and not _CRC32C.fullmatch(crc):
        raise OverridesError(f"{where}: crc32c {crc!r} is not 8 lower-case hex digits")
    return Override(uri, decision, file_size, modified_at, crc or None)


def parse_overrides(text: str, source: str = FILE_NAME) -> dict[str, Override]:
    """The overrides in `text` by URI, in file order. `source` names the file in error messages."""
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(rows, None)
        if header is None or tuple(header) != COLUMNS:
            raise OverridesError(
                f"{source}: not an overrides file (its first line must be {','.join(COLUMNS)})"
            )
        found: dict[str, Override] = {}
        for cells in rows:
            where = f"{source} line {rows.line_num}"
            if not cells:
                continue
            override = _parse_row(cells, where)
            if override.uri in found:
                raise OverridesError(f"{where}: {override.uri!r} is given twice")
            found[override.uri] = override
    except csv.Error as error:
        raise OverridesError(f"{source} line {rows.line_num}: not valid CSV ({error})") from None
    return found


def read_overrides(path: str | Path) -> dict[str, Override]:
    """parse_overrides of a local file; an unreadable, oversized or non-UTF-8 file is an OverridesError."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise OverridesError(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(data) > MAX_BYTES:
        raise OverridesError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB: not an overrides file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise OverridesError(f"{path}: not UTF-8 text (byte {error.start})") from None
    return parse_overrides(text, str(path))


def format_overrides(overrides: Iterable[Override]) -> str:
    """The file's text for these overrides (CRLF line ends, as the csv module and the page both write)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for item in overrides:
        if item.decision not in DECISIONS:
            raise OverridesError(f"{item.uri!r}: decision {item.decision!r} is neither keep nor reject")
        modified = "" if item.modified_at is None else _utc(item.modified_at).isoformat()
        size = "" if item.file_size is None else str(item.file_size)
        writer.writerow([item.uri, item.decision, size, modified, item.crc32c or ""])
    return buffer.getvalue()


def write_overrides(path: str | Path, overrides: Iterable[Override]) -> None:
    Path(path).write_text(format_overrides(overrides), encoding="utf-8", newline="")


def stale_reason(override: Override, row: Mapping[str, object]) -> str | None:
    """Why `override` no longer applies to the photo the run's `row` describes (its file_size,
    modified_at and crc32c), or None when it applies. Only facts both sides recorded are compared, so
    an override made on a run without file facts applies to any later run of the same URI."""
    changes = []
    size = row.get("file_size")
    if override.file_size is not None and isinstance(size, int) and size != override.file_size:
        changes.append(f"size {override.file_size} -> {size}")
    modified = row.get("modified_at")
    if (
        override.modified_at is not None
        and isinstance(modified, datetime)
        and _utc(modified) != override.modified_at
    ):
        changes.append(f"modified {override.modified_at.isoformat()} -> {_utc(modified).isoformat()}")
    crc = row.get("crc32c")
    if override.crc32c is not None and crc and crc != override.crc32c:
        changes.append(f"crc32c {override.crc32c} -> {crc}")
    return "the photo changed since it was reviewed (" + "; ".join(changes) + ")" if changes else None
