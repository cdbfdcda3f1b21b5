"""One writer per output prefix: a run holds `PREFIX-lock.json` from launch to commit.

Two runs writing to one prefix at once would delete each other's temporary files and one result
would silently replace the other. The lock file says who holds it (run id, host, pid, start time); a
second run refuses at launch, naming the first. A lock is stale, and taken over, when its holder ran
on this host and its process is gone, or when it is older than MAX_LOCK_AGE_H (a run on another
machine that died cannot be asked). A run longer than that limit must not be overlapped by hand.

The lock is created atomically where the storage allows it: a local file with O_EXCL, a gs:// object
with `ifGenerationMatch=0`, an s3:// object with `If-None-Match: *` (servers without conditional writes
fall back to a check just before the write).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

LOCK_SUFFIX = "-lock.json"
MAX_LOCK_AGE_H = 72
"""A lock older than this is stale whoever holds it: longer than any run of this job seen so far."""


class LockHeld(Exception):
    """Another run holds the prefix; str(error) names it, in one line."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    pid: int
    started_at: str  # ISO 8601, UTC

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, started {self.started_at})"


def lock_path(prefix: str) -> str:
    return f"{prefix}{LOCK_SUFFIX}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale(holder: Holder, now: datetime | None = None) -> bool:
    """Is the holder gone: its process ended on this host, or the lock is older than the limit?"""
    now = now or datetime.now(UTC)
    try:
        started = datetime.fromisoformat(holder.started_at)
    except (TypeError, ValueError):
        return True  # not a lock this job wrote
    if now - started > timedelta(hours=MAX_LOCK_AGE_H):
        return True
    return holder.host == socket.gethostname() and not _pid_alive(holder.pid)


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _read(path: str) -> Holder | None:
    """The holder recorded at `path`, None if there is no lock; an unreadable lock is a stale one."""
    try:
        if _is_local(path):
            with open(path, "rb") as stream:
                text = stream.read(64 * 1024)
        elif path.startswith(("gs://", "s3://")):
            from pipeline.storage.remote import read_object

            text = read_object(path, 64 * 1024)
        else:
            if not FileSystems.exists(path):
                return None
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                text = stream.read(64 * 1024)
        fields = json.loads(text)
        return Holder(
            str(fields["run_id"]), str(fields["host"]), int(fields["pid"]), str(fields["started_at"])
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return Holder("?", "?", -1, "")  # garbage: stale


def _create(path: str, data: bytes) -> bool:
    """Write `data` at `path` unless something is there; False if something was."""
    if _is_local(path):
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        return True
    if path.startswith("gs://"):
        from google.api_core import exceptions as api

        from pipeline.storage.remote import gcs_client, gcs_file

        if gcs_file(path).size is not None:  # for servers that ignore the precondition (the emulator)
            return False
        bucket, _, name = path[len("gs://") :].partition("/")
        try:
            gcs_client().bucket(bucket).blob(name).upload_from_string(data, if_generation_match=0)
        except api.PreconditionFailed:
            return False
        return True
    if path.startswith("s3://"):
        from botocore import exceptions as boto

        from pipeline.storage.remote import s3_client, s3_file

        if s3_file(path).size is not None:  # for servers that ignore If-None-Match (moto, older MinIO)
            return False
        bucket, _, key = path[len("s3://") :].partition("/")
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except boto.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return False
            raise
        return True
    if FileSystems.exists(path):
        return False
    with FileSystems.create(path) as stream:
        stream.write(data)
    return True


def _delete(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if _is_local(path):
            os.remove(path)
        elif path.startswith(("gs://", "s3://")):
            from pipeline.storage.remote import delete_object

            delete_object(path)
        else:
            FileSystems.delete([path])


@dataclass
class PrefixLock:
    """The lock of one run at one prefix: `acquire` at launch, `release` when the run ends."""

    prefix: str
    holder: Holder
    held: bool = False

    @classmethod
    def for_run(cls, prefix: str, run_id: str, started_at: datetime) -> PrefixLock:
        holder = Holder(run_id, socket.gethostname(), os.getpid(), started_at.isoformat(timespec="seconds"))
        return cls(prefix, holder)

    @property
    def path(self) -> str:
        return lock_path(self.prefix)

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; LockHeld when a live run holds it. Errors of the
        storage itself (a read-only folder, a missing bucket) are raised as they are."""
        data = (json.dumps(self.holder.__dict__) + "\n").encode("utf-8")
        for _ in range(2):
            if _create(self.path, data):
                self.held = True
                return
            other = _read(self.path)
            if other is not None and not is_stale(other):
                raise LockHeld(
                    f"--output {self.prefix}: {other.describe()} is writing there (lock {self.path}); "
                    f"wait for it to end, or remove the lock if that run is gone (stale after "
                    f"{MAX_LOCK_AGE_H} h or when its process has ended on this host)"
                )
            _delete(self.path)  # stale: the holder is gone
        raise LockHeld(f"--output {self.prefix}: another run took the lock {self.path} just now")

    def release(self) -> None:
        """Remove the lock if it is still this run's."""
        if not self.held:
            return
        self.held = False
        current = _read(self.path)
        if current is not None and current.run_id == self.holder.run_id:
            _delete(self.path)
