"""Act on a run's verdicts: copy or move the blurry photos aside, or mark them with XMP sidecars.

    python -m pipeline.cull --scores PREFIX --to DEST                 # dry run: prints what it would do
    python -m pipeline.cull --scores PREFIX --to DEST --apply         # copies, keeping the folders
    python -m pipeline.cull --scores PREFIX --to DEST --move --apply  # moves (source deleted once verified)
    python -m pipeline.cull --scores PREFIX --xmp --apply             # sidecars next to the photos
    python -m pipeline.cull --undo cull-20261130T0100.csv --apply     # puts back what a run did

Safety: nothing changes without --apply; a different file already at a destination is never overwritten;
a move deletes the original only after the copy's size and SHA-256 match it; every action goes to a CSV
manifest as it happens (source, destination, action, result, size, sha256), which --undo reads. Rerunning
the same command skips what is already done, so an interrupted run is finished by running it again.
Local paths and gs:// both work; a copy within Cloud Storage is server-side.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.results.cull.plan import (
    Action,
    Step,
    common_root,
    manifest_header,
    manifest_line,
    parse_types,
    plan,
    read_manifest_rows,
    select_flagged,
    xmp_sidecar,
)
from pipeline.results.progress_bar import progress
from pipeline.results.reader import read_run
from pipeline.storage.files import configure_file_systems

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Outcome:
    """What happened to one step; `size` and `sha256` describe the file the step produced, when one exists."""

    result: str
    size: int | None = None
    sha256: str = ""


# --- files, local or gs:// ------------------------------------------------------------------------------


def _is_local(path: str) -> bool:
    return "://" not in path


def exists(path: str) -> bool:
    return os.path.lexists(path) if _is_local(path) else FileSystems.exists(path)


def _open(path: str):
    if _is_local(path):
        return open(path, "rb")
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def digest(path: str) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file's bytes."""
    sha, size = hashlib.sha256(), 0
    with _open(path) as stream:
        while chunk := stream.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _delete(path: str) -> None:
    if _is_local(path):
        os.remove(path)
    else:
        FileSystems.delete([path])


