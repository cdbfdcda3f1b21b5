"""Hostile and odd files through the real job (DirectRunner, shipped model): each case of issues 13 and
14 that makes a row, in one folder and one manifest, and the row it must get. The functions behind
them are tested alone in tests/test_hostile_pure.py."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from support.hostile_files import (
    blank_frames,
    encode,
    flip_bits,
    many_empty_scans,
    raf,
    tiff_raw,
    tiled_scene,
    truncated_with_end_marker,
    video,
)
from support.photos import REPO_ROOT, sharp_rgb

from pipeline.photo.exif import CaptureFacts

GB = 1024**3
SIDECARS = (".DS_Store", "IMG_0001.json", "IMG_0001.JPG.xmp", "IMG_0001.AAE", "notes.txt", "Thumbs.db")


def _scene() -> np.ndarray:
    return tiled_scene(sharp_rgb("astronaut"))  # no resample: the same pixels on every CPU


# Seeds whose damage Pillow alone decodes to a visibly wrecked picture or refuses (checked in the
# fixture, the way tests/test_hostile_pure.py judges it), so each case is damage the job must refuse.
FLIPPED = {"1 flipped bit.jpg": (1, 11), "10 flipped bits.jpg": (10, 0), "100 flipped bits.jpg": (100, 0)}


def _visibly_damaged(damaged: bytes, intact: bytes) -> bool:
    def pixels(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.int16)

    try:
        return float(np.abs(pixels(damaged) - pixels(intact)).mean()) > 2
    except OSError:
        return True  # Pillow itself refuses it


def _exif_jpeg(rgb: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R6"
    details = exif.get_ifd(0x8769)
    details[0x9003], details[0x829A], details[0x8827], details[0x920A] = (
        "2026:05:01 07:45:00",
        0.004,
        1600,
        35.0,
    )
    return encode(rgb, "JPEG", quality=90, exif=exif)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    """A folder of hostile files and a manifest listing more (special files, links); {name: path}."""
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "photos"
    folder.mkdir()
    scene = _scene()
    jpeg = encode(scene, "JPEG", quality=90)
    thumbnail = cv2.resize(scene, (160, 120), interpolation=cv2.INTER_AREA)
    files = {
        "sharp.jpg": jpeg,
        "exif.jpg": _exif_jpeg(scene),
        "truncated then end marker.jpg": truncated_with_end_marker(jpeg, keep=0.6),
        **{name: flip_bits(jpeg, count, seed=seed) for name, (count, seed) in FLIPPED.items()},
        "21000 scans.jpg": many_empty_scans(scene, 21000),
        "DSC_0001 thumbnail only.NEF": tiff_raw(thumbnail),
        "DSC_0002.NEF": tiff_raw(thumbnail, jpeg),
        "IMG_0003.DNG": tiff_raw(thumbnail, jpeg, dng=True),
        "DSCF0004.RAF": raf(jpeg),
        **blank_frames(),
        **{name: b'{"app": "photos"}\n' for name in SIDECARS},
    }
    for name in FLIPPED:
        assert _visibly_damaged(files[name], jpeg), f"{name}: this seed no longer damages the picture"
    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    clips = root / "clips"
    clips.mkdir()
    mp4 = video(clips / "clip.mp4")
    for name, data in (("clip named.jpg", mp4), ("clip.mp4", mp4), ("live.MOV", video(clips / "live.mov"))):
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    paths["fifo.jpg"] = folder / "fifo.jpg"
    os.mkfifo(paths["fifo.jpg"])  # nobody ever writes to it
    paths["3 GB.jpg"] = folder / "3 GB.jpg"
    with open(paths["3 GB.jpg"], "wb") as stream:
        stream.truncate(3 * GB)  # sparse: no blocks on disk
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dangling.jpg").symlink_to(root / "gone.jpg")
    (elsewhere / "loop.jpg").symlink_to(elsewhere / "loop.jpg")
    listed = ["/dev/zero", str(elsewhere / "dangling.jpg"), str(elsewhere / "loop.jpg"), str(elsewhere)]
    for item in listed:
        paths[item] = Path(item)
    manifest = root / "list.txt"
    manifest.write_text("\n".join(listed) + "\n")
    return folder, manifest, paths


@pytest.fixture(scope="module")
def rows(hostile, run_job) -> dict[str, dict]:
    folder, manifest, _ = hostile
    output = run_job("--input", f"{folder}/*", "--input_manifest", str(manifest))
    return {Path(row["uri"]).name if "/photos/" in row["uri"] else row["uri"]: row for row in output.rows}


def _by(rows: dict[str, dict], name: str, hostile) -> dict:
    path = hostile[2][name]
    return rows[name] if name in rows else rows[str(path)]


def test_every_file_gets_exactly_one_row(rows, hostile) -> None:
    assert len(rows) == len(hostile[2])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "truncated then end marker.jpg",
            "corrupt JPEG file (damaged image data: the compressed data ends early",
        ),
        ("1 flipped bit.jpg", "corrupt JPEG file (damaged image data"),
        ("10 flipped bits.jpg", "corrupt JPEG file (damaged image data"),
        ("100 flipped bits.jpg", "corrupt JPEG file ("),
        ("21000 scans.jpg", "corrupt JPEG file (21,0"),
        ("DSC_0001 thumbnail only.NEF", "RAW file: no full-size preview (NEF; it has none"),
        ("fifo.jpg", "not a regular file (a FIFO (named pipe)): not read"),
        ("3 GB.jpg", "file too large (3,072.0 MB; the limit is 512 MB, --max_file_mb): not read"),
        ("/dev/zero", "not a regular file (a device): not read"),
        ("dangling.jpg", "a broken symbolic link"),
        ("loop.jpg", "cannot read file (a symbolic link loop)"),
        ("elsewhere", "a folder, not a file"),
    ],
)
def test_hostile_files_get_error_rows_that_say_why(rows, hostile, name: str, reason: str) -> None:
    matches = [row for key, row in rows.items() if key == name or key.endswith("/" + name)]
    assert len(matches) == 1, name
    row = matches[0]
    assert row["status"] == "error" and row["error"].startswith(reason), row["error"]
    assert row["blurry"] is None and row["blur_type"] is None


@pytest.mark.parametrize("name", [*SIDECARS, "clip named.jpg", "clip.mp4", "live.MOV"])
def test_non_photos_are_skipped_not_errors(rows, name: str) -> None:
    row = rows[name]
    assert row["status"] == "skipped", row
    expected = "video file, not a photo" if "clip" in name or "live" in name else "not a photo ("
    assert row["error"].startswith(expected), row["error"]


@pytest.mark.parametrize(
    ("name", "kind"), [("DSC_0002.NEF", "NEF"), ("IMG_0003.DNG", "DNG"), ("DSCF0004.RAF", "RAF")]
)
def test_raw_files_are_scored_on_their_full_size_preview(rows, name: str, kind: str) -> None:
    row, sharp = rows[name], rows["sharp.jpg"]
    assert row["status"] == "ok" and row["format"] == kind
    assert (row["width"], row["height"]) == (1600, 1200)  # the preview, not the 160x120 thumbnail
    assert row["laplacian_var"] == sharp["laplacian_var"] and row["blurry"] == sharp["blurry"]


@pytest.mark.parametrize("name", sorted(blank_frames()))
def test_blank_frames_are_low_information_with_no_verdict(rows, name: str) -> None:
    row = rows[name]
    assert row["status"] == "ok" and row["low_information"] is True, row
    assert row["blurry"] is None and row["blur_type"] is None and row["laplacian_blurry"] is None
    assert row["contrast"] < 4.0 and 0.0 <= row["brightness"] <= 255.0


def test_photos_carry_exif_and_exposure(rows) -> None:
    row = rows["exif.jpg"]
    assert row["status"] == "ok" and row["low_information"] is False and row["blurry"] is not None
    assert {name: row[name] for name in CaptureFacts._fields} == {
        "captured_at": datetime(2026, 5, 1, 7, 45),
        "camera_make": "Canon",
        "camera_model": "Canon EOS R6",
        "exposure_time_s": 0.004,
        "iso": 1600,
        "focal_length_mm": 35.0,
        "camera_body": None,
    }
    assert rows["sharp.jpg"]["captured_at"] is None and rows["sharp.jpg"]["brightness"] > 50
    raw = rows["DSC_0002.NEF"]
    assert (raw["camera_make"], raw["iso"]) == ("NIKON CORPORATION", 400)


def test_a_file_over_the_time_budget_gets_a_row_and_the_others_are_scored(tmp_path: Path, run_job) -> None:
    # 49 MP of smooth gradient: 0.4 MB on disk, seconds to inflate and reduce.
    ramp = np.linspace(0, 255, 7000, dtype=np.float32)
    smooth = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=2).astype(np.uint8)
    (tmp_path / "slow.png").write_bytes(encode(smooth, "PNG"))
    (tmp_path / "quick.jpg").write_bytes(encode(sharp_rgb("coffee"), "JPEG", quality=90))
    output = run_job("--input", f"{tmp_path}/*", "--max_seconds_per_file", "0.25")
    by_name = {Path(row["uri"]).name: row for row in output.rows}
    assert by_name["slow.png"]["error"].startswith("took longer than 0.25 s to read and decode")
    assert by_name["quick.jpg"]["status"] == "ok"


_FORBIDDEN_SERVER = textwrap.dedent(
    """
    import http.server, json, sys, threading
    from pipeline.storage.files import MatchedFile
    from pipeline.storage.read import read_failure_reason, read_file
    body = json.dumps({"error": {"code": 403, "message": "blur-job@my-project.iam.gserviceaccount.com "
        "does not have storage.objects.get access to the Google Cloud Storage object.",
        "errors": [{"reason": "forbidden"}]}}).encode()
    class Forbidden(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = "gs://photos-under-test/private/a.jpg"
    try:
        read_file(MatchedFile(uri, size=1000))
        print("READ")
    except Exception as error:
        print("RAW:", str(error).replace(chr(10), " "))
        print("REASON:", read_failure_reason(uri, error))
    """
)


def test_a_403_from_storage_gives_a_reason_without_the_servers_words(tmp_path: Path) -> None:
    """A real HTTP server answering 403 with an account name, through the real storage client (in a
    fresh process: the client caches its endpoint)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "GOOGLE_CLOUD_PROJECT": "p"}
    done = subprocess.run(
        [sys.executable, "-c", _FORBIDDEN_SERVER, str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=env,
    )
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert "gserviceaccount" in lines.get("RAW", ""), done.stdout + done.stderr  # the leak, reproduced
    reason = lines["REASON"]
    assert reason == "permission denied (the job's account may not read this file)", reason


_PEAK_RSS = textwrap.dedent(
    """
    import resource, subprocess, sys
    subprocess.run([sys.executable, "-m", "pipeline.score", *sys.argv[1:]], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
    """
)


def _peak_rss_mb(folder: Path, output: Path) -> int:
    """Peak RSS (MB) of one whole job run over `folder`, in its own process (the real DirectRunner)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, "--input", f"{folder}/*", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_a_3_gb_file_costs_no_memory(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        (folder / f"{name}.jpg").write_bytes(encode(sharp_rgb(name), "JPEG", quality=90))
    without = _peak_rss_mb(folder, tmp_path / "without")
    with open(folder / "huge.jpg", "wb") as stream:
        stream.truncate(3 * GB)  # sparse: reading it would still fill 3 GB of memory
    with_huge = _peak_rss_mb(folder, tmp_path / "with")
    print(f"\npeak RSS: {without} MB without the 3 GB file, {with_huge} MB with it")
    assert with_huge - without < 500, (without, with_huge)
