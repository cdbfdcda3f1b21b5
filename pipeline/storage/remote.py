"""Calls to Cloud Storage and S3 with deadlines: listing, one object's facts, and bounded reads.

Beam's own gs:// and s3:// file systems retry a failing call for minutes (a read about 120 s, an S3
metadata call up to 318 s, measured), so a dead endpoint made a run crawl for hours. The job's
listing, metadata and reads come through here instead, each call under a deadline with few retries:

- S3 (boto3, configured from the job's --s3_* options like Beam's client): a connection within
  CONNECT_TIMEOUT_S, each answer within READ_TIMEOUT_S, ATTEMPTS tries in all.
- Cloud Storage (google-cloud-storage): the same per-request timeouts, retries of one call stop after
  RETRY_DEADLINE_S.

So one call against an endpoint that is gone ends within CALL_DEADLINE_S (a refused connection in
about a second). A failed listing raises StorageUnavailable, one line; a failed read raises an
OSError (FileNotFoundError, PermissionError, ConnectionError) that the read step turns into a row.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from pipeline.storage.files import MatchedFile, gcs_crc32c

GCS_SCHEME = "gs://"
S3_SCHEME = "s3://"

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10
ATTEMPTS = 3
RETRY_DEADLINE_S = 15
CALL_DEADLINE_S = 60
"""Upper bound on one listing page, metadata call or read against an endpoint that is gone or hangs:
S3 3 x (5 + 10) s plus botocore's back-off between tries; Cloud Storage 15 s of retries plus one
request's 15 s."""


BREAKER_FAILURES = 3
BREAKER_PAUSE_S = 30
"""After BREAKER_FAILURES reads in a row could not reach a storage service, this process fails its
further reads there at once for BREAKER_PAUSE_S, then lets one through to try again: otherwise every
file of a run would wait out its own deadline, one after another, against an endpoint that is gone."""


class StorageUnavailable(Exception):
    """A listing could not be done within its deadline; str(error) is one line for the user."""


class _Breaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    def check(self, service: str) -> None:
        with self._lock:
            if time.monotonic() < self._open_until.get(service, 0.0):
                raise ConnectionError(
                    "the storage service could not be reached (not tried: "
                    f"{self._failures[service]} calls in a row failed just before)"
                )

    def record(self, service: str, reached: bool) -> None:
        with self._lock:
            if reached:
                self._failures[service] = 0
                self._open_until.pop(service, None)
                return
            self._failures[service] = self._failures.get(service, 0) + 1
            if self._failures[service] >= BREAKER_FAILURES:
                self._open_until[service] = time.monotonic() + BREAKER_PAUSE_S


_breaker = _Breaker()


def _guarded(service: str, call, *args):
    """`call(*args)` unless the service is known unreachable; a ConnectionError counts against it."""
    _breaker.check(service)
    try:
        result = call(*args)
    except ConnectionError:
        _breaker.record(service, reached=False)
        raise
    except Exception:
        _breaker.record(service, reached=True)  # it answered, with an error
        raise
    _breaker.record(service, reached=True)
    return result


def _split(uri: str, scheme: str) -> tuple[str, str]:
    bucket, _, name = uri[len(scheme) :].partition("/")
    return bucket, name


# --- Cloud Storage --------------------------------------------------------------------------------


def gcs_client():
    """A google-cloud-storage client: anonymous against an emulator (STORAGE_EMULATOR_HOST)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):  # a test server: no credentials to look up
        return storage.Client(
            project=os.environ.get("GOOGLE_CLOUD_PROJECT", "local"), credentials=AnonymousCredentials()
        )
    return storage.Client()


def _gcs_call() -> dict:
    """Timeout and retry arguments of one google-cloud-storage call."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return {
        "timeout": (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
        "retry": DEFAULT_RETRY.with_timeout(RETRY_DEADLINE_S),
    }


def _blob_file(bucket: str, blob) -> MatchedFile:
    updated = blob.updated.timestamp() if blob.updated else None
    return MatchedFile(f"gs://{bucket}/{blob.name}", blob.size, updated, gcs_crc32c(blob.crc32c))


def gcs_file(uri: str) -> MatchedFile:
    """A gs:// object's facts; none when it does not exist (the read step reports it)."""
    bucket, name = _split(uri, GCS_SCHEME)
    blob = gcs_client().bucket(bucket).get_blob(name, **_gcs_call()) if name else None
    return _blob_file(bucket, blob) if blob is not None else MatchedFile(uri)


def list_gcs(folder: str) -> Iterator[MatchedFile]:
    """Every object under the gs:// prefix, with Cloud Storage's size, update time and CRC32C."""
    bucket, prefix = _split(folder, GCS_SCHEME)
    try:
        for blob in gcs_client().list_blobs(bucket, prefix=prefix, **_gcs_call()):
            if not blob.name.endswith("/"):  # a folder placeholder made by the console, not a file
                yield _blob_file(bucket, blob)
    except Exception as error:
        raise StorageUnavailable(_listing_failed(folder, error)) from error


def _read_gcs(uri: str, max_bytes: int) -> bytes:
    from google.api_core import exceptions as api

    bucket, name = _split(uri, GCS_SCHEME)
    try:
        blob = gcs_client().bucket(bucket).blob(name)
        return blob.download_as_bytes(start=0, end=max_bytes, checksum=None, **_gcs_call())
    except api.GoogleAPICallError as error:
        if isinstance(error.code, int):
            raise  # an answer (403, 404, 503, ...): its HTTP status says what happened (read.py's reasons)
        raise _unreachable(error) from error
    except api.RetryError as error:
        raise _unreachable(error) from error
    except OSError:
        raise
    except Exception as error:  # requests' connection errors and timeouts
        raise _unreachable(error) from error


