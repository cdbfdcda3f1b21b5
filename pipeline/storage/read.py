"""Read step: a file's bytes (local, gs:// or s3://), bounded in size and time, reasons for people.

Bounded, because a bucket or a folder holds files that are not what they claim: a 3 GB file named
`.jpg`, `/dev/zero` listed in a manifest, a FIFO named `x.jpg`, an object storage cannot serve.
- Size: a file over --max_file_mb is refused from its listed size (or one metadata call) before any
  byte is read, and every read stops at the limit + 1 byte, so a file that grows or lies about its
  size still cannot take more memory than the limit.
- Kind: local special files (FIFOs, devices, sockets) and folders get an error row without being
  opened for a blocking read (the file is opened non-blocking and checked again, for a file swapped
  in between).
- Time: the read counts against the file's budget (pipeline.photo.payload.TimeBudget, --max_seconds_per_file);
  a remote read runs in a helper thread and the file gets its row when the budget runs out, whatever
  the storage client's retries are still doing.
- Names: sidecars, videos and system files (by name) are not read at all: NotAPhoto, a `skipped` row.
Reasons never quote the storage server: its text can hold account names, request URLs and tokens.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import stat
import threading

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.photo.filetypes import NotAPhoto, skip_reason_by_name
from pipeline.photo.payload import (
    DEFAULT_MAX_FILE_MB,
    DEFAULT_SECONDS_PER_FILE,
    OverBudget,
    ReadFile,
    TimeBudget,
)
from pipeline.storage import remote
from pipeline.storage.files import MatchedFile, os_path

_MB = 1024 * 1024
_CHUNK = 4 * _MB


class ReadError(Exception):
    """A file the read step refuses; str(error) is the row's reason."""


def read_file(
    file: MatchedFile,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    seconds_per_file: float = DEFAULT_SECONDS_PER_FILE,
) -> ReadFile:
    """The read step: the file's bytes (at most max_file_mb), with the time budget started."""
    skipped = skip_reason_by_name(file.uri)
    if skipped is not None:
        raise NotAPhoto(skipped)
    budget = TimeBudget.start(seconds_per_file)
    max_bytes = int(max_file_mb * _MB)
    if _is_local(file.uri):
        data = read_local(_local_path(file.uri), max_bytes)
    else:
        data = _read_remote_within(file, max_bytes, budget)
    if budget.expired():
        raise OverBudget(budget.reason("to read"))
    return ReadFile(data, file.uri, budget)


