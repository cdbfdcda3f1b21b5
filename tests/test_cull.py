"""The cull command on real files and a real run's verdicts: local folders and the GCS emulator.

Each test works on its own copy of the photo folder, with the session run's rows pointed at the copy.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from support import gcs_emulator
from support.photos import REPO_ROOT

from pipeline.results.cull import cull
from pipeline.results.cull.plan import (
    Action,
    common_root,
    destination_for,
    parse_types,
    plan,
    select_flagged,
    sidecar_for,
)
from pipeline.results.cull.xmp import mark_rejected
from pipeline.results.reader import conform
from pipeline.storage.files import gcs_crc32c


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path -> SHA-256)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _write_run(table: pa.Table, prefix: Path) -> str:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(conform(table), f"{prefix}-00000-of-00001.parquet")
    return str(prefix)


@pytest.fixture
def local_copy(photo_folder, photo_folder_run, tmp_path):
    """(photos root, run prefix, table): a copy of the photo folder and the run's rows pointing at it."""
    root = tmp_path / "photos"
    shutil.copytree(photo_folder.root, root)
    table = photo_folder_run.table
    uris = pc.replace_substring(table.column("uri"), str(photo_folder.root), str(root))
    table = table.set_column(0, "uri", uris)
    return root, _write_run(table, tmp_path / "run" / "scores"), table


def _manifest(path: Path) -> list[dict[str, str]]:
    """The manifest's photo rows (without its first row, which records the run's folders)."""
    with open(path, newline="", encoding="utf-8") as stream:
        return [row for row in csv.DictReader(stream) if row["action"] != "run"]


def _flagged_uris(table: pa.Table) -> list[str]:
    return select_flagged(table).column("uri").to_pylist()


def test_select_flagged_and_filters(photo_folder_run) -> None:
    table = photo_folder_run.table
    rows = [r for r in photo_folder_run.rows if r["status"] == "ok" and r["blurry"]]
    flagged = select_flagged(table)
    assert sorted(flagged.column("uri").to_pylist()) == sorted(r["uri"] for r in rows)
    probabilities = flagged.column("blur_probability").to_pylist()
    assert probabilities == sorted(probabilities, reverse=True)  # worst first
    motion = select_flagged(table, types=["motion"], min_probability=0.78)
    assert sorted(motion.column("uri").to_pylist()) == sorted(
        r["uri"] for r in rows if r["blur_type"] == "motion" and r["blur_probability"] >= 0.78
    )
    assert parse_types("motion, defocus") == ("motion", "defocus")
    with pytest.raises(ValueError, match="unknown blur type"):
        parse_types("motoin")


def test_destinations_keep_the_folders() -> None:
    uris = ["/p/2024/a.jpg", "/p/2024/trip/b.jpg", "/p/2023/c.jpg"]
    assert common_root(uris) == "/p"
    assert destination_for("/p/2024/trip/b.jpg", "/p", "/culled/") == "/culled/2024/trip/b.jpg"
    gs = ["gs://bucket/photos/a.jpg", "gs://bucket/photos/x/b.jpg"]
    assert common_root(gs) == "gs://bucket/photos"
    assert destination_for(gs[1], common_root(gs), "gs://other/c") == "gs://other/c/x/b.jpg"
    assert destination_for("gs://b2/z.jpg", "gs://", "/out") == "/out/b2/z.jpg"
    assert sidecar_for("/p/a.jpg") == "/p/a.jpg.xmp"
    assert sidecar_for("/p/a.jpg", "base") == "/p/a.xmp"


def test_xmp_text_is_xml_that_marks_rejected_and_blurry() -> None:
    root = ET.fromstring(mark_rejected(None, "motion", 0.9731, "v1"))
    ns = {
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "dc": "http://purl.org/dc/elements/1.1/",
        "digiKam": "http://www.digikam.org/ns/1.0/",
    }
    description = root.find("rdf:RDF/rdf:Description", ns)
    assert description.get(f"{{{ns['xmp']}}}Rating") == "-1"
    assert description.get(f"{{{ns['xmp']}}}Label") == "Red"
    assert [li.text for li in description.findall("dc:subject/rdf:Bag/rdf:li", ns)] == ["Blurry"]
    assert [li.text for li in description.findall("digiKam:TagsList/rdf:Seq/rdf:li", ns)] == ["Blurry/motion"]
    assert "0.973" in ET.tostring(description, encoding="unicode")


