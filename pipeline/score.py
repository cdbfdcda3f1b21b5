"""Score a photo collection for blur: the whole Beam job, top to bottom.

    python -m pipeline.score --input 'photos/**' --output out/scores
    python -m pipeline.score --input 'gs://bucket/**' --output gs://bucket/blur/scores \\
        --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp --setup_file ./setup.py

Every matched file gets exactly one row (see pipeline.rows for the columns): a photo that cannot be
read, decoded or scored gets a row with status "error" and the reason, and the job goes on.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions, TestOptions

from model import MODEL_DIR
from model.contract import ModelContractError
from pipeline import launch, rows, run_progress
from pipeline.decode import DecodeError, decode_read_file
from pipeline.incremental import SkipScored, fit_workers
from pipeline.inference import BlurModelHandler, BlurPrediction
from pipeline.match import MatchPhotos, matched_files
from pipeline.measure import PhotoFacts, inference_example, measure_photo
from pipeline.payload import DEFAULT_MAX_FILE_MB, DEFAULT_SECONDS_PER_FILE, OverBudget
from pipeline.quiet import DropNoise
from pipeline.read import read_failure_reason, read_file
from pipeline.running import run_pipeline, runs_on_this_machine, stop_child_processes, stop_on_signals
from pipeline.steps import FAILED, OK, PhotoFailure, count_row, describe, per_photo
from pipeline.summary import RunSummary, commit, read_manifest, summarize
from pipeline.verdict import DEFAULT_BLUR_THRESHOLD, DEFAULT_LAPLACIAN_THRESHOLD
from pipeline.write import OutputLocation, WriteRows, new_run_id


def _number_in(low: float, high: float | None):
    """An argparse type: a float in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (low <= value <= (high if high is not None else float("inf"))):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be {bounds}")
        return value

    return parse


def parse_job_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The job's own flags, and the rest (Beam's pipeline options) untouched."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.score",
        description=__doc__,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="PATTERN",
        help="files to score, local, gs:// or s3://; `*` within a folder, `**` across folders; repeatable",
    )
    parser.add_argument("--input_manifest", metavar="FILE", help="a file listing one URI per line")
    parser.add_argument(
        "--output",
        required=True,
        metavar="PREFIX",
        help="where the run's Parquet shards and PREFIX-manifest.json go; a trailing / means a folder",
    )
    parser.add_argument(
        "--model",
        default=str(MODEL_DIR),
        metavar="DIR",
        help="model folder, local, gs:// or s3:// (default: the shipped model/)",
    )
    parser.add_argument(
        "--laplacian_threshold",
        type=_number_in(0.0, None),
        default=DEFAULT_LAPLACIAN_THRESHOLD,
        help="laplacian_blurry is laplacian_var below this (default 100, at the 1000 px working scale); >= 0",
    )
    parser.add_argument(
        "--blur_threshold",
        type=_number_in(0.0, 1.0),
        default=DEFAULT_BLUR_THRESHOLD,
        help="blurry is blur_probability at or above this (default 0.5); in [0, 1]",
    )
    parser.add_argument(
        "--allow_empty",
        action="store_true",
        help="a pattern or manifest that matches no file is not an error (default: it is)",
    )
    parser.add_argument(
        "--skip_scored",
        metavar="EARLIER",
        help="an earlier run's output PREFIX (or a glob of its Parquet files): files it scored with this "
        "model, unchanged since, are not read again; their rows are carried into this run's output",
    )
    parser.add_argument(
        "--progress_interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a progress line every SECONDS on a run on this machine (default 30; 0: none)",
    )
    # Bounds on one file (pipeline.read, pipeline.payload): added by files-hostile.
    parser.add_argument(
        "--max_file_mb",
        type=float,
        default=DEFAULT_MAX_FILE_MB,
        help=f"larger files get an error row without being read (default {DEFAULT_MAX_FILE_MB:g})",
    )
    parser.add_argument(
        "--max_seconds_per_file",
        type=float,
        default=DEFAULT_SECONDS_PER_FILE,
        help=f"read + decode time budget of one file (default {DEFAULT_SECONDS_PER_FILE:g})",
    )
    job_args, beam_args = parser.parse_known_args(argv)
    if not job_args.input and not job_args.input_manifest:
        parser.error("give at least one --input PATTERN or an --input_manifest FILE")
    job_flags = [flag for action in parser._actions for flag in action.option_strings]
    unknown = launch.unknown_beam_args(beam_args, job_flags)
    if unknown:
        parser.error(f"unrecognized arguments: {', '.join(unknown)}")
    return job_args, beam_args


