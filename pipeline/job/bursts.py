"""The burst step: rows in, the same rows out with their burst columns (pipeline.schema: burst_id,
burst_size, burst_rank, best_in_burst). The grouping logic is pure, in pipeline.job.burst_groups;
this is its Beam glue, grouped the distributed way so that it runs the same on every runner:

    ok rows --> BurstFacts (uri, camera, time, content hash, sharpness: a slim copy of the row)
            --> GroupByKey on (camera, time bucket), or (camera, hash band) without a time
            --> links and local components in each group, labelled by their smallest URI
            --> GroupByKey on the URI: labels met on one photo (a burst across a bucket edge)
            --> merged in one small union-find (only those labels), a side input
            --> GroupByKey on the burst's label: ranked, sharpest first
    rows --> CoGroupByKey on the URI with the burst columns --> rows with their columns

Only rows with status ok take part; the others come out with null burst columns. Rows carried from
an earlier run (--skip_scored) take part like new ones, so a new photo can join an earlier burst.
"""

from __future__ import annotations

import apache_beam as beam

from pipeline.job.burst_groups import (
    ALONE,
    BurstColumns,
    burst_facts,
    group_keys,
    local_components,
    merge_labels,
    rank_burst,
)
from pipeline.schema import BURST_COLUMNS, STATUS_OK


def with_burst_columns(row: dict, columns: BurstColumns | None) -> dict:
    """The row with its burst columns: `columns` for a frame of a burst, ALONE for any other ok row,
    nulls for an error or skipped row."""
    if row.get("status") != STATUS_OK:
        return {**row, **dict.fromkeys(BURST_COLUMNS)}
    return {**row, **(columns or ALONE)._asdict()}


def _labels_of_photo(uri: str, found: list) -> tuple[str, tuple]:
    """(the photo's smallest label, (facts, every label)) from the groups that linked it."""
    facts = found[0][0]
    labels = sorted({label for _, label in found})
    return labels[0], (facts, labels)


class FindBursts(beam.PTransform):
    """Rows -> rows with the burst columns; photos of one camera within `gap_s` seconds of each other
    and alike in content are one burst (gap_s 0: none are)."""

    def __init__(self, gap_s: float):
        super().__init__()
        self._gap_s = gap_s

    def expand(self, rows: beam.PCollection[dict]) -> beam.PCollection[dict]:
        gap_s = self._gap_s
        if gap_s <= 0:
            return rows | "NoBursts" >> beam.Map(with_burst_columns, None)
        facts = rows | "BurstFacts" >> beam.FlatMap(lambda row: [f] if (f := burst_facts(row)) else [])
        linked = (
            facts
            | "KeyByCameraAndTime" >> beam.FlatMap(
                lambda f: [(key, (f, borrowed)) for key, borrowed in group_keys(f, gap_s)]
            )
            | "GroupByCameraAndTime" >> beam.GroupByKey()
            | "LinkFrames" >> beam.FlatMapTuple(
                lambda key, members: [
                    (f.uri, (f, label)) for f, label in local_components(key, list(members), gap_s)
                ]
            )
            | "GroupLabelsByUri" >> beam.GroupByKey()
            | "LabelsOfPhoto" >> beam.MapTuple(lambda uri, found: _labels_of_photo(uri, list(found)))
        )  # fmt: skip
        merged = (
            linked
            | "LabelsMet" >> beam.Map(lambda labelled: labelled[1][1])
            | "OnlySeveral" >> beam.Filter(lambda labels: len(labels) > 1)
            | "AllLabelsMet" >> beam.combiners.ToList()
            | "MergeLabels" >> beam.Map(merge_labels)
        )
        columns = (
            linked
            | "LabelFrames" >> beam.Map(
                lambda labelled, merges: (merges.get(labelled[0], labelled[0]), labelled[1][0]),
                merges=beam.pvalue.AsSingleton(merged),
            )
            | "GroupByBurst" >> beam.GroupByKey()
            | "RankBursts" >> beam.FlatMapTuple(rank_burst)
        )  # fmt: skip
        keyed_rows = rows | "KeyRowsByUri" >> beam.Map(lambda row: (row["uri"], row))
        return (
            {"row": keyed_rows, "burst": columns}
            | "JoinBurstColumns" >> beam.CoGroupByKey()
            | "WithBurstColumns" >> beam.FlatMapTuple(
                lambda uri, joined: [
                    with_burst_columns(row, next(iter(joined["burst"]), None)) for row in joined["row"]
                ]
            )
        )  # fmt: skip
