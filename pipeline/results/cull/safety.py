"""The checks that stand between a run's rows and the user's files.

- At launch: a destination that is, holds or lies inside a source folder, or a photo whose destination
  is the photo itself (after symlinks, `..` and, on a case-insensitive disk, case): the command stops.
- Per photo: its path must lie under the source root and its destination under DEST, both after
  normalisation and, locally, after resolving symlinks (a row naming `../x` or a symlink inside DEST
  pointing elsewhere cannot make cull touch a file outside them).
- Per photo: the file must still be the one the job scored (size and modification time, or the
  object's CRC32C in a bucket): a photo replaced since is left alone.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pipeline.results.cull.fileops import Facts, is_local, local

CHANGED = "changed since it was scored"


def split_scheme(uri: str) -> tuple[str, str]:
    """("gs://", "bucket/a/b.jpg") or ("", "/a/b.jpg")."""
    if "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://", rest
    return "", uri


def has_dot_segments(uri: str) -> bool:
    """A `.` or `..` component, or an empty one inside the path: never in a URI the job listed."""
    _, path = split_scheme(uri)
    parts = path.split("/")
    inner = parts[1:-1] if path.startswith("/") else parts[:-1]
    return any(part in (".", "..") for part in parts) or "" in inner or "\0" in path


def normal(uri: str) -> str:
    scheme, path = split_scheme(uri)
    if not path:
        return scheme
    normalised = posixpath.normpath(path)
    return scheme + ("" if normalised == "." else normalised)


def resolved(uri: str) -> str:
    """Local: the real path (symlinks resolved, as far as the path exists). Buckets have no links."""
    return os.path.realpath(local(uri)) if is_local(uri) else normal(uri)


def under(path: str, folder: str, fold_case: bool = False) -> bool:
    """`path` is `folder` or lies inside it (both already normalised)."""
    if fold_case:
        path, folder = path.casefold(), folder.casefold()
    folder = folder.rstrip("/")
    if folder.endswith(":/"):  # "gs://": every object
        return path.startswith(folder)
    return path == folder or path.startswith(folder + "/") or folder == ""


def _nearest_existing(path: str) -> str:
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def case_insensitive(path: str) -> bool:
    """Does the local disk holding `path` ignore case? Probed on the nearest existing folder: the same
    name in another case names the same file."""
    if not is_local(path):
        return False
    existing = _nearest_existing(os.path.realpath(local(path)))
    probe = existing
    while probe != os.path.dirname(probe) and probe.swapcase() == probe:
        probe = os.path.dirname(probe)  # a name without letters says nothing: look higher
    swapped = probe.swapcase()
    if swapped == probe:
        return False
    try:
        return os.path.samefile(probe, swapped)
    except OSError:
        return False


def overlap(dest: str, source: str, fold_case: bool = False) -> str | None:
    """How the destination folder and a source folder overlap ("is", "lies inside", "holds"), or None.
    Both are compared resolved; `fold_case` for a case-insensitive disk."""
    if split_scheme(dest)[0] != split_scheme(source)[0]:
        return None
    real_dest, real_source = resolved(dest), resolved(source)
    same = real_dest.casefold() == real_source.casefold() if fold_case else real_dest == real_source
    if same:
        return "is"
    if under(real_dest, real_source, fold_case):
        return "lies inside"
    if under(real_source, real_dest, fold_case):
        return "holds"
    return None


def _is_top(folder: str) -> bool:
    scheme, path = split_scheme(normal(folder))
    return path in ("", "/") or (bool(scheme) and "/" not in path.strip("/"))


def source_folders(root: str, sources: Iterable[str]) -> list[str]:
    """The folders DEST must keep clear of: the source root, or, when the root is a whole disk or
    bucket, the folder of each photo."""
    if root and not _is_top(root):
        return [root]
    return sorted({posixpath.dirname(normal(uri)) if is_local(uri) else normal(uri).rsplit("/", 1)[0]
                   for uri in sources})  # fmt: skip


def launch_problem(
    dest: str, root: str, steps: Iterable[tuple[str, str]], fold_case: bool | None = None
) -> str | None:
    """Why cull must not start (one line), or None. `steps` are (photo, destination) pairs."""
    steps = list(steps)
    if fold_case is None:
        fold_case = case_insensitive(dest) or any(case_insensitive(folder) for folder in (root,) if folder)
    for folder in source_folders(root, (photo for photo, _ in steps)):
        how = overlap(dest, folder, fold_case)
        if how is not None:
            return (
                f"--to {dest} {how} the photos' folder {folder}: cull would act on the photos it has "
                "already moved or copied; choose a destination outside it"
            )
    for photo, target in steps:
        local_pair = is_local(photo) and is_local(target) and os.path.lexists(local(target))
        if local_pair and os.path.realpath(local(photo)) == os.path.realpath(local(target)):
            return f"{photo} and its destination {target} are the same file; nothing was changed"
    return None


def containment_problem(photo: str, target: str, root: str, dest: str) -> str | None:
    """Why one row must not be acted on: its photo outside the root or its target outside DEST, as
    written or once resolved (`dest` is the root itself for sidecars). None when it is contained."""
    for uri in (photo, target):
        if has_dot_segments(uri):
            return f"failed: refused: {uri} holds '.' or '..' segments"
    if root and not under(normal(photo), normal(root)):
        return f"failed: refused: {photo} lies outside the photos' folder {root}"
    if dest and not under(normal(target), normal(dest)):
        return f"failed: refused: {target} lies outside {dest}"
    if is_local(target) and dest and is_local(dest):
        real_parent = os.path.realpath(os.path.dirname(local(target)))
        if not under(real_parent, os.path.realpath(local(dest))):
            return f"failed: refused: {target} leads outside {dest} through a symlink"
    return None


def changed_since_scored(
    now: Facts, size: int | None, modified_at: datetime | None, crc32c: str | None
) -> str | None:
    """`CHANGED` when the file is not the one its row describes, else None. A bucket object is compared
    by CRC32C (and size); a local file by size and modification time at the microseconds the row
    keeps. A row without any of these facts (a run from before they were recorded) is not checked."""
    if crc32c and now.crc32c:
        return None if (now.crc32c == crc32c and (size is None or now.size == size)) else CHANGED
    if size is not None and now.size != size:
        return CHANGED
    if modified_at is not None and now.mtime_ns is not None:
        scored = modified_at if modified_at.tzinfo else modified_at.replace(tzinfo=UTC)
        if abs(now.mtime_ns // 1000 - _micros(scored)) > 1:  # the job's float seconds round either way
            return CHANGED
    return None


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
