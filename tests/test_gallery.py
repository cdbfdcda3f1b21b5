"""The review page's data (pipeline.results.review.gallery, review.page_data) on generated runs: caps,
order, verdicts at another threshold, error grouping, links. No browser, no files but thumbnails."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from model.labels import BLUR_TYPES, BLURRY_TYPES, KEEP_TYPES
from pipeline.results.reader import conform
from pipeline.results.review import gallery
from pipeline.results.review.thumbnails import make_thumbnail
from pipeline.schema import PROBABILITY_COLUMNS
from pipeline.verdict import blur_type_for_verdict

THRESHOLDS = gallery.Thresholds(blur=0.5, laplacian=100.0, band=0.1)


def generated_run(n: int, seed: int = 0, errors: int = 0) -> pa.Table:
    """`n` ok rows consistent with the job's verdict at 0.5, then `errors` error rows."""
    rng = np.random.default_rng(seed)
    probability = rng.beta(0.6, 0.6, n)
    types = rng.dirichlet(np.ones(len(BLUR_TYPES)), n)
    laplacian = 10 ** rng.uniform(-0.5, 4.0, n)
    blurry = probability >= 0.5
    columns = {
        "uri": [f"/photos/{i % 97}/p{i:07d}.jpg" for i in range(n)],
        "status": ["ok"] * n,
        "width": np.full(n, 4032, np.int32),
        "height": np.full(n, 3024, np.int32),
        "laplacian_var": laplacian,
        "laplacian_blurry": laplacian < 100,
        "blur_probability": probability,
        "blurry": blurry,
        "blur_type": [blur_type_for_verdict(types[i], bool(blurry[i])) for i in range(n)],
        **{name: types[:, k] for k, name in enumerate(PROBABILITY_COLUMNS)},
        "model_version": ["v"] * n,
        "scored_at": [datetime(2026, 11, 30, tzinfo=UTC)] * n,
    }
    table = conform(pa.table(columns))
    if errors:
        reasons = [f"corrupt JPEG file (detail {i})" if i % 3 else "file not found" for i in range(errors)]
        bad = pa.table(
            {"uri": [f"/bad/{i}.jpg" for i in range(errors)], "status": ["error"] * errors, "error": reasons}
        )
        table = pa.concat_tables([table, conform(bad)])
    return table


def test_galleries_are_capped_and_chosen_worst_first() -> None:
    table = generated_run(20_000, errors=30)
    rows = table.to_pylist()
    chosen = {s["id"]: s for s in gallery.sections(table, THRESHOLDS, cap=50)}
    ok = [r for r in rows if r["status"] == "ok"]
    flagged = sorted((r for r in ok if r["blurry"]), key=lambda r: (-r["blur_probability"], r["uri"]))
    shown = [rows[i] for i in chosen["flagged"]["rows"]]
    assert chosen["flagged"]["total"] == len(flagged)
    assert [r["uri"] for r in shown[:50]] == [r["uri"] for r in flagged[:50]]
    for blur_type in BLURRY_TYPES:  # each type's worst are there, so a type filter always finds photos
        worst = [r["uri"] for r in flagged if r["blur_type"] == blur_type][: gallery.PER_TYPE_CAP]
        assert set(worst) <= {r["uri"] for r in shown}
    assert [r["blur_probability"] for r in shown] == sorted(
        (r["blur_probability"] for r in shown), reverse=True
    )
    assert len(shown) <= 50 + gallery.PER_TYPE_CAP * len(BLURRY_TYPES)

    borderline = [rows[i] for i in chosen["borderline"]["rows"]]
    assert len(borderline) == 50
    distances = [abs(r["blur_probability"] - 0.5) for r in borderline]
    assert distances == sorted(distances) and max(distances) <= 0.1
    assert chosen["borderline"]["total"] == sum(abs(r["blur_probability"] - 0.5) <= 0.1 for r in ok)
    bokeh = [rows[i] for i in chosen["bokeh"]["rows"]]
    assert all(r["blur_type"] == "bokeh" and not r["blurry"] for r in bokeh) and len(bokeh) == 50
    disagree = [rows[i] for i in chosen["disagree"]["rows"]]
    assert all(r["laplacian_blurry"] != r["blurry"] for r in disagree)
    assert chosen["disagree"]["total"] == sum(r["laplacian_blurry"] != r["blurry"] for r in ok)


