"""Act on a run's verdicts: copy or move the blurry photos aside, or mark them with XMP sidecars.
With --bursts, the frames of each burst that are not its best (with --blurry too: either); with
--overrides, a review page's keep and reject decisions win over both (docs/cull.md).

    python -m pipeline.cull --scores PREFIX --to DEST                 # dry run: prints what it would do
    python -m pipeline.cull --scores PREFIX --to DEST --apply         # copies, keeping the folders
    python -m pipeline.cull --scores PREFIX --to DEST --move --apply  # moves (photo deleted once verified)
    python -m pipeline.cull --scores PREFIX --xmp --apply             # sidecars next to the photos
    python -m pipeline.cull --undo cull-20261130T0100.csv --apply     # puts back what that run did

Safety (docs/cull.md): nothing changes without --apply. DEST may not be, hold or lie inside the photos'
folder (symlinks, `..` and case resolved): exit 2, nothing changed. A row whose photo lies outside the
photos' folder, or whose destination leads outside DEST, is refused. A photo whose size and time (or
CRC32C in a bucket) differ from its row is skipped: it changed since it was scored. A different file
at a destination is never overwritten; a move deletes the photo only after its copy's size and SHA-256
match it and the cull log row saying so is on disk. Copies and moves keep permissions and times.
Every action is a row of the cull log (CSV, --manifest), which --undo reads; an undo reverses only
what that run created, after checking each file's size and SHA-256. Rerunning the same command
finishes an interrupted run.
Local paths and gs:// both work; a copy within Cloud Storage is server-side.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pipeline.results.cull import fileops, undo
from pipeline.results.cull.cull_log import Journal, NotACullLog, Row, read_cull_log
from pipeline.results.cull.fileops import Facts
from pipeline.results.cull.plan import FACT_COLUMNS, Action, Step, common_root, parse_types, plan
from pipeline.results.cull.safety import (
    CHANGED,
    changed_since_scored,
    containment_problem,
    launch_problem,
)
from pipeline.results.cull.selection import SELECTION_COLUMNS, select
from pipeline.results.cull.xmp import (
    COLOUR_LABELS,
    DEFAULT_LABEL,
    MAX_SIDECAR_BYTES,
    NotASidecar,
    mark_rejected,
)
from pipeline.results.overrides import OverridesError, read_overrides
from pipeline.results.progress_bar import progress
from pipeline.results.reader import ResultsError, read_run
from pipeline.storage.files import configure_file_systems

PAUSE_ENV = "PIPELINE_CULL_PAUSE_AFTER_COPY"
"""Tests only: "NAME:SECONDS" sleeps after copying the photo named NAME, before checking the copy, so
a test can kill the command or spoil the copy at that very moment."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one step; `size` and `sha256` describe the file the step produced."""

    result: str
    size: int | None = None
    sha256: str = ""
    created: bool | None = None
    kept: Facts | None = None
    folders: tuple[str, ...] = ()
    original_sha256: str = ""
    recorded: bool = False  # the step wrote its cull log row itself


@dataclass(frozen=True)
class Context:
    apply: bool
    journal: Journal
    root: str
    dest: str
    label: str | None = DEFAULT_LABEL
    model_version: str | None = None


def row_of(source: str, destination: str, action: str, outcome: Outcome) -> Row:
    kept = outcome.kept
    return Row(
        source, destination, action, outcome.result, outcome.size, outcome.sha256, outcome.created,
        kept.mode if kept else None, kept.atime_ns if kept else None, kept.mtime_ns if kept else None,
        outcome.folders, outcome.original_sha256,
    )  # fmt: skip


def _pause_for_tests(source: str) -> None:
    name, _, seconds = os.environ.get(PAUSE_ENV, "").partition(":")
    if name and source.rsplit("/", 1)[-1] == name:
        time.sleep(float(seconds))


_CONFLICT = "conflict: a different file is at the destination (left alone)"


