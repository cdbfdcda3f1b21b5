"""What the job knows about a file before reading it: the key every per-photo step carries. Pure: no Beam."""

from __future__ import annotations

from typing import NamedTuple


class MatchedFile(NamedTuple):
    """One matched (or listed) file. Size and modification time come from the listing when the file
    system gave them (a pattern match), and are None for a manifest line until the file is read."""

    uri: str
    size: int | None = None  # bytes
    modified_at: float | None = None  # seconds since the epoch (for gs://, the object's update time)
