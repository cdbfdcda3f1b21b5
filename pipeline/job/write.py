"""The write step: a run's rows to Parquet shards named by run id (pipeline.storage.OutputLocation says
where they go and how a run commits and cleans up)."""

from __future__ import annotations

import apache_beam as beam

from pipeline.schema import SCHEMA
from pipeline.storage.output import PARQUET_SUFFIX


class WriteRows(beam.PTransform):
    """Rows (dicts fitting schema.SCHEMA) to Parquet files named `shard_prefix`-SSSSS-of-NNNNN.parquet."""

    def __init__(self, shard_prefix: str):
        super().__init__()
        self._prefix = shard_prefix

    def expand(self, rows: beam.PCollection[dict]) -> beam.pvalue.PDone:
        # WriteToParquet's default codec is none; snappy costs little CPU and shrinks text columns a lot.
        return rows | beam.io.WriteToParquet(
            self._prefix, SCHEMA, codec="snappy", file_name_suffix=PARQUET_SUFFIX
        )
