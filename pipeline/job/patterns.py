"""What an --input pattern means, as pure functions (no Beam, no file system access).

The rules, chosen to be what a shell user expects (docs/cli.md, "What to score"):
- `*` and `?` stay within one folder, `**` crosses folders, and `DIR/**/NAME` also matches `DIR/NAME`;
  `[abc]` / `[!abc]` are character classes; `{jpg,png}` braces expand to one pattern each.
- The extension of a pattern matches in any case: `*.jpg` also matches `IMG_1.JPG`.
- Local paths are absolute and normalised (`~` expanded, no `.`, `..` or `//`), so every spelling of a
  file gives the same URI and one row.
"""

from __future__ import annotations

import os
import posixpath
import re

GCS_SCHEME = "gs://"
S3_SCHEME = "s3://"  # AWS S3 and S3-compatible stores, through Beam's S3 file system
WILDCARDS = "*?["


def is_gcs(path: str) -> bool:
    return path.startswith(GCS_SCHEME)


def is_s3(path: str) -> bool:
    return path.startswith(S3_SCHEME)


def is_remote(path: str) -> bool:
    """A bucket URI (gs:// or s3://), not a local path."""
    return is_gcs(path) or is_s3(path)


def has_wildcard(pattern: str) -> bool:
    return any(char in pattern for char in WILDCARDS)


def normalise_local(path: str) -> str:
    """An absolute, normalised local path: `~` expanded, relative to the working directory, and no
    `.`, `..` or repeated slashes (lexically, like the shell's `cd -L`: symlinks are not resolved)."""
    absolute = os.path.abspath(os.path.expanduser(path))
    # POSIX lets normpath keep a leading `//`; for Linux it is the same folder as `/`.
    return re.sub(r"^/{2,}", "/", absolute)


def normalise_gcs(uri: str) -> str:
    """gs://bucket/a//b/./c -> gs://bucket/a/b/c (object names are kept otherwise as given); s3:// alike."""
    scheme, _, rest = uri.partition("://")
    bucket, _, name = rest.partition("/")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    trailing = "/" if name.endswith("/") and parts else ""
    return f"{scheme}://{bucket}/{'/'.join(parts)}{trailing}"


def normalise(path: str) -> str:
    return normalise_gcs(path) if is_remote(path) else normalise_local(path)


def expand_braces(pattern: str) -> list[str]:
    """`a.{jpg,png}` -> [`a.jpg`, `a.png`]; nested braces too. A `{` without its `}` (or the other way
    round) is an error, since the shell would have matched nothing."""
    depth, start = 0, None
    for index, char in enumerate(pattern):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"pattern {pattern!r}: '}}' without its '{{'")
            if depth == 0 and start is not None:
                head, body, tail = pattern[:start], pattern[start + 1 : index], pattern[index + 1 :]
                return [
                    expanded
                    for choice in _split_top_level(body)
                    for expanded in expand_braces(head + choice + tail)
                ]
    if depth:
        raise ValueError(f"pattern {pattern!r}: '{{' without its '}}'")
    return [pattern]


def _split_top_level(body: str) -> list[str]:
    """`jpg,{png,gif}` -> [`jpg`, `{png,gif}`]: commas inside nested braces do not split."""
    choices, depth, current = [], 0, ""
    for char in body:
        if char == "," and depth == 0:
            choices.append(current)
            current = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        current += char
    return [*choices, current]


def fixed_folder(pattern: str) -> str:
    """The deepest folder of `pattern` before its first wildcard: where listing starts."""
    first = min((pattern.index(char) for char in WILDCARDS if char in pattern), default=len(pattern))
    return pattern[: pattern.rfind("/", 0, first) + 1]


def max_depth(pattern: str) -> int | None:
    """How many folders below fixed_folder(pattern) a match can lie; None when `**` allows any depth."""
    rest = pattern[len(fixed_folder(pattern)) :]
    return None if "**" in rest else rest.count("/")


_EXTENSION = re.compile(r"\.([A-Za-z0-9]+)$")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a (brace-free) glob over full paths, extension in any case."""
    extension = _EXTENSION.search(pattern)
    body = pattern[: extension.start()] if extension else pattern
    regex = _translate(body)
    if extension:
        regex += r"\." + "(?i:" + re.escape(extension.group(1)) + ")"
    return re.compile(regex + r"\Z", re.DOTALL)


def _translate(glob: str) -> str:
    parts, index = [], 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**/", index):
            parts.append("(?:.*/)?")  # zero or more folders, as in a shell with globstar
            index += 3
        elif glob.startswith("**", index):
            parts.append(".*")
            index += 2
        elif char == "*":
            parts.append("[^/]*")
            index += 1
        elif char == "?":
            parts.append("[^/]")
            index += 1
        elif char == "[" and (end := _class_end(glob, index)) is not None:
            members = glob[index + 1 : end]
            negate = members[:1] in ("!", "^")
            members = members[1:] if negate else members
            escaped = members.replace("\\", "\\\\").replace("[", "\\[")
            parts.append(f"[{'^/' if negate else ''}{escaped}]")
            index = end + 1
        else:
            parts.append(re.escape(char))
            index += 1
    return "".join(parts)


def _class_end(glob: str, start: int) -> int | None:
    """Index of the `]` closing the class opened at `start`, or None (then `[` is a literal)."""
    index = start + 1
    if index < len(glob) and glob[index] in "!^":
        index += 1
    if index < len(glob) and glob[index] == "]":
        index += 1  # `[]]` is a class holding `]`
    end = glob.find("]", index)
    return None if end < 0 or "/" in glob[start:end] else end


def output_excluder(output_prefix: str | None):
    """A predicate: is this URI one of the files a run writing to `output_prefix` makes (its shards,
    manifest and temporary files)? The job never scores those, even when they sit in its input folder."""
    if not output_prefix:
        return lambda uri: False
    prefix = normalise(output_prefix) + ("/" if output_prefix.endswith("/") else "")
    folder, name = posixpath.split(prefix)
    beam_temp = posixpath.join(folder, f"beam-temp-{name}")  # Beam's FileBasedSink temporary folder
    hidden = posixpath.join(folder, f".{name}-")  # a manifest being written: .NAME-manifest.json.RUN.tmp
    owned = (prefix,) if prefix.endswith("/") else (prefix + "-", prefix + ".", beam_temp, hidden)

    def excluded(uri: str) -> bool:
        return uri == prefix or uri.startswith(owned)

    return excluded
