"""The decode floor: only read each file and decode it to the working scale, one process per core.

    python -m bench.floor FILE_LIST [--processes N]

This is what no blur detector working at the job's scale can beat: the job's own decoder
(pipeline.photo.decode.decode_photo, DCT-domain reduced decoding with Image.draft, then the INTER_AREA shrink
to the working scale), with nothing else, over a multiprocessing Pool of os.cpu_count() processes.
Prints one JSON line: files, decoded, failed, and the in-run rate (bench.figures.inrun_rate).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from multiprocessing import Pool

from bench.figures import inrun_rate
from pipeline.photo.decode import DecodeError, decode_photo


def decode_file(path: str) -> tuple[bool, float]:
    """Read and decode one file: (whether it decoded, when it was done)."""
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        decode_photo(data)
    except DecodeError:
        return False, time.time()
    return True, time.time()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file_list", help="a text file with one path per line")
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with open(args.file_list, encoding="utf-8") as stream:
        paths = [line.strip() for line in stream if line.strip()]
    # Small chunks keep both processes busy to the end; a task costs ~40 ms, so the queue overhead is noise.
    with Pool(args.processes) as pool:
        done = list(pool.imap_unordered(decode_file, paths, chunksize=2))
    decoded = sum(ok for ok, _ in done)
    rate = inrun_rate([when for _, when in done])
    print(
        json.dumps(
            {
                "files": len(paths),
                "decoded": decoded,
                "failed": len(paths) - decoded,
                "inrun_images_per_s": None if rate is None else round(rate, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
