"""Launch check for s3:// (AWS S3 and S3-compatible stores: MinIO, Cloudflare R2, Ceph): the endpoint
answers, credentials exist and are accepted, and every bucket the job names can be listed.

Why: Beam's s3:// file system retries through boto3 and its own back-off, so a wrong --s3_endpoint_url,
a missing login or a misspelt bucket would stall the job for minutes (an unreachable endpoint was still
retrying after 150 s) before a traceback. Here one request per bucket, with short timeouts and no
retries, fails in seconds with one line saying what to do.

The client is built from the same S3Options Beam's file system uses (--s3_endpoint_url,
--s3_region_name, --s3_verify, --s3_disable_ssl, and the key flags if given), so it sees what the job
will see. Credentials are best passed the way boto3 finds them by itself: AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE, or the shared file ~/.aws/credentials.
"""

from __future__ import annotations

from collections.abc import Iterable

from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from pipeline.steps import describe

S3_SCHEME = "s3://"
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10

CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
    "or put them in the shared credentials file ~/.aws/credentials"
)


class S3AccessError(Exception):
    """The job cannot reach what it names on s3://; the message says why and what to do, in one line."""


def s3_buckets(uris: Iterable[str | None]) -> list[str]:
    """The buckets of the s3:// URIs (patterns, manifest, model, output prefix) among `uris`, sorted."""
    return sorted(
        {uri[len(S3_SCHEME) :].split("/", 1)[0] for uri in uris if uri and uri.startswith(S3_SCHEME)}
    )


def _s3_client(options: S3Options):
    """A boto3 S3 client configured like Beam's (apache_beam.io.aws.clients.s3.boto3_client), but with
    short timeouts and a single attempt."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        region_name=options.s3_region_name,
        api_version=options.s3_api_version,
        use_ssl=not options.s3_disable_ssl,
        verify=options.s3_verify,  # as Beam passes it: a CA bundle path (any text is taken as one)
        endpoint_url=options.s3_endpoint_url,
        aws_access_key_id=options.s3_access_key_id,
        aws_secret_access_key=options.s3_secret_access_key,
        aws_session_token=options.s3_session_token,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


def check_s3_access(uris: Iterable[str | None], options: PipelineOptions) -> None:
    """Raise S3AccessError unless every s3:// bucket among `uris` can be listed with these options.
    Does nothing (and needs no boto3) when no URI is on s3://."""
    buckets = s3_buckets(uris)
    if not buckets:
        return
    try:
        from botocore import exceptions as boto
    except ImportError as error:
        raise S3AccessError(
            "s3:// needs boto3: install the job's requirements.txt (apache-beam[gcp,aws])"
        ) from error
    client = _s3_client(options.view_as(S3Options))
    # boto3 also takes the endpoint from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL or ~/.aws/config: name
    # the one it uses.
    endpoint = client.meta.endpoint_url
    for bucket in buckets:
        try:
            client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except boto.NoCredentialsError as error:
            raise S3AccessError(f"no credentials for s3://{bucket}: {CREDENTIALS_HINT}") from error
        except boto.ClientError as error:
            raise S3AccessError(_refusal(bucket, endpoint, error)) from error
        except boto.BotoCoreError as error:  # refused connection, DNS, TLS, timeouts
            raise S3AccessError(
                f"s3://{bucket}: cannot reach the S3 endpoint {endpoint} ({describe(error)}); "
                "check --s3_endpoint_url (or AWS_ENDPOINT_URL_S3) and that the server is running"
            ) from error


def _refusal(bucket: str, endpoint: str, error: Exception) -> str:
    """One line for an answer the S3 server gave instead of the listing."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return f"s3://{bucket}: no such bucket at {endpoint} (check its name and --s3_endpoint_url)"
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return f"s3://{bucket}: {endpoint} refused the credentials ({code}): {CREDENTIALS_HINT}"
    if code in ("AccessDenied", "AllAccessDisabled", "403"):
        return f"s3://{bucket}: these credentials may not list the bucket (s3:ListBucket); ask for access"
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "301"):
        return f"s3://{bucket}: the bucket is in another region; give --s3_region_name or AWS_DEFAULT_REGION"
    return f"s3://{bucket}: {endpoint} answered {code or 'an error'} ({describe(error)})"
