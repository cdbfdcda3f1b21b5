"""Incremental runs (--skip_scored EARLIER): files an earlier run already scored are not read again.

A matched file is unchanged when an earlier row for its URI was made by the same model version and
has the same CRC32C (when both sides know it: gs:// listings do), or else the same size and
modification time. Its earlier row is carried into this run's output (`carried_over` = true,
`scored_at` the time it was scored), with the verdict columns worked out again at this run's
thresholds from the stored probabilities, so the newest run alone holds the latest result for every
file. Only `ok` and `skipped` rows are carried: an `error` may have been passing (a timeout, a 503),
so the file is tried again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import rows
from pipeline.files import MatchedFile
from pipeline.patterns import has_wildcard
from pipeline.steps import METRICS_NAMESPACE
from pipeline.summary import manifest_path
from pipeline.verdict import verdict
from pipeline.write import OutputLocation, output_pattern

CARRIED_STATUSES = (rows.STATUS_OK, "skipped")
CARRIED = "carried"
"""Tag of SkipScored's side output (rows), and the name of the counter of carried rows."""


def earlier_shards(spec: str) -> list[str]:
    """The Parquet files of the earlier run(s) --skip_scored names: an output PREFIX (the shards its
    PREFIX-manifest.json lists, or PREFIX-SSSSS-of-NNNNN.parquet for a run from before manifests), or
    a glob of Parquet files (several runs: the newest row of a file counts). Raises FileNotFoundError
    if there are none."""
    location = OutputLocation.of(spec)
    if has_wildcard(spec):
        paths = sorted(
            m.path for m in FileSystems.match([spec])[0].metadata_list if m.path.endswith(".parquet")
        )
    elif FileSystems.exists(manifest_path(location.prefix)):
        with FileSystems.open(
            manifest_path(location.prefix), compression_type=CompressionTypes.UNCOMPRESSED
        ) as stream:
            listed = json.loads(stream.read())["shards"]
        paths = [location.path(name) for name in listed]
    else:  # a run from before manifests; shards with a run id but no manifest are no result
        paths = [location.path(name) for name in location.legacy_shards()]
    if not paths:
        raise FileNotFoundError(
            f"--skip_scored {spec}: no earlier run there "
            f"(no {manifest_path(spec)}, no {output_pattern(spec)})"
        )
    return paths


def _same_time(seconds: float | None, stored: datetime | None) -> bool:
    # Stored at microseconds, as rows.file_columns wrote it: compare the same rounding.
    return seconds is not None and stored is not None and datetime.fromtimestamp(seconds, UTC) == stored


def unchanged(file: MatchedFile, earlier: dict) -> bool:
    """Is `file` (as listed now) the file the earlier row describes?"""
    if file.crc32c and earlier.get("crc32c"):
        return file.crc32c == earlier["crc32c"] and file.size == earlier.get("file_size")
    return (
        file.size is not None
        and file.size == earlier.get("file_size")
        and _same_time(file.modified_at, earlier.get("modified_at"))
    )


def carried_row(
    file: MatchedFile,
    earlier_rows: Iterable[dict],
    *,
    model_version: str,
    blur_threshold: float,
    laplacian_threshold: float,
) -> dict | None:
    """This run's row for an unchanged file scored before by the same model, or None to score it."""
    usable = [
        row
        for row in earlier_rows
        if row.get("model_version") == model_version
        and row.get("status") in CARRIED_STATUSES
        and unchanged(file, row)
    ]
    if not usable:
        return None
    newest = max(usable, key=lambda row: row["scored_at"])
    row = {name: newest.get(name) for name in rows.SCHEMA.names}
    row.update(rows.file_columns(file, carried_over=True))
    for name, value in (("blur_threshold", blur_threshold), ("laplacian_threshold", laplacian_threshold)):
        if name in row:  # the threshold columns, where the schema has them, say what `blurry` used
            row[name] = value
    if row["status"] == rows.STATUS_OK:
        said = verdict(
            row["blur_probability"],
            [row[column] for column in rows.PROBABILITY_COLUMNS],
            row["laplacian_var"],
            blur_threshold=blur_threshold,
            laplacian_threshold=laplacian_threshold,
        )
        row.update(blurry=said.blurry, laplacian_blurry=said.laplacian_blurry, blur_type=said.blur_type)
    return row


class _Split(beam.DoFn):
    def __init__(self, **settings):
        super().__init__()
        self._settings = settings

    def process(self, element):
        _, grouped = element
        for file in grouped["file"]:  # one per URI: the match step de-duplicated them
            row = carried_row(file, grouped["earlier"], **self._settings)
            if row is None:
                yield file
            else:
                Metrics.counter(METRICS_NAMESPACE, CARRIED).inc()
                yield beam.pvalue.TaggedOutput(CARRIED, row)


class SkipScored(beam.PTransform):
    """Matched files -> (files to score, rows carried from the earlier run's `shards`)."""

    def __init__(
        self, shards: list[str], *, model_version: str, blur_threshold: float, laplacian_threshold: float
    ):
        super().__init__()
        self._shards = list(shards)
        self._settings = {
            "model_version": model_version,
            "blur_threshold": blur_threshold,
            "laplacian_threshold": laplacian_threshold,
        }

    def expand(self, files: beam.PCollection[MatchedFile]):
        earlier = (
            files.pipeline
            | "EarlierShards" >> beam.Create(self._shards)
            | "ReadEarlierRows" >> beam.io.ReadAllFromParquet()
            | "KeyEarlierRows" >> beam.Map(lambda row: (row["uri"], row))
        )
        current = files | "KeyFiles" >> beam.Map(lambda file: (file.uri, file))
        split = (
            {"file": current, "earlier": earlier}
            | "JoinEarlierRows" >> beam.CoGroupByKey()
            | "Split" >> beam.ParDo(_Split(**self._settings)).with_outputs(CARRIED, main="to_score")
        )
        return split["to_score"], split[CARRIED]