def test_dry_run_changes_nothing(local_copy, tmp_path, capsys, monkeypatch) -> None:
    root, prefix, table = local_copy
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    for extra in ([], ["--move"]):
        assert cull.main(["--scores", prefix, "--to", str(tmp_path / "culled"), *extra]) == 0
    assert cull.main(["--scores", prefix, "--xmp"]) == 0
    assert _tree(tmp_path) == before  # no copy, no deletion, no sidecar, no manifest
    printed = capsys.readouterr().out
    flagged = _flagged_uris(table)
    assert printed.count("would copy: ") == printed.count("would move: ") == len(flagged) > 0
    assert printed.count("would write the sidecar: ") == len(flagged)


def test_copy_rerun_and_undo(local_copy, tmp_path) -> None:
    root, prefix, table = local_copy
    dest = tmp_path / "culled"
    originals = _tree(root)
    flagged = _flagged_uris(table)
    # A different file already at one destination must survive.
    squatter = dest / Path(flagged[1]).relative_to(root)
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"someone else's file")

    assert (
        cull.main(["--scores", prefix, "--to", str(dest), "--apply", "--manifest", str(tmp_path / "m1.csv")])
        == 0
    )
    rows = _manifest(tmp_path / "m1.csv")  # in the order the copies completed
    assert sorted(r["source"] for r in rows) == sorted(flagged)
    results = {r["source"]: r["result"] for r in rows}
    assert results == {
        uri: "conflict: a different file is at the destination (left alone)"
        if uri == flagged[1]
        else "copied"
        for uri in flagged
    }
    assert _tree(root) == originals  # a copy leaves the photos alone
    copied = _tree(dest)
    assert squatter.read_bytes() == b"someone else's file"
    for row in rows:
        relative = str(Path(row["source"]).relative_to(root))
        assert row["destination"] == str(dest / relative)
        if row["result"] == "copied":
            assert copied[relative] == originals[relative] == row["sha256"]
    assert len(copied) == len(flagged)

    cull.main(["--scores", prefix, "--to", str(dest), "--apply", "--manifest", str(tmp_path / "m2.csv")])
    assert {r["result"] for r in _manifest(tmp_path / "m2.csv")} == {
        "skipped: already there",
        "conflict: a different file is at the destination (left alone)",
    }
    assert _tree(dest) == copied

    cull.main(["--undo", str(tmp_path / "m1.csv"), "--apply", "--manifest", str(tmp_path / "u1.csv")])
    assert _tree(dest) == {
        str(squatter.relative_to(dest)): hashlib.sha256(b"someone else's file").hexdigest()
    }
    assert _tree(root) == originals


def test_move_rerun_and_undo(local_copy, tmp_path) -> None:
    root, prefix, table = local_copy
    dest = tmp_path / "culled"
    originals = _tree(root)
    flagged = {str(Path(uri).relative_to(root)) for uri in _flagged_uris(table)}

    cull.main(
        ["--scores", prefix, "--to", str(dest), "--move", "--apply", "--manifest", str(tmp_path / "m.csv")]
    )
    assert {r["result"] for r in _manifest(tmp_path / "m.csv")} == {"moved"}
    assert _tree(dest) == {name: originals[name] for name in flagged}
    assert _tree(root) == {name: sha for name, sha in originals.items() if name not in flagged}

    cull.main(
        ["--scores", prefix, "--to", str(dest), "--move", "--apply", "--manifest", str(tmp_path / "m2.csv")]
    )
    assert {r["result"] for r in _manifest(tmp_path / "m2.csv")} == {"skipped: already moved"}

    assert cull.main(["--undo", str(tmp_path / "m.csv")]) == 0  # an undo is a dry run too without --apply
    assert _tree(dest) == {name: originals[name] for name in flagged}
    cull.main(["--undo", str(tmp_path / "m.csv"), "--apply", "--manifest", str(tmp_path / "u.csv")])
    assert {r["result"] for r in _manifest(tmp_path / "u.csv")} == {"moved back"}
    assert _tree(root) == originals
    assert _tree(dest) == {}


