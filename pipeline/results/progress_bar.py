"""A plain progress bar on stderr for the review and cull commands (no extra dependency)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

_REDRAW_S = 0.2


def progress(items: Iterable[T], total: int, label: str, stream: TextIO | None = None) -> Iterator[T]:
    """Yield `items`, drawing `label [#####.....] n/total` as they go: redrawn in place on a terminal,
    a line every 10% otherwise (so logs of a long run stay short)."""
    stream = stream or sys.stderr
    interactive = stream.isatty()
    last_drawn, last_tenth, done = 0.0, -1, 0

    def draw(final: bool = False) -> None:
        fraction = done / total if total else 1.0
        bar = "#" * int(fraction * 30)
        line = f"{label} [{bar:<30}] {done}/{total}"
        stream.write(f"\r{line}" + ("\n" if final else "") if interactive else line + "\n")
        stream.flush()

    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        tenth = done * 10 // max(total, 1)
        if interactive and now - last_drawn >= _REDRAW_S:
            draw()
            last_drawn = now
        elif not interactive and tenth > last_tenth and done < total:
            draw()
            last_tenth = tenth
    draw(final=True)
