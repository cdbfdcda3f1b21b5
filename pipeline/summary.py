"""What a finished run did: the few lines printed at its end, and the same as JSON beside the shards.

`summarize` reads the job's counters (or, on a runner without metrics, the written Parquet);
`write_manifest` puts the summary next to the output as PREFIX-manifest.json, which the benchmark,
the tests and other tools read instead of the printed text.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from pipeline.results import manifest_path, read_shard
from pipeline.rows import STATUS_ERROR, STATUS_OK
from pipeline.steps import METRICS_NAMESPACE
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
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    model_version: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    carried: int = 0  # rows carried from an earlier run by --skip_scored (pipeline.incremental), not read

    def __str__(self) -> str:
        loads = "" if self.model_loads is None else f"; model loaded {self.model_loads}x"
        carried = [f"carried: {self.carried} (unchanged since the --skip_scored run, not read)"]
        return "\n".join(
            [
                f"files:   {self.files}",
                f"ok:      {self.ok}",
                f"errors:  {self.errors}",
                f"blurry:  {self.blurry}",
                *(carried if self.settings.get("skip_scored") else []),
                f"parquet: {self.output_pattern} ({len(self.output_files)} file(s))",
                f"(counts from {self.source}{loads})",
            ]
        )


def manifest(summary: RunSummary) -> dict[str, Any]:
    """The run's summary as the JSON object of PREFIX-manifest.json: counts, shards (file names beside
    the manifest), model version and the job's settings."""
    fields = asdict(summary)
    return {
        "run_id": summary.run_id,
        "model_version": summary.model_version,
        "rows": summary.ok + summary.errors,
        "files": summary.files,
        "ok": summary.ok,
        "errors": summary.errors,
        "skipped": 0,
        "blurry": summary.blurry,
        "carried": summary.carried,
        "model_loads": summary.model_loads,
        "counts_from": summary.source,
        "shards": [FileSystems.split(path)[1] for path in summary.output_files],
        "settings": fields["settings"],
    }


def write_manifest(summary: RunSummary, output_prefix: str) -> str:
    """Write PREFIX-manifest.json; return its path."""
    path = manifest_path(output_prefix)
    with FileSystems.create(path, mime_type="application/json") as stream:
        stream.write((json.dumps(manifest(summary), indent=2) + "\n").encode("utf-8"))
    return path


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
        table = read_shard(path, columns=["status", "blurry"])
        statuses = table.column("status").to_pylist()
        ok += statuses.count(STATUS_OK)
        errors += statuses.count(STATUS_ERROR)
        blurry += sum(1 for value in table.column("blurry").to_pylist() if value)
    return ok, errors, blurry


def summarize(
    result: PipelineResult,
    output_prefix: str,
    model_version: str | None = None,
    settings: dict[str, Any] | None = None,
) -> RunSummary:
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
            carried=counters.get("carried", 0),
            output_pattern=output_pattern(output_prefix),
            output_files=tuple(files),
            source="metrics",
            model_version=model_version,
            settings=settings or {},
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
        model_version=model_version,
        settings=settings or {},
    )
