"""The job's command line: its own flags, and Beam's pipeline options passed through untouched (a
misspelt Beam flag is an error with a suggestion, not a silently ignored option)."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from model import MODEL_DIR
from pipeline.job.burst_groups import DEFAULT_BURST_GAP_S
from pipeline.photo.payload import DEFAULT_MAX_FILE_MB, DEFAULT_SECONDS_PER_FILE
from pipeline.verdict import DEFAULT_BLUR_THRESHOLD, DEFAULT_LAPLACIAN_THRESHOLD


class FlagRecordingParser(argparse.ArgumentParser):
    """An ArgumentParser that remembers the option strings it was given (`flags`), for suggestions."""

    flags: list[str]

    def add_argument(self, *names, **kwargs):
        # ArgumentParser.__init__ adds --help through this method, before a subclass's __init__ could run.
        if "flags" not in self.__dict__:
            self.flags = []
        self.flags.extend(name for name in names if name.startswith("-"))
        return super().add_argument(*names, **kwargs)


def _number_in(low: float, high: float | None):
    """An argparse type: a float in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (low <= value <= (high if high is not None else float("inf"))):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be {bounds}")
        return value

    return parse


def parse_job_args(argv: Sequence[str] | None, description: str = "") -> tuple[argparse.Namespace, list[str]]:
    """The job's own flags, and the rest (Beam's pipeline options) untouched."""
    parser = FlagRecordingParser(
        prog="python -m pipeline.score",
        description=description,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="PATTERN",
        help="files to score, local, gs:// or s3://; `*` within a folder, `**` across folders; repeatable",
    )
    parser.add_argument("--input_manifest", metavar="FILE", help="a file listing one URI per line")
    parser.add_argument(
        "--output",
        required=True,
        metavar="PREFIX",
        help="where the run's Parquet shards and PREFIX-manifest.json go; a trailing / means a folder",
    )
    parser.add_argument(
        "--model",
        default=str(MODEL_DIR),
        metavar="DIR",
        help="model folder, local, gs:// or s3:// (default: the shipped model/)",
    )
    parser.add_argument(
        "--laplacian_threshold",
        type=_number_in(0.0, None),
        default=DEFAULT_LAPLACIAN_THRESHOLD,
        help="laplacian_blurry is laplacian_var below this (default 100, at the 1000 px working scale); >= 0",
    )
    parser.add_argument(
        "--blur_threshold",
        type=_number_in(0.0, 1.0),
        default=DEFAULT_BLUR_THRESHOLD,
        help="blurry is blur_probability at or above this (default 0.5); in [0, 1]",
    )
    parser.add_argument(
        "--allow_empty",
        action="store_true",
        help="a pattern or manifest that matches no file is not an error (default: it is)",
    )
    parser.add_argument(
        "--skip_scored",
        metavar="EARLIER",
        help="an earlier run's output PREFIX (or a glob of its Parquet files): files it scored with this "
        "model, unchanged since, are not read again; their rows are carried into this run's output",
    )
    parser.add_argument(
        "--progress_interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a progress line every SECONDS on a run on this machine (default 30; 0: none)",
    )
    # Bounds on one file (pipeline.storage.read, pipeline.photo.payload).
    parser.add_argument(
        "--max_file_mb",
        type=float,
        default=DEFAULT_MAX_FILE_MB,
        help=f"larger files get an error row without being read (default {DEFAULT_MAX_FILE_MB:g})",
    )
    parser.add_argument(
        "--max_seconds_per_file",
        type=float,
        default=DEFAULT_SECONDS_PER_FILE,
        help=f"read + decode time budget of one file (default {DEFAULT_SECONDS_PER_FILE:g})",
    )
    parser.add_argument(
        "--burst_gap_s",
        type=_number_in(0.0, 3600.0),
        default=DEFAULT_BURST_GAP_S,
        metavar="SECONDS",
        help=f"photos of one camera at most SECONDS apart and alike in content are one burst, ranked "
        f"sharpest first (default {DEFAULT_BURST_GAP_S:g}; 0: no bursts); see docs/bursts.md",
    )
    job_args, beam_args = parser.parse_known_args(argv)
    if not job_args.input and not job_args.input_manifest:
        parser.error("give at least one --input PATTERN or an --input_manifest FILE")
    unknown = unknown_beam_args(beam_args, parser.flags)
    if unknown:
        parser.error(f"unrecognized arguments: {', '.join(unknown)}")
    return job_args, beam_args


def unknown_beam_args(beam_args: Sequence[str], job_flags: Iterable[str]) -> list[str]:
    """The arguments no Beam pipeline option takes, each with a suggestion when one is close.

    Beam's PipelineOptions drops unknown flags with a warning; this builds the same parser Beam does
    (every PipelineOptions subclass's `_add_argparse_args`, as get_all_options does) and keeps what it
    leaves over, so a misspelt flag stops the launch instead of silently running with the default."""
    parser = FlagRecordingParser(allow_abbrev=False, add_help=False)
    for options_class in {str(cls): cls for cls in PipelineOptions.__subclasses__()}.values():
        options_class._add_argparse_args(parser)  # noqa: SLF001 (Beam's own way to list its options)
    _, unknown = parser.parse_known_args(list(beam_args))
    known = parser.flags + list(job_flags)
    described = []
    for arg in unknown:
        name = arg.split("=", 1)[0]
        close = difflib.get_close_matches(name, known, n=1) if name.startswith("--") else []
        described.append(f"{arg} (did you mean {close[0]}?)" if close else arg)
    return described
