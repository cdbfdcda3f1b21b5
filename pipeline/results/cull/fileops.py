"""The file operations cull is made of, local or gs://: look, hash, create without replacing, delete.

Local paths go through storage.files.os_path, so a photo whose name is not UTF-8 (its URI spells the
bytes as `\\xNN`) is the file acted on. A new file is written to a temporary name, fsynced, given the
original's permission bits and times, then hard-linked into place: the link fails rather than replaces,
so a file that appeared meanwhile is never overwritten and a killed copy never leaves a partial file
under the real name.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.storage.files import gcs_crc32c, os_path, replace_local_file

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Facts:
    """What cull keeps of a file besides its bytes. Times in nanoseconds; `mode` the permission bits.
    For gs:// objects only `size`, `mtime_ns` (the update time) and `crc32c` are known."""

    size: int
    mtime_ns: int | None = None
    atime_ns: int | None = None
    mode: int | None = None
    crc32c: str | None = None


def is_local(path: str) -> bool:
    return "://" not in path


def local(path: str) -> str:
    return os_path(path)


def exists(path: str) -> bool:
    return os.path.lexists(local(path)) if is_local(path) else FileSystems.exists(path)


def facts(path: str) -> Facts:
    """The file's size and times (local: following symlinks, as the job's listing did). Raises
    ValueError for what is not a regular file: a FIFO or a device would block or never end a read."""
    if is_local(path):
        info = os.stat(local(path))
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        return Facts(info.st_size, info.st_mtime_ns, info.st_atime_ns, stat.S_IMODE(info.st_mode))
    (match,) = FileSystems.match([path])[0].metadata_list or [None]
    if match is None:
        raise FileNotFoundError(path)
    crc = None
    if path.startswith("gs://"):
        crc = gcs_crc32c(FileSystems.get_filesystem(path).checksum(path))
    updated = match.last_updated_in_seconds
    return Facts(match.size_in_bytes, int(updated * 1e9) if updated else None, crc32c=crc)


def _open(path: str):
    if is_local(path):
        return open(local(path), "rb")
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_all(path: str, limit: int) -> bytes:
    """The file's bytes; ValueError when it holds more than `limit`."""
    with _open(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit} bytes")
    return data


def digest(path: str) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file's bytes."""
    sha, size = hashlib.sha256(), 0
    with _open(path) as stream:
        while chunk := stream.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def same_file(first: str, second: str) -> bool:
    """Two local names for one file (a symlink, a hard link, another case on a case-insensitive disk)."""
    if not (is_local(first) and is_local(second)):
        return first == second
    try:
        return os.path.samefile(local(first), local(second))
    except OSError:
        return False


def delete(path: str) -> None:
    if is_local(path):
        os.remove(local(path))
    else:
        FileSystems.delete([path])


def make_folders(folder: str) -> list[str]:
    """Create `folder` and its missing parents (local only); the ones created, outermost first, so an
    undo can remove exactly those once they are empty."""
    if not is_local(folder):
        return []
    missing = []
    current = Path(local(folder))
    while not current.exists():
        missing.append(current)
        current = current.parent
    made = []
    for path in reversed(missing):
        try:
            path.mkdir()
            made.append(str(path))
        except FileExistsError:  # another worker made it first: theirs to record
            pass
    return made


def remove_empty_folders(folders: list[str]) -> list[str]:
    """Remove those of `folders` that are empty, deepest first; the ones removed."""
    removed = []
    for folder in sorted(set(folders), key=lambda name: name.count("/"), reverse=True):
        try:
            os.rmdir(folder)
            removed.append(folder)
        except OSError:  # not empty (a file someone put there), or already gone
            pass
    return removed


def keep_times(path: str, kept: Facts | None) -> None:
    """Give a local file `kept`'s times again: reading it to check it moved its access time."""
    if is_local(path) and kept is not None and kept.mtime_ns is not None and kept.atime_ns is not None:
        os.utime(local(path), ns=(kept.atime_ns, kept.mtime_ns))


def _keep(path: str, kept: Facts | None) -> None:
    if kept is None:
        return
    if kept.mode is not None:
        os.chmod(path, kept.mode)
    if kept.mtime_ns is not None and kept.atime_ns is not None:
        os.utime(path, ns=(kept.atime_ns, kept.mtime_ns))


def write_new(destination: str, write: Callable[[object], None], kept: Facts | None = None) -> bool:
    """Create `destination` with what `write(stream)` writes, with the permission bits and times of
    `kept`; False (and nothing written) when a file is already there."""
    if not is_local(destination):
        if FileSystems.exists(destination):
            return False
        with FileSystems.create(destination, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            write(stream)
        return True
    target = Path(local(destination))
    for stale in target.parent.glob(f".{glob.escape(target.name)}.cull-*.tmp"):  # left by a killed run
        stale.unlink(missing_ok=True)
    temporary = target.with_name(f".{target.name}.cull-{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        _keep(str(temporary), kept)
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def copy_new(source: str, destination: str, kept: Facts | None = None) -> bool:
    """Copy a file where none is (server-side within Cloud Storage); False if the destination exists."""
    if not is_local(source) and not is_local(destination):
        if FileSystems.exists(destination):
            return False
        FileSystems.copy([source], [destination])
        return True

    def write(out) -> None:
        with _open(source) as stream:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)

    return write_new(destination, write, kept)


def replace(path: str, data: bytes) -> None:
    """Put `data` at `path` in one step (locally a rename over it, keeping the old file's permission
    bits), so a reader never sees half a file."""
    if not is_local(path):
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            stream.write(data)
        return
    target = Path(local(path))
    temporary = target.with_name(f".{target.name}.cull-{os.getpid()}.tmp")
    replace_local_file(str(target), data, str(temporary), keep_mode=True)
