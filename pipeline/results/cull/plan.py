"""What the cull command will do, decided from a run's rows. Pure: no file system, no Beam.

Which photos (the job's verdict, narrowed by blur type and probability) and where each one goes (the
same relative folders under the destination, or the sidecar's name next to the photo).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import pyarrow as pa

from model.labels import BLURRY_TYPES
from pipeline.results.cull.selection import BLURRY, REASONS_COLUMN, blurry_mask, by_worst_first


class Action(StrEnum):
    COPY = "copy"
    MOVE = "move"
    XMP = "xmp"  # write a sidecar next to the photo


@dataclass(frozen=True)
class Step:
    """One photo's planned action: `destination` is the copy's path or the sidecar's. `size`,
    `modified_at` and `crc32c` are the file as the job scored it (None in runs that did not record them);
    `reasons` say why it was chosen, which a sidecar's keywords tell the photo manager."""

    source: str
    destination: str
    action: Action
    blur_type: str
    blur_probability: float
    size: int | None = None
    modified_at: datetime | None = None
    crc32c: str | None = None
    reasons: tuple[str, ...] = (BLURRY,)  # why it was chosen (selection.BLURRY, BURST, REJECTED)


FACT_COLUMNS = ("file_size", "modified_at", "crc32c")


def select_flagged(
    table: pa.Table, *, types: Iterable[str] | None = None, min_probability: float = 0.0
) -> pa.Table:
    """The rows the job judged blurry, of the given blur types, at or above `min_probability`,
    most probably blurry first (then by URI, so a plan is the same on every run)."""
    return by_worst_first(table.filter(blurry_mask(table, types=types, min_probability=min_probability)))


def parse_types(text: str | None) -> tuple[str, ...] | None:
    """`--types motion,gaussian` as a tuple; None (every type) when not given. Unknown names are an error:
    a typo must not silently select nothing."""
    if not text:
        return None
    types = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in types if name not in BLURRY_TYPES]
    if unknown:
        raise ValueError(
            f"unknown blur type(s) {', '.join(unknown)}; flagged photos are {', '.join(BLURRY_TYPES)}"
        )
    return types


def _split_scheme(uri: str) -> tuple[str, str]:
    """("gs://", "bucket/a/b.jpg") or ("", "/a/b.jpg")."""
    if "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://", rest
    return "", uri


def common_root(uris: Sequence[str]) -> str:
    """The deepest folder holding every URI (each URI is a file), with its scheme; "" if they share none."""
    if not uris:
        return ""
    schemes = {_split_scheme(uri)[0] for uri in uris}
    if len(schemes) > 1:
        return ""
    scheme = schemes.pop()
    folders = [posixpath.dirname(_split_scheme(uri)[1]) for uri in uris]
    try:
        return f"{scheme}{posixpath.commonpath(folders)}"
    except ValueError:  # absolute and relative paths mixed
        return scheme


def relative_to(uri: str, root: str) -> str:
    """`uri`'s path below `root` (a folder), or, for a URI outside it, its whole path without the scheme."""
    scheme, path = _split_scheme(uri)
    root_scheme, root_path = _split_scheme(root)
    folder = root_path.rstrip("/")
    if scheme == root_scheme and folder and path.startswith(folder + "/"):
        return path[len(folder) + 1 :]
    return path.lstrip("/")


def destination_for(uri: str, root: str, dest: str) -> str:
    return f"{dest.rstrip('/')}/{relative_to(uri, root)}"


def sidecar_for(uri: str, naming: str = "ext") -> str:
    """The XMP sidecar's path: `photo.jpg.xmp` (naming "ext": darktable, digiKam's default) or
    `photo.xmp` (naming "base": Lightroom's, digiKam's compatibility option)."""
    if naming == "base":
        stem, _ = posixpath.splitext(uri)
        return f"{stem}.xmp"
    return f"{uri}.xmp"


def plan(
    flagged: pa.Table, action: Action, *, root: str = "", dest: str = "", xmp_naming: str = "ext"
) -> list[Step]:
    """One step per chosen row: a copy or move to DEST/<path below root>, or a sidecar next to it. Rows
    without a `reasons` column (select_flagged's) were chosen as blurry."""
    steps = []
    extra = (*FACT_COLUMNS, REASONS_COLUMN)
    names = ["uri", "blur_type", "blur_probability", *(c for c in extra if c in flagged.column_names)]
    for row in flagged.select(names).to_pylist():
        uri = row["uri"]
        target = sidecar_for(uri, xmp_naming) if action is Action.XMP else destination_for(uri, root, dest)
        facts = (row.get("file_size"), row.get("modified_at"), row.get("crc32c"))
        reasons = tuple(row[REASONS_COLUMN].split(",")) if row.get(REASONS_COLUMN) else (BLURRY,)
        steps.append(Step(uri, target, action, row["blur_type"], row["blur_probability"], *facts, reasons))
    return steps