def _write_new(destination: str, write: Callable[[object], None]) -> bool:
    """Create `destination` with what `write(stream)` writes; False (and nothing written) when a file
    is already there. Locally the data goes to a temporary file first and is linked into place, which
    fails rather than replaces: an interrupted copy never leaves a partial file under the real name."""
    if not _is_local(destination):
        if FileSystems.exists(destination):
            return False
        with FileSystems.create(destination, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            write(stream)
        return True
    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.cull-*.tmp"):  # left by a killed run
        stale.unlink(missing_ok=True)
    temporary = target.with_name(f".{target.name}.cull-{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _copy_new(source: str, destination: str) -> bool:
    """Copy a file where none is; server-side within Cloud Storage. False if the destination exists."""
    if not _is_local(source) and not _is_local(destination):
        if FileSystems.exists(destination):
            return False
        FileSystems.copy([source], [destination])
        return True

    def write(out) -> None:
        with _open(source) as stream:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)

    return _write_new(destination, write)


# --- one step ---------------------------------------------------------------------------------------------

_CONFLICT = "conflict: a different file is at the destination (left alone)"


def _transfer(step: Step, apply: bool) -> Outcome:
    source, destination, move = step.source, step.destination, step.action is Action.MOVE
    if not exists(source):
        if move and exists(destination):
            return Outcome("skipped: already moved", *digest(destination))
        return Outcome("failed: source not found")
    if exists(destination):
        there = digest(destination)
        if there != digest(source):
            return Outcome(_CONFLICT)
        if not move:
            return Outcome("skipped: already there", *there)
        if not apply:
            return Outcome("would delete the source (its copy is already there)", *there)
        _delete(source)  # an earlier, interrupted move left a verified copy
        return Outcome("moved", *there)
    if not apply:
        return Outcome(f"would {step.action}")
    original = digest(source)
    if not _copy_new(source, destination):
        return Outcome(_CONFLICT)
    if digest(destination) != original:
        return Outcome("failed: the copy does not match the source (source kept)")
    if move:
        _delete(source)
        return Outcome("moved", *original)
    return Outcome("copied", *original)


def _sidecar(step: Step, apply: bool, model_version: str | None) -> Outcome:
    data = xmp_sidecar(step.blur_type, step.blur_probability, model_version).encode()
    size, sha = len(data), hashlib.sha256(data).hexdigest()
    if not exists(step.source):
        return Outcome("failed: photo not found")
    if exists(step.destination):
        if digest(step.destination) == (size, sha):
            return Outcome("skipped: already there", size, sha)
        return Outcome("conflict: a sidecar is already there (left alone)")
    if not apply:
        return Outcome("would write the sidecar")
    if not _write_new(step.destination, lambda out: out.write(data)):
        return Outcome("conflict: a sidecar is already there (left alone)")
    return Outcome("sidecar written", size, sha)


def carry_out(step: Step, apply: bool, model_version: str | None = None) -> Outcome:
    """Do (or, without `apply`, describe) one step; any error becomes a "failed: ..." outcome."""
    try:
        if step.action is Action.XMP:
            return _sidecar(step, apply, model_version)
        return _transfer(step, apply)
    except Exception as error:  # one bad file must not stop the others
        return Outcome(f"failed: {type(error).__name__}: {error}")


def undo(row: dict[str, str], apply: bool) -> Outcome:
    """Reverse one manifest row: remove a copy or sidecar it made (only if unchanged since), or move a
    moved photo back (verified before the moved file is removed)."""
    source, destination, result = row["source"], row["destination"], row["result"]
    recorded = (int(row["size"]), row["sha256"]) if row["size"] else None
    try:
        if result in ("copied", "sidecar written") or (
            result == "skipped: already there" and row["action"] == Action.COPY
        ):
            if not exists(destination):
                return Outcome("skipped: already removed")
            there = digest(destination)
            if result == "skipped: already there" and (not exists(source) or digest(source) != there):
                return Outcome("nothing to undo (the source is gone or differs; the copy is kept)")
            if recorded is not None and there != recorded:
                return Outcome("conflict: the file changed since (left alone)")
            if not apply:
                return Outcome(f"would remove {destination}")
            _delete(destination)
            return Outcome("removed", *there)
        if result in ("moved", "skipped: already moved"):
            back = Step(destination, source, Action.MOVE, "", 0.0)
            outcome = _transfer(back, apply)
            if outcome.result == "skipped: already moved":
                return Outcome("skipped: already back", outcome.size, outcome.sha256)
            return (
                outcome if outcome.result != "moved" else Outcome("moved back", outcome.size, outcome.sha256)
            )
        return Outcome("nothing to undo")
    except Exception as error:
        return Outcome(f"failed: {type(error).__name__}: {error}")


# --- the command ---------------------------------------------------------------------------------------


def run_steps(
    items: Sequence,
    work: Callable[[object], Outcome],
    describe: Callable[[object], tuple[str, str, str]],
    manifest: Path | None,
    workers: int,
) -> list[Outcome]:
    """Run `work` over `items` on `workers` threads, each outcome written to the manifest (if any) as it
    comes, so an interrupted run leaves a manifest of everything it did."""
    outcomes: list[Outcome] = []
    if manifest is not None:
        manifest.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(manifest, "w", newline="", encoding="utf-8") if manifest is not None else nullcontext() as out,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        if out is not None:
            out.write(manifest_header())
            out.flush()
        done = pool.map(lambda item: (item, work(item)), items)
        if out is not None:  # a dry run prints a line per photo instead of a bar
            done = progress(done, len(items), "cull")
        for item, outcome in done:
            outcomes.append(outcome)
            source, destination, action = describe(item)
            if out is not None:
                out.write(
                    manifest_line(source, destination, action, outcome.result, outcome.size, outcome.sha256)
                )
                out.flush()
            else:
                print(f"{outcome.result}: {source} -> {destination}")
    return outcomes


def tally(outcomes: Iterable[Outcome]) -> Counter[str]:
    """Outcomes counted by kind ("failed" and "conflict" without their details)."""
    return Counter(
        outcome.result.split(":", 1)[0]
        if outcome.result.startswith(("failed", "conflict"))
        else outcome.result.split(" (", 1)[0]
        for outcome in outcomes
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.cull",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--scores", metavar="PREFIX", help="the run's --output prefix (or its manifest)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--to", metavar="DEST", help="folder (local, gs:// or s3://) to copy or move the photos to"
    )
    where.add_argument("--xmp", action="store_true", help="write XMP sidecars next to the photos instead")
    where.add_argument("--undo", metavar="MANIFEST", help="reverse what a cull manifest records")
    parser.add_argument(
        "--apply", action="store_true", help="do it (without: a dry run that changes nothing)"
    )
    parser.add_argument("--move", action="store_true", help="move instead of copy (with --to)")
    parser.add_argument("--types", help="only these blur types, comma-separated (e.g. motion,defocus)")
    parser.add_argument("--min_probability", type=float, default=0.0, help="only photos at or above this")
    parser.add_argument(
        "--root", help="the folder whose structure is kept under DEST (default: the photos' common folder)"
    )
    parser.add_argument(
        "--xmp_naming",
        choices=("ext", "base"),
        default="ext",
        help="sidecar name: photo.jpg.xmp (ext: darktable, digiKam) or photo.xmp (base: Lightroom)",
    )
    parser.add_argument("--manifest", help="where to write the CSV manifest (default: ./cull-<time>.csv)")
    parser.add_argument("--workers", type=int, default=8, help="files handled at once (default 8)")
    args = parser.parse_args(argv)
    if args.undo is None and (args.scores is None or (args.to is None and not args.xmp)):
        parser.error("give --scores PREFIX and either --to DEST or --xmp (or --undo MANIFEST)")
    if args.move and args.to is None:
        parser.error("--move needs --to DEST")
    try:
        args.types = parse_types(args.types)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_file_systems()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    manifest = (
        Path(args.manifest or f"cull-{'undo-' if args.undo else ''}{stamp}.csv") if args.apply else None
    )
    if args.undo:
        with open(args.undo, encoding="utf-8", newline="") as stream:
            rows = read_manifest_rows(stream.read())
        outcomes = run_steps(
            rows,
            lambda row: undo(row, args.apply),
            lambda r: (r["source"], r["destination"], f"undo {r['action']}"),
            manifest,
            args.workers,
        )
    else:
        run = read_run(
            args.scores, columns=["uri", "status", "blurry", "blur_type", "blur_probability", "model_version"]
        )
        flagged = select_flagged(run.table, types=args.types, min_probability=args.min_probability)
        action = Action.XMP if args.xmp else (Action.MOVE if args.move else Action.COPY)
        root = args.root if args.root is not None else common_root(run.table.column("uri").to_pylist())
        steps = plan(flagged, action, root=root, dest=args.to or "", xmp_naming=args.xmp_naming)
        versions = set(run.table.column("model_version").drop_null().to_pylist())
        model_version = versions.pop() if len(versions) == 1 else None
        print(
            f"{len(steps)} flagged photo(s) of {run.table.num_rows} rows; folders kept below {root or '/'}",
            file=sys.stderr,
        )
        outcomes = run_steps(
            steps,
            lambda step: carry_out(step, args.apply, model_version),
            lambda s: (s.source, s.destination, str(s.action)),
            manifest,
            args.workers,
        )
    for result, count in sorted(tally(outcomes).items()):
        print(f"{count:8d}  {result}", file=sys.stderr)
    if manifest is not None:
        print(f"manifest: {manifest}", file=sys.stderr)
    else:
        print("dry run: nothing was changed; add --apply to do it", file=sys.stderr)
    return 1 if any(o.result.startswith("failed") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
