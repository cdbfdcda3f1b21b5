"""What a finished run did, and its commit: PREFIX-manifest.json.

`summarize` reads the job's counters (or, on a runner without metrics, the written Parquet) and the
run's shards; `commit` writes the summary as PREFIX-manifest.json and then deletes the shards of earlier
runs at the prefix. The manifest is the commit marker: a run without one is not a result, and readers
read the shards the manifest lists (`shards`, file names in the manifest's folder).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from pipeline.job.launch import RunPlan
from pipeline.job.progress import ProgressReporter
from pipeline.job.running import run_pipeline
from pipeline.job.steps import METRICS_NAMESPACE
from pipeline.results.reader import read_manifest, read_shard
from pipeline.schema import MANIFEST_SUFFIX, STATUS_ERROR, STATUS_OK, STATUS_SKIPPED, manifest_path
from pipeline.storage.files import replace_local_file
from pipeline.storage.output import OutputLocation, output_pattern

_log = logging.getLogger(__name__)

MANIFEST_FORMAT = 2
"""Version of the manifest's layout (1: the summary written after the run, before run ids)."""


@dataclass(frozen=True)
class RunSummary:
    """What a run did. `source` says where the counts come from: the runner's metrics, or the written
    Parquet read back when the runner reports no metrics. `rows` is read from the shards' footers."""

    files: int
    ok: int
    errors: int
    blurry: int
    model_loads: int | None
    output_prefix: str
    output_files: tuple[str, ...]  # full paths of the run's shards
    source: str
    run_id: str
    rows: int
    skipped: int = 0
    model_version: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    carried: int = 0  # rows carried from an earlier run by --skip_scored (pipeline.job.incremental), not read
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def output_pattern(self) -> str:
        return output_pattern(self.output_prefix)

    def __str__(self) -> str:
        loads = "" if self.model_loads is None else f"; model loaded {self.model_loads}x"
        carried = [f"carried: {self.carried} (unchanged since the --skip_scored run, not read)"]
        return "\n".join(
            [
                f"files:   {self.files}",
                f"ok:      {self.ok}",
                f"errors:  {self.errors}",
                f"skipped: {self.skipped}",
                f"blurry:  {self.blurry}",
                *(carried if self.settings.get("skip_scored") else []),
                f"run:     {self.run_id} ({len(self.output_files)} shard(s), {self.rows} rows)",
                f"result:  {manifest_path(self.output_prefix)}",
                f"(counts from {self.source}{loads})",
            ]
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def manifest(summary: RunSummary) -> dict[str, Any]:
    """The run's summary as the JSON object of PREFIX-manifest.json."""
    return {
        "manifest_format": MANIFEST_FORMAT,
        "run_id": summary.run_id,
        "model_version": summary.model_version,
        "rows": summary.rows,
        "files": summary.files,
        "ok": summary.ok,
        "errors": summary.errors,
        "skipped": summary.skipped,
        "blurry": summary.blurry,
        "carried": summary.carried,
        "model_loads": summary.model_loads,
        "counts_from": summary.source,
        "shards": [FileSystems.split(path)[1] for path in summary.output_files],
        "started_at": _iso(summary.started_at),
        "finished_at": _iso(summary.finished_at),
        "settings": summary.settings,
    }


def committed_manifest(location: OutputLocation) -> dict[str, Any] | None:
    """The manifest committed at `location`, or None if there is none. An unreadable one is logged and
    treated as none: the run about to start replaces it (results.reader.read_manifest raises instead,
    for the tools that read a result)."""
    try:
        return read_manifest(location.prefix)
    except Exception as error:
        _log.warning("Ignoring the unreadable manifest %s (%s)", manifest_path(location.prefix), error)
        return None


def write_manifest(summary: RunSummary, location: OutputLocation) -> str:
    """Write PREFIX-manifest.json in one step, so a reader sees the earlier manifest or this one, never
    a part: a local file is written beside it and renamed over it; a Cloud Storage object appears
    whole when its upload completes. Return its path."""
    path = manifest_path(location.prefix)
    text = (json.dumps(manifest(summary), indent=2) + "\n").encode("utf-8")
    if FileSystems.get_scheme(path) in (None, "file"):
        temporary = location.path(f".{location.basename}{MANIFEST_SUFFIX}.{summary.run_id}.tmp")
        replace_local_file(path, text, temporary)  # a full disk leaves no half manifest behind either
    else:
        with FileSystems.create(path, mime_type="application/json") as stream:
            stream.write(text)
    return path


def commit(summary: RunSummary, location: OutputLocation) -> str:
    """Commit the run: write its manifest, then delete the shards it supersedes. Return the manifest.

    Only the manifest's write can raise (then nothing is committed). Once it is written the run is the
    result, so a failure to delete the earlier shards is logged, not raised; the next run at the
    prefix deletes them."""
    path = write_manifest(summary, location)
    try:
        location.remove_superseded(set(manifest(summary)["shards"]))
    except Exception as error:
        _log.warning("Run %s is committed; earlier shards not deleted: %s", summary.run_id, error)
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


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def count_rows(paths: list[str]) -> int:
    """Rows in the Parquet files, from their footers."""
    total = 0
    for path in paths:
        with _open(path) as stream:
            total += pq.ParquetFile(stream).metadata.num_rows
    return total


def count_parquet(paths: list[str]) -> dict[str, int]:
    """ok, errors, skipped and blurry over the written Parquet files."""
    counts = dict.fromkeys(("ok", "errors", "skipped", "blurry"), 0)
    for path in paths:
        table = read_shard(path, columns=["status", "blurry"])
        statuses = table.column("status").to_pylist()
        counts["ok"] += statuses.count(STATUS_OK)
        counts["errors"] += statuses.count(STATUS_ERROR)
        counts["skipped"] += statuses.count(STATUS_SKIPPED)
        counts["blurry"] += sum(1 for value in table.column("blurry").to_pylist() if value)
    return counts


def summarize(
    result: PipelineResult,
    location: OutputLocation,
    run_id: str,
    model_version: str | None = None,
    settings: dict[str, Any] | None = None,
    started_at: datetime | None = None,
) -> RunSummary:
    """The summary of run `run_id`, finished, writing to `location`. Raises ValueError if the run's
    shards are not a whole set (nothing must be committed then)."""
    files = [location.path(name) for name in location.complete_shards(run_id)]
    rows = count_rows(files)
    common = dict(
        output_prefix=location.prefix,
        output_files=tuple(files),
        run_id=run_id,
        rows=rows,
        model_version=model_version,
        settings=settings or {},
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
    counters = job_counters(result)
    if counters is not None and "files" in counters:
        summary = RunSummary(
            files=counters.get("files", 0),
            ok=counters.get("ok", 0),
            errors=counters.get("errors", 0),
            skipped=counters.get("skipped", 0),
            blurry=counters.get("blurry", 0),
            model_loads=counters.get("model_loads"),
            carried=counters.get("carried", 0),
            source="metrics",
            **common,
        )
        if summary.files != rows:
            _log.warning("Run %s matched %d files but wrote %d rows", run_id, summary.files, rows)
        return summary
    _log.info("The runner reported no job metrics; counting the written Parquet instead.")
    counts = count_parquet(files)
    return RunSummary(
        files=counts["ok"] + counts["errors"] + counts["skipped"],
        model_loads=None,
        source="the written Parquet",
        **counts,
        **common,
    )


def run_and_commit(pipeline: beam.Pipeline, plan: RunPlan, settings: dict[str, Any]) -> RunSummary:
    """Run the built pipeline to the end, then commit its output; return its summary. A run that fails
    or is interrupted commits nothing and removes its own files; the earlier result at the prefix
    stays as it was."""
    output = plan.output
    reporter = (
        ProgressReporter(plan.progress_folder, settings["progress_interval"])
        if plan.progress_folder
        else None
    )
    try:
        output.prepare()
        committed = committed_manifest(output)
        output.remove_leftovers(set(committed["shards"]) if committed else set())
        result = run_pipeline(pipeline, reporter)
        summary = summarize(
            result, output, plan.run_id, plan.model_version, settings=settings, started_at=plan.started_at
        )
        commit(summary, output)
    except BaseException:
        # Failed or interrupted (KeyboardInterrupt): nothing was committed; leave no half result behind.
        output.discard(plan.run_id)
        raise
    finally:
        if plan.progress_folder:
            shutil.rmtree(plan.progress_folder, ignore_errors=True)
    return summary
