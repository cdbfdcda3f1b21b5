"""Match step: from --input patterns and an --input_manifest to one MatchedFile per file, each file once.

Patterns follow pipeline.job.patterns (shell-like globs, local, gs:// or s3://). Listing is done here rather
than by Beam's MatchFiles, which drops dangling symlinks, fails the whole job on a name that is not UTF-8,
matches extensions case-sensitively and reads `br[1].jpg` as a character class. Every non-folder entry
is a file here: a dangling symlink, a symlink loop or a FIFO gets its row (from the read step).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline.job import patterns
from pipeline.job.steps import METRICS_NAMESPACE
from pipeline.storage import remote
from pipeline.storage.files import MatchedFile, local_uri


@dataclass(frozen=True)
class FileQuery:
    """One thing to list: a literal file, or a glob `regex` over full URIs under `folder`.
    Made at launch by resolve_pattern, listed on a worker by list_query."""

    pattern: str  # as the user gave it, for messages
    folder: str  # a local folder or gs://bucket/prefix where listing starts; or the one file
    glob: str | None = None  # None: every file under `folder` (or `folder` is the file itself)
    max_depth: int | None = None  # folders below `folder` a match may lie in; None: any

    @property
    def is_one_file(self) -> bool:
        return not self.folder.endswith("/")


def resolve_pattern(pattern: str, look_up_gcs: bool = True) -> list[FileQuery]:
    """What one --input means. A path naming an existing file is that file, even with `[ ] ? *` in
    its name; a folder means every file under it; otherwise the braces expand and each is a glob.
    Checks only what is cheap (one stat or one object look-up; none for gs:// without `look_up_gcs`)."""
    normal = patterns.normalise(pattern)
    if patterns.is_remote(normal):
        if look_up_gcs and not normal.endswith("/") and _remote_file(normal).size is not None:
            return [FileQuery(pattern, normal)]
        if not patterns.has_wildcard(normal) and "{" not in normal:
            return [FileQuery(pattern, normal.rstrip("/") + "/")]  # a "folder": every object under it
    else:
        if os.path.lexists(normal) and not os.path.isdir(normal):
            return [FileQuery(pattern, normal)]
        if os.path.isdir(normal):
            return [FileQuery(pattern, normal.rstrip("/") + "/")]
        if not patterns.has_wildcard(normal) and "{" not in normal:
            raise FileNotFoundError(f"--input {pattern}: no such file or folder")
    queries = []
    for glob in patterns.expand_braces(normal):
        glob = patterns.normalise(glob)
        queries.append(FileQuery(pattern, patterns.fixed_folder(glob), glob, patterns.max_depth(glob)))
    return queries


def list_query(query: FileQuery, excluded: Callable[[str], bool]) -> Iterator[MatchedFile]:
    """Every file the query matches, except those `excluded` says belong to the job's own output."""
    remote = patterns.is_remote(query.folder)
    if query.is_one_file:
        files: Iterable[MatchedFile] = [_remote_file(query.folder) if remote else _local_file(query.folder)]
    else:
        files = (_list_remote if remote else _list_local)(query.folder, query.max_depth)
        if query.glob is not None:
            regex = patterns.glob_regex(query.glob)
            files = (file for file in files if regex.match(file.uri))
    for file in files:
        if file is not None and not excluded(file.uri):
            yield file


def _local_file(path: str) -> MatchedFile:
    """A local file's facts; a dangling symlink or a loop has none, but it is still a file to report."""
    try:
        facts = os.stat(path)
    except OSError:
        return MatchedFile(path)
    return MatchedFile(path, facts.st_size, facts.st_mtime)


def _list_local(folder: str, depth: int | None) -> Iterator[MatchedFile]:
    """Every entry under `folder` that is not a folder, `depth` folders deep at most. Symlinked folders
    are followed, each real folder once (a link to an ancestor does not loop). Names are bytes, so a
    name that is not UTF-8 is listed too (see files.local_uri)."""
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[bytes, int]] = [(os.fsencode(folder), 0)]
    while stack:
        current, level = stack.pop()
        try:
            facts = os.stat(current)
            entries = list(os.scandir(current))
        except OSError:
            continue  # vanished or unreadable folder: nothing in it can be listed
        if (facts.st_dev, facts.st_ino) in seen:
            continue
        seen.add((facts.st_dev, facts.st_ino))
        for entry in entries:
            try:
                target = entry.stat()  # follows symlinks
            except OSError:
                target = None  # dangling symlink or loop: a file that will get an error row
            if target is not None and stat.S_ISDIR(target.st_mode):
                if depth is None or level < depth:
                    stack.append((entry.path, level + 1))
                continue
            uri = local_uri(entry.path)
            yield MatchedFile(uri, target.st_size, target.st_mtime) if target else MatchedFile(uri)


