"""Sidecars as photo managers read them: cull --xmp checked with a real XMP reader, Debian's exiftool
(libimage-exiftool-perl, installed by scripts/ensure_exiftool.sh). New sidecars, a merge into a
darktable sidecar that keeps its edits, a rerun, an undo that puts the original back byte for byte."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cull_runs import make_photos, write_run

from pipeline.results.cull import cull

DARKTABLE_SIDECAR = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="3"
   xmp:Label="Green"
   darktable:xmp_version="5"
   darktable:history_end="1">
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject>
   <dc:description>
    <rdf:Alt><rdf:li xml:lang="x-default">Grandma at the lake</rdf:li></rdf:Alt>
   </dc:description>
   <darktable:colorlabels><rdf:Seq><rdf:li>2</rdf:li></rdf:Seq></darktable:colorlabels>
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:operation="exposure" darktable:enabled="1" darktable:params="0000000000000000"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def exiftool(path: Path) -> dict:
    """Every tag exiftool reads in a file, keyed group:name (exiftool -j -G1)."""
    if shutil.which("exiftool") is None:
        pytest.fail("no exiftool: run scripts/ensure_exiftool.sh (apt-get install libimage-exiftool-perl)")
    done = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (tags,) = json.loads(done.stdout)
    return tags


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _results(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as stream:
        return {row["source"]: row["result"] for row in csv.DictReader(stream) if row["action"] != "run"}


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = make_photos(tmp_path / "photos", 4)
    return paths, write_run(paths, tmp_path / "run" / "scores")


def test_new_sidecars_mark_rejects_as_each_manager_reads_them(run, tmp_path) -> None:
    paths, prefix = run
    assert cull.main(["--scores", prefix, "--xmp", "--apply", "--manifest", "x.csv"]) == 0
    for path in paths:
        tags = exiftool(Path(f"{path}.xmp"))
        assert tags["XMP-xmp:Rating"] == -1  # darktable's reject; Lightroom and Immich read the rating
        assert tags["XMP-digiKam:PickLabel"] == 1  # digiKam's reject
        assert tags["XMP-xmp:Label"] == "Red" and tags["XMP-digiKam:ColorLabel"] == 1
        assert tags["XMP-darktable:Colorlabels"] == 0  # darktable's red
        assert _listed(tags["XMP-dc:Subject"]) == ["Blurry"]
        assert _listed(tags["XMP-lr:HierarchicalSubject"]) == ["Blurry|motion"]
        assert _listed(tags["XMP-digiKam:TagsList"]) == ["Blurry/motion"]
    assert cull.main(["--undo", "x.csv", "--apply", "--manifest", "u.csv"]) == 0
    assert not any(Path(f"{path}.xmp").exists() for path in paths)


def test_the_label_option(run, tmp_path) -> None:
    paths, prefix = run
    cull.main(["--scores", prefix, "--xmp", "--label", "Blue", "--apply", "--manifest", "b.csv"])
    tags = exiftool(Path(f"{paths[0]}.xmp"))
    assert (tags["XMP-xmp:Label"], tags["XMP-digiKam:ColorLabel"], tags["XMP-darktable:Colorlabels"]) == (
        "Blue",
        5,
        3,
    )
    cull.main(["--undo", "b.csv", "--apply", "--manifest", "ub.csv"])
    cull.main(
        [
            "--scores",
            prefix,
            "--xmp",
            "--label",
            "none",
            "--xmp_naming",
            "base",
            "--apply",
            "--manifest",
            "n.csv",
        ]
    )
    tags = exiftool(paths[0].with_suffix(".xmp"))
    assert "XMP-xmp:Label" not in tags and tags["XMP-digiKam:PickLabel"] == 1


def test_an_existing_sidecar_is_merged_into_and_undo_puts_it_back(run, tmp_path) -> None:
    paths, prefix = run
    theirs = Path(f"{paths[0]}.xmp")
    theirs.write_bytes(DARKTABLE_SIDECAR)
    garbage = Path(f"{paths[1]}.xmp")
    garbage.write_bytes(b"not XMP at all")
    assert cull.main(["--scores", prefix, "--xmp", "--apply", "--manifest", "x.csv"]) == 0
    results = _results(tmp_path / "x.csv")
    assert results[str(paths[0])] == "sidecar merged"
    assert results[str(paths[1])].startswith("conflict: the file at the sidecar's name is not XMP")
    assert garbage.read_bytes() == b"not XMP at all"
    tags = exiftool(theirs)
    assert (
        tags["XMP-xmp:Rating"] == -1 and tags["XMP-digiKam:PickLabel"] == 1 and tags["XMP-xmp:Label"] == "Red"
    )
    assert tags["XMP-darktable:Colorlabels"] == 0
    assert _listed(tags["XMP-dc:Subject"]) == ["holiday", "Blurry"]  # the user's keyword stays
    assert tags["XMP-dc:Description"] == "Grandma at the lake"  # and their description
    assert tags["XMP-darktable:HistoryOperation"] == "exposure" and tags["XMP-darktable:Xmp_version"] == 5
    assert _listed(tags["XMP-digiKam:TagsList"]) == ["Blurry/motion"]

    cull.main(["--scores", prefix, "--xmp", "--apply", "--manifest", "again.csv"])
    assert _results(tmp_path / "again.csv")[str(paths[0])] == "skipped: already there"
    assert cull.main(["--undo", "x.csv", "--apply", "--manifest", "u.csv"]) == 0
    assert theirs.read_bytes() == DARKTABLE_SIDECAR
    assert garbage.read_bytes() == b"not XMP at all"
    assert not Path(f"{paths[2]}.xmp").exists()
