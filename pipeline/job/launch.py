"""Launch checks: everything that can be known wrong before a photo is read fails here, in seconds,
with one line saying what to do (pipeline.score's main prints it and exits with status 2).

In order: Beam's options are all known ones (parse time, in score.parse_job_args); Cloud Storage
credentials and buckets; the S3 endpoint, credentials and buckets; the manifest's encoding; every
--input pattern matches something; the earlier run of --skip_scored exists; the model loads and
gives finite outputs for a probe batch (once per model file: pipeline.job.model_probe).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, S3Options, TestOptions

from pipeline.job import dataflow, match, patterns
from pipeline.job.incremental import earlier_shards, fit_workers
from pipeline.job.match import matched_files
from pipeline.job.running import runs_on_this_machine
from pipeline.job.steps import describe
from pipeline.results.reader import ResultsError, check_shard
from pipeline.storage import remote
from pipeline.storage.lock import LockHeld, PrefixLock
from pipeline.storage.output import OutputLocation, new_run_id

S3_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
    "or put them in the shared credentials file ~/.aws/credentials"
)
LOGIN_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service-account key file"
)


_log = logging.getLogger(__name__)


class LaunchError(Exception):
    """The job cannot start as asked; the message says why and what to do, in one line."""


def gcs_buckets(uris: Iterable[str | None]) -> list[str]:
    return sorted({uri[len("gs://") :].split("/", 1)[0] for uri in uris if uri and patterns.is_gcs(uri)})


def check_cloud_storage(uris: Iterable[str | None]) -> None:
    """Credentials exist and every gs:// bucket the job names can be listed: one request per bucket,
    no retries, so a missing login or a misspelt bucket fails now, not after minutes of retries."""
    buckets = gcs_buckets(uris)
    if not buckets:
        return
    import google.auth
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        try:
            google.auth.default()
        except auth.DefaultCredentialsError as error:
            first_line = str(error).strip().splitlines()[0]
            raise LaunchError(
                f"no Google Cloud credentials for gs://: {LOGIN_HINT} ({first_line})"
            ) from error
    client = remote.gcs_client()
    for bucket in buckets:
        try:
            next(
                iter(client.list_blobs(bucket, max_results=1, timeout=match.GCS_TIMEOUT_S, retry=None)), None
            )
        except api.NotFound as error:
            raise LaunchError(f"gs://{bucket}: no such bucket (check its name and project)") from error
        except (api.Unauthorized, auth.RefreshError, auth.DefaultCredentialsError) as error:
            raise LaunchError(f"gs://{bucket}: credentials refused: {LOGIN_HINT}") from error
        except api.Forbidden as error:
            raise LaunchError(
                f"gs://{bucket}: these credentials may not list the bucket (storage.objects.list); "
                f"ask for access or {LOGIN_HINT} as another account"
            ) from error
        except Exception as error:  # connection refused, DNS, timeouts: say so now, not after retries
            raise LaunchError(
                f"gs://{bucket}: Cloud Storage cannot be reached ({describe(error)})"
            ) from error


def s3_buckets(uris: Iterable[str | None]) -> list[str]:
    return sorted(
        {uri[len(patterns.S3_SCHEME) :].split("/", 1)[0] for uri in uris if uri and patterns.is_s3(uri)}
    )


def _s3_client(options: S3Options):
    """A boto3 S3 client set up as Beam's s3:// file system sets up its own (from the same S3Options),
    with short timeouts and a single attempt."""
    return remote.s3_client(options, attempts=1)


_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket_names(uris: Iterable[str | None]) -> None:
    """Every gs:// and s3:// bucket name is one the service accepts (3-63 characters; lowercase
    letters, digits, dots, hyphens, and for Cloud Storage underscores), so a typo fails now instead of
    after Beam's minutes of retries."""
    for uri in uris:
        if not uri or not patterns.is_remote(uri):
            continue
        scheme = patterns.GCS_SCHEME if patterns.is_gcs(uri) else patterns.S3_SCHEME
        bucket = uri[len(scheme) :].split("/", 1)[0]
        rule = _GCS_BUCKET if scheme == patterns.GCS_SCHEME else _S3_BUCKET
        if not rule.fullmatch(bucket) or ".." in bucket:
            allowed = "lowercase letters, digits, '-', '.'" + (", '_'" if rule is _GCS_BUCKET else "")
            raise LaunchError(
                f"{uri}: {scheme}{bucket} is not a valid bucket name (3-63 characters: {allowed}; "
                "starting and ending with a letter or digit)"
            )


