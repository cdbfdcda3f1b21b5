"""Read a finished run's rows back: every shard, local, gs:// or s3://, as one Arrow table in the job schema.

The one reader of results: the summary, the benchmark, the tests, the review gallery and the cull
command all come through here. A run is named by its output prefix (what `--output` was). A finished run
writes `PREFIX-manifest.json` listing its shards; the reader reads exactly those. Older runs have no
manifest, and then the shards are found by the glob `PREFIX-*-of-*.parquet`.

The columns are those of schema.SCHEMA as it is now, in its order and types: a file written before a
column existed gets that column as nulls, so readers never depend on the age of a run. Columns a file
has that SCHEMA no longer lists are dropped.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.schema import SCHEMA, manifest_path, prefix_of
from pipeline.storage.output import PARQUET_SUFFIX, OutputLocation

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""A manifest is a few kB (its settings and shard names); more is not one of this job's manifests."""
MAX_SHARD_BYTES = 2 * 1024**3
"""A shard is read whole into memory; the job writes shards of a few MB per thousand rows, so this
is millions of rows per shard. Raise it here for bigger results."""


class ResultsError(ValueError):
    """The result named is not one this job wrote, or is damaged: a manifest that is not JSON or names
    files outside its folder, a shard that is not Parquet of this schema, a file over the size limit.
    str(error) is one line that names the file; the tools print it and exit with status 2."""


class ResultsNotFound(ResultsError, FileNotFoundError):
    """No manifest and no Parquet shards under the prefix given."""