def test_the_verdict_at_another_threshold_is_the_jobs_rule() -> None:
    table = generated_run(3000, seed=1, errors=3)
    moved = gallery.apply_verdict(table, gallery.Thresholds(blur=0.8, laplacian=10.0))
    for before, after in zip(table.to_pylist(), moved.to_pylist(), strict=True):
        if before["status"] != "ok":
            assert after["blurry"] is None
            continue
        assert after["blurry"] == (before["blur_probability"] >= 0.8)
        assert after["laplacian_blurry"] == (before["laplacian_var"] < 10.0)
        probabilities = np.array([before[name] for name in PROBABILITY_COLUMNS])
        assert after["blur_type"] == blur_type_for_verdict(probabilities, after["blurry"])
        assert (after["blur_type"] in KEEP_TYPES) == (not after["blurry"])
    same = gallery.apply_verdict(table, THRESHOLDS)
    assert same.column("blur_type").to_pylist() == table.column("blur_type").to_pylist()


def test_counts_histograms_and_error_kinds() -> None:
    table = generated_run(1000, seed=2, errors=9)
    counts = gallery.counts(table)
    assert (counts["files"], counts["ok"], counts["errors"], counts["skipped"]) == (1009, 1000, 9, 0)
    assert counts["blurry"] + counts["kept"] == 1000
    assert sum(counts["by_type"].values()) == 1000
    hist = gallery.histograms(table, THRESHOLDS)
    assert sum(hist["probability"]["blurry"]) == counts["blurry"]
    assert sum(hist["laplacian_log10"]["kept"]) == counts["kept"]
    assert gallery.error_reasons(table) == [
        {
            "kind": "corrupt JPEG file",
            "count": 6,
            "example": "corrupt JPEG file (detail 1)",
            "uri": "/bad/1.jpg",
        },
        {"kind": "file not found", "count": 3, "example": "file not found", "uri": "/bad/0.jpg"},
    ]


@pytest.mark.parametrize(
    ("uri", "link"),
    [
        ("/photos/a b/é.jpg", "file:///photos/a%20b/%C3%A9.jpg"),
        ("gs://my-bucket/2024/a b.jpg", "https://console.cloud.google.com/storage/browser/_details/my-bucket/2024/a%20b.jpg"),
    ],
)  # fmt: skip
def test_links_to_the_original(uri: str, link: str) -> None:
    assert gallery.original_link(uri) == link


def test_thumbnails_come_from_the_jobs_decoder(sharp_jpeg) -> None:
    from io import BytesIO

    from PIL import Image

    from pipeline.photo.decode import DecodeError

    with Image.open(BytesIO(make_thumbnail(sharp_jpeg, 100))) as thumb:
        assert max(thumb.size) == 100 and thumb.format == "JPEG"
    with pytest.raises(DecodeError):
        make_thumbnail(b"not a photo")


def test_a_large_jpeg_is_decoded_at_the_smallest_scale_a_thumbnail_needs(sharp_photos) -> None:
    import cv2
    from support.photos import encode

    from pipeline.photo.decode import decode_reduced

    big = cv2.resize(sharp_photos["astronaut"], (4032, 3024), interpolation=cv2.INTER_LINEAR)
    data = encode(big, "JPEG", quality=90)
    assert decode_reduced(data, preview_long_side=240).decoded_size == (504, 378)  # 1/8 in the DCT domain
    assert decode_reduced(data, preview_long_side=600).decoded_size == (1008, 756)
    assert decode_reduced(data).decoded_size == (1008, 756)  # scoring is unchanged: the working scale
    thin = encode(big[:5], "PNG")  # 4032x5: never reduced to nothing
    assert make_thumbnail(thin, 240)


def test_a_photo_replaced_since_the_last_review_gets_a_new_thumbnail(sharp_photos, tmp_path) -> None:
    import os

    from PIL import Image
    from support.photos import encode

    from pipeline.results.review.thumbnails import write_thumbnails

    photo, thumbs = tmp_path / "a.jpg", tmp_path / "thumbs"
    photo.write_bytes(encode(sharp_photos["astronaut"], "JPEG", quality=90))
    first = write_thumbnails([str(photo)], thumbs)[str(photo)]
    assert write_thumbnails([str(photo)], thumbs)[str(photo)] == first  # unchanged: reused
    with Image.open(thumbs / first) as thumb:
        before = thumb.convert("RGB").resize((8, 8)).tobytes()
    # Another photo under the same name; the same time stamp would not fool it either (size differs).
    stamp = photo.stat().st_mtime_ns
    photo.write_bytes(encode(sharp_photos["coffee"], "JPEG", quality=90))
    os.utime(photo, ns=(stamp, stamp))
    second = write_thumbnails([str(photo)], thumbs)[str(photo)]
    assert second != first and sorted(p.name for p in thumbs.iterdir()) == [second]
    with Image.open(thumbs / second) as thumb:
        assert thumb.convert("RGB").resize((8, 8)).tobytes() != before
    photo.unlink()
    assert write_thumbnails([str(photo)], thumbs) == {str(photo): None}  # gone: a placeholder