def check_s3(uris: Iterable[str | None], options: PipelineOptions) -> None:
    """The S3 endpoint answers, credentials exist and are accepted, and every s3:// bucket the job names
    can be listed: one request per bucket, no retries. Beam's own retries against an unreachable
    endpoint were still going after 150 s."""
    buckets = s3_buckets(uris)
    if not buckets:
        return
    try:
        from botocore import exceptions as boto
    except ImportError as error:
        raise LaunchError("s3:// needs boto3: install requirements.txt (apache-beam[gcp,aws])") from error
    client = _s3_client(options.view_as(S3Options))
    endpoint = client.meta.endpoint_url  # the flag, AWS_ENDPOINT_URL_S3, ~/.aws/config, or AWS's own
    for bucket in buckets:
        try:
            client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except boto.NoCredentialsError as error:
            raise LaunchError(f"no credentials for s3://{bucket}: {S3_CREDENTIALS_HINT}") from error
        except boto.ClientError as error:
            raise LaunchError(_s3_refusal(bucket, endpoint, error)) from error
        except boto.BotoCoreError as error:  # refused connection, DNS, TLS, timeouts
            raise LaunchError(
                f"s3://{bucket}: cannot reach the S3 endpoint {endpoint} ({describe(error)}); "
                "check --s3_endpoint_url (or AWS_ENDPOINT_URL_S3) and that the server is running"
            ) from error


def _s3_refusal(bucket: str, endpoint: str, error: Exception) -> str:
    """One line for an answer the S3 server gave instead of the listing."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return f"s3://{bucket}: no such bucket at {endpoint} (check its name and --s3_endpoint_url)"
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return f"s3://{bucket}: {endpoint} refused the credentials ({code}): {S3_CREDENTIALS_HINT}"
    if code in ("AccessDenied", "AllAccessDisabled", "403"):
        return f"s3://{bucket}: these credentials may not list the bucket (s3:ListBucket); ask for access"
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "301"):
        return f"s3://{bucket}: the bucket is in another region; give --s3_region_name or AWS_DEFAULT_REGION"
    return f"s3://{bucket}: {endpoint} answered {code or 'an error'} ({describe(error)})"


def check_manifest(manifest: str) -> None:
    """The manifest exists and is UTF-8 text (a BOM is fine): a list saved in another encoding would
    otherwise stop the job part way, or name files that do not exist."""
    try:
        stream = FileSystems.open(manifest, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as error:
        raise LaunchError(f"--input_manifest {manifest}: cannot open it ({describe(error)})") from error
    with stream:
        for number, line in enumerate(stream, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                utf16 = number == 1 and line[:2] in (b"\xff\xfe", b"\xfe\xff")
                utf16 = " (it starts like UTF-16)" if utf16 else ""
                raise LaunchError(
                    f"--input_manifest {manifest}: line {number} is not UTF-8 text{utf16} "
                    f"(byte 0x{line[error.start]:02x}); save the list as UTF-8"
                ) from error


def manifest_names_a_file(manifest: str) -> bool:
    with FileSystems.open(manifest, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return any(match.manifest_file(line.decode("utf-8")) for line in stream)


def resolve_inputs(
    inputs: Sequence[str],
    manifest: str | None,
    output_prefix: str,
    *,
    allow_empty: bool,
    look_up_gcs: bool = True,
) -> list[match.FileQuery]:
    """The queries of every --input, each checked to match at least one file (unless allow_empty);
    the manifest checked to be UTF-8 and to name at least one file."""
    queries, empty = [], []
    excluded = patterns.output_excluder(output_prefix)
    for pattern in inputs:
        try:
            resolved = match.resolve_pattern(pattern, look_up_gcs=look_up_gcs)
        except (FileNotFoundError, ValueError) as error:
            raise LaunchError(str(error)) from error
        queries.extend(resolved)
        checkable = look_up_gcs or not patterns.is_remote(pattern)
        if checkable and not any(next(match.list_query(query, excluded), None) for query in resolved):
            empty.append(pattern)
    if manifest and look_up_gcs:
        check_manifest(manifest)
        if not manifest_names_a_file(manifest):
            empty.append(f"--input_manifest {manifest}")
    if empty and not allow_empty:
        raise LaunchError(
            f"nothing to score: {', '.join(empty)} matched no file (patterns: `*` within a folder, "
            f"`**` across folders, extensions in any case); give --allow_empty to accept an empty run"
        )
    return queries


def check_model(model_dir: str):
    """Load the model as a worker will and probe it (model.contract.load_blur_model): a missing or
    truncated .keras, metadata for other blur types or views, NaN weights: all stop here.
    Returns its ModelMetadata. The metadata is checked every time; the load and probe are skipped
    when these exact files passed them before (pipeline.job.model_probe), so TensorFlow is not imported."""
    from model.contract import ModelContractError, load_blur_model, read_metadata
    from pipeline.job import model_probe
    from pipeline.job.inference import local_model_dir
    from pipeline.job.quiet import filtered_native_stderr

    try:
        with local_model_dir(model_dir) as local:
            metadata = read_metadata(local)
            metadata.check_matches_job()
            key = model_probe.probe_key(local)
            if model_probe.passed_before(key, metadata.version):
                return metadata
            with filtered_native_stderr():
                metadata = load_blur_model(local).metadata
            model_probe.remember(key, metadata.version)
            return metadata
    except ModelContractError:
        raise
    except Exception as error:
        raise ModelContractError(f"model {model_dir}: cannot be read ({describe(error)})") from error


@dataclass(frozen=True)
class CheckedJob:
    """What the launch checks found out, for building the job."""

    queries: list[match.FileQuery]  # what the --input patterns mean
    earlier_shards: list[str] | None  # the --skip_scored run's Parquet files
    model_version: str


def check_job(
    job: argparse.Namespace, *, online: bool = True, options: PipelineOptions | None = None
) -> CheckedJob:
    """Every launch check, cheapest first; `online=False` (a Dataflow dry run) skips Cloud Storage and
    S3. `options`: the job's pipeline options (the --s3_* flags)."""
    google = (options or PipelineOptions([])).view_as(GoogleCloudOptions)
    named = [*job.input, job.input_manifest, job.output, job.model, job.skip_scored]
    check_bucket_names([*named, google.temp_location, google.staging_location])
    if online:
        check_cloud_storage(named)
        check_s3(named, options or PipelineOptions([]))
    queries = resolve_inputs(
        job.input, job.input_manifest, job.output, allow_empty=job.allow_empty, look_up_gcs=online
    )
    try:
        shards = earlier_shards(job.skip_scored) if job.skip_scored else None
        for shard in shards or ():
            check_shard(shard)
    except ResultsError as error:
        raise LaunchError(f"--skip_scored {job.skip_scored}: {error}") from error
    except FileNotFoundError as error:
        raise LaunchError(str(error)) from error
    return CheckedJob(queries, shards, check_model(job.model).version)


