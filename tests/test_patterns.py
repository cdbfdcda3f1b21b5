"""pipeline.job.patterns and the pure parts of pipeline.storage.files / pipeline.job.match: what a pattern or
a manifest line means, without running the job."""

from __future__ import annotations

import os

import pytest

from pipeline.job import patterns
from pipeline.job.match import manifest_file, most_informative
from pipeline.storage.files import MatchedFile, content_crc32c, gcs_crc32c, local_uri, os_path


def matches(pattern: str, path: str) -> bool:
    return bool(patterns.glob_regex(pattern).match(path))


def test_star_stays_in_a_folder_and_double_star_crosses() -> None:
    assert matches("/p/*.jpg", "/p/a.jpg") and not matches("/p/*.jpg", "/p/sub/a.jpg")
    assert matches("/p/**", "/p/sub/deeper/a.png")
    assert matches("/p/**/*.jpg", "/p/a.jpg") and matches("/p/**/*.jpg", "/p/x/y/a.jpg")
    assert matches("/p/?.jpg", "/p/a.jpg") and not matches("/p/?.jpg", "/p/ab.jpg")
    assert matches("/p/[ab].jpg", "/p/b.jpg") and not matches("/p/[!ab].jpg", "/p/b.jpg")


def test_the_extension_matches_in_any_case_the_rest_does_not() -> None:
    assert matches("/p/**/*.jpg", "/p/DCIM/IMG_1.JPG") and matches("/p/*.jpg", "/p/a.Jpg")
    assert not matches("/p/IMG_*.jpg", "/p/img_1.jpg")


def test_braces_expand_nested_and_unbalanced_braces_are_errors() -> None:
    assert patterns.expand_braces("a.{jpg,png}") == ["a.jpg", "a.png"]
    assert patterns.expand_braces("{x,y}/*.{jpg,{heic,png}}") == [
        "x/*.jpg", "x/*.heic", "x/*.png", "y/*.jpg", "y/*.heic", "y/*.png",
    ]  # fmt: skip
    for broken in ("a.{jpg,png", "a.jpg}"):
        with pytest.raises(ValueError, match="without its"):
            patterns.expand_braces(broken)


def test_local_paths_are_absolute_and_normalised(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/someone")
    assert patterns.normalise_local("a.jpg") == f"{tmp_path}/a.jpg"
    assert patterns.normalise_local("/a//b/./c/../d.jpg") == "/a/b/d.jpg"
    assert patterns.normalise_local("//a/b.jpg") == "/a/b.jpg"
    assert patterns.normalise_local("~/photos/**") == "/home/someone/photos/**"
    assert patterns.normalise("gs://b/x//y/./z.jpg") == "gs://b/x/y/z.jpg"


def test_where_listing_starts() -> None:
    assert patterns.fixed_folder("/p/2023/*/a.jpg") == "/p/2023/"
    assert patterns.max_depth("/p/2023/*/a.jpg") == 1
    assert patterns.max_depth("/p/**/a.jpg") is None


def test_the_jobs_own_output_is_excluded() -> None:
    excluded = patterns.output_excluder("/p/out/scores")
    assert excluded("/p/out/scores-00000-of-00001.parquet") and excluded("/p/out/scores-manifest.json")
    assert excluded("/p/out/beam-temp-scores-1234/x") and excluded("/p/out/.scores-manifest.json.run1.tmp")
    assert not excluded("/p/out/scoresheet.jpg") and not excluded("/p/a.jpg")
    assert patterns.output_excluder("/p/out/")("/p/out/anything.parquet")


def test_a_name_that_is_not_utf8_gets_a_uri_that_opens_the_file(tmp_path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(raw, "wb") as stream:
        stream.write(b"bytes of the photo")
    uri = local_uri(raw)
    uri.encode("utf-8")  # travels through Beam's coders and into Parquet
    assert uri.endswith("caf\\xe9.jpg")
    with open(os_path(uri), "rb") as stream:
        assert stream.read() == b"bytes of the photo"
    assert os_path(str(tmp_path / "plain.jpg")) == str(tmp_path / "plain.jpg")


def test_crc32c_is_clouds_own_format() -> None:
    # Cloud Storage's documented CRC32C of the bytes "hello world" (base64 big-endian): yZRlqg==.
    assert content_crc32c(b"hello world") == gcs_crc32c("yZRlqg==") == "c99465aa"
    assert gcs_crc32c(None) is None


def test_manifest_lines(tmp_path) -> None:
    real = {str(tmp_path / "#1 best.jpg"), str(tmp_path / " padded.jpg")}

    def line(text: str) -> MatchedFile | None:
        return manifest_file(text, exists=lambda uri: uri in real)

    assert line("# a comment") is None and line("   ") is None and line("\n") is None
    assert line(f"{tmp_path}/#1 best.jpg\n").uri == f"{tmp_path}/#1 best.jpg"  # a real file is no comment
    assert line(f"\ufeff  {tmp_path}/a.jpg \r\n").uri == f"{tmp_path}/a.jpg"  # BOM and spaces dropped
    assert line(f"{tmp_path}/ padded.jpg").uri == f"{tmp_path}/ padded.jpg"  # unless the name has them
    assert line("gs://b/x//y.jpg") == MatchedFile("gs://b/x/y.jpg")


def test_the_sighting_that_knows_most_wins() -> None:
    listed, matched = MatchedFile("/a.jpg"), MatchedFile("/a.jpg", 10, 1.0)
    assert most_informative([listed, matched]) == most_informative([matched, listed]) == matched
