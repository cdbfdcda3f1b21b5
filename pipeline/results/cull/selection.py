"""Which rows of a run cull acts on, and why. Pure: a run's rows and an overrides file in, rows out.

Three reasons can put a photo in the selection (docs/cull.md, "What cull acts on"):

- `blurry`: the job's verdict (narrowed by blur type and probability), cull's default;
- `burst`: a frame of a burst that is not its best (`best_in_burst` false); a photo alone never is;
- `rejected`: a person marked it reject in the review page's overrides file.

The two verdicts asked for are a union: with both, a photo is acted on when either says so. Then a
person's `keep` removes a photo whatever the verdicts say, and `reject` adds one. An override that no
longer describes the photo the run scored (stale), names a photo the run does not hold, or one the job
could not score is not applied, and is said in one line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.results.overrides import KEEP, REJECT, Override, stale_reason
from pipeline.schema import STATUS_OK

BLURRY = "blurry"
BURST = "burst"
REJECTED = "rejected"
REASONS_COLUMN = "reasons"
"""Added to the selected rows: their reasons, comma-separated in the order above."""

SELECTION_COLUMNS = ("status", "blurry", "blur_type", "blur_probability", "burst_id", "best_in_burst")


@dataclass(frozen=True)
class Selection:
    """The rows to act on (with a `reasons` column), most probably blurry first, then by URI; how many
    each reason chose; one line per override not applied."""

    table: pa.Table
    counts: Counter[str] = field(default_factory=Counter)
    not_applied: tuple[str, ...] = ()

    def summary(self) -> str:
        """e.g. "3 blurry, 5 burst frames not the best, 1 rejected in review; 2 kept in review"."""
        chosen = [
            f"{self.counts[BLURRY]} blurry" if self.counts[BLURRY] else "",
            f"{self.counts[BURST]} burst frame(s) not the best" if self.counts[BURST] else "",
            f"{self.counts[REJECTED]} rejected in review" if self.counts[REJECTED] else "",
        ]
        text = ", ".join(part for part in chosen if part) or "none chosen"
        if self.counts[KEEP]:
            text += f"; {self.counts[KEEP]} kept in review"
        return text


def _ok(table: pa.Table) -> pa.ChunkedArray:
    return pc.fill_null(pc.equal(table.column("status"), STATUS_OK), False)


def blurry_mask(
    table: pa.Table, *, types: Iterable[str] | None = None, min_probability: float = 0.0
) -> pa.ChunkedArray:
    """The rows the job judged blurry, of the given blur types, at or above `min_probability`."""
    wanted = pc.and_(_ok(table), pc.fill_null(table.column("blurry"), False))
    wanted = pc.and_(
        wanted, pc.greater_equal(pc.fill_null(table.column("blur_probability"), -1.0), min_probability)
    )
    if types is not None:
        chosen = pc.is_in(table.column("blur_type"), value_set=pa.array(sorted(set(types))))
        wanted = pc.and_(wanted, pc.fill_null(chosen, False))
    return wanted


def burst_mask(table: pa.Table) -> pa.ChunkedArray:
    """The frames of a burst that are not its best. A photo alone (null burst_id) never is, nor a row
    from before bursts existed (null columns): a missing fact never selects a photo."""
    in_burst = pc.invert(pc.is_null(table.column("burst_id")))
    not_best = pc.invert(pc.fill_null(table.column("best_in_burst"), True))
    return pc.and_(pc.and_(_ok(table), in_burst), not_best)


def by_worst_first(table: pa.Table) -> pa.Table:
    """Most probably blurry first, then by URI, so a plan is the same on every run."""
    return table.sort_by([("blur_probability", "descending"), ("uri", "ascending")])


def select(
    table: pa.Table,
    *,
    blurry: bool = True,
    bursts: bool = False,
    types: Iterable[str] | None = None,
    min_probability: float = 0.0,
    overrides: Mapping[str, Override] | None = None,
) -> Selection:
    """The rows of `table` (a run: uri, the SELECTION_COLUMNS and the file facts) cull acts on."""
    reasons: list[list[str]] = [[] for _ in range(table.num_rows)]
    if blurry:
        for index in pc.indices_nonzero(
            blurry_mask(table, types=types, min_probability=min_probability)
        ).to_pylist():
            reasons[index].append(BLURRY)
    if bursts:
        for index in pc.indices_nonzero(burst_mask(table)).to_pylist():
            reasons[index].append(BURST)
    kept, not_applied = _apply_overrides(table, reasons, overrides or {})
    chosen = [index for index, why in enumerate(reasons) if why]
    counts: Counter[str] = Counter(reason for index in chosen for reason in reasons[index])
    counts[KEEP] = kept
    selected = table.take(pa.array(chosen, pa.int64()))
    selected = selected.append_column(
        REASONS_COLUMN, pa.array([",".join(reasons[index]) for index in chosen], pa.string())
    )
    return Selection(by_worst_first(selected), counts, tuple(not_applied))


def _apply_overrides(
    table: pa.Table, reasons: list[list[str]], overrides: Mapping[str, Override]
) -> tuple[int, list[str]]:
    """Apply each override that still describes its photo to `reasons` (in place); how many keeps were
    applied, and a line for each override that was not."""
    if not overrides:
        return 0, []
    where: dict[str, int] = {}
    for index, uri in enumerate(table.column("uri").to_pylist()):
        where.setdefault(uri, index)
    kept, not_applied = 0, []
    for uri, override in overrides.items():
        index = where.get(uri)
        if index is None:
            not_applied.append(f"override not applied: {uri}: no such photo in this run")
            continue
        row = table.slice(index, 1).to_pylist()[0]
        stale = stale_reason(override, row)
        if stale:
            not_applied.append(f"override not applied: {uri}: {stale}")
        elif override.decision == KEEP:
            reasons[index] = []
            kept += 1
        elif row.get("status") != STATUS_OK:  # an error or skipped row: no photo cull could check
            not_applied.append(f"override not applied: {uri}: the job did not score it ({row.get('status')})")
        elif override.decision == REJECT and REJECTED not in reasons[index]:
            reasons[index].append(REJECTED)
    return kept, not_applied