@dataclass(frozen=True)
class Run:
    """A run's rows and where they came from. `manifest` is the run's manifest as written (None for an
    older run without one); `settings` its job flags (empty when unknown)."""

    prefix: str
    shards: tuple[str, ...]
    table: pa.Table
    manifest: dict | None = None
    settings: dict = field(default_factory=dict)


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def read_bounded(path: str, max_bytes: int) -> bytes:
    """The file's bytes, at most max_bytes: ResultsError for more (`/dev/zero` named as a shard, a
    huge file in a manifest's place), or for a local path that is not a regular file."""
    if FileSystems.get_scheme(path) in (None, "file"):
        local = path.removeprefix("file://")
        if os.path.exists(local) and not stat.S_ISREG(os.stat(local).st_mode):
            raise ResultsError(f"{path}: not a regular file, not a result this job wrote")
    chunks, total = [], 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        while chunk := stream.read(min(4 * 1024 * 1024, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise ResultsError(
                    f"{path}: larger than {max_bytes / 1024**2:,.0f} MB, the limit for a result file"
                )
    return b"".join(chunks)


def read_manifest(prefix: str) -> dict | None:
    """The run's manifest (a JSON object with a list of shard names), or None when the run has none.
    ResultsError when the file there is not such a manifest."""
    path = manifest_path(prefix)
    if not FileSystems.exists(path):
        return None
    try:
        manifest = json.loads(read_bounded(path, MAX_MANIFEST_BYTES))
    except ResultsError:
        raise
    except (ValueError, OSError) as error:  # not JSON, not UTF-8, unreadable
        raise ResultsError(f"{path}: not a run manifest ({_describe(error)})") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise ResultsError(f"{path} is not a run manifest (a JSON object with a list of 'shards')")
    return manifest


def _plain_shard_name(name: object, folder: str) -> str | None:
    """`name` as a file name in `folder`, or None when it is anything else: a shard of a run sits beside
    its manifest, so a manifest naming `../../etc/passwd` or `/dev/zero` is not this job's. (A full path
    into the manifest's own folder is accepted too.)"""
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    if "/" in name or "\\" in name:
        head, name = FileSystems.split(name)
        if head.rstrip("/") != folder.rstrip("/"):
            return None
    if name in (".", "..") or "/" in name or "\\" in name or not name.endswith(PARQUET_SUFFIX):
        return None
    return name


def shard_paths(prefix: str, manifest: dict | None) -> list[str]:
    """The Parquet shards of the run: those its manifest lists (file names in the manifest's folder),
    or, without a manifest, those matching PREFIX-*-of-*.parquet. ResultsError for a manifest naming
    anything but a Parquet file beside it."""
    if manifest is None:  # a run from before manifests: every shard at the prefix
        location = OutputLocation(prefix)
        return [location.path(name) for name in location.shards()]
    folder = FileSystems.split(manifest_path(prefix))[0]
    paths = []
    for name in manifest["shards"]:
        plain = _plain_shard_name(name, folder)
        if plain is None:
            raise ResultsError(
                f"{manifest_path(prefix)} names the shard {str(name)[:200]!r}: a run's shards are "
                "Parquet files beside its manifest; this manifest was not written by this job"
            )
        paths.append(FileSystems.join(folder, plain))
    return paths


def conform(table: pa.Table, schema: pa.Schema = SCHEMA) -> pa.Table:
    """`table` with exactly the columns of `schema`, in its order and types: missing columns become
    nulls, extra ones are dropped. Raises pyarrow's error if a present column cannot be cast."""
    columns = []
    for column in schema:
        if column.name in table.column_names:
            columns.append(table.column(column.name).cast(column.type))
        else:
            columns.append(pa.nulls(table.num_rows, column.type))
    # The schema is kept as declared even where an old file lacks a non-nullable column (its rows then
    # hold nulls there), so that every shard of every age concatenates into one table.
    return pa.Table.from_arrays(columns, schema=schema)


def read_shard(path: str, columns: Sequence[str] | None = None) -> pa.Table:
    """One Parquet shard, local or gs://, conformed to SCHEMA (or to the `columns` of it asked for)."""
    schema = SCHEMA if columns is None else pa.schema([SCHEMA.field(name) for name in columns])
    data = read_bounded(path, MAX_SHARD_BYTES)
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        present = [name for name in schema.names if name in parquet.schema_arrow.names]
        if not set(SCHEMA.names) & set(parquet.schema_arrow.names):
            raise ValueError("none of its columns is one of the job's")
        return conform(parquet.read(columns=present), schema)
    except (pa.ArrowException, ValueError, OSError) as error:  # not Parquet, damaged, other columns
        raise ResultsError(f"{path}: not a shard of this job's results ({_describe(error)})") from error


def check_shard(path: str) -> None:
    """A cheap look at a shard before a run depends on it: a Parquet footer sharing columns with SCHEMA.
    ResultsError otherwise (a damaged or foreign file ends a launch, not a run part way)."""
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            names = pq.ParquetFile(stream).schema_arrow.names
    except (pa.ArrowException, ValueError, OSError) as error:
        raise ResultsError(f"{path}: not a shard of this job's results ({_describe(error)})") from error
    if not set(SCHEMA.names) & set(names):
        raise ResultsError(
            f"{path}: not a shard of this job's results (none of its columns is one of the job's)"
        )


def read_run(scores: str, columns: Sequence[str] | None = None) -> Run:
    """Every row of the run at `scores` (its output prefix, or its manifest's path), with the columns of
    schema.SCHEMA (all, or the `columns` asked for). Raises ResultsNotFound when there is nothing there,
    ResultsError when what is there is not a result of this job."""
    prefix = OutputLocation.of(prefix_of(scores)).prefix  # a trailing / names a folder, as --output
    manifest = read_manifest(prefix)
    shards = shard_paths(prefix, manifest)
    if not shards:
        raise ResultsNotFound(
            f"no results at {prefix}: neither {manifest_path(prefix)} nor {prefix}-*-of-*.parquet exists"
        )
    tables = [read_shard(path, columns) for path in shards]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    settings = (manifest or {}).get("settings") or {}
    return Run(prefix, tuple(shards), table, manifest, settings if isinstance(settings, dict) else {})


def read_results(scores: str, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of the run at `scores` as one Arrow table (see read_run)."""
    return read_run(scores, columns).table