def test_xmp_sidecars_rerun_and_undo(local_copy, tmp_path) -> None:
    root, prefix, table = local_copy
    flagged = _flagged_uris(table)
    mine = Path(flagged[0] + ".xmp")
    mine.write_text("<x:xmpmeta>the user's own edits</x:xmpmeta>")
    originals = _tree(root)

    cull.main(["--scores", prefix, "--xmp", "--types", "gaussian,defocus,motion,minfilter", "--apply",
               "--manifest", str(tmp_path / "x.csv")])  # fmt: skip
    # rows come in the order the actions completed, so they are told apart by photo, not position
    results = {r["source"]: r["result"] for r in _manifest(tmp_path / "x.csv")}
    assert results.pop(flagged[0]).startswith("conflict") and mine.read_text().endswith("edits</x:xmpmeta>")
    assert set(results.values()) == {"sidecar written"}
    after = _tree(root)
    sidecars = {name for name in after if name not in originals}
    assert sidecars == {str(Path(uri).relative_to(root)) + ".xmp" for uri in flagged[1:]}
    assert all(after[name] == sha for name, sha in originals.items() if not name.endswith(".xmp"))
    one = ET.parse(flagged[1] + ".xmp").getroot()
    assert 'Rating="-1"' in ET.tostring(one, encoding="unicode")

    cull.main(["--scores", prefix, "--xmp", "--apply", "--manifest", str(tmp_path / "x2.csv")])
    results = {r["source"]: r["result"] for r in _manifest(tmp_path / "x2.csv")}
    assert results.pop(flagged[0]).startswith("conflict")
    assert set(results.values()) == {"skipped: already there"}
    cull.main(["--undo", str(tmp_path / "x.csv"), "--apply", "--manifest", str(tmp_path / "xu.csv")])
    assert _tree(root) == originals


def _many_photos(root: Path, count: int, size: int) -> pa.Table:
    """`count` files of random bytes in nested folders, and rows judging them all blurry."""
    rng = np.random.default_rng(3)
    now = datetime.now(UTC)
    rows = []
    for index in range(count):
        path = root / f"day{index % 7}" / f"shot{index:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.bytes(size))
        rows.append(
            {
                "uri": str(path),
                "status": "ok",
                "blurry": True,
                "blur_type": "motion",
                "blur_probability": 0.9,
                "model_version": "v",
                "scored_at": now,
            }  # fmt: skip
        )
    return pa.Table.from_pylist(rows)


