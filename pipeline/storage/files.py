"""A file's identity (MatchedFile, the key every per-photo step carries, with its size, mtime and
CRC32C), local names that are not UTF-8, and Beam's file systems outside a pipeline."""

from __future__ import annotations

import base64
import os
import re
import stat
from typing import NamedTuple

import google_crc32c
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions


class MatchedFile(NamedTuple):
    """One matched (or listed) file. Size and modification time come from the listing when the file
    system gave them (a pattern match, a local manifest line), else None until the file is read.
    crc32c is the content's CRC32C as 8 hex digits: Cloud Storage's own for gs:// objects, from the
    listing; None where nobody has computed it (see content_crc32c)."""

    uri: str
    size: int | None = None  # bytes
    modified_at: float | None = None  # seconds since the epoch (for gs://, the object's update time)
    crc32c: str | None = None


def content_crc32c(data: bytes) -> str:
    """The CRC32C of a file's bytes as 8 hex digits: the same value Cloud Storage keeps for an object
    (gcs_crc32c reads that one), so local and gs:// copies of a photo compare equal."""
    return f"{google_crc32c.value(data):08x}"


def gcs_crc32c(base64_crc32c: str | None) -> str | None:
    """Cloud Storage's crc32c field (base64 of 4 big-endian bytes) as 8 hex digits."""
    return base64.b64decode(base64_crc32c).hex() if base64_crc32c else None


# A local name that is not valid UTF-8 (`caf\xe9.jpg` from an old camera or a Latin-1 system) cannot
# travel through Beam's coders or into a Parquet string. Its URI spells the undecodable bytes as `\xNN`
# (what Python's backslashreplace writes), and os_path() turns such a URI back into the real name.
_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")


def local_uri(raw_path: bytes) -> str:
    """The URI of a local file from its path as bytes: the path itself when it is valid UTF-8,
    else with each undecodable byte written as `\\xNN`."""
    return raw_path.decode("utf-8", "backslashreplace")


def os_path(uri: str) -> str:
    """The path to open for a URI made by local_uri: the URI itself unless only its `\\xNN`-unescaped
    form exists (returned as a str Python's open() and os functions take, via surrogateescape)."""
    if "\\x" not in uri or os.path.lexists(uri):
        return uri
    raw = _ESCAPED_BYTE.sub(lambda match: bytes([int(match.group(1), 16)]), uri.encode("utf-8"))
    return os.fsdecode(raw)


def configure_file_systems() -> None:
    """For commands that use Beam's file systems outside a pipeline (review, cull): without pipeline
    options, s3:// fails ("Must provide one of client or options"). Empty options let boto3 take its
    settings from the environment and ~/.aws (AWS_ENDPOINT_URL_S3 for MinIO & co, the credentials)."""
    if FileSystems._pipeline_options is None:  # a job in this process has set its own: keep them
        FileSystems.set_options(PipelineOptions([]))


def replace_local_file(path: str, data: bytes, temporary: str, *, keep_mode: bool = False) -> None:
    """Put `data` at the local `path` in one step, so a reader sees the old file or the new one, never a
    part: written and fsynced at `temporary` (beside it), then renamed over it; with `keep_mode`, an
    existing file's permission bits carry over. The temporary file never outlives a failure (a full
    disk, an interrupt)."""
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if keep_mode and os.path.exists(path):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)