def _transfer(step: Step, context: Context) -> Outcome:
    source, destination, move = step.source, step.destination, step.action is Action.MOVE
    refused = containment_problem(source, destination, context.root, context.dest)
    if refused:
        return Outcome(refused)
    if not fileops.exists(source):
        if move and fileops.exists(destination):
            return Outcome("skipped: already moved", *fileops.digest(destination))
        return Outcome("failed: photo not found")
    if fileops.same_file(source, destination):
        return Outcome("failed: refused: the destination is the photo itself")
    now = fileops.facts(source)  # before the photo is read: its access time as the user left it
    if changed_since_scored(now, step.size, step.modified_at, step.crc32c):
        return Outcome(f"skipped: {CHANGED} (left alone)")
    try:
        return _transfer_unchanged(step, context, now)
    finally:  # reading the photo moved its access time: the user's (and a backup tool's) view of it stays
        if fileops.is_local(source) and os.path.exists(fileops.local(source)):
            fileops.keep_times(source, now)


def _transfer_unchanged(step: Step, context: Context, now: Facts) -> Outcome:
    source, destination, move = step.source, step.destination, step.action is Action.MOVE
    original = fileops.digest(source)
    if fileops.exists(destination):
        there = fileops.digest(destination)
        if there != original:
            return Outcome(_CONFLICT)
        if not move:
            return Outcome("skipped: already there", *there, created=False)
        if not context.apply:
            return Outcome("would delete the photo (an identical file is already at the destination)")
        return _finish_move(step, context, Outcome("moved", *there, created=False, kept=now))
    if not context.apply:
        return Outcome(f"would {step.action}")
    folders = tuple(fileops.make_folders(destination.rsplit("/", 1)[0]))
    if not fileops.copy_new(source, destination, now):
        return Outcome(_CONFLICT, folders=folders)
    _pause_for_tests(source)
    if fileops.digest(destination) != original:
        return Outcome("failed: the copy does not match the photo (photo kept)", folders=folders)
    fileops.keep_times(destination, now)
    done = Outcome("moved" if move else "copied", *original, created=True, kept=now, folders=folders)
    return _finish_move(step, context, done) if move else done


def _finish_move(step: Step, context: Context, done: Outcome) -> Outcome:
    """Delete the photo once the row saying where it went is on disk."""
    context.journal.record(row_of(step.source, step.destination, str(step.action), done))
    try:
        fileops.delete(step.source)
    except OSError as error:
        failed = replace(done, result=f"failed: the photo could not be deleted ({error}); its copy stays")
        context.journal.record(row_of(step.source, step.destination, str(step.action), failed))
        return replace(failed, recorded=True)
    return replace(done, recorded=True)


def _sidecar(step: Step, context: Context) -> Outcome:
    source, destination = step.source, step.destination
    refused = containment_problem(source, destination, context.root, context.root)
    if refused:
        return Outcome(refused)
    if not fileops.exists(source):
        return Outcome("failed: photo not found")
    now = fileops.facts(source)
    if changed_since_scored(now, step.size, step.modified_at, step.crc32c):
        return Outcome(f"skipped: {CHANGED} (left alone)")
    existing = fileops.read_all(destination, MAX_SIDECAR_BYTES) if fileops.exists(destination) else None
    try:
        data = mark_rejected(
            existing,
            step.blur_type,
            step.blur_probability,
            context.model_version,
            context.label,
            step.reasons,
        )
    except NotASidecar as error:
        return Outcome(f"conflict: the file at the sidecar's name is not XMP ({error}); left alone")
    size, sha = len(data), hashlib.sha256(data).hexdigest()
    if existing == data:
        return Outcome("skipped: already there", size, sha, created=False)
    if not context.apply:
        return Outcome("would write the sidecar" if existing is None else "would merge into the sidecar")
    if existing is None:
        if not fileops.write_new(destination, lambda out: out.write(data)):
            return Outcome("conflict: a sidecar appeared meanwhile (left alone)")
        return Outcome("sidecar written", size, sha, created=True)
    original = hashlib.sha256(existing).hexdigest()
    context.journal.keep_original(existing, original)
    if fileops.read_all(destination, MAX_SIDECAR_BYTES) != existing:
        return Outcome("conflict: the sidecar changed while cull read it (left alone)")
    fileops.replace(destination, data)
    return Outcome("sidecar merged", size, sha, created=False, original_sha256=original)


