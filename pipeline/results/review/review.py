"""Write a review gallery of a run: a static site that opens from disk in any browser, offline.

    python -m pipeline.review --scores PREFIX --out DIR     # then open DIR/index.html

DIR gets index.html, review.css and review.js (the same for every run, from pipeline/results/review/assets),
data.js (this run's figures and galleries, read by the page as a script so that no server is needed)
and thumbs/ (per photo shown, a thumbnail and a 1:1 crop of the region the model judged most closely).
Tiles marked keep or reject in the page download as overrides.csv for `pipeline.cull --overrides`.
Filters live in the page and in its address:
index.html#type=motion&min=0.8&max=1&q=2024 shows motion-blurred photos at 0.8 or above whose path
holds "2024". Rerunning into the same DIR reuses the thumbnails already made.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.results.reader import ResultsError, Run, read_run
from pipeline.results.review import gallery
from pipeline.results.review.bursts import DEFAULT_BURST_CAP, burst_groups
from pipeline.results.review.thumbnails import THUMB_LONG_SIDE, Box, write_previews
from pipeline.storage.files import configure_file_systems
from pipeline.verdict import DEFAULT_BLUR_THRESHOLD, DEFAULT_LAPLACIAN_THRESHOLD

ASSETS = Path(__file__).resolve().parent / "assets"
ASSET_FILES = ("index.html", "review.css", "review.js")
THUMBS = "thumbs"


def run_thresholds(run: Run, blur: float | None, laplacian: float | None, band: float) -> gallery.Thresholds:
    """The thresholds given, else the run's own (from its manifest's settings), else the job's defaults
    (pipeline.verdict)."""

    def pick(given: float | None, name: str, default: float) -> float:
        if given is not None:
            return given
        value = run.settings.get(name)
        return float(value) if isinstance(value, int | float) else default

    return gallery.Thresholds(
        blur=pick(blur, "blur_threshold", DEFAULT_BLUR_THRESHOLD),
        laplacian=pick(laplacian, "laplacian_threshold", DEFAULT_LAPLACIAN_THRESHOLD),
        band=band,
    )


def page_data(
    run: Run, table: pa.Table, thresholds: gallery.Thresholds, cap: int, burst_cap: int = DEFAULT_BURST_CAP
) -> tuple[dict, list[str]]:
    """Everything the page shows, without thumbnails yet (tile "t" and "c" fields are filled in later),
    and the URIs of the photos shown. `table` is the run's rows with the verdict at `thresholds`."""
    chosen = gallery.sections(table, thresholds, cap)
    groups, n_bursts = burst_groups(table, burst_cap)
    shown = sorted(
        {int(i) for section in chosen for i in section["rows"]} | {i for g in groups for i in g["rows"]}
    )
    position = {row: index for index, row in enumerate(shown)}
    tiles = gallery.tiles(table, shown, {})
    versions = sorted(set(pc.drop_null(table.column("model_version")).to_pylist()))
    data = {
        "run": {
            "scores": run.prefix,
            "shards": len(run.shards),
            "manifest": run.manifest is not None,
            "model_versions": versions,
            "blur_threshold": thresholds.blur,
            "laplacian_threshold": thresholds.laplacian,
            "band": thresholds.band,
            "cap": cap,
            "burst_cap": burst_cap,
        },
        "counts": gallery.counts(table),
        "histograms": gallery.histograms(table, thresholds),
        "errors": gallery.error_reasons(table),
        "sections": [
            {key: section[key] for key in ("id", "title", "note", "total")}
            | {"tiles": [position[int(i)] for i in section["rows"]]}
            for section in chosen
        ],
        "bursts": {
            "total": n_bursts,
            "groups": [
                {"id": g["id"], "size": g["size"], "tiles": [position[i] for i in g["rows"]]} for g in groups
            ],
        },
        "tiles": tiles,
    }
    return data, [tile["u"] for tile in tiles]


def data_script(data: dict) -> str:
    """data.js: the page's data as a script (a page opened from disk may not fetch files next to it).
    `</` is escaped so no photo name can end the script early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "window.REVIEW = " + text.replace("</", "<\\/") + ";\n"


def write_site(out: Path, data: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in ASSET_FILES:
        shutil.copyfile(ASSETS / name, out / name)
    (out / "data.js").write_text(data_script(data), encoding="utf-8")
    return out / "index.html"


def review(
    scores: str,
    out: Path,
    *,
    blur_threshold: float | None = None,
    laplacian_threshold: float | None = None,
    band: float = gallery.DEFAULT_BAND,
    cap: int = gallery.DEFAULT_CAP,
    burst_cap: int = DEFAULT_BURST_CAP,
    thumb_size: int = THUMB_LONG_SIDE,
    workers: int | None = None,
) -> Path:
    """Build the review site of the run at `scores` in `out`; return the path of its index.html."""
    run = read_run(scores)
    thresholds = run_thresholds(run, blur_threshold, laplacian_threshold, band)
    table = gallery.apply_verdict(run.table, thresholds)
    data, uris = page_data(run, table, thresholds, cap, burst_cap)
    boxes = {tile["u"]: Box(*tile["d"]) for tile in data["tiles"] if tile["d"]}
    made = write_previews(uris, out / THUMBS, boxes, long_side=thumb_size, workers=workers)
    for tile in data["tiles"]:
        thumb, crop = made.get(tile["u"], (None, None))
        tile["t"] = f"{THUMBS}/{thumb}" if thumb else None
        tile["c"] = f"{THUMBS}/{crop}" if crop else None
    data["run"]["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return write_site(out, data)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--scores", required=True, metavar="PREFIX", help="the run's --output prefix")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write the site to")
    parser.add_argument("--blur_threshold", type=float, help="default: the run's, else 0.5")
    parser.add_argument("--laplacian_threshold", type=float, help="default: the run's, else 100")
    parser.add_argument(
        "--band", type=float, default=gallery.DEFAULT_BAND, help="borderline: within this of the threshold"
    )
    parser.add_argument(
        "--cap", type=int, default=gallery.DEFAULT_CAP, help="photos per gallery (default 500)"
    )
    parser.add_argument(
        "--burst_cap",
        type=int,
        default=DEFAULT_BURST_CAP,
        help="bursts shown, most frames first (default 100)",
    )
    parser.add_argument("--thumb_size", type=int, default=THUMB_LONG_SIDE, help="thumbnail long side, px")
    parser.add_argument("--workers", type=int, help="thumbnails made at once (default: 2 per core)")
    args = parser.parse_args(argv)
    configure_file_systems()
    started = time.monotonic()
    try:
        index = review(
            args.scores,
            args.out,
            blur_threshold=args.blur_threshold,
            laplacian_threshold=args.laplacian_threshold,
            band=args.band,
            cap=args.cap,
            burst_cap=args.burst_cap,
            thumb_size=args.thumb_size,
            workers=args.workers,
        )
    except ResultsError as error:  # no result, or not one of this job's: one line, as argparse would
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"review: {index} ({time.monotonic() - started:.1f} s); open it in a browser", file=sys.stderr)


if __name__ == "__main__":
    main()
