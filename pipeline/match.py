"""Match step: from --input patterns and an --input_manifest to one URI per file, each file exactly once.

Patterns use Beam's FileSystems syntax, local or gs://: `*` matches within one folder, `**` matches
across folders (so `photos/**` is every file under `photos/`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline.files import MatchedFile
from pipeline.steps import METRICS_NAMESPACE


def beam_pattern(pattern: str) -> str:
    """The Beam pattern that matches what a shell user means by `pattern`.

    In Beam `**` is "any characters, slashes included", so `photos/**/*.jpg` would need at least one
    sub-folder and miss `photos/a.jpg`; in a shell (globstar) it also matches the top folder. `**/*`
    is rewritten to `**`, which means the same as the shell for any tail without a slash or `**`.
    """
    return pattern.replace("**/*", "**")


def has_wildcard(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def check_plain_paths(patterns: Sequence[str]) -> None:
    """Fail at launch, with the path in the message, when a pattern without wildcards names no file.

    (Beam's MatchFiles would fail later with only "ALLOW_IF_WILDCARD" as its message.)
    """
    for pattern in patterns:
        if not has_wildcard(pattern) and not FileSystems.exists(pattern):
            raise FileNotFoundError(f"--input {pattern}: no such file (a path without wildcards must exist)")


def manifest_uri(line: str) -> str | None:
    """The URI on one manifest line, or None for a blank line or a `#` comment."""
    uri = line.strip()
    return uri if uri and not uri.startswith("#") else None


def matched_file(metadata: FileMetadata) -> MatchedFile:
    """A listed file, with the size and modification time the file system reported."""
    return MatchedFile(metadata.path, metadata.size_in_bytes, metadata.last_updated_in_seconds or None)


def most_informative(files: Iterable[MatchedFile]) -> MatchedFile:
    """Of several sightings of one URI (a pattern match and a manifest line), the one that knows most."""
    return max(files, key=lambda file: (file.size is not None, file.modified_at is not None))


def _count_file(file: MatchedFile) -> MatchedFile:
    Metrics.counter(METRICS_NAMESPACE, "files").inc()
    return file


class MatchPhotos(beam.PTransform):
    """A MatchedFile for every file matched by the patterns and every line of the manifest, each URI once.

    A pattern with a wildcard may match nothing; a plain path that does not exist fails the job when
    it is built (a typo should not yield an empty result). Manifest lines are taken as they are, so a
    listed file that is missing reaches the read step and becomes a "file not found" row.
    """

    def __init__(self, patterns: Sequence[str], manifest: str | None = None):
        super().__init__()
        self._patterns = list(patterns)
        self._manifest = manifest

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[MatchedFile]:
        check_plain_paths(self._patterns)
        sources = []
        for index, pattern in enumerate(self._patterns):
            matched = pbegin | f"Match{index}" >> fileio.MatchFiles(
                beam_pattern(pattern), empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW_IF_WILDCARD
            )
            sources.append(matched | f"File{index}" >> beam.Map(matched_file))
        if self._manifest:
            sources.append(
                pbegin
                | "ReadManifest" >> beam.io.ReadFromText(self._manifest)
                | "ManifestUri"
                >> beam.FlatMap(lambda line: [MatchedFile(uri)] if (uri := manifest_uri(line)) else [])
            )
        return (
            sources
            | "AllSources" >> beam.Flatten()
            # Overlapping patterns or a repeated manifest line must not give a photo two rows.
            | "KeyByUri" >> beam.Map(lambda file: (file.uri, file))
            | "EachFileOnce" >> beam.CombinePerKey(most_informative)
            | "DropKeys" >> beam.Values()
            | "CountFiles" >> beam.Map(_count_file)
        )
