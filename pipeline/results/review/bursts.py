"""The review page's bursts: which bursts it shows and their frames, best first. Pure: Arrow, no files.

A burst (docs/bursts.md) is the frames sharing a `burst_id`; `burst_rank` 1 is the one the job would keep.
The page shows at most `cap` bursts, the ones with the most frames first (where keeping one frees the
most), and at most FRAMES_SHOWN frames of each, in rank order, so a run of a million rows with bursts
of hundreds of frames still makes a page of bounded size.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.schema import STATUS_OK

DEFAULT_BURST_CAP = 100
FRAMES_SHOWN = 12
"""Frames of one burst shown at most: the best and the next ones; enough to see the pick was right."""


def burst_groups(table: pa.Table, cap: int = DEFAULT_BURST_CAP) -> tuple[list[dict], int]:
    """The bursts shown (each: id, size, row indexes of its first FRAMES_SHOWN frames by rank, then
    by URI) and how many bursts the run has. Rows of runs made before bursts have no burst_id: none."""
    if "burst_id" not in table.column_names:
        return [], 0
    in_burst = pc.and_(pc.equal(table.column("status"), STATUS_OK), pc.is_valid(table.column("burst_id")))
    indexes = pa.array(np.arange(table.num_rows, dtype=np.int64)).filter(in_burst)
    frames = pa.table(
        {
            "row": indexes,
            "burst": table.column("burst_id").filter(in_burst),
            "rank": pc.fill_null(table.column("burst_rank").filter(in_burst), 2**31 - 1),
            "uri": table.column("uri").filter(in_burst),
        }
    )
    if frames.num_rows == 0:
        return [], 0
    sizes = frames.group_by("burst").aggregate([("row", "count")])
    sizes = sizes.sort_by([("row_count", "descending"), ("burst", "ascending")])
    chosen = sizes.slice(0, cap)
    wanted = frames.filter(pc.is_in(frames.column("burst"), chosen.column("burst")))
    wanted = wanted.sort_by([("burst", "ascending"), ("rank", "ascending"), ("uri", "ascending")])
    by_burst: dict[str, list[int]] = {}
    for burst, row in zip(wanted.column("burst").to_pylist(), wanted.column("row").to_pylist(), strict=True):
        shown = by_burst.setdefault(burst, [])
        if len(shown) < FRAMES_SHOWN:
            shown.append(row)
    groups = [
        {"id": burst, "size": size, "rows": by_burst[burst]}
        for burst, size in zip(
            chosen.column("burst").to_pylist(), chosen.column("row_count").to_pylist(), strict=True
        )
    ]
    return groups, sizes.num_rows
