"""Write step: the rows to snappy-compressed Parquet files, local, gs:// or s3://, in the contract schema."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.rows import SCHEMA

PARQUET_SUFFIX = ".parquet"


def output_pattern(prefix: str) -> str:
    """Glob of the files WriteRows writes for `prefix` (Beam names them PREFIX-SSSSS-of-NNNNN.parquet)."""
    return f"{prefix}-*-of-*{PARQUET_SUFFIX}"


def written_files(prefix: str) -> list[str]:
    """The Parquet files found under `prefix`, sorted."""
    matches = FileSystems.match([output_pattern(prefix)])[0].metadata_list
    return sorted(metadata.path for metadata in matches)


class WriteRows(beam.PTransform):
    """Rows (dicts fitting rows.SCHEMA) to Parquet files named PREFIX-SSSSS-of-NNNNN.parquet."""

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix

    def expand(self, rows: beam.PCollection[dict]) -> beam.pvalue.PDone:
        # WriteToParquet's default codec is none; snappy costs little CPU and shrinks text columns a lot.
        return rows | beam.io.WriteToParquet(
            self._prefix, SCHEMA, codec="snappy", file_name_suffix=PARQUET_SUFFIX
        )