def with_bursts(table: pa.Table, sizes: list[int]) -> pa.Table:
    """`table` whose first rows are frames of bursts of these sizes, ranked by URI backwards (so that an
    order by URI would be wrong), the rest alone."""
    n = table.num_rows
    burst_id: list[str | None] = [None] * n
    rank, size = [1] * n, [1] * n
    start = 0
    for number, frames in enumerate(sizes):
        for k in range(frames):
            burst_id[start + k] = f"{number:016x}"
            rank[start + k], size[start + k] = frames - k, frames
        start += frames
    table = table.set_column(
        table.schema.get_field_index("burst_id"), "burst_id", pa.array(burst_id, pa.string())
    )
    table = table.set_column(
        table.schema.get_field_index("burst_rank"), "burst_rank", pa.array(rank, pa.int32())
    )
    return table.set_column(
        table.schema.get_field_index("burst_size"), "burst_size", pa.array(size, pa.int32())
    )


def test_bursts_are_capped_largest_first_and_ranked() -> None:
    from pipeline.results.review.bursts import FRAMES_SHOWN, burst_groups

    sizes = [2] * 300 + [3] * 5 + [40]
    table = with_bursts(generated_run(100_000, seed=3, errors=5), sizes)
    groups, total = burst_groups(table, cap=10)
    assert total == len(sizes) and len(groups) == 10
    assert [g["size"] for g in groups] == [40, 3, 3, 3, 3, 3, 2, 2, 2, 2]
    ranks = table.column("burst_rank").to_pylist()
    for group in groups:
        assert len(group["rows"]) == min(group["size"], FRAMES_SHOWN)
        assert [ranks[i] for i in group["rows"]] == list(range(1, len(group["rows"]) + 1))  # best first
    assert burst_groups(generated_run(50), cap=10) == ([], 0)  # no bursts (or a run from before them)


def test_the_page_data_of_100k_rows_stays_small(tmp_path) -> None:
    from pipeline.results.reader import Run
    from pipeline.results.review.review import data_script, page_data

    table = with_bursts(generated_run(100_000, seed=4, errors=20), [2] * 5000)
    run = Run(prefix="/runs/x", shards=("s",), table=table)
    data, uris = page_data(run, gallery.apply_verdict(table, THRESHOLDS), THRESHOLDS, cap=500)
    assert len(data["bursts"]["groups"]) == 100 and data["bursts"]["total"] == 5000
    assert len(uris) == len(data["tiles"]) <= 5 * 500 + 4 * gallery.PER_TYPE_CAP + 100 * 12
    assert len(data_script(data).encode()) < 3_000_000
    kept = next(s for s in data["sections"] if s["id"] == "kept")
    shown = [data["tiles"][i]["p"] for i in kept["tiles"]]
    assert len(shown) == 500 and shown == sorted(shown, reverse=True) and max(shown) < THRESHOLDS.blur


def test_a_crop_comes_from_the_same_read_as_the_thumbnail(sharp_photos, tmp_path) -> None:
    import cv2
    from PIL import Image
    from support.photos import encode

    from pipeline.results.review.thumbnails import Box, write_previews

    big = cv2.resize(sharp_photos["astronaut"], (2400, 1800), interpolation=cv2.INTER_LINEAR)
    photo, thumbs = tmp_path / "big.png", tmp_path / "thumbs"
    photo.write_bytes(encode(big, "PNG"))  # lossless: the crop must be the very pixels
    box = Box(1000, 500, 800)
    made = write_previews([str(photo)], thumbs, {str(photo): box})[str(photo)]
    with Image.open(thumbs / made.crop) as crop:
        assert crop.size == (800, 800)
        pixels = np.asarray(crop.convert("RGB"), dtype=np.int16)
    assert np.abs(pixels - big[500:1300, 1000:1800]).mean() < 2.0
    with Image.open(thumbs / made.thumb) as thumb:
        assert max(thumb.size) == 240
    # A box the photo does not hold (it was replaced by a smaller one): no crop, still a thumbnail.
    outside = write_previews([str(photo)], thumbs, {str(photo): Box(2000, 0, 800)})[str(photo)]
    assert outside.crop is None and outside.thumb == made.thumb
    assert sorted(p.name for p in thumbs.iterdir()) == [made.thumb]  # the stale crop removed
