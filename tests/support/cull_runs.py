"""Runs for the cull tests, written here: files of random bytes (cull never decodes them) and rows
judging them blurry, with the file facts a real run records (size, modification time)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.results.reader import conform


def row_for(path: Path, probability: float) -> dict:
    facts = path.stat()
    return {
        "uri": str(path), "status": "ok", "blurry": True, "blur_type": "motion",
        "blur_probability": probability, "model_version": "v", "scored_at": datetime.now(UTC),
        "file_size": facts.st_size, "modified_at": datetime.fromtimestamp(facts.st_mtime, UTC),
    }  # fmt: skip


def make_photos(root: Path, count: int, size: int = 4096, seed: int = 1) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = root / f"day{index % 3}" / f"shot{index:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.bytes(size))
        paths.append(path)
    return paths


def write_run(paths: list[Path], prefix: Path, extra: list[dict] = ()) -> str:
    """A run judging every path blurry, the first most probably (so it is the first step)."""
    rows = [row_for(path, 0.99 - index * 0.0001) for index, path in enumerate(paths)] + list(extra)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(conform(pa.Table.from_pylist(rows)), f"{prefix}-00000-of-00001.parquet")
    return str(prefix)


def burst_rows(groups: list[list[tuple[Path, float]]]) -> list[dict]:
    """Rows for photos taken in bursts: each group is one burst's frames (or a photo alone), with its
    blur probability; blurry at 0.5 and above. The burst columns are the ones the job's ranking
    (pipeline.job.burst_groups.rank_burst) gives these frames."""
    from pipeline.job.burst_groups import BurstFacts, rank_burst

    rows = []
    for frames in groups:
        members = [BurstFacts(str(path), "canon|r6", 0.0, 0, p, 100.0) for path, p in frames]
        ranked = dict(rank_burst(min(m.uri for m in members), members))
        for path, probability in frames:
            row = row_for(path, probability) | ranked[str(path)]._asdict()
            row.update(blurry=probability >= 0.5, blur_type="motion" if probability >= 0.5 else "none")
            rows.append(row)
    return rows


def write_rows(rows: list[dict], prefix: Path) -> str:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(conform(pa.Table.from_pylist(rows)), f"{prefix}-00000-of-00001.parquet")
    return str(prefix)