GCS_TIMEOUT_S = 30
"""Per request. A launch check must fail in seconds, not after Beam's minutes of retries."""


def _remote_file(uri: str) -> MatchedFile:
    """A gs:// or s3:// object's facts; none when it does not exist (the read step reports it)."""
    if patterns.is_gcs(uri) or patterns.is_s3(uri):
        return remote.object_file(uri)
    try:
        metadata = FileSystems.get_filesystem(uri).metadata(uri)
    except Exception:  # missing (or unreadable: the read step says which)
        return MatchedFile(uri)
    return MatchedFile(uri, metadata.size_in_bytes, metadata.last_updated_in_seconds or None)


def _list_remote(folder: str, depth: int | None) -> Iterator[MatchedFile]:
    """Every object under the prefix: gs:// through google-cloud-storage (for the CRC32C), s3:// through
    boto3, each call under a deadline (pipeline.storage.remote: StorageUnavailable when it passes)."""
    if patterns.is_gcs(folder) or patterns.is_s3(folder):
        yield from remote.list_objects(folder)
        return
    for metadata in FileSystems.match([folder + "**"])[0].metadata_list:
        if not metadata.path.endswith("/"):  # a folder placeholder, not a file
            yield MatchedFile(metadata.path, metadata.size_in_bytes, metadata.last_updated_in_seconds or None)


def manifest_file(line: str, exists: Callable[[str], bool] = FileSystems.exists) -> MatchedFile | None:
    """The file named on one manifest line, or None for a blank line or a `#` comment.

    A BOM and the whitespace around the name are dropped, unless the line as written names an existing
    file; a line starting with `#` is a comment unless it names an existing file (`#1 best.jpg`).
    Local paths are normalised like patterns; their size and time come from one stat."""
    line = line.lstrip("\ufeff").rstrip("\r\n")
    name = line.strip()
    if not name:
        return None
    if name != line and exists(patterns.normalise(line)):
        name = line
    elif name.startswith("#") and not exists(patterns.normalise(name)):
        return None
    uri = patterns.normalise(name)
    return MatchedFile(uri) if patterns.is_remote(uri) else _local_file(uri)


def _manifest_files(line: str) -> list[MatchedFile]:
    file = manifest_file(line)
    return [file] if file else []


def most_informative(files: Iterable[MatchedFile]) -> MatchedFile:
    """Of several sightings of one URI (a pattern match and a manifest line), the one that knows most."""
    return max(files, key=lambda file: sum(value is not None for value in file[1:]))


def matched_files(
    queries: Iterable[FileQuery], manifest: str | None = None, output_prefix: str | None = None
) -> Iterator[MatchedFile]:
    """What MatchPhotos yields, listed in this process (the launcher, to plan a run), each URI once.
    A URI seen again is skipped: two patterns see the same facts, and a manifest line (listed last)
    knows no more than a pattern did, so the first sighting is the most informative one here too."""
    excluded = patterns.output_excluder(output_prefix)
    seen: set[str] = set()
    sources: list[Iterable[MatchedFile]] = [list_query(query, excluded) for query in queries]
    if manifest:
        with FileSystems.open(manifest, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            lines = [line.decode("utf-8") for line in stream]
        sources.append(file for line in lines for file in _manifest_files(line))
    for source in sources:
        for file in source:
            if file.uri not in seen:
                seen.add(file.uri)
                yield file


def _count_file(file: MatchedFile) -> MatchedFile:
    Metrics.counter(METRICS_NAMESPACE, "files").inc()
    return file


class MatchPhotos(beam.PTransform):
    """A MatchedFile for every file the queries match and every line of the manifest, each URI once.

    `queries` come from resolve_pattern at launch; files the job itself writes under `output_prefix`
    are never matched. Manifest lines are taken as they are (see manifest_file): a listed file that
    is missing reaches the read step and becomes a "file not found" row.
    """

    def __init__(
        self, queries: list[FileQuery], manifest: str | None = None, output_prefix: str | None = None
    ):
        super().__init__()
        self._queries = list(queries)
        self._manifest = manifest
        self._output_prefix = output_prefix

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[MatchedFile]:
        sources = []
        if self._queries:
            excluded = patterns.output_excluder(self._output_prefix)
            sources.append(
                pbegin
                | "Queries" >> beam.Create(self._queries)
                | "ListFiles" >> beam.FlatMap(list_query, excluded)
            )
        if self._manifest:
            sources.append(
                pbegin
                | "ReadManifest" >> beam.io.ReadFromText(self._manifest)
                | "ManifestLines" >> beam.FlatMap(_manifest_files)
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
