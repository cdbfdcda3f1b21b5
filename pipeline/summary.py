"""The few lines printed at the end of a run: files, ok, errors, blurry, and where the Parquet is."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from pipeline.errors import METRICS_NAMESPACE
from pipeline.rows import STATUS_ERROR, STATUS_OK
from pipeline.write import output_pattern, written_files

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    """What a run did. `source` says where the counts come from: the runner's metrics, or the written
    Parquet read back when the runner reports no metrics."""

    files: int
    ok: int
    errors: int
    blurry: int
    model_loads: int | None
    output_pattern: str
    output_files: tuple[str, ...]
    source: str

    def __str__(self) -> str:
        loads = "" if self.model_loads is None else f"; model loaded {self.model_loads}x"
        return "\n".join(
            [
                f"files:   {self.files}",
                f"ok:      {self.ok}",
                f"errors:  {self.errors}",
                f"blurry:  {self.blurry}",
                f"parquet: {self.output_pattern} ({len(self.output_files)} file(s))",
                f"(counts from {self.source}{loads})",
            ]
        )


def count_row(row: dict) -> dict:
    """Count an output row into the job's counters (ok, errors, blurry); the row passes through.

    "files" is counted by the match step, so files == ok + errors checks that every file got its row."""
    Metrics.counter(METRICS_NAMESPACE, "ok" if row["status"] == STATUS_OK else "errors").inc()
    if row["blurry"]:
        Metrics.counter(METRICS_NAMESPACE, "blurry").inc()
    return row


def job_counters(result: PipelineResult) -> dict[str, int] | None:
    """The job's own counters by name, or None if the runner has no metrics for this run."""
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    except (NotImplementedError, AttributeError, KeyError):
        return None
    values: dict[str, int] = {}
    for counter in counters:
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + (value or 0)
    return values or None


def count_parquet(paths: list[str]) -> tuple[int, int, int]:
    """(ok, errors, blurry) over the written Parquet files."""
    ok = errors = blurry = 0
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            table = pq.read_table(stream, columns=["status", "blurry"])
        statuses = table.column("status").to_pylist()
        ok += statuses.count(STATUS_OK)
        errors += statuses.count(STATUS_ERROR)
        blurry += sum(1 for value in table.column("blurry").to_pylist() if value)
    return ok, errors, blurry


def summarize(result: PipelineResult, output_prefix: str) -> RunSummary:
    """The summary of a finished run writing to `output_prefix`."""
    files = written_files(output_prefix)
    counters = job_counters(result)
    if counters is not None and "files" in counters:
        return RunSummary(
            files=counters.get("files", 0),
            ok=counters.get("ok", 0),
            errors=counters.get("errors", 0),
            blurry=counters.get("blurry", 0),
            model_loads=counters.get("model_loads"),
            output_pattern=output_pattern(output_prefix),
            output_files=tuple(files),
            source="metrics",
        )
    _log.info("The runner reported no job metrics; counting the written Parquet instead.")
    ok, errors, blurry = count_parquet(files)
    return RunSummary(
        files=ok + errors,
        ok=ok,
        errors=errors,
        blurry=blurry,
        model_loads=None,
        output_pattern=output_pattern(output_prefix),
        output_files=tuple(files),
        source="the written Parquet",
    )
