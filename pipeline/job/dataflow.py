"""What only a run on Dataflow (or another remote runner) needs: its workers cannot see this machine's
files, and a --dry_run leaves the job description it built in a file to inspect.

The description written is the Dataflow job message as Beam built it (name, type), the pipeline as
a runner-API proto (every step, its environment and the artifacts staged for the workers: the sdist of
setup.py, which holds the shipped model) and the pipeline options, credentials redacted.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DebugOptions

from model import MODEL_DIR
from pipeline.job import patterns, redact

REMOTE_HINT = "Dataflow workers cannot read this machine's files: copy it to gs:// (or s3://) and name that"


def is_shipped_model(model: str) -> bool:
    """Is `model` the model shipped in the package (installed on every worker with the job)?"""
    return not patterns.is_remote(model) and Path(model).resolve() == MODEL_DIR.resolve()


def local_paths(job: argparse.Namespace) -> list[str]:
    """The job's flags that name this machine's files, as `--flag value`; the shipped model is fine."""
    named = [("--input", pattern) for pattern in job.input]
    named += [
        ("--input_manifest", job.input_manifest),
        ("--output", job.output),
        ("--skip_scored", job.skip_scored),
    ]
    if not is_shipped_model(job.model):
        named.append(("--model", job.model))
    return [f"{flag} {value}" for flag, value in named if value and not patterns.is_remote(value)]


def job_description(pipeline: beam.Pipeline, result: Any) -> dict[str, Any]:
    """The job a Dataflow --dry_run built, as JSON-ready data."""
    from google.protobuf import json_format

    job = getattr(result, "job", None)
    options = pipeline.options.get_all_options(drop_default=True, retain_unknown_options=True)
    described: dict[str, Any] = {
        "job": json.loads(job.json()) if job is not None else None,
        "pipeline_options": redact.redact_settings(options),
    }
    proto = getattr(job, "proto_pipeline", None)
    if proto is not None:
        described["pipeline"] = json_format.MessageToDict(proto)
    return described


def write_job_description(pipeline: beam.Pipeline, result: Any, run_id: str) -> str:
    """Write the dry run's job description to --dataflow_job_file, or to a file in the temporary
    folder; return its path."""
    path = pipeline.options.view_as(DebugOptions).dataflow_job_file or os.path.join(
        tempfile.gettempdir(), f"blur-dataflow-job-{run_id}.json"
    )
    text = redact.scrub(json.dumps(job_description(pipeline, result), indent=1) + "\n") or ""
    if patterns.is_remote(path):
        with FileSystems.create(path, mime_type="application/json") as stream:
            stream.write(text.encode("utf-8"))
        return path
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path
