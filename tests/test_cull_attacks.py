"""The cull command attacked as an attacker and a new user would: destinations that overlap the photos,
rows that escape their folders, photos replaced after scoring, tampered undo manifests, a kill -9 in
the middle of a move, and what a move and its undo keep. Real files, real subprocesses; the runs are
written here with the file facts a real run records (size, modification time)."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.cull_runs import make_photos, row_for, write_run
from support.photos import REPO_ROOT

from pipeline.results.cull import cull, safety
from pipeline.results.cull.cull_log import COLUMNS


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def photos(tmp_path, monkeypatch):
    """(photos root, run prefix, photo paths): twelve photos in three folders; cwd is tmp_path."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "photos"
    paths = make_photos(root, 12)
    return root, write_run(paths, tmp_path / "run" / "scores"), paths


def _manifest(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return [row for row in csv.DictReader(stream) if row["action"] != "run"]


def _write_manifest(path: Path, header: list[dict[str, str]], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, COLUMNS)
        writer.writeheader()
        writer.writerows(header + rows)


def _run_row(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return [row for row in csv.DictReader(stream) if row["action"] == "run"]


# --- 1. destinations that overlap the photos ----------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["the folder", "a symlink to it", "sub/..", "inside", "its parent", "linked in"]
)
def test_a_destination_overlapping_the_photos_is_refused_at_launch(photos, tmp_path, capsys, kind) -> None:
    root, prefix, _ = photos
    (tmp_path / "link").symlink_to(root)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "day1").symlink_to(root / "day1")  # each photo of day1 is its own destination
    dest = {
        "the folder": root,
        "a symlink to it": tmp_path / "link",
        "sub/..": f"{root}/day0/..",
        "inside": root / "culled",
        "its parent": tmp_path,
        "linked in": tmp_path / "elsewhere",
    }[kind]
    before = _tree(tmp_path)
    assert cull.main(["--scores", prefix, "--to", str(dest), "--move", "--apply", "--manifest", "m.csv"]) == 2
    assert _tree(tmp_path) == before  # nothing moved, no manifest
    error = capsys.readouterr().err.strip()
    assert error.startswith("cull: ") and "\n" not in error


def test_overlap_on_a_case_insensitive_disk() -> None:
    assert safety.overlap("/x/Photos/culled", "/x/photos") is None  # two folders on a case-sensitive disk
    assert safety.overlap("/x/Photos/culled", "/x/photos", fold_case=True) == "lies inside"
    assert safety.overlap("/X/PHOTOS", "/x/photos", fold_case=True) == "is"
    problem = safety.launch_problem("/X/PHOTOS", "/x/photos", [("/x/photos/a.jpg", "/X/PHOTOS/a.jpg")], True)
    assert problem and "is the photos' folder" in problem
    assert safety.case_insensitive("/tmp") is False  # this machine's disks tell case apart


# --- 2. rows that escape their folders -------------------------------------------------------------------


def test_rows_escaping_the_photos_folder_or_dest_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    root, dest = tmp_path / "photos", tmp_path / "culled"
    paths = make_photos(root, 6)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not a photo of this run")
    crafted = row_for(secret, 0.999) | {"uri": f"{root}/day0/../../secret.jpg"}  # a stale or crafted row
    prefix = write_run(paths, tmp_path / "run" / "scores", [crafted])
    # A symlink planted inside DEST: day1's copies would land in another folder.
    dest.mkdir()
    (tmp_path / "planted").mkdir()
    (dest / "day1").symlink_to(tmp_path / "planted")
    assert cull.main(["--scores", prefix, "--to", str(dest), "--move", "--apply", "--manifest", "m.csv"]) == 1
    rows = {r["source"]: r for r in _manifest(tmp_path / "m.csv")}
    assert rows[crafted["uri"]]["result"].startswith("failed: refused:")
    assert secret.read_bytes() == b"not a photo of this run"
    assert not (tmp_path / "culled" / "secret.jpg").exists() and not (tmp_path / "secret.jpg.xmp").exists()
    assert list((tmp_path / "planted").iterdir()) == []
    for path in paths:
        result = rows[str(path)]["result"]
        if path.parent.name == "day1":
            assert result.startswith("failed: refused:") and "symlink" in result and path.exists()
        else:
            assert result == "moved" and not path.exists()


