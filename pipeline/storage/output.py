"""Where a run's results go (OutputLocation), local, gs:// or s3://, and how they are laid out.

A run writing to PREFIX puts its shards at `PREFIX-<run_id>-SSSSS-of-NNNNN.parquet`, so two runs never
share a file name, and commits them by writing `PREFIX-manifest.json` (pipeline.job.commit). Only then are
the shards of earlier runs at the same prefix deleted (`OutputLocation.remove_superseded`): until the
new manifest lands, the earlier result stays whole and is still the one the manifest names. Leftovers of
a run that was killed (its shards, Beam's `beam-temp-*` folder) are never listed by any manifest and are
removed by the next run at the prefix (`OutputLocation.remove_leftovers`) or by the run itself when it
fails or is interrupted (`OutputLocation.discard`).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from apache_beam.io.filesystems import FileSystems

_log = logging.getLogger(__name__)


PARQUET_SUFFIX = ".parquet"

FOLDER_BASENAME = "scores"
"""The file name stem used when --output names a folder (ends in `/`): `out/dir/` writes
`out/dir/scores-manifest.json` and `out/dir/scores-<run_id>-*.parquet`."""

RUN_ID_PATTERN = r"\d{8}T\d{6}Z-[0-9a-f]{6}"
"""A run id: the run's UTC start time and six random hex digits (sortable by start, unique)."""


def new_run_id(started: datetime) -> str:
    """The id of a run started at `started` (UTC), e.g. 20261129T234510Z-3fa2c1."""
    return f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def output_pattern(prefix: str) -> str:
    """Glob of every shard at `prefix`, of any run (a reader should follow the manifest instead)."""
    return f"{prefix}-*-of-*{PARQUET_SUFFIX}"


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


@dataclass(frozen=True)
class OutputLocation:
    """Where a run's files go: `prefix` as given by --output, a trailing `/` meaning "in this folder"."""

    prefix: str

    @classmethod
    def of(cls, output: str) -> OutputLocation:
        if _is_local(output):
            output = os.path.expanduser(output)
        return cls(output + FOLDER_BASENAME if output.endswith("/") else output)

    @property
    def folder(self) -> str:
        return FileSystems.split(self.prefix)[0]

    @property
    def basename(self) -> str:
        return FileSystems.split(self.prefix)[1]

    def shard_prefix(self, run_id: str) -> str:
        """What the write step is given: shards become `<this>-SSSSS-of-NNNNN.parquet`."""
        return f"{self.prefix}-{run_id}"

    def path(self, name: str) -> str:
        """A file name in the output's folder as a full path."""
        return FileSystems.join(self.folder, name)

    def _shard_name(self) -> re.Pattern[str]:
        # Shards of runs with a run id, and those written before run ids (PREFIX-SSSSS-of-NNNNN.parquet).
        return re.compile(
            rf"{re.escape(self.basename)}-(?:(?P<run_id>{RUN_ID_PATTERN})-)?"
            rf"(?P<index>\d{{5,}})-of-(?P<count>\d{{5,}}){re.escape(PARQUET_SUFFIX)}"
        )

    def _temp_name(self) -> re.Pattern[str]:
        # Beam's temporary folder for a write to `<prefix>-<run_id>`: beam-temp-<basename>-<run_id>-<uuid>.
        return re.compile(
            rf"beam-temp-{re.escape(self.basename)}-(?:(?P<run_id>{RUN_ID_PATTERN})-)?[0-9a-f]{{32}}"
        )

    def shards(self, run_id: str | None = None) -> list[str]:
        """Names (within the folder) of the shards at this prefix, of run `run_id` or of every run."""
        names = []
        for path in _match(f"{self.prefix}-*{PARQUET_SUFFIX}"):
            found = self._shard_name().fullmatch(FileSystems.split(path)[1])
            if found and (run_id is None or found["run_id"] == run_id):
                names.append(FileSystems.split(path)[1])
        return sorted(names)

    def legacy_shards(self) -> list[str]:
        """Names of the shards written before run ids and manifests (PREFIX-SSSSS-of-NNNNN.parquet)."""
        pattern = self._shard_name()
        return [name for name in self.shards() if not pattern.fullmatch(name)["run_id"]]

    def complete_shards(self, run_id: str) -> list[str]:
        """The shards of run `run_id`, checked to be the whole set 0..N-1 of N; ValueError otherwise."""
        names = self.shards(run_id)
        pattern = self._shard_name()
        numbered = {(int(m["index"]), int(m["count"])) for m in map(pattern.fullmatch, names) if m}
        counts = {count for _, count in numbered}
        if not names or len(counts) != 1 or {index for index, _ in numbered} != set(range(counts.pop())):
            raise ValueError(f"run {run_id} did not leave a whole set of shards at {self.prefix}: {names}")
        return names

    def _temp_folders(self, run_id: str | None = None) -> list[str]:
        pattern = self._temp_name()
        if _is_local(self.prefix):
            if not os.path.isdir(self.folder):
                return []
            names = [entry.name for entry in os.scandir(self.folder) if entry.is_dir()]
        else:
            paths = _match(FileSystems.join(self.folder, f"beam-temp-{self.basename}-**"))
            names = {path[len(self.folder) :].lstrip("/").split("/", 1)[0] for path in paths}
        return sorted(
            self.path(name)
            for name in names
            if (found := pattern.fullmatch(name)) and (run_id is None or found["run_id"] == run_id)
        )

    def prepare(self) -> None:
        """Make the output's local folder (Beam renames the finished shards into it)."""
        if _is_local(self.prefix):
            os.makedirs(self.folder or ".", exist_ok=True)

    def remove_leftovers(self, committed: Collection[str]) -> None:
        """Before a run: delete what killed runs left, i.e. shards with a run id that the committed
        manifest does not list (also those a commit could not delete), and every Beam temporary folder
        of this prefix. Shards written before run ids existed are an earlier result and stay until the
        next commit. Safe only while this run holds the prefix's lock (pipeline.storage.lock): a second
        run started meanwhile would delete the first one's temporary files."""
        pattern = self._shard_name()
        stale = [
            name
            for name in self.shards()
            if name not in committed and (found := pattern.fullmatch(name)) and found["run_id"]
        ]
        _delete([self.path(name) for name in stale], self._temp_folders(), why="left by an unfinished run")

    def remove_superseded(self, committed: Collection[str]) -> None:
        """After a commit: delete every shard at the prefix the new manifest does not list."""
        stale = [name for name in self.shards() if name not in committed]
        _delete([self.path(name) for name in stale], [], why="superseded by the new run")

    def discard(self, run_id: str) -> None:
        """After a failed or interrupted run: delete its shards and its Beam temporary folder."""
        own = [self.path(name) for name in self.shards(run_id)]
        _delete(own, self._temp_folders(run_id), why=f"of the unfinished run {run_id}")


def _match(pattern: str) -> list[str]:
    try:
        return [metadata.path for metadata in FileSystems.match([pattern])[0].metadata_list]
    except Exception:  # Beam raises when nothing matches on some file systems
        return []


def _delete(files: Iterable[str], folders: Iterable[str], why: str) -> None:
    files, folders = list(files), list(folders)
    if not files and not folders:
        return
    _log.info("Deleting %d file(s) and %d temporary folder(s) %s", len(files), len(folders), why)
    if files:
        FileSystems.delete(files)
    for folder in folders:
        if _is_local(folder):
            shutil.rmtree(folder, ignore_errors=True)
        else:
            objects = _match(FileSystems.join(folder, "**"))
            if objects:
                FileSystems.delete(objects)
