"""The overrides file (pipeline.results.overrides): what the review page downloads and cull reads.
Round trips, the one-line errors of malformed files, and stale overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.results.overrides import (
    COLUMNS,
    Override,
    OverridesError,
    format_overrides,
    parse_overrides,
    read_overrides,
    stale_reason,
    write_overrides,
)

WHEN = datetime(2026, 6, 1, 10, 0, 3, 120000, tzinfo=UTC)
HEADER = ",".join(COLUMNS)


def test_a_round_trip_keeps_every_field(tmp_path: Path) -> None:
    overrides = [
        Override('/photos/a,b "quoted".jpg', "reject", 2483112, WHEN, "1a2b3c4d"),
        Override("gs://bucket/x/\u00e9t\u00e9\nnewline.jpg", "keep"),
    ]
    path = tmp_path / "overrides.csv"
    write_overrides(path, overrides)
    assert read_overrides(path) == {o.uri: o for o in overrides}


def test_the_page_s_form_reads_too() -> None:
    """Every field quoted, CRLF line ends, empty facts as "" (review.js writes this form), a BOM."""
    text = (
        "\ufeff" + HEADER + "\r\n"
        '"/p/a.jpg","keep","12","2026-06-01T10:00:03.120000+00:00","0000abcd"\r\n'
        '"/p/b.jpg","reject","","",""\r\n'
    )
    found = parse_overrides(text)
    assert found["/p/a.jpg"] == Override("/p/a.jpg", "keep", 12, WHEN, "0000abcd")
    assert found["/p/b.jpg"] == Override("/p/b.jpg", "reject")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "overrides.csv: not an overrides file (its first line must be uri,decision,"),
        ("uri,decision\n/a.jpg,keep\n", "not an overrides file"),
        (HEADER + "\n/a.jpg,maybe,,,\n", "overrides.csv line 2: decision 'maybe' is neither keep nor reject"),
        (HEADER + "\n/a.jpg,keep,,\n", "overrides.csv line 2: 4 fields, expected 5"),
        (HEADER + "\n,keep,,,\n", "line 2: empty uri"),
        (HEADER + "\n/a.jpg,keep,12kB,,\n", "line 2: file_size '12kB' is not a whole number of bytes"),
        (HEADER + "\n/a.jpg,keep,-1,,\n", "file_size '-1'"),
        (HEADER + "\n/a.jpg,keep,,yesterday,\n", "line 2: modified_at 'yesterday' is not an ISO 8601 time"),
        (HEADER + "\n/a.jpg,keep,,2026-06-01T10:00:00,\n", "has no UTC offset"),
        (HEADER + "\n/a.jpg,keep,,,XYZ\n", "line 2: crc32c 'XYZ' is not 8 lower-case hex digits"),
        (HEADER + "\n/a.jpg,keep,,,\n/b.jpg,keep,,,\n/a.jpg,reject,,,\n", "line 4: '/a.jpg' is given twice"),
        (HEADER + '\n"/a.jpg,keep,,,\n', "not valid CSV"),
    ],
)
def test_a_malformed_file_is_one_line_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(OverridesError) as error:
        parse_overrides(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_files_that_cannot_be_overrides(tmp_path: Path) -> None:
    with pytest.raises(OverridesError, match="cannot be read"):
        read_overrides(tmp_path / "missing.csv")
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(OverridesError, match="not UTF-8 text"):
        read_overrides(binary)
    with pytest.raises(OverridesError, match="neither keep nor reject"):
        format_overrides([Override("/a.jpg", "delete")])


def test_a_stale_override_is_told_apart() -> None:
    override = Override("/p/a.jpg", "reject", 100, WHEN, "0000abcd")
    row = {
        "file_size": 100,
        "modified_at": WHEN.astimezone(timezone(timedelta(hours=2))),
        "crc32c": "0000abcd",
    }
    assert stale_reason(override, row) is None  # the same moment in another zone
    assert stale_reason(override, {**row, "modified_at": WHEN.replace(tzinfo=None)}) is None  # naive: UTC
    assert "size 100 -> 101" in stale_reason(override, {**row, "file_size": 101})
    assert "crc32c" in stale_reason(override, {**row, "crc32c": "ffffffff"})
    assert "modified" in stale_reason(override, {**row, "modified_at": WHEN + timedelta(seconds=1)})
    # Facts one side did not record are not compared.
    assert stale_reason(Override("/p/a.jpg", "keep"), {**row, "file_size": 5}) is None
    assert stale_reason(override, {"file_size": None, "modified_at": None, "crc32c": None}) is None