def carry_out(step: Step, context: Context) -> Outcome:
    """Do (or, without `apply`, describe) one step; any error becomes a "failed: ..." outcome."""
    try:
        return _sidecar(step, context) if step.action is Action.XMP else _transfer(step, context)
    except Exception as error:  # one bad file must not stop the others
        return Outcome(f"failed: {type(error).__name__}: {error}")


def run_steps(
    items: Sequence,
    work: Callable[[object], Outcome],
    row: Callable[[object, Outcome], Row],
    line: Callable[[object, Outcome], str],
    journal: Journal,
    workers: int,
) -> list[Outcome]:
    """Run `work` over `items` on `workers` threads. Each outcome's cull log row is written as soon as
    its step completes (in whatever order they complete); a dry run prints a line per item instead."""

    def one(item) -> Outcome:
        outcome = work(item)
        if not outcome.recorded:
            journal.record(row(item, outcome))
        return outcome

    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, item): item for item in items}
        done: Iterable = as_completed(futures)
        if journal.path is not None:
            done = progress(done, len(items), "cull")
        for future in done:
            outcome = future.result()
            outcomes.append(outcome)
            if journal.path is None:
                print(line(futures[future], outcome))
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
    parser.add_argument(
        "--scores", metavar="PREFIX", help="the run's --output prefix (or its result manifest)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--to", metavar="DEST", help="folder (local or gs://) to copy or move the photos to")
    where.add_argument("--xmp", action="store_true", help="write XMP sidecars next to the photos instead")
    where.add_argument("--undo", metavar="LOG", help="reverse what a cull log records")
    parser.add_argument(
        "--apply", action="store_true", help="do it (without: a dry run that changes nothing)"
    )
    parser.add_argument("--move", action="store_true", help="move instead of copy (with --to)")
    parser.add_argument(
        "--bursts",
        action="store_true",
        help="act on the frames of each burst that are not its best (photos alone never); "
        "without --blurry, instead of the blurry photos",
    )
    parser.add_argument(
        "--blurry",
        action="store_true",
        help="act on the photos the job judged blurry (the default without --bursts; with it: either)",
    )
    parser.add_argument(
        "--overrides",
        metavar="FILE",
        help="a review page's overrides.csv: keep = never acted on, reject = acted on as if flagged",
    )
    parser.add_argument(
        "--types", help="only blurry photos of these types, comma-separated (e.g. motion,defocus)"
    )
    parser.add_argument(
        "--min_probability", type=float, default=None, help="only blurry photos at or above this"
    )
    parser.add_argument(
        "--root",
        help="the photos' folder: its structure is kept under DEST, and no photo outside it is touched "
        "(default: the run's common folder)",
    )
    parser.add_argument(
        "--xmp_naming",
        choices=("ext", "base"),
        default="ext",
        help="sidecar name: photo.jpg.xmp (ext: darktable, digiKam, Immich) or photo.xmp (base: Lightroom)",
    )
    parser.add_argument(
        "--label",
        choices=(*COLOUR_LABELS, "none"),
        default=DEFAULT_LABEL,
        help=f"colour label the sidecars give rejected photos (default {DEFAULT_LABEL}; names darktable, "
        "digiKam and Lightroom all know)",
    )
    parser.add_argument("--manifest", help="where to write the cull log, a CSV (default: ./cull-<time>.csv)")
    parser.add_argument("--workers", type=int, default=8, help="files handled at once (default 8)")
    args = parser.parse_args(argv)
    if args.undo is None and (args.scores is None or (args.to is None and not args.xmp)):
        parser.error("give --scores PREFIX and either --to DEST or --xmp (or --undo MANIFEST)")
    if args.move and args.to is None:
        parser.error("--move needs --to DEST")
    if args.bursts and not args.blurry and (args.types or args.min_probability is not None):
        parser.error("--types and --min_probability narrow the blurry photos: add --blurry to --bursts")
    args.blurry = args.blurry or not args.bursts
    args.min_probability = args.min_probability or 0.0
    try:
        args.types = parse_types(args.types)
    except ValueError as error:
        parser.error(str(error))
    return args