def read_bytes(file: MatchedFile, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> bytes:
    """All bytes of the file, exactly as stored, within the size limit (the review's thumbnails read
    originals this way)."""
    return read_file(file, max_file_mb=max_file_mb).data


def too_large_reason(size: int, max_bytes: int, *, at_least: bool = False) -> str:
    more = "over " if at_least else ""
    return (
        f"file too large ({more}{size / _MB:,.1f} MB; the limit is {max_bytes / _MB:g} MB, "
        "--max_file_mb): not read"
    )


def read_local(path: str, max_bytes: int) -> bytes:
    """A local file's bytes; refuses folders, special files and files over max_bytes before reading."""
    try:
        status = os.stat(path)  # follows symlinks: the kind of what would be read
    except FileNotFoundError:
        if os.path.islink(path):
            raise ReadError("a broken symbolic link (what it points to does not exist)") from None
        raise
    _check_local_kind(status, max_bytes)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb", buffering=0) as stream:
        _check_local_kind(os.fstat(descriptor), max_bytes)  # the file opened may not be the one stat-ed
        return _read_at_most(stream, max_bytes)


def _check_local_kind(status: os.stat_result, max_bytes: int) -> None:
    mode = status.st_mode
    if stat.S_ISDIR(mode):
        raise ReadError("a folder, not a file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a special file"
        )
        raise ReadError(f"not a regular file ({kind}): not read")
    if status.st_size > max_bytes:
        raise ReadError(too_large_reason(status.st_size, max_bytes))


def _read_at_most(stream, max_bytes: int) -> bytes:
    """Up to max_bytes; ReadError if there is more (the file grew, or its size was not known)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise ReadError(too_large_reason(max_bytes, max_bytes, at_least=True))


def read_remote(file: MatchedFile, max_bytes: int) -> bytes:
    """A gs://, s3:// (or other Beam file system) object's bytes, its size checked first. gs:// and
    s3:// calls each run under a deadline (pipeline.storage.remote), not Beam's minutes of retries."""
    size = file.size
    if size is None:
        try:
            size = (
                remote.object_file(file.uri).size
                if remote.is_remote(file.uri)
                else FileSystems.metadata(file.uri).size_in_bytes
            )
        except Exception:  # the bounded read below still stops at the limit
            size = None
    if size is not None and size > max_bytes:
        raise ReadError(too_large_reason(size, max_bytes))
    if remote.is_remote(file.uri):
        data = remote.read_object(file.uri, max_bytes)
        if len(data) > max_bytes:
            raise ReadError(too_large_reason(max_bytes, max_bytes, at_least=True))
        return data
    with FileSystems.open(file.uri, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        # Compression off: FileSystems would gunzip a photo named `*.gz`; the decoder judges content.
        return _read_at_most(stream, max_bytes)


_remote_reads: concurrent.futures.ThreadPoolExecutor | None = None
_remote_reads_lock = threading.Lock()


def _read_remote_within(file: MatchedFile, max_bytes: int, budget: TimeBudget) -> bytes:
    """read_remote in a helper thread, waited for at most the budget's remaining time. A read that
    overruns is left to finish on its own (it holds a thread and at most max_bytes, not a worker)."""
    global _remote_reads
    with _remote_reads_lock:
        if _remote_reads is None:
            _remote_reads = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="read")
    future = _remote_reads.submit(read_remote, file, max_bytes)
    try:
        return future.result(timeout=max(0.0, budget.remaining()))
    except concurrent.futures.TimeoutError:
        raise OverBudget(budget.reason("to read")) from None


def _is_local(uri: str) -> bool:
    return FileSystems.get_scheme(uri) in (None, "file")


def _local_path(uri: str) -> str:
    """The path to open: a name that is not UTF-8 was listed as `\\xNN` escapes (files.local_uri)."""
    return os_path(uri[len("file://") :] if uri.startswith("file://") else uri)


# --- Reasons, written for people ------------------------------------------------------------------


def read_failure_reason(uri: str, error: Exception) -> str:
    """Why a file could not be read, in plain words: never the storage server's own text (it can
    quote the account, the request URL, a token), only what kind of failure it was."""
    if isinstance(error, ReadError | OverBudget | NotAPhoto):
        return str(error)
    for cause in _causes(error):
        reason = _plain_reason(cause)
        if reason is not None:
            return reason
    try:
        missing = not _is_local(uri) and not FileSystems.exists(uri)
    except Exception:  # the existence check itself failed; say what we know
        missing = False
    return "file not found" if missing else f"cannot read file ({type(error).__name__})"


_HTTP_REASONS = {
    400: "cannot read file (the storage service refused the request)",
    401: "permission denied (no valid credentials for the storage service)",
    403: "permission denied (the job's account may not read this file)",
    404: "file not found",
    410: "file not found",
    429: "cannot read file (the storage service is rate-limiting; retries ran out)",
}

_ERRNO_REASONS = {
    errno.ENOENT: "file not found",
    errno.ENOTDIR: "file not found",
    errno.ELOOP: "cannot read file (a symbolic link loop)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "a folder, not a file",
    errno.EIO: "cannot read file (input/output error: a failing disk or network share)",
    errno.ENAMETOOLONG: "cannot read file (the name is too long)",
    errno.ENXIO: "not a regular file (a device or socket with nothing behind it): not read",
    errno.EAGAIN: "cannot read file (it would block: not a regular file)",
}


def _plain_reason(error: BaseException) -> str | None:
    status = getattr(error, "code", None)
    if not isinstance(status, int):
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
    if isinstance(status, int) and 400 <= status < 600:
        if status in _HTTP_REASONS:
            return _HTTP_REASONS[status]
        if status >= 500:
            return "cannot read file (the storage service failed: server error; retries ran out)"
        return f"cannot read file (the storage service answered HTTP {status})"
    if isinstance(error, OSError) and error.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[error.errno]
    if isinstance(error, FileNotFoundError):
        return "file not found"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, TimeoutError | ConnectionError):
        return "cannot read file (the storage service could not be reached)"
    if isinstance(error, MemoryError):
        return "cannot read file (out of memory)"
    return None


def _causes(error: BaseException) -> list[BaseException]:
    """The error, what it wraps (Beam's BeamIOError keeps per-path exceptions), and its causes."""
    seen: list[BaseException] = []
    pending = [error]
    while pending and len(seen) < 16:
        current = pending.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        details = getattr(current, "exception_details", None)
        if isinstance(details, dict):
            pending.extend(value for value in details.values() if isinstance(value, BaseException))
        pending.extend([current.__cause__, current.__context__])
    return seen
