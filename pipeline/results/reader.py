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
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.schema import SCHEMA, manifest_path, prefix_of
from pipeline.storage.output import OutputLocation


class ResultsNotFound(FileNotFoundError):
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


def _read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return stream.read()


def read_manifest(prefix: str) -> dict | None:
    """The run's manifest (a JSON object), or None when the run has none."""
    path = manifest_path(prefix)
    if not FileSystems.exists(path):
        return None
    manifest = json.loads(_read_bytes(path))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise ValueError(f"{path} is not a run manifest (a JSON object with a list of 'shards')")
    return manifest


def shard_paths(prefix: str, manifest: dict | None) -> list[str]:
    """The Parquet shards of the run: those its manifest lists (relative to the manifest's folder),
    or, without a manifest, those matching PREFIX-*-of-*.parquet."""
    if manifest is None:  # a run from before manifests: every shard at the prefix
        location = OutputLocation(prefix)
        return [location.path(name) for name in location.shards()]
    folder = FileSystems.split(manifest_path(prefix))[0]
    paths = []
    for name in manifest["shards"]:
        absolute = "://" in name or name.startswith("/")
        paths.append(name if absolute else FileSystems.join(folder, name))
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
    parquet = pq.ParquetFile(io.BytesIO(_read_bytes(path)))
    present = [name for name in schema.names if name in parquet.schema_arrow.names]
    return conform(parquet.read(columns=present), schema)


def read_run(scores: str, columns: Sequence[str] | None = None) -> Run:
    """Every row of the run at `scores` (its output prefix, or its manifest's path), with the columns of
    schema.SCHEMA (all, or the `columns` asked for). Raises ResultsNotFound when there is nothing there."""
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
