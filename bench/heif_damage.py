"""How close intact HEIF files come to the HEIF damage checks' limits
(pipeline/photo/damage.py): false alarms.

    python -m bench.heif_damage [HEIC_FILE ...] [--from-jpegs GLOB] [--limit N]

For each intact file: its thumbnail_disagreement (None when it has no usable thumbnail), its
undecoded_blocks and heif_structure_reason, and what decode_photo says (ok, or the error row's
reason). --from-jpegs first encodes real photos as a phone would (HEVC in a grid of 512x512 tiles with a
320 px thumbnail, quality 85, x265's ultrafast preset to keep it to seconds a photo; libheif's thumbnails
sample the nearest pixel, the hardest case for the thumbnail check) into bench/work/heif_from_jpegs/.
Prints one line per file, then one JSON summary, with the mean CPU time of decode_photo (checks
included) and of the damage checks alone.
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pipeline.photo.damage import (
    heif_structure_reason,
    heif_thumbnail,
    thumbnail_disagreement,
    undecoded_blocks,
)
from pipeline.photo.decode import DecodeError, decode_photo

WORK = Path(__file__).resolve().parent / "work" / "heif_from_jpegs"


def encode_like_a_phone(jpeg: Path) -> Path:
    """A HEIC copy of a JPEG (orientation applied), tiled and with a thumbnail; made once."""
    target = WORK / (jpeg.parent.name + "_" + jpeg.stem + ".heic")
    if not target.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        with Image.open(jpeg) as image:
            ImageOps.exif_transpose(image).convert("RGB").save(
                partial,
                "HEIF",
                quality=85,
                thumbnails=[320],
                tile_size=512,
                enc_params={"preset": "ultrafast"},
            )
        partial.rename(target)
    return target


def full_decode(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="*", help="intact HEIC/HEIF files")
    parser.add_argument("--from-jpegs", default=None, help="a glob of real JPEGs to encode as HEIC first")
    parser.add_argument("--limit", type=int, default=None, help="at most this many JPEGs")
    args = parser.parse_args()
    paths = [Path(name) for name in args.files]
    if args.from_jpegs:
        jpegs = sorted(glob.glob(args.from_jpegs, recursive=True))[: args.limit]
        paths += [encode_like_a_phone(Path(name)) for name in jpegs]

    scores, false_alarms, with_thumbnail = [], [], 0
    decoding = checking = 0.0  # CPU seconds: decode_photo whole, and the damage checks in it
    for path in paths:
        data = path.read_bytes()
        try:
            full = full_decode(path)
        except Exception as error:  # not a HEIF Pillow can open: reported, not counted
            print(f"{path}: cannot open ({error})")
            continue
        started = time.process_time()
        heif_structure_reason(data)
        blocks = undecoded_blocks(full)
        thumbnail = heif_thumbnail(data)
        score = None if thumbnail is None else thumbnail_disagreement(full, thumbnail)
        checked = time.process_time()
        with_thumbnail += thumbnail is not None
        if score is not None:
            scores.append(score)
        try:
            decode_photo(data, name=str(path))
            verdict = "ok"
        except DecodeError as error:
            verdict = str(error)
            false_alarms.append(str(path))
        checking += checked - started
        decoding += time.process_time() - checked
        print(
            f"{path}: {full.shape[1]}x{full.shape[0]} thumbnail "
            f"{None if thumbnail is None else f'{thumbnail.shape[1]}x{thumbnail.shape[0]}'} "
            f"disagreement {None if score is None else round(score, 1)} "
            f"undecoded blocks {blocks} structure {heif_structure_reason(data)}: {verdict}"
        )
    print(
        json.dumps(
            {
                "files": len(paths),
                "with_thumbnail": with_thumbnail,
                "max_thumbnail_disagreement": max(scores, default=None),
                "false_alarms": false_alarms,
                "decode_photo_ms": round(1000 * decoding / max(1, len(paths)), 1),
                "checks_ms": round(1000 * checking / max(1, len(paths)), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