def test_a_photo_outside_the_root_given_is_refused(photos, tmp_path) -> None:
    root, prefix, paths = photos
    assert cull.main(["--scores", prefix, "--to", str(tmp_path / "culled"), "--root", str(root / "day0"),
                      "--apply", "--manifest", "m.csv"]) == 1  # fmt: skip
    for row in _manifest(tmp_path / "m.csv"):
        inside = row["source"].startswith(f"{root}/day0/")
        assert (row["result"] == "copied") if inside else row["result"].startswith("failed: refused:")


# --- 3. photos replaced since they were scored -----------------------------------------------------------


def test_a_photo_changed_since_it_was_scored_is_left_alone(photos, tmp_path) -> None:
    root, prefix, paths = photos
    paths[0].write_bytes(b"a sharp photo now, another size")
    os.utime(paths[1], ns=(paths[1].stat().st_atime_ns, paths[1].stat().st_mtime_ns + 5_000_000_000))
    originals = _tree(root)
    assert cull.main(["--scores", prefix, "--to", "culled", "--move", "--apply", "--manifest", "m.csv"]) == 0
    rows = {r["source"]: r["result"] for r in _manifest(tmp_path / "m.csv")}
    assert rows[str(paths[0])] == rows[str(paths[1])] == "skipped: changed since it was scored (left alone)"
    assert _tree(root) == {name: originals[name] for name in ("day0/shot0000.jpg", "day1/shot0001.jpg")}


# --- 4. undo reverses only what that run did ----------------------------------------------------------


def test_undo_of_a_copy_keeps_identical_files_cull_did_not_make(photos, tmp_path) -> None:
    root, prefix, paths = photos
    dest = tmp_path / "culled"
    theirs = dest / "day0" / "shot0000.jpg"  # the user's own copy, there before cull
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(paths[0].read_bytes())
    assert cull.main(["--scores", prefix, "--to", str(dest), "--apply", "--manifest", "c.csv"]) == 0
    rows = {r["source"]: r for r in _manifest(tmp_path / "c.csv")}
    assert (rows[str(paths[0])]["result"], rows[str(paths[0])]["created"]) == ("skipped: already there", "no")

    # The same row claiming a copy but saying cull did not create the file: still not removed.
    def claim_copied(rows):
        next(r for r in rows if r["source"] == str(paths[0]))["result"] = "copied"

    claimed = _tampered(tmp_path, "c.csv", claim_copied)
    for manifest in (claimed, "c.csv"):
        assert cull.main(["--undo", manifest, "--apply", "--manifest", f"u-{manifest}"]) == 0
        assert _tree(dest) == {"day0/shot0000.jpg": hashlib.sha256(paths[0].read_bytes()).hexdigest()}
        cull.main(["--scores", prefix, "--to", str(dest), "--apply", "--manifest", f"again-{manifest}"])
    assert len(_tree(root)) == 12


def _tampered(tmp_path: Path, manifest: str, change) -> str:
    rows = _manifest(tmp_path / manifest)
    change(rows)
    name = f"tampered-{manifest}"
    _write_manifest(tmp_path / name, _run_row(tmp_path / manifest), rows)
    return name