def _undo(args: argparse.Namespace, journal_path: Path | None) -> list[Outcome] | int:
    try:
        log = read_cull_log(args.undo)
    except NotACullLog as error:
        print(f"cull: {error}", file=sys.stderr)
        return 2
    reversals = [r for r in (undo.check_row(cells, log) for cells in log.rows) if r is not None]
    try:
        journal = Journal(journal_path, log.source_root, log.dest_root)
    except FileExistsError:
        print(f"cull: {journal_path} already exists: give another --manifest", file=sys.stderr)
        return 2
    try:
        outcomes = run_steps(
            reversals,
            lambda r: Outcome(undo.reverse(r, args.apply, Path(args.undo))),
            lambda r, o: row_of(r.row.source, r.row.destination, f"undo {r.row.action}", o),
            lambda r, o: undo.printed(r, o.result),
            journal,
            args.workers,
        )
    finally:
        journal.close()
    if args.apply:  # the run's folders, once empty: every row's files are back or gone by now
        fileops.remove_empty_folders(
            [f for r in reversals if r.problem is None for f in r.row.folders if fileops.is_local(f)]
        )
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_file_systems()
    for name in ("to", "root"):  # the cull log names absolute places: an undo may run from elsewhere
        value = getattr(args, name)
        if value and fileops.is_local(value):
            setattr(args, name, os.path.abspath(value))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    journal_path = (
        Path(args.manifest or f"cull-{'undo-' if args.undo else ''}{stamp}.csv") if args.apply else None
    )
    if args.undo:
        result = _undo(args, journal_path)
        if isinstance(result, int):
            return result
        outcomes = result
    else:
        try:  # before the run is read: a malformed file changes nothing and costs nothing
            overrides = read_overrides(args.overrides) if args.overrides else None
            run = read_run(args.scores, columns=["uri", *SELECTION_COLUMNS, "model_version", *FACT_COLUMNS])
        except (OverridesError, ResultsError) as error:  # a wrong or damaged file: one line, as argparse
            print(f"error: {error}", file=sys.stderr)
            return 2
        selection = select(
            run.table, blurry=args.blurry, bursts=args.bursts, types=args.types,
            min_probability=args.min_probability, overrides=overrides,
        )  # fmt: skip
        for line in selection.not_applied:
            print(line, file=sys.stderr)
        flagged = selection.table
        action = Action.XMP if args.xmp else (Action.MOVE if args.move else Action.COPY)
        root = args.root if args.root is not None else common_root(run.table.column("uri").to_pylist())
        steps = plan(flagged, action, root=root, dest=args.to or "", xmp_naming=args.xmp_naming)
        if args.to is not None:
            problem = launch_problem(args.to, root, ((s.source, s.destination) for s in steps))
            if problem:
                print(f"cull: {problem}", file=sys.stderr)
                return 2
        versions = set(run.table.column("model_version").drop_null().to_pylist())
        print(
            f"{len(steps)} photo(s) to act on of {run.table.num_rows} rows ({selection.summary()}); "
            f"folders kept below {root or '/'}",
            file=sys.stderr,
        )
        try:
            journal = Journal(journal_path, root, args.to or "")
        except FileExistsError:
            print(f"cull: {journal_path} already exists: give another --manifest", file=sys.stderr)
            return 2
        context = Context(
            args.apply, journal, root, args.to or "", None if args.label == "none" else args.label,
            versions.pop() if len(versions) == 1 else None,
        )  # fmt: skip
        arrow = "->" if action is not Action.XMP else "marks"
        try:
            outcomes = run_steps(
                steps,
                lambda step: carry_out(step, context),
                lambda s, o: row_of(s.source, s.destination, str(s.action), o),
                lambda s, o: f"{o.result}: {s.source} {arrow} {s.destination}",
                journal,
                args.workers,
            )
        finally:
            journal.close()
    for result, count in sorted(tally(outcomes).items()):
        print(f"{count:8d}  {result}", file=sys.stderr)
    if journal_path is not None:
        print(f"cull log: {journal_path}", file=sys.stderr)
    else:
        print("dry run: nothing was changed; add --apply to do it", file=sys.stderr)
    return 1 if any(o.result.startswith("failed") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