# --- S3 -------------------------------------------------------------------------------------------


def _job_s3_options() -> S3Options:
    # Beam sets the job's options on FileSystems in the launcher and on every worker.
    options = FileSystems._pipeline_options or PipelineOptions([])  # noqa: SLF001
    return options.view_as(S3Options)


@functools.lru_cache(maxsize=4)
def _cached_s3_client(settings: tuple, attempts: int, environment: tuple):
    import boto3
    from botocore.config import Config

    region, api_version, disable_ssl, verify, endpoint, key_id, secret, token = settings
    return boto3.session.Session().client(
        "s3",
        region_name=region,
        api_version=api_version,
        use_ssl=not disable_ssl,
        verify=verify,  # as Beam passes it: a CA bundle path (any text is taken as one)
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": attempts, "mode": "standard"},
        ),
    )


def s3_client(options: S3Options | None = None, attempts: int = ATTEMPTS):
    """A boto3 S3 client set up as Beam's s3:// file system sets up its own (from the same S3Options,
    else boto3's environment and ~/.aws), with the deadlines above. Shared: boto3 clients are
    thread-safe."""
    options = options or _job_s3_options()
    settings = (
        options.s3_region_name,
        options.s3_api_version,
        bool(options.s3_disable_ssl),
        options.s3_verify,
        options.s3_endpoint_url,
        options.s3_access_key_id,
        options.s3_secret_access_key,
        options.s3_session_token,
    )
    # boto3 also reads the environment (AWS_ENDPOINT_URL_S3, credentials): a change means another client.
    environment = tuple(
        sorted((name, value) for name, value in os.environ.items() if name.startswith("AWS_"))
    )
    return _cached_s3_client(settings, attempts, environment)


def s3_file(uri: str) -> MatchedFile:
    """An s3:// object's facts (one HEAD); none when it is missing or the call fails (the read step
    then says which)."""
    bucket, key = _split(uri, S3_SCHEME)
    try:
        head = s3_client().head_object(Bucket=bucket, Key=key)
    except Exception:
        return MatchedFile(uri)
    return MatchedFile(uri, head.get("ContentLength"), head["LastModified"].timestamp())


def list_s3(folder: str) -> Iterator[MatchedFile]:
    """Every object under the s3:// prefix, with the listing's size and modification time."""
    bucket, prefix = _split(folder, S3_SCHEME)
    try:
        pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):  # a folder placeholder, not a file
                    uri = f"s3://{bucket}/{item['Key']}"
                    yield MatchedFile(uri, item.get("Size"), item["LastModified"].timestamp())
    except Exception as error:
        raise StorageUnavailable(_listing_failed(folder, error)) from error


def _read_s3(uri: str, max_bytes: int) -> bytes:
    from botocore import exceptions as boto

    bucket, key = _split(uri, S3_SCHEME)
    try:
        answer = s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")
        return answer["Body"].read(max_bytes + 1)
    except boto.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "InvalidRange":  # an empty object: no byte 0
            return b""
        if code in ("NoSuchKey", "NoSuchBucket", "404") or status == 404:
            raise FileNotFoundError(uri) from error
        raise StorageRefused(status or 400) from error
    except (boto.BotoCoreError, OSError) as error:  # refused, DNS, timeouts, a dropped connection
        raise _unreachable(error) from error


# --- Both -----------------------------------------------------------------------------------------


def is_remote(uri: str) -> bool:
    return uri.startswith((GCS_SCHEME, S3_SCHEME))


def read_object(uri: str, max_bytes: int) -> bytes:
    """At most max_bytes + 1 bytes of a gs:// or s3:// object (more than max_bytes: it is too large)."""
    if uri.startswith(GCS_SCHEME):
        return _guarded(GCS_SCHEME, _read_gcs, uri, max_bytes)
    return _guarded(S3_SCHEME, _read_s3, uri, max_bytes)


def object_file(uri: str) -> MatchedFile:
    return gcs_file(uri) if uri.startswith(GCS_SCHEME) else s3_file(uri)


def list_objects(folder: str) -> Iterator[MatchedFile]:
    return list_gcs(folder) if folder.startswith(GCS_SCHEME) else list_s3(folder)


class StorageRefused(OSError):
    """The storage service answered a read with an HTTP error; `code` is its status (read.py turns it
    into a reason without the service's own words)."""

    def __init__(self, code: int):
        super().__init__(f"the storage service answered HTTP {code}")
        self.code = code


def _unreachable(error: BaseException) -> ConnectionError:
    return ConnectionError(f"the storage service could not be reached ({type(error).__name__})")


def _listing_failed(folder: str, error: BaseException) -> str:
    # The service's own text is left out: it can quote request URLs and account names.
    answered = isinstance(getattr(error, "response", None), dict) or isinstance(
        getattr(error, "code", None), int
    )
    if answered:
        return f"cannot list {folder}: the storage service refused ({type(error).__name__})"
    return (
        f"cannot list {folder}: the storage service did not answer within the deadline "
        f"({type(error).__name__}; {ATTEMPTS} tries, {CONNECT_TIMEOUT_S} s to connect, {READ_TIMEOUT_S} s "
        "per answer)"
    )


def delete_object(uri: str) -> None:
    """Delete one gs:// or s3:// object under the same deadlines; FileNotFoundError if it is missing."""
    if uri.startswith(GCS_SCHEME):
        from google.api_core import exceptions as api

        bucket, name = _split(uri, GCS_SCHEME)
        try:
            gcs_client().bucket(bucket).blob(name).delete(**_gcs_call())
        except api.NotFound as error:
            raise FileNotFoundError(uri) from error
        return
    bucket, key = _split(uri, S3_SCHEME)
    s3_client().delete_object(Bucket=bucket, Key=key)  # S3 deletes a missing key without complaint