def test_tampered_undo_manifests_are_refused(photos, tmp_path, capsys) -> None:
    root, prefix, paths = photos
    victim = tmp_path / "victim.jpg"
    victim.write_bytes(b"a file cull never made")
    victim_size, victim_sha = victim.stat().st_size, hashlib.sha256(victim.read_bytes()).hexdigest()
    assert cull.main(["--scores", prefix, "--to", "copies", "--apply", "--manifest", "c.csv"]) == 0
    copies = _tree(tmp_path / "copies")

    def empty_size(rows):
        rows[0]["size"] = ""

    def kilobytes(rows):
        rows[1]["size"] = "12kB"

    def outside(rows):  # a row aimed at a file outside --to, with that file's true size and hash
        rows[2].update(destination=str(victim), size=str(victim_size), sha256=victim_sha)

    for change in (empty_size, kilobytes, outside):
        name = _tampered(tmp_path, "c.csv", change)
        assert cull.main(["--undo", name, "--apply", "--manifest", f"u-{change.__name__}.csv"]) == 1
        results = [r["result"] for r in _manifest(tmp_path / f"u-{change.__name__}.csv")]
        assert sum(r.startswith("failed: refused") for r in results) == 1, change.__name__
        assert victim.read_bytes() == b"a file cull never made"
        cull.main(
            ["--scores", prefix, "--to", "copies", "--apply", "--manifest", f"again-{change.__name__}.csv"]
        )
        assert _tree(tmp_path / "copies") == copies

    assert cull.main(["--scores", prefix, "--to", "moved", "--move", "--apply", "--manifest", "m.csv"]) == 0

    def wrong_sha(rows):
        rows[0]["sha256"] = "0" * 64

    name = _tampered(tmp_path, "m.csv", wrong_sha)
    cull.main(["--undo", name, "--apply", "--manifest", "u-sha.csv"])
    results = {r["source"]: r["result"] for r in _manifest(tmp_path / "u-sha.csv")}
    assert list(results.values()).count("moved back") == 11
    wronged = _manifest(tmp_path / name)[0]["source"]
    assert results[wronged].startswith("conflict") and not Path(wronged).exists()
    assert cull.main(["--undo", "m.csv", "--apply", "--manifest", "u-m.csv"]) == 0  # the true one
    assert len(_tree(root)) == 12 and _tree(tmp_path / "moved") == {}


OLDER_MANIFEST = b"source,destination,action,result,size,sha256\n/a,/b,copy,copied,1,ab\n"
OTHER_COLUMNS = b"a,b,c,d,e,f,g,h,i,j,k,l\n/p,/d,run,cull log 2,,,,,,,,\n"
NO_RUN_ROW = (",".join(COLUMNS) + "\n/p/a.jpg,/d/a.jpg,copy,copied,1," + "0" * 64 + ",yes,,,,,\n").encode()


@pytest.mark.parametrize(
    "content", [b"", b"\x89PNG\r\n\x1a\n\x00\xff", b"a,b\n1,2\n", OLDER_MANIFEST, OTHER_COLUMNS, NO_RUN_ROW]
)
def test_a_file_that_is_not_a_cull_manifest_is_a_one_line_error(tmp_path, capsys, content) -> None:
    (tmp_path / "not.csv").write_bytes(content)
    assert cull.main(["--undo", str(tmp_path / "not.csv"), "--apply", "--manifest", str(tmp_path / "u")]) == 2
    error = capsys.readouterr().err.strip()
    assert "not a cull log" in error or "cannot be read" in error
    assert "\n" not in error and not (tmp_path / "u").exists()


# --- 5. a kill -9 during a move -------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_during_a_move_with_a_slow_first_photo_then_undo_restores_every_photo(tmp_path) -> None:
    root, dest, manifest = tmp_path / "photos", tmp_path / "culled", tmp_path / "m.csv"
    paths = make_photos(root, 60, size=64 * 1024)
    prefix = write_run(paths, tmp_path / "run" / "scores")
    originals = _tree(root)
    command = [sys.executable, "-m", "pipeline.cull", "--scores", prefix, "--to", str(dest), "--move",
               "--apply", "--workers", "2", "--manifest", str(manifest)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), cull.PAUSE_ENV: f"{paths[0].name}:60"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and len(_manifest(manifest)) >= 40:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    gone = set(originals) - set(_tree(root))
    # A row is on disk before its photo is deleted, so the kill may fall between the two: 39 gone is fine.
    assert len(gone) >= 30 and "day0/shot0000.jpg" not in gone  # the slow first photo was still in hand
    assert {r["source"] for r in _manifest(manifest) if r["result"] == "moved"} >= {
        str(root / n) for n in gone
    }
    undo = [sys.executable, "-m", "pipeline.cull", "--undo", str(manifest), "--apply", "--manifest",
            str(tmp_path / "u.csv")]  # fmt: skip
    done = subprocess.run(undo, env={**env, cull.PAUSE_ENV: ""}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _tree(root) == originals


# --- the check before a move deletes: a different file at the destination, a copy that does not match ------


def test_a_move_onto_a_different_file_keeps_both(photos, tmp_path) -> None:
    root, prefix, paths = photos
    squatter = tmp_path / "culled" / "day0" / "shot0000.jpg"
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"someone else's file, the same name")
    photo = paths[0].read_bytes()
    cull.main(["--scores", prefix, "--to", "culled", "--move", "--apply", "--manifest", "m.csv"])
    assert squatter.read_bytes() == b"someone else's file, the same name"
    assert paths[0].read_bytes() == photo


