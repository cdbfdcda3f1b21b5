"""How long `python -m pipeline.review` takes on a large run, and how big the page it writes is.

    python -m bench.review_scale                      # 100,000 rows, photos from ../shared/data/photos/camera
    python -m bench.review_scale --rows 1000000 --out bench/results/review_1m.json

The rows are generated (as the job writes them: the verdict at 0.5, blur types consistent with it, 2%
error rows with the decoder's kinds of reasons) in 4 shards with a manifest. Every row's file exists:
a hard link to one of the real photos in --photos, spread over 100 folders, so the review reads and
decodes a real photo for every thumbnail it shows. Timed: the review command in a new process, cold
(no thumbnails yet) and again into the same folder (thumbnails reused); then the page itself in headless
Chromium (the time the page's script reports for drawing everything, from the rendered DOM).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from model.labels import BLUR_TYPES
from pipeline.results.reader import conform
from pipeline.schema import PROBABILITY_COLUMNS
from pipeline.verdict import blur_type_for_verdict

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos" / "camera"
SHARDS = 4
REASONS = (
    "not an image (no photo format recognised: JPEG, PNG, HEIC, WebP, GIF, TIFF, ...)",
    "truncated JPEG file (the data ends early)",
    "corrupt JPEG file (broken data stream when reading image file)",
    "file not found",
)


def make_files(photos: Path, root: Path, rows: int) -> list[str]:
    """`rows` hard links (copies where links fail) to the photos, in 100 folders; their paths."""
    sources = sorted(p for p in photos.glob("*.jpg"))
    if not sources:
        raise SystemExit(f"no *.jpg in {photos}")
    paths = []
    for index in range(rows):
        path = root / f"day{index % 100:03d}" / f"IMG_{index:07d}.jpg"
        paths.append(str(path))
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(sources[index % len(sources)], path)
        except OSError:
            shutil.copyfile(sources[index % len(sources)], path)
    return paths


def make_rows(uris: list[str], seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = len(uris)
    probability = rng.beta(0.5, 0.7, n)
    types = rng.dirichlet(np.full(len(BLUR_TYPES), 0.7), n)
    laplacian = 10 ** rng.normal(2.3, 0.8, n)
    blurry = probability >= 0.5
    error = rng.random(n) < 0.02
    ok = ~error
    table = pa.table(
        {
            "uri": uris,
            "status": np.where(ok, "ok", "error"),
            "error": pa.array(
                [REASONS[i % len(REASONS)] if e else None for i, e in enumerate(error)], pa.string()
            ),
            "format": pa.array(["JPEG" if o else None for o in ok], pa.string()),
            "width": pa.array(np.full(n, 1600), pa.int32(), mask=error),
            "height": pa.array(np.full(n, 1067), pa.int32(), mask=error),
            "laplacian_var": pa.array(laplacian, mask=error),
            "laplacian_blurry": pa.array(laplacian < 100, mask=error),
            "blur_probability": pa.array(probability, mask=error),
            "blurry": pa.array(blurry, mask=error),
            "blur_type": pa.array(
                [blur_type_for_verdict(types[i], bool(blurry[i])) if ok[i] else None for i in range(n)],
                pa.string(),
            ),
            **{name: pa.array(types[:, k], mask=error) for k, name in enumerate(PROBABILITY_COLUMNS)},
            "model_version": ["bench"] * n,
            "scored_at": pa.array([datetime(2026, 11, 30, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")),
        }
    )
    return conform(table)


def write_run(table: pa.Table, prefix: Path) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // SHARDS)
    names = []
    for shard in range(SHARDS):
        name = f"{prefix.name}-{shard:05d}-of-{SHARDS:05d}.parquet"
        pq.write_table(table.slice(shard * step, step), prefix.parent / name, compression="snappy")
        names.append(name)
    manifest = {"run_id": "bench", "model_version": "bench", "shards": names, "rows": table.num_rows,
                "settings": {"blur_threshold": 0.5, "laplacian_threshold": 100.0}}  # fmt: skip
    (prefix.parent / f"{prefix.name}-manifest.json").write_text(json.dumps(manifest))


def timed_review(prefix: Path, site: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    command = [sys.executable, "-m", "pipeline.review", "--scores", str(prefix), "--out", str(site)]
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "command": " ".join(command)}


def page_figures(site: Path) -> dict:
    page = sum((site / name).stat().st_size for name in ("index.html", "review.css", "review.js", "data.js"))
    thumbs = list((site / "thumbs").glob("*.jpg"))
    data = json.loads((site / "data.js").read_text().removeprefix("window.REVIEW = ").rstrip().rstrip(";"))
    return {
        "page_bytes": page,
        "data_js_bytes": (site / "data.js").stat().st_size,
        "thumbnails": len(thumbs),
        "thumbnail_bytes": sum(p.stat().st_size for p in thumbs),
        "tiles": len(data["tiles"]),
        "sections": {s["id"]: {"shown": len(s["tiles"]), "total": s["total"]} for s in data["sections"]},
        "counts": data["counts"],
    }


def drawn_ms(site: Path) -> float | None:
    """The page's own time to draw everything in headless Chromium (its data-drawn-ms), if installed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", (site / "index.html").as_uri()],
            capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip
    found = re.search(r'data-drawn-ms="(\d+)"', dom)
    return float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "work" / "review_scale")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "review_scale.json")
    args = parser.parse_args()
    work = args.work / f"rows{args.rows}"
    uris = make_files(args.photos, work / "photos", args.rows)
    write_run(make_rows(uris), work / "run" / "scores")
    site = work / "site"
    shutil.rmtree(site, ignore_errors=True)
    cold = timed_review(work / "run" / "scores", site)
    warm = timed_review(work / "run" / "scores", site)
    figures = {
        "rows": args.rows,
        "photos": str(args.photos),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "review_cold": cold,
        "review_again_thumbnails_reused": warm,
        **page_figures(site),
        "page_drawn_ms_chromium": drawn_ms(site),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