def decode_failure_reason(uri: str, error: Exception) -> str:
    if isinstance(error, DecodeError | OverBudget):
        return str(error)
    return f"cannot decode file ({describe(error)})"


def measure_failure_reason(uri: str, error: Exception) -> str:
    return f"cannot measure photo ({describe(error)})"


def inference_failures(failed_batch: tuple) -> list[PhotoFailure]:
    """Every photo of a batch the model failed on, from RunInference's dead-letter element
    (batch of (facts, views), (exception type, repr, traceback))."""
    batch, (_, error_repr, _) = failed_batch
    return [PhotoFailure(facts.file, f"model inference failed ({error_repr})") for facts, _ in batch]


def run(argv: Sequence[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RunSummary | None:
    """Build and run the job, then commit its output; return its summary (None for a Dataflow
    --dry_run, which scores nothing). A run that fails or is interrupted commits nothing and removes
    its own files; the earlier result at the prefix stays as it was."""
    job, beam_args = parse_job_args(argv)
    options = PipelineOptions(beam_args)
    pipeline = test_pipeline or beam.Pipeline(options=options)
    # A mistake that can be seen before any photo is read stops the job now (pipeline.launch). A Dataflow
    # --dry_run builds the job description offline, so it skips the checks that need Cloud Storage or S3.
    online = not pipeline.options.view_as(TestOptions).dry_run
    checked = launch.check_job(job, online=online, options=pipeline.options)
    model_version = checked.model_version
    if checked.earlier_shards is not None and runs_on_this_machine(pipeline):
        changed = fit_workers(
            pipeline.options,
            matched_files(checked.queries, job.input_manifest, job.output),
            checked.earlier_shards,
            model_version,
        )
        if changed:
            logging.getLogger("pipeline.score").info(changed)
    model = KeyedModelHandler(BlurModelHandler(job.model))
    started_at = datetime.now(UTC)
    run_id = new_run_id(started_at)
    output = OutputLocation.of(job.output)
    thresholds = {"laplacian_threshold": job.laplacian_threshold, "blur_threshold": job.blur_threshold}
    progress_folder = (
        tempfile.mkdtemp(prefix="blur-job-progress-")
        if job.progress_interval > 0 and runs_on_this_machine(pipeline)
        else None
    )

    def ok_row(facts: PhotoFacts, prediction: BlurPrediction) -> dict:
        return rows.ok_row(facts, prediction, scored_at=datetime.now(UTC), run_id=run_id, **thresholds)

    def error_row(failure: PhotoFailure) -> dict:
        return rows.error_row(
            failure, model_version=model_version, scored_at=datetime.now(UTC), run_id=run_id, **thresholds
        )

    matched = pipeline | "MatchFiles" >> MatchPhotos(checked.queries, job.input_manifest, job.output)
    carried_rows = []
    if checked.earlier_shards is not None:
        matched, carried = matched | "SkipScored" >> SkipScored(
            checked.earlier_shards,
            model_version=model_version,
            blur_threshold=job.blur_threshold,
            laplacian_threshold=job.laplacian_threshold,
        )
        # A carried row sits in this run's output: it records this run's id and thresholds (its
        # scored_at and carried_over say when it was scored).
        carried_rows = [carried | "CarriedRunId" >> beam.Map(lambda row: {**row, "run_id": run_id})]
    if progress_folder:
        matched = matched | "TallyMatched" >> run_progress.tally(progress_folder, run_progress.MATCHED)
    # Matching yields all files from one worker; a shuffle lets the runner spread them out.
    uris = matched | "Reshuffle" >> beam.Reshuffle()
    read_bounded = functools.partial(
        read_file, max_file_mb=job.max_file_mb, seconds_per_file=job.max_seconds_per_file
    )
    read = uris | "ReadBytes" >> per_photo(read_bounded, read_failure_reason)
    decoded = read[OK] | "Decode" >> per_photo(decode_read_file, decode_failure_reason)
    measured = decoded[OK] | "Laplacian+Views" >> per_photo(measure_photo, measure_failure_reason)
    predictions, failed_inference = (
        measured[OK]
        | "KeyByFacts" >> beam.MapTuple(inference_example)
        | "RunInference" >> RunInference(model).with_exception_handling()
    )
    ok_rows = predictions | "OkRows" >> beam.MapTuple(ok_row)
    failures = (
        read[FAILED],
        decoded[FAILED],
        measured[FAILED],
        failed_inference.failed_inferences | "InferenceFailures" >> beam.FlatMap(inference_failures),
    )
    if progress_folder:
        # Tallied where the photos are scored: the DirectRunner runs whatever follows a Flatten only
        # after every input of the Flatten is complete, too late for progress.
        ok_rows = ok_rows | "TallyOk" >> run_progress.tally(progress_folder, rows.STATUS_OK)
        failures = tuple(
            failed | f"TallyFailed{index}" >> run_progress.tally(progress_folder, rows.STATUS_ERROR)
            for index, failed in enumerate(failures)
        )
    error_rows = failures | "AllFailures" >> beam.Flatten() | "ErrorRows" >> beam.Map(error_row)
    all_rows = (
        (ok_rows, error_rows, *carried_rows)
        | "AllRows" >> beam.Flatten()
        | "CountRows" >> beam.Map(count_row)
    )
    _ = all_rows | "WriteParquet" >> WriteRows(output.shard_prefix(run_id))

    if pipeline.options.view_as(TestOptions).dry_run:
        pipeline.run().wait_until_finish()
        return None
    reporter = (
        run_progress.ProgressReporter(progress_folder, job.progress_interval) if progress_folder else None
    )
    try:
        output.prepare()
        committed = read_manifest(output)
        output.remove_leftovers(set(committed["shards"]) if committed else set())
        result = run_pipeline(pipeline, reporter)
        summary = summarize(
            result,
            output,
            run_id,
            model_version,
            settings={**vars(job), "beam_args": list(beam_args)},
            started_at=started_at,
        )
        commit(summary, output)
    except BaseException:
        # Failed or interrupted (KeyboardInterrupt): nothing was committed; leave no half result behind.
        output.discard(run_id)
        raise
    finally:
        if progress_folder:
            shutil.rmtree(progress_folder, ignore_errors=True)
    return summary


def main() -> None:
    # Beam's own INFO lines drown the job's; keep the job's (model loads, progress) and Beam's warnings.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.addFilter(DropNoise())
    stop_on_signals()
    try:
        summary = run()
    except (launch.LaunchError, ModelContractError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)  # argparse's status for a command-line mistake
    except KeyboardInterrupt as stop:
        logging.getLogger("pipeline.score").error(
            "Stopped (%s): nothing was committed; the earlier result at the output prefix, if any, is "
            "unchanged.",
            stop or "SIGINT",
        )
        sys.stderr.flush()
        stop_child_processes()
        # The pipeline thread and Beam's own threads cannot be stopped from here; end the process.
        os._exit(130)
    print(summary if summary is not None else "dry run: the job description was built, nothing was scored")


if __name__ == "__main__":
    main()