@dataclass(frozen=True)
class RunPlan:
    """Everything the graph and the commit need to know about one run, settled before it starts."""

    checked: CheckedJob
    run_id: str
    started_at: datetime
    output: OutputLocation
    progress_folder: str | None  # where workers tally progress; None: no progress lines
    dry_run: bool  # a Dataflow --dry_run: build the job description, score nothing
    lock: PrefixLock | None = None  # held from launch to the run's end; None for a dry run

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    @property
    def model_version(self) -> str:
        return self.checked.model_version


def plan_run(job: argparse.Namespace, pipeline: beam.Pipeline) -> RunPlan:
    """The launch: every check that can fail before a photo is read (LaunchError, one line), then the
    run's id and output location. A Dataflow --dry_run builds the job description offline, so it skips
    the checks that need Cloud Storage or S3."""
    dry_run = pipeline.options.view_as(TestOptions).dry_run
    if type(pipeline.runner).__name__ == "DataflowRunner" and (local_paths := dataflow.local_paths(job)):
        raise LaunchError(f"{local_paths[0]}: a local path with DataflowRunner; {dataflow.REMOTE_HINT}")
    checked = check_job(job, online=not dry_run, options=pipeline.options)
    local = runs_on_this_machine(pipeline)
    if checked.earlier_shards is not None and local:
        matched = matched_files(checked.queries, job.input_manifest, job.output)
        changed = fit_workers(pipeline.options, matched, checked.earlier_shards, checked.model_version)
        if changed:
            _log.info(changed)
    started_at = datetime.now(UTC)
    run_id, output = new_run_id(started_at), OutputLocation.of(job.output)
    lock = None if dry_run else take_output(output, run_id, started_at)
    progress_folder = (
        tempfile.mkdtemp(prefix="blur-job-progress-") if job.progress_interval > 0 and local else None
    )
    return RunPlan(checked, run_id, started_at, output, progress_folder, bool(dry_run), lock)


def _local_output_problem(folder: str) -> str | None:
    """Why the local folder cannot hold the output, or None: the nearest existing ancestor must be a
    folder (not a file) this process can create entries in."""
    path = os.path.abspath(folder or ".")
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        return f"{path} is a file, not a folder"
    return None


def take_output(output: OutputLocation, run_id: str, started_at: datetime) -> PrefixLock:
    """Make the output's folder and take the prefix's lock (one writer per prefix): the lock file is
    also the proof that the output can be written. LaunchError, one line, when it cannot."""
    if FileSystems.get_scheme(output.prefix) in (None, "file"):
        problem = _local_output_problem(output.folder)
        if problem:
            raise LaunchError(f"--output {output.prefix}: cannot write there ({problem})")
    lock = PrefixLock.for_run(output.prefix, run_id, started_at)
    try:
        output.prepare()
        lock.acquire()
    except LockHeld as error:
        raise LaunchError(str(error)) from error
    except OSError as error:  # read-only, no permission, /proc, a full disk
        reason = error.strerror or describe(error)
        raise LaunchError(f"--output {output.prefix}: cannot write there ({reason})") from error
    except Exception as error:  # a bucket that refuses the write
        raise LaunchError(f"--output {output.prefix}: cannot write there ({describe(error)})") from error
    return lock
