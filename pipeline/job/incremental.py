"""Incremental runs (--skip_scored EARLIER): files an earlier run already scored are not read again.

A matched file is unchanged when an earlier row for its URI was made by the same model version and
has the same CRC32C (when both sides know it: gs:// listings do), or else the same size and
modification time. Its earlier row is carried into this run's output (`carried_over` = true,
`scored_at` the time it was scored), with the verdict columns worked out again at this run's
thresholds from the stored probabilities, so the newest run alone holds the latest result for every
file. Only `ok` and `skipped` rows are carried: an `error` may have been passing (a timeout, a 503),
so the file is tried again.

Before the job is built, the launcher counts the files the run will read (`files_to_score`, from the
listing and the earlier run's key columns): a re-run on this machine with only a few of them is run in
one process rather than in worker processes that would each import TensorFlow (`fit_workers`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

from pipeline import schema
from pipeline.job import rows
from pipeline.job.patterns import has_wildcard
from pipeline.job.steps import METRICS_NAMESPACE, describe
from pipeline.results.reader import read_manifest, read_shard, shard_paths
from pipeline.schema import manifest_path
from pipeline.storage.files import MatchedFile
from pipeline.storage.output import OutputLocation, output_pattern
from pipeline.verdict import verdict

CARRIED_STATUSES = (schema.STATUS_OK, "skipped")
CARRIED = "carried"
"""Tag of SkipScored's side output (rows), and the name of the counter of carried rows."""
KEY_COLUMNS = ("uri", "status", "model_version", "file_size", "modified_at", "crc32c", "scored_at")
"""The columns that decide whether an earlier row is carried (`usable`)."""
ONE_PROCESS_MAX_FILES = 200
"""A re-run on this machine that reads at most this many files runs in one process. Starting worker
processes costs each one a Beam and TensorFlow import and a model load (about 5 s of CPU each, and the
DirectRunner's start-up was 12.1 s in multi_processing mode against 7.7 s in one process, bench/README.md
"Speed on 12 MP photos"); two workers score 12 MP photos at 41 photos/s against 24 in one process, so they win
that time back only after about 250 12 MP photos."""

_log = logging.getLogger(__name__)


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
    elif (manifest := read_manifest(location.prefix)) is not None:
        paths = shard_paths(location.prefix, manifest)
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


def usable(file: MatchedFile, earlier: dict, model_version: str) -> bool:
    """Can the earlier row stand for `file` in this run: made by this model, ok or skipped (an error is
    tried again), and of the file as it is now?"""
    return (
        earlier.get("model_version") == model_version
        and earlier.get("status") in CARRIED_STATUSES
        and unchanged(file, earlier)
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
    candidates = [row for row in earlier_rows if usable(file, row, model_version)]
    if not candidates:
        return None
    newest = max(candidates, key=lambda row: row["scored_at"])
    row = {name: newest.get(name) for name in schema.SCHEMA.names}
    row.update(rows.file_columns(file, carried_over=True))
    for name, value in (("blur_threshold", blur_threshold), ("laplacian_threshold", laplacian_threshold)):
        if name in row:  # the threshold columns, where the schema has them, say what `blurry` used
            row[name] = value
    if row["status"] == schema.STATUS_OK:
        said = verdict(
            row["blur_probability"],
            [row[column] for column in schema.PROBABILITY_COLUMNS],
            row["laplacian_var"],
            blur_threshold=blur_threshold,
            laplacian_threshold=laplacian_threshold,
        )
        row.update(blurry=said.blurry, laplacian_blurry=said.laplacian_blurry, blur_type=said.blur_type)
    return row


def files_to_score(
    files: Iterable[MatchedFile], shards: Sequence[str], model_version: str, *, stop_after: int | None = None
) -> list[MatchedFile]:
    """The files of `files` that SkipScored will send on to be read and scored: those without a
    `usable` row in the earlier run's `shards` (read here with pyarrow, the KEY_COLUMNS only).
    `stop_after`: return as soon as that many are found (enough to choose how to run)."""
    earlier: dict[str, list[dict]] = defaultdict(list)
    for shard in shards:
        for row in read_shard(shard, KEY_COLUMNS).to_pylist():
            earlier[row["uri"]].append(row)
    found = []
    for file in files:
        if not any(usable(file, row, model_version) for row in earlier.get(file.uri, ())):
            found.append(file)
            if stop_after is not None and len(found) >= stop_after:
                break
    return found


def _several_workers(direct: DirectOptions) -> bool:
    return direct.direct_running_mode != "in_memory" and direct.direct_num_workers != 1


def fit_workers(
    options: PipelineOptions, files: Iterable[MatchedFile], shards: Sequence[str], model_version: str
) -> str | None:
    """Run a re-run on this machine that reads at most ONE_PROCESS_MAX_FILES of the matched `files`
    in this process (the DirectRunner's in_memory mode) when the options ask for several workers;
    returns what was changed, for the log, or None. Which rows the run writes does not depend on it
    (SkipScored decides that, in the pipeline), only how many processes write them."""
    direct = options.view_as(DirectOptions)
    if not _several_workers(direct):
        return None  # nothing to choose: no need to list the files here
    try:
        to_read = files_to_score(files, shards, model_version, stop_after=ONE_PROCESS_MAX_FILES + 1)
    except Exception as error:  # only a plan: the pipeline lists and reads for itself, and reports
        _log.warning("could not count the files to read (%s); running as asked", describe(error))
        return None
    if len(to_read) > ONE_PROCESS_MAX_FILES:
        return None
    workers = direct.direct_num_workers
    asked = f"{direct.direct_running_mode} with {workers or 'one per core'} workers"
    direct.direct_running_mode = "in_memory"
    direct.direct_num_workers = 1
    return (
        f"--skip_scored leaves {len(to_read)} file(s) to read (at most {ONE_PROCESS_MAX_FILES}): "
        f"running in this process instead of {asked}, whose start-up would take longer than the scoring"
    )


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
