"""Score a photo collection for blur: the whole Beam job, top to bottom.

    python -m pipeline.score --input 'photos/**' --output out/scores
    python -m pipeline.score --input 'gs://bucket/**' --output gs://bucket/blur/scores \\
        --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp --setup_file ./setup.py

Every matched file gets exactly one row (see pipeline.job.rows for the columns): a photo that cannot be
read, decoded or scored gets a row with status "error" and the reason, and the job goes on.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from model.contract import ModelContractError
from pipeline import schema
from pipeline.job import dataflow, launch, redact, rows
from pipeline.job import progress as run_progress
from pipeline.job.bursts import FindBursts
from pipeline.job.cli import parse_job_args
from pipeline.job.commit import RunSummary, run_and_commit
from pipeline.job.incremental import SkipScored
from pipeline.job.inference import BlurModelHandler, BlurPrediction
from pipeline.job.match import MatchPhotos
from pipeline.job.measure import PhotoFacts, inference_example, measure_photo
from pipeline.job.quiet import DropNoise
from pipeline.job.running import BeamErrorsInOneLine, failure_line, stop_child_processes, stop_on_signals
from pipeline.job.steps import (
    FAILED,
    OK,
    PhotoFailure,
    count_row,
    decode_failure_reason,
    inference_failures,
    measure_failure_reason,
    per_photo,
)
from pipeline.job.write import WriteRows
from pipeline.photo.decode import decode_read_file
from pipeline.storage.read import read_failure_reason, read_file


def run(argv: Sequence[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RunSummary | None:
    """Launch, score, commit; return the run's summary (None for a Dataflow --dry_run, which scores
    nothing). A run that fails or is interrupted commits nothing; the earlier result stays."""
    job, beam_args = parse_job_args(argv, description=__doc__)
    shown_args, secrets = redact.redact_args(beam_args)
    redact.hide_in_logs(secrets)
    pipeline = test_pipeline or beam.Pipeline(options=PipelineOptions(beam_args))
    plan = launch.plan_run(job, pipeline)
    try:
        score_photos(pipeline, job, plan)
        if plan.dry_run:
            result = pipeline.run()
            result.wait_until_finish()
            path = dataflow.write_job_description(pipeline, result, plan.run_id)
            logging.getLogger(__name__).info("dry run: the job description is in %s", path)
            return None
        settings = redact.redact_settings({**vars(job), "beam_args": shown_args})
        return run_and_commit(pipeline, plan, settings=settings)
    finally:
        plan.release()


def score_photos(pipeline: beam.Pipeline, job: argparse.Namespace, plan: launch.RunPlan) -> None:
    """The job's whole data flow: match -> read -> decode -> measure -> infer -> rows -> bursts -> Parquet.
    Every file that fails a step leaves that step as a PhotoFailure and becomes an error row."""
    run_id, model_version = plan.run_id, plan.model_version
    thresholds = {"laplacian_threshold": job.laplacian_threshold, "blur_threshold": job.blur_threshold}
    tally = functools.partial(run_progress.tally, plan.progress_folder) if plan.progress_folder else None

    def ok_row(facts: PhotoFacts, prediction: BlurPrediction) -> dict:
        return rows.ok_row(facts, prediction, scored_at=datetime.now(UTC), run_id=run_id, **thresholds)

    def error_row(failure: PhotoFailure) -> dict:
        row = rows.error_row(
            failure, model_version=model_version, scored_at=datetime.now(UTC), run_id=run_id, **thresholds
        )
        row["error"] = redact.scrub(row["error"], redact.worker_secrets())  # a reason may quote a client
        return row

    model = KeyedModelHandler(BlurModelHandler(job.model))  # loaded once per worker, shared by its threads
    queries, earlier = plan.checked.queries, plan.checked.earlier_shards
    matched = pipeline | "MatchFiles" >> MatchPhotos(queries, job.input_manifest, job.output)
    carried_rows = []
    if earlier is not None:
        matched, carried = matched | "SkipScored" >> SkipScored(
            earlier, model_version=model_version, **thresholds
        )
        # A carried row sits in this run's output: it records this run's id and thresholds (its
        # scored_at and carried_over say when it was scored).
        carried_rows = [carried | "CarriedRunId" >> beam.Map(lambda row: {**row, "run_id": run_id})]
    if tally:
        matched = matched | "TallyMatched" >> tally(run_progress.MATCHED)
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
    if tally:
        # Tallied where the photos are scored: the DirectRunner runs whatever follows a Flatten only
        # after every input of the Flatten is complete, too late for progress.
        ok_rows = ok_rows | "TallyOk" >> tally(schema.STATUS_OK)
        failures = tuple(
            failed | f"TallyFailed{index}" >> tally(schema.STATUS_ERROR)
            for index, failed in enumerate(failures)
        )
    error_rows = failures | "AllFailures" >> beam.Flatten() | "ErrorRows" >> beam.Map(error_row)
    # A burst needs the rows of all its frames, carried ones too: a new photo may join an earlier burst.
    burst_rows = (
        (ok_rows, *carried_rows) | "ScoredRows" >> beam.Flatten() | "Bursts" >> FindBursts(job.burst_gap_s)
    )
    all_rows = (burst_rows, error_rows) | "AllRows" >> beam.Flatten() | "CountRows" >> beam.Map(count_row)
    _ = all_rows | "WriteParquet" >> WriteRows(plan.output.shard_prefix(run_id))


def main() -> None:
    # Beam's own INFO lines drown the job's; keep the job's (model loads, progress) and Beam's warnings.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.addFilter(DropNoise())
        handler.addFilter(BeamErrorsInOneLine())
    stop_on_signals()
    try:
        summary = run()
    except (launch.LaunchError, ModelContractError) as error:
        print(f"error: {redact.scrub(str(error))}", file=sys.stderr)
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
    except Exception as error:  # the run failed once started: storage gone, disk full, a worker died
        line = redact.scrub(failure_line(error))
        print(f"error: the run failed, nothing was committed: {line}", file=sys.stderr)
        sys.stderr.flush()
        stop_child_processes()
        os._exit(1)  # Beam's threads may still be retrying; the run's own files are already removed
    print(summary if summary is not None else "dry run: the job description was built, nothing was scored")


if __name__ == "__main__":
    main()
