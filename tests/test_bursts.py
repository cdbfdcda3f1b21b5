"""Bursts: the content hash, the pure grouping and ranking (pipeline.job.burst_groups), the Beam step
(pipeline.job.bursts) on the DirectRunner, the measure step's new columns, and one real job over real
burst frames with EXIF times (slow)."""

from __future__ import annotations

import pickle
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import apache_beam as beam
import cv2
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from support.photos import blurred, shared_data, sharp_rgb

from model.inputs import VIEW_SIZE, to_working_scale
from pipeline.job import burst_groups
from pipeline.job.burst_groups import (
    ALONE,
    BURST_MAX_DISTANCE,
    SWUNG_MAX_DISTANCE,
    BurstFacts,
    alike,
    burst_facts,
    camera_key,
    group_keys,
    local_components,
    rank_burst,
    timed_links,
)
from pipeline.job.bursts import FindBursts, with_burst_columns
from pipeline.job.measure import DetailBox, detail_box, measure_photo
from pipeline.job.similarity import (
    color_histogram,
    content_hash,
    hash_bands,
    hash_distance,
    hash_from_hex,
    hash_hex,
    histogram_from_bytes,
    histogram_overlap,
)
from pipeline.photo.decode import DecodedPhoto
from pipeline.results.reader import conform
from pipeline.schema import BURST_COLUMNS, SCHEMA

T0 = datetime(2026, 6, 1, 10, 0, 0)


def whole_view(rgb: np.ndarray) -> np.ndarray:
    """The whole-frame view the measure step hashes (and takes the colours of)."""
    return measure_photo(DecodedPhoto(rgb, rgb.shape[1], rgb.shape[0], "PNG")).views[0]


def hash_of(rgb: np.ndarray) -> int:
    return content_hash(whole_view(rgb))


@pytest.fixture(scope="module")
def hashes() -> dict[str, int]:
    coffee, chelsea, astronaut = (sharp_rgb(name) for name in ("coffee", "chelsea", "astronaut"))
    shifted = np.roll(coffee, (6, -8), axis=(0, 1))
    return {
        "coffee": hash_of(coffee),
        "coffee_blurred": hash_of(blurred(coffee)),
        "coffee_shifted_blurred": hash_of(blurred(shifted, 2.0)),
        "coffee_smaller": hash_of(cv2.resize(coffee, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)),
        "chelsea": hash_of(chelsea),
        "astronaut": hash_of(astronaut),
    }


def test_the_hash_tells_frames_of_one_scene_from_other_subjects(hashes) -> None:
    coffee = hashes["coffee"]
    assert hash_distance(coffee, hashes["coffee_smaller"]) <= burst_groups.TWIN_MAX_DISTANCE
    assert hash_distance(coffee, hashes["coffee_blurred"]) <= BURST_MAX_DISTANCE // 2
    assert hash_distance(coffee, hashes["coffee_shifted_blurred"]) <= BURST_MAX_DISTANCE
    for other in ("chelsea", "astronaut"):
        assert hash_distance(coffee, hashes[other]) > BURST_MAX_DISTANCE
    assert hash_distance(hashes["chelsea"], hashes["astronaut"]) > BURST_MAX_DISTANCE


def test_colours_overlap_for_one_scene_and_not_for_others() -> None:
    coffee, chelsea, astronaut = (whole_view(sharp_rgb(name)) for name in ("coffee", "chelsea", "astronaut"))
    histogram = color_histogram(coffee)
    assert len(histogram) == 128 and histogram_from_bytes(histogram) == histogram
    assert histogram_overlap(histogram, histogram) == pytest.approx(1.0, abs=1e-3)
    shaken = whole_view(blurred(np.roll(sharp_rgb("coffee"), (30, -40), axis=(0, 1)), 3.0))
    assert histogram_overlap(histogram, color_histogram(shaken)) >= burst_groups.SWUNG_MIN_OVERLAP
    for other in (chelsea, astronaut):
        assert histogram_overlap(histogram, color_histogram(other)) < burst_groups.BURST_MIN_OVERLAP
    for bad in (None, b"", b"x" * 127, "00" * 128):
        assert histogram_from_bytes(bad) is None