def test_an_interrupted_move_loses_no_photo(tmp_path) -> None:
    root, dest, manifest = tmp_path / "photos", tmp_path / "culled", tmp_path / "m.csv"
    prefix = _write_run(_many_photos(root, 300, 256 * 1024), tmp_path / "run" / "scores")
    originals = _tree(root)
    command = [sys.executable, "-m", "pipeline.cull", "--scores", prefix, "--to", str(dest), "--move",
               "--apply", "--workers", "2", "--manifest", str(manifest)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") > 20:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the move finished before it could be interrupted"

    left, moved = _tree(root), _tree(dest)
    assert 0 < len(moved) < len(originals)
    for name, sha in originals.items():  # every photo is whole in at least one place
        assert left.get(name) == sha or moved.get(name) == sha, name
    # Rerunning finishes the job.
    assert (
        subprocess.run([*command[:-1], str(tmp_path / "m2.csv")], env=env, capture_output=True).returncode
        == 0
    )
    assert _tree(dest) == originals
    assert _tree(root) == {}


@pytest.fixture
def bucket_run(local_copy, emulator, tmp_path, monkeypatch, request):
    """(bucket, prefix, flagged object names): the copied photos in a bucket of the emulator, and the
    run's rows (pointing there) as a run in the bucket too. The test's cwd is its tmp_path."""
    root, _, table = local_copy
    name = "cull-" + request.node.name.replace("_", "-")[:40].strip("-")
    bucket = gcs_emulator.client().create_bucket(name)
    objects = {}
    for uri in table.column("uri").to_pylist():
        if Path(uri).is_file():
            blob = bucket.blob("photos/" + str(Path(uri).relative_to(root)))
            blob.upload_from_filename(uri)
            blob.reload()
            objects[uri] = (blob.updated, gcs_crc32c(blob.crc32c))
    # The file facts a run over the bucket records: the objects' update times and CRC32Cs.
    uris = table.column("uri").to_pylist()
    gs_table = table.set_column(
        0, "uri", pc.replace_substring(table.column("uri"), str(root), f"gs://{name}/photos")
    )
    for column, index in (("modified_at", 0), ("crc32c", 1)):
        values = pa.array(
            [objects.get(uri, (None, None))[index] for uri in uris], gs_table.schema.field(column).type
        )
        gs_table = gs_table.set_column(gs_table.schema.get_field_index(column), column, values)
    pq.write_table(conform(gs_table), tmp_path / "run.parquet")
    bucket.blob("results/scores-00000-of-00001.parquet").upload_from_filename(str(tmp_path / "run.parquet"))
    monkeypatch.chdir(tmp_path)
    flagged = [uri.removeprefix(f"gs://{name}/") for uri in _flagged_uris(gs_table)]
    return bucket, f"gs://{name}/results/scores", flagged


def _objects(bucket, prefix: str) -> dict[str, str]:
    return {blob.name: blob.md5_hash for blob in bucket.list_blobs(prefix=prefix)}


def test_cull_in_a_bucket_copy_rerun_undo(bucket_run, tmp_path) -> None:
    bucket, prefix, flagged = bucket_run
    dest = f"gs://{bucket.name}/culled"
    photos = _objects(bucket, "photos/")
    assert cull.main(["--scores", prefix, "--to", dest]) == 0  # dry run
    assert _objects(bucket, "photos/") == photos and _objects(bucket, "culled/") == {}

    wanted = {f"culled/{name.removeprefix('photos/')}": photos[name] for name in flagged}
    cull.main(["--scores", prefix, "--to", dest, "--apply", "--manifest", "c.csv"])
    rows = _manifest(tmp_path / "c.csv")
    assert sorted((r["source"], r["destination"], r["result"]) for r in rows) == sorted(
        (f"gs://{bucket.name}/{name}", f"gs://{bucket.name}/culled/{name.removeprefix('photos/')}", "copied")
        for name in flagged
    )
    assert _objects(bucket, "culled/") == wanted and _objects(bucket, "photos/") == photos
    cull.main(["--scores", prefix, "--to", dest, "--apply", "--manifest", "c2.csv"])
    assert {r["result"] for r in _manifest(tmp_path / "c2.csv")} == {"skipped: already there"}
    cull.main(["--undo", "c.csv", "--apply", "--manifest", "cu.csv"])
    assert _objects(bucket, "culled/") == {} and _objects(bucket, "photos/") == photos

    cull.main(["--scores", prefix, "--to", str(tmp_path / "local"), "--apply", "--manifest", "l.csv"])
    assert {r["result"] for r in _manifest(tmp_path / "l.csv")} == {"copied"}
    assert sorted(_tree(tmp_path / "local")) == sorted(name.removeprefix("photos/") for name in flagged)


def test_cull_in_a_bucket_move_rerun_undo_and_sidecars(bucket_run, tmp_path) -> None:
    bucket, prefix, flagged = bucket_run
    dest = f"gs://{bucket.name}/culled"
    photos = _objects(bucket, "photos/")
    cull.main(["--scores", prefix, "--to", dest, "--move", "--apply", "--manifest", "m.csv"])
    assert {r["result"] for r in _manifest(tmp_path / "m.csv")} == {"moved"}
    assert _objects(bucket, "culled/") == {f"culled/{n.removeprefix('photos/')}": photos[n] for n in flagged}
    assert _objects(bucket, "photos/") == {n: md5 for n, md5 in photos.items() if n not in flagged}
    cull.main(["--scores", prefix, "--to", dest, "--move", "--apply", "--manifest", "m2.csv"])
    assert {r["result"] for r in _manifest(tmp_path / "m2.csv")} == {"skipped: already moved"}
    cull.main(["--undo", "m.csv", "--apply", "--manifest", "mu.csv"])
    assert _objects(bucket, "photos/") == photos and _objects(bucket, "culled/") == {}

    cull.main(["--scores", prefix, "--xmp", "--apply", "--manifest", "x.csv"])
    sidecars = {n: md5 for n, md5 in _objects(bucket, "photos/").items() if n not in photos}
    assert sorted(sidecars) == sorted(f"{name}.xmp" for name in flagged)
    assert 'xmp:Rating="-1"' in bucket.blob(f"{flagged[0]}.xmp").download_as_text()
    cull.main(["--undo", "x.csv", "--apply", "--manifest", "xu.csv"])
    assert _objects(bucket, "photos/") == photos


def test_an_interrupted_move_in_a_bucket_loses_no_photo(bucket_run, tmp_path) -> None:
    bucket, _, _ = bucket_run
    rng = np.random.default_rng(5)
    rows = []
    for index in range(80):
        name = f"many/day{index % 5}/shot{index:04d}.jpg"
        bucket.blob(name).upload_from_string(rng.bytes(32 * 1024))
        verdict = {"status": "ok", "blurry": True, "blur_type": "motion", "blur_probability": 0.9}
        rows.append(
            {
                "uri": f"gs://{bucket.name}/{name}",
                **verdict,
                "model_version": "v",
                "scored_at": datetime.now(UTC),
            }
        )
    prefix = _write_run(pa.Table.from_pylist(rows), tmp_path / "many" / "scores")
    photos = _objects(bucket, "many/")
    # The job's process, as the emulator fixture sets this one up: anonymous, no credential look-ups.
    starter = (
        "import sys; from apache_beam.internal.gcp import auth; auth._Credentials._credentials_init = True; "
        "auth._Credentials._credentials = None; from pipeline.cull import main; sys.exit(main(sys.argv[1:]))"
    )
    command = [sys.executable, "-c", starter, "--scores", prefix, "--to", f"gs://{bucket.name}/culled",
               "--move", "--apply", "--workers", "2", "--manifest"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [*command, "m.csv"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if (tmp_path / "m.csv").exists() and (tmp_path / "m.csv").read_text().count("\n") > 5:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the move finished before it could be interrupted"
    left, moved = _objects(bucket, "many/"), _objects(bucket, "culled/")
    assert 0 < len(moved) < len(photos)
    for name, md5 in photos.items():
        assert left.get(name) == md5 or moved.get(name.replace("many/", "culled/", 1)) == md5, name
    assert subprocess.run([*command, "m2.csv"], env=env, capture_output=True).returncode == 0
    assert _objects(bucket, "culled/") == {
        name.replace("many/", "culled/", 1): md5 for name, md5 in photos.items()
    }
    assert _objects(bucket, "many/") == {}


def test_plan_steps_in_order() -> None:
    columns = {"uri": ["/a/x.jpg"], "status": ["ok"], "blurry": [True], "blur_type": ["motion"]}
    table = conform(pa.table({**columns, "blur_probability": [0.9]}))
    (step,) = plan(select_flagged(table), Action.MOVE, root="/a", dest="/d")
    assert (step.source, step.destination, step.action) == ("/a/x.jpg", "/d/x.jpg", Action.MOVE)


def test_in_a_bucket_a_replaced_photo_is_left_alone_and_dest_inside_the_photos_refused(
    bucket_run, tmp_path
) -> None:
    bucket, prefix, flagged = bucket_run
    photos = _objects(bucket, "photos/")
    assert (
        cull.main(["--scores", prefix, "--to", f"gs://{bucket.name}/photos/culled", "--move", "--apply"]) == 2
    )
    assert _objects(bucket, "photos/") == photos
    blob = bucket.blob(flagged[0])
    data = blob.download_as_bytes()
    blob.upload_from_string(bytes(reversed(data)))  # same size, other bytes: only the CRC32C tells
    cull.main(
        ["--scores", prefix, "--to", f"gs://{bucket.name}/culled", "--move", "--apply", "--manifest", "m.csv"]
    )
    results = {r["source"]: r["result"] for r in _manifest(tmp_path / "m.csv")}
    assert (
        results.pop(f"gs://{bucket.name}/{flagged[0]}") == "skipped: changed since it was scored (left alone)"
    )
    assert set(results.values()) == {"moved"}
    assert bucket.blob(flagged[0]).download_as_bytes() == bytes(reversed(data))


def test_changed_since_scored_compares_crc32c_in_buckets_and_size_and_time_on_disk() -> None:
    from pipeline.results.cull.fileops import Facts
    from pipeline.results.cull.safety import CHANGED, changed_since_scored

    scored = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
    ns = 1_796_000_523_456_789_000  # the same moment
    assert changed_since_scored(Facts(10, ns), 10, scored, None) is None
    assert changed_since_scored(Facts(10, ns + 5_000), 10, scored, None) == CHANGED
    assert changed_since_scored(Facts(11, ns), 10, scored, None) == CHANGED
    # In a bucket the content's CRC32C decides: a rewrite with the same bytes keeps it, other bytes do not.
    assert (
        changed_since_scored(Facts(10, ns + 9_000_000_000, crc32c="0a0b0c0d"), 10, scored, "0a0b0c0d") is None
    )
    assert changed_since_scored(Facts(10, ns, crc32c="ffffffff"), 10, scored, "0a0b0c0d") == CHANGED
    assert changed_since_scored(Facts(10, ns), None, None, None) is None  # a run from before file facts