def test_a_copy_spoiled_before_the_photo_is_deleted_keeps_the_photo(photos, tmp_path, monkeypatch) -> None:
    root, prefix, paths = photos
    photo = paths[0].read_bytes()
    copy = tmp_path / "culled" / "day0" / "shot0000.jpg"
    monkeypatch.setenv(cull.PAUSE_ENV, f"{paths[0].name}:3")
    argv = [
        "--scores",
        prefix,
        "--to",
        "culled",
        "--move",
        "--apply",
        "--manifest",
        "m.csv",
        "--workers",
        "1",
    ]
    worker = threading.Thread(target=cull.main, args=(argv,))
    worker.start()
    deadline = time.monotonic() + 60
    while not copy.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    with open(copy, "r+b") as stream:  # a bad disk, or another program writing there, while cull checks
        stream.write(b"spoiled")
    worker.join()
    rows = {r["source"]: r["result"] for r in _manifest(tmp_path / "m.csv")}
    assert rows[str(paths[0])].startswith("failed: the copy does not match")
    assert paths[0].read_bytes() == photo


# --- 6. what a move and its undo keep; folders; the dry runs' arrows ----------------------------------------


def test_move_and_undo_keep_times_and_permissions_and_remove_the_folders_cull_made(tmp_path, capsys) -> None:
    root, dest = tmp_path / "photos", tmp_path / "culled"
    paths = make_photos(root, 6)
    for index, path in enumerate(paths):
        path.chmod(0o640 if index % 2 else 0o604)
        os.utime(path, ns=(1_600_000_000_123_456_789 + index, 1_500_000_000_987_654_321 + index))
    before = {path: path.stat() for path in paths}
    prefix = write_run(paths, tmp_path / "run" / "scores")
    (dest / "theirs").mkdir(parents=True)  # a folder that was there before: it stays

    assert cull.main(["--scores", prefix, "--to", str(dest), "--move"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"would move: {paths[0]} -> {dest}/day0/shot0000.jpg" in printed
    m = str(tmp_path / "m.csv")
    assert cull.main(["--scores", prefix, "--to", str(dest), "--move", "--apply", "--manifest", m]) == 0
    for path in paths:
        moved = (dest / path.relative_to(root)).stat()
        assert (moved.st_mode, moved.st_mtime_ns, moved.st_atime_ns) == (
            before[path].st_mode, before[path].st_mtime_ns, before[path].st_atime_ns
        )  # fmt: skip
    capsys.readouterr()
    assert cull.main(["--undo", m]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"would move back: {dest}/day0/shot0000.jpg -> {paths[0]}" in printed
    assert cull.main(["--undo", m, "--apply", "--manifest", str(tmp_path / "u.csv")]) == 0
    for path in paths:
        now = path.stat()
        assert (now.st_mode, now.st_mtime_ns, now.st_atime_ns) == (
            before[path].st_mode, before[path].st_mtime_ns, before[path].st_atime_ns
        )  # fmt: skip
    assert sorted(p.name for p in dest.iterdir()) == ["theirs"]  # day0..day2 made by cull: gone