def test_frames_of_a_real_swinging_phone_burst_are_alike() -> None:
    """Frames 21 and 68 of one hand-held Pixel burst (motion/real, SBDD set002): the camera swung, the
    hash moved by more than BURST_MAX_DISTANCE bits, the colours stayed."""
    frames = [
        whole_view(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
        for path in (
            shared_data("motion/real/real_sbdd_set002_001_IMG_20190504_083343_BURST21.png"),
            shared_data("motion/real/real_sbdd_set002_001_IMG_20190504_083343_BURST68.png"),
        )
    ]
    first, second = (
        facts(f"f{i}", 0.0, content_hash(v), colors=color_histogram(v)) for i, v in enumerate(frames)
    )
    assert BURST_MAX_DISTANCE < hash_distance(first.content_hash, second.content_hash) <= SWUNG_MAX_DISTANCE
    assert alike(first, second)
    assert not alike(first._replace(colors=None), second)  # a row from before colours: the hash alone


def test_alike_needs_the_colours_to_agree_more_the_further_the_hashes() -> None:
    same, other = b"\x00\x00" * 63 + b"\xff\xff", b"\xff\xff" + b"\x00\x00" * 63
    half = b"\x7f\xff" + b"\x00\x00" * 62 + b"\x80\x00"  # half of `same`'s bin (0.5 overlap)
    near, swung, far = SCENE ^ 0xFF, SCENE ^ ((1 << 30) - 1), SCENE ^ ((1 << 40) - 1)
    base = facts("a", 0.0, SCENE, colors=same)
    assert alike(base, facts("b", 0.1, near, colors=same))
    assert not alike(base, facts("b", 0.1, near, colors=half))  # look-alike hash, other colours
    assert alike(base, facts("b", 0.1, swung, colors=same))  # the camera swung, the colours stayed
    assert not alike(base, facts("b", 0.1, swung, colors=half)) and not alike(
        base, facts("b", 0.1, swung, colors=other)
    )
    assert not alike(base, facts("b", 0.1, far, colors=same))  # beyond SWUNG_MAX_DISTANCE
    assert alike(base._replace(colors=None), facts("b", 0.1, near, colors=other))  # no colours: hash alone
    assert not alike(base._replace(colors=None), facts("b", 0.1, swung, colors=same))


def test_hash_text_and_bands() -> None:
    value = 0x0123456789ABCDEF
    assert hash_hex(value) == "0123456789abcdef" and hash_from_hex(hash_hex(value)) == value
    assert hash_hex(5) == "0000000000000005"
    for bad in (None, "", "xyz", "0123456789abcdeg", "0123"):
        assert hash_from_hex(bad) is None
    bands = hash_bands(value, 5)
    assert len(bands) == 5 and sum(band.bit_length() <= 13 for band in bands) == 5
    # Within TWIN_MAX_DISTANCE bits, at least one band is the same (what the untimed grouping relies on).
    near = value ^ (1 << 3) ^ (1 << 17) ^ (1 << 30) ^ (1 << 50)
    assert any(a == b for a, b in zip(hash_bands(value, 5), hash_bands(near, 5), strict=True))


def facts(uri: str, seconds: float | None, content: int, probability: float = 0.1, detail: float = 100.0,
          camera: str = "canon|r6", colors: bytes | None = None) -> BurstFacts:  # fmt: skip
    return BurstFacts(uri, camera, seconds, content, probability, detail, colors)


SCENE = 0xF0F0_F0F0_0F0F_0F0F
OTHER_SCENE = SCENE ^ 0xFFFF_FFFF_0000_0000  # 32 bits away: another subject


def frames_of(members: list[BurstFacts], gap_s: float = 2.0) -> dict[str, str]:
    """Run the pure steps as the Beam step does (all groups, merged labels): uri -> final label."""
    groups: dict[tuple, list] = {}
    for item in members:
        for key, borrowed in group_keys(item, gap_s):
            groups.setdefault(key, []).append((item, borrowed))
    labels: dict[str, list[str]] = {}
    for key, grouped in groups.items():
        for item, label in local_components(key, grouped, gap_s):
            labels.setdefault(item.uri, []).append(label)
    merged = burst_groups.merge_labels(found for found in labels.values())
    return {uri: merged.get(min(found), min(found)) for uri, found in labels.items()}


def test_frames_within_the_gap_and_alike_are_one_burst() -> None:
    shots = [facts("a", 10.0, SCENE), facts("b", 11.5, SCENE ^ 0b111), facts("c", 13.2, SCENE ^ 0b1)]
    assert frames_of(shots) == {"a": "a", "b": "a", "c": "a"}  # chained: a-c is 3.2 s, but b links them
    assert frames_of(shots, gap_s=1.0) == {}  # each 1.5 s or more from the next


def test_fast_shots_of_different_subjects_are_not_merged() -> None:
    shots = [facts("a", 10.0, SCENE), facts("b", 10.3, OTHER_SCENE), facts("c", 10.6, SCENE ^ 0b11)]
    assert frames_of(shots) == {"a": "a", "c": "a"}
    assert timed_links([(shot, False) for shot in shots], 2.0) == [("a", "c")]


def test_other_cameras_are_not_merged() -> None:
    shots = [facts("a", 10.0, SCENE), facts("b", 10.2, SCENE, camera="canon|r5")]
    assert frames_of(shots) == {}
    assert (
        camera_key(" Canon ", "Canon  EOS R6") == camera_key("canon", "canon eos r6") == "canon|canon eos r6"
    )
    assert camera_key(None, None) == ""
    # Two bodies of one model, known by their serials (exif.camera_body), are two cameras.
    assert camera_key("Canon", "EOS R6", "0123abcd") != camera_key("Canon", "EOS R6", "4567ef01")
    assert camera_key("Canon", "EOS R6", None) == "canon|eos r6"
    rows = [
        {"uri": uri, "status": "ok", "content_hash": hash_hex(SCENE), "blur_probability": 0.1,
         "laplacian_var": 50.0, "camera_make": "Canon", "camera_model": "EOS R6", "camera_body": body,
         "captured_at": T0}
        for uri, body in (("a", "0123abcd"), ("b", "4567ef01"), ("c", "0123abcd"))
    ]  # fmt: skip
    assert frames_of([burst_facts(row) for row in rows]) == {"a": "a", "c": "a"}


def test_a_burst_across_a_bucket_edge_is_one_burst() -> None:
    edge = burst_groups.bucket_width(2.0) * 1000
    shots = [
        facts(uri, edge + offset, SCENE)
        for uri, offset in (("z1", -1.5), ("a2", -0.3), ("m3", 0.6), ("b4", 2.1))
    ]
    keys = {shot.uri: group_keys(shot, 2.0) for shot in shots}
    assert [borrowed for _, borrowed in keys["a2"]] == [False, True] and len(keys["m3"]) == 1
    assert len({key for key, _ in keys["z1"]} | {key for key, _ in keys["b4"]}) == 2  # in two buckets
    assert frames_of(shots) == dict.fromkeys(("z1", "a2", "m3", "b4"), "a2")  # the smallest URI labels it


def test_without_a_capture_time_only_near_identical_content() -> None:
    shots = [
        facts("copy", None, SCENE ^ 0b1011),  # 3 bits from the original: near-identical
        facts("original", None, SCENE),
        facts("similar", None, SCENE ^ 0xFF),  # 8 bits: alike, but not near-identical
        facts("timed", 10.0, SCENE),  # has a time: grouped by time only
    ]
    assert frames_of(shots) == {"copy": "copy", "original": "copy"}


def test_crowded_groups_are_cut_short_and_still_find_near_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    low_bits = [int(value) for value in rng.integers(0, 2**51, size=300, dtype=np.int64)]
    # A camera whose clock stood still: 300 photos in one second (each compared with MAX_LINKS_BACK
    # others, not 299), and two frames alike among them.
    frozen = [facts(f"s{index:03d}", 10.0, value) for index, value in enumerate(low_bits)]
    frozen += [facts("twin-a", 10.0, SCENE), facts("twin-b", 10.0, SCENE ^ 0b1)]
    linked = frames_of(frozen)
    assert linked["twin-a"] == linked["twin-b"] == "twin-a"
    # Without a time: 302 photos that differ only in their last hash band, so every other band's group
    # is over MAX_TWIN_GROUP, where each photo is compared with its neighbours in hash order only.
    monkeypatch.setattr(burst_groups, "MAX_TWIN_GROUP", 50)
    last_band = rng.choice(np.arange(64, 2**12), size=300, replace=False)
    untimed = [facts(f"u{index:03d}", None, SCENE ^ int(value)) for index, value in enumerate(last_band)]
    untimed += [facts("copy-a", None, SCENE), facts("copy-b", None, SCENE ^ 0b100)]
    sizes = Counter(key for item in untimed for key, _ in group_keys(item, 2.0))
    assert sorted(sizes.values())[-4:] == [302] * 4
    labels = frames_of(untimed)
    assert labels["copy-a"] == labels["copy-b"] == "copy-a"


def test_ranking_by_the_model_then_the_laplacian() -> None:
    members = [
        facts("a", 1.0, SCENE, probability=0.30, detail=900.0),
        facts("b", 1.2, SCENE, probability=0.050, detail=200.0),
        facts("c", 1.4, SCENE, probability=0.052, detail=400.0),  # a tie with b: more detail wins
        facts("d", 1.6, SCENE, probability=0.010, detail=50.0),
    ]
    ranked = dict(rank_burst("a", members))
    assert [ranked[uri].burst_rank for uri in "dcba"] == [1, 2, 3, 4]
    assert [ranked[uri].best_in_burst for uri in "dcba"] == [True, False, False, False]
    assert {columns.burst_size for columns in ranked.values()} == {4}
    assert len({columns.burst_id for columns in ranked.values()}) == 1 and len(ranked["a"].burst_id) == 16
    # Equal in both: the URI decides, so every run ranks them the same.
    twins = dict(rank_burst("x", [facts("y", 1, SCENE), facts("x", 1, SCENE)]))
    assert (twins["x"].burst_rank, twins["y"].burst_rank) == (1, 2)
    assert rank_burst("x", [facts("x", 1, SCENE)]) == [("x", ALONE)]


def row(uri: str, seconds: float | None, content: int | None, **changes) -> dict:
    values = dict.fromkeys(SCHEMA.names)
    values.update(
        uri=uri, status="ok", blur_probability=0.2, laplacian_var=300.0, low_information=False,
        camera_make="Canon", camera_model="EOS R6",
        content_hash=None if content is None else hash_hex(content),
        captured_at=None if seconds is None else T0 + timedelta(seconds=seconds),
    )  # fmt: skip
    values.update(changes)
    return values


def test_which_rows_take_part() -> None:
    assert burst_facts(row("a", 1.0, SCENE)).seconds == (T0 - datetime(1970, 1, 1)).total_seconds() + 1.0
    assert burst_facts(row("a", 1.0, None)) is None  # a row from before bursts: no hash
    assert burst_facts(row("a", 1.0, SCENE, low_information=True)) is None  # a black frame
    assert burst_facts(row("a", 1.0, SCENE, status="error")) is None
    assert burst_facts(row("a", None, SCENE)).seconds is None
    assert with_burst_columns(row("e", 1.0, SCENE, status="error"), None)["burst_size"] is None
    assert with_burst_columns(row("a", 1.0, SCENE), None)["best_in_burst"] is True


def run_bursts(rows: list[dict], folder: Path, gap_s: float = 2.0) -> dict[str, dict]:
    """The Beam step on the DirectRunner; its rows, through a file (the runner pickles every step)."""
    out = folder / f"rows-{gap_s}.pickle"
    with BeamTestPipeline() as pipeline:
        _ = (
            pipeline
            | beam.Create(rows)
            | FindBursts(gap_s)
            | beam.combiners.ToList()
            | beam.Map(lambda found: out.write_bytes(pickle.dumps(found)))
        )
    return {item["uri"]: item for item in pickle.loads(out.read_bytes())}


def test_the_beam_step_groups_ranks_and_keeps_every_row(tmp_path: Path) -> None:
    edge = 3 * burst_groups.BUCKET_S  # T0 is on a bucket edge, and so is this
    rows = [
        row("/p/1.jpg", edge - 0.5, SCENE, blur_probability=0.6),
        row("/p/2.jpg", edge + 0.2, SCENE ^ 0b1, blur_probability=0.1),  # sharpest, over the edge
        row("/p/3.jpg", edge + 0.5, OTHER_SCENE),  # another subject within the gap
        row(
            "/p/4.jpg", edge + 0.9, SCENE ^ 0b11, blur_probability=0.3, carried_over=True
        ),  # an earlier run's
        row("/p/5.jpg", None, SCENE ^ 0b1),  # no time
        row("/p/bad.jpg", None, None, status="error", blur_probability=None),
    ]
    out = run_bursts(rows, tmp_path)
    assert sorted(out) == sorted(item["uri"] for item in rows)
    burst = [out[f"/p/{n}.jpg"] for n in (2, 4, 1)]
    assert [item["burst_rank"] for item in burst] == [1, 2, 3]
    assert {item["burst_size"] for item in burst} == {3} and len({item["burst_id"] for item in burst}) == 1
    assert [item["best_in_burst"] for item in burst] == [True, False, False]
    for alone in ("/p/3.jpg", "/p/5.jpg"):
        assert {name: out[alone][name] for name in BURST_COLUMNS} == ALONE._asdict()
    assert all(out["/p/bad.jpg"][name] is None for name in BURST_COLUMNS)
    assert run_bursts(rows, tmp_path, gap_s=0.0)["/p/2.jpg"]["burst_id"] is None  # 0: no bursts


def test_the_measure_step_gives_the_hash_and_the_detail_box() -> None:
    rgb = sharp_rgb("astronaut")  # 512x512: judged at its own size
    measured = measure_photo(DecodedPhoto(rgb, 512, 512, "PNG"))
    assert measured.content_hash == content_hash(measured.views[0])
    assert measured.colors == color_histogram(measured.views[0])
    box = measured.detail
    assert box.size == VIEW_SIZE and 0 <= box.x <= 512 - VIEW_SIZE and 0 <= box.y <= 512 - VIEW_SIZE
    assert np.array_equal(rgb[box.y : box.y + box.size, box.x : box.x + box.size], measured.views[1])


def test_the_detail_box_in_full_size_pixels() -> None:
    # 4032x3024: reduced by 4 to 1008x756, centre-cropped to 1000x750 (offset 4, 3 at 1/4 scale).
    assert detail_box((0, 0), (1000, 750), 4032, 3024) == DetailBox(16, 12, 800)
    assert detail_box((550, 800), (1000, 750), 4032, 3024) == DetailBox(3216, 2212, 800)
    # 2000x1500: area-resized by 2 to 1000x750.
    assert detail_box((100, 300), (1000, 750), 2000, 1500) == DetailBox(600, 200, 400)
    assert detail_box((10, 20), (800, 600), 800, 600) == DetailBox(20, 10, 200)  # judged at its own size
    assert detail_box(None, (150, 90), 150, 90) == DetailBox(30, 0, 90)  # smaller than a view
    big = sharp_rgb("coffee")  # 600x400 -> its own size; the box of the crop the model judged
    working = to_working_scale(big)
    assert detail_box((0, 400), (working.shape[1], working.shape[0]), 600, 400) == DetailBox(400, 0, 200)


def test_rows_from_before_bursts_read_with_null_columns() -> None:
    old_columns = [name for name in SCHEMA.names if name not in {"content_hash", *BURST_COLUMNS}]
    old = pa.table({name: pa.nulls(1, SCHEMA.field(name).type) for name in old_columns})
    table = conform(old)
    assert table.schema == SCHEMA and table.column("burst_id").to_pylist() == [None]


@pytest.mark.slow
def test_the_job_finds_a_real_burst_and_its_sharpest_frame(tmp_path: Path, run_job) -> None:
    from bench import burst_set

    gopro = burst_set.gopro_bursts(centres=(100,))  # four real frames, the sharp one second
    phone = [shot for shot in burst_set.phone_bursts() if shot.burst == "phone_set010"][:2]
    camera = burst_set.camera_photos()
    # The GoPro burst straddles a bucket edge (299.6-300.35 s); another subject 0.8 s after it.
    intruder = burst_set.Shot("intruder.jpg", burst_set._load(camera[0]), 301.15, burst_set.GOPRO_CAMERA)
    folder = tmp_path / "photos"
    burst_set.write_set(folder, [*gopro[:3], *phone, intruder])
    first = run_job("--input", f"{folder}/*.jpg")
    first_frames = [item for item in first.rows if Path(item["uri"]).name.startswith("gopro0_")]
    assert [item["burst_size"] for item in first_frames] == [3, 3, 3]
    # The last frame arrives later: an incremental run carries the others and the frame joins their burst.
    written = burst_set.write_set(folder, [gopro[3]])
    second = run_job("--input", f"{folder}/*.jpg", "--skip_scored", first.prefix)
    rows = {Path(item["uri"]).name: item for item in second.rows}
    assert len(rows) == 7 and all(item["status"] == "ok" for item in rows.values())
    assert [name for name, item in rows.items() if not item["carried_over"]] == [
        Path(next(iter(written))).name
    ]
    frames = [rows[f"gopro0_{index}.jpg"] for index in range(4)]
    assert len({item["burst_id"] for item in frames}) == 1 and frames[0]["burst_id"] is not None
    assert [item["burst_size"] for item in frames] == [4] * 4
    assert frames[1]["burst_rank"] == 1 and frames[1]["best_in_burst"] is True  # the sharp middle frame
    assert sorted(item["burst_rank"] for item in frames) == [1, 2, 3, 4]
    assert rows["intruder.jpg"]["burst_id"] is None and rows["intruder.jpg"]["best_in_burst"] is True
    # Two frames of a hand-held phone burst, 0.4 s apart (their hashes are 18 bits apart).
    assert rows["set010_0.jpg"]["burst_id"] == rows["set010_1.jpg"]["burst_id"] is not None
    for item in rows.values():
        assert len(item["content_hash"]) == 16 and item["detail_size"] > 0
        assert 0 <= item["detail_x"] <= item["width"] - item["detail_size"]
        assert 0 <= item["detail_y"] <= item["height"] - item["detail_size"]
