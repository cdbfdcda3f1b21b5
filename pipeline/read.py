"""Read step: a file's bytes, local, gs:// or s3://, through Beam's FileSystems."""

from __future__ import annotations

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.files import MatchedFile
from pipeline.steps import describe


def read_bytes(file: MatchedFile) -> bytes:
    """All bytes of the file, exactly as stored.

    Compression is turned off: by default FileSystems would gunzip a photo named `*.gz` and fail on
    one named `*.bz2`, but the decoder judges the content, never the name.
    """
    with FileSystems.open(file.uri, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return stream.read()


def read_failure_reason(uri: str, error: Exception) -> str:
    """Why a file could not be read: "file not found" (a manifest line or a file deleted since the
    match), otherwise "cannot read file (...)" with the file system's own words."""
    try:
        missing = not FileSystems.exists(uri)
    except Exception:  # the existence check itself failed; the read error says more
        missing = False
    return "file not found" if missing else f"cannot read file ({describe(error)})"
