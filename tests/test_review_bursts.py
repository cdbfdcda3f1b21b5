"""The review page's bursts, kept section, full names, 1:1 crops and keep/reject overrides, on a real run
opened from disk in headless Chromium: the order the browser shows must be the run's, a crop must be the
box's own pixels, and the overrides a person clicks must download as a file the format module reads."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from support import browser, devtools

from pipeline.photo.decode import decode_reduced
from pipeline.results.overrides import FILE_NAME, read_overrides, stale_reason
from pipeline.results.reader import read_results
from pipeline.results.review import review
from pipeline.results.review.bursts import FRAMES_SHOWN

pytestmark = pytest.mark.slow

BLUR = 0.5
LONG_NAME = "a very long file name of a holiday photo taken on the beach at sunset " * 2 + "IMG_0042.jpg"


@pytest.fixture(scope="module")
def site(photo_folder, photo_folder_run, tmp_path_factory):
    """(index.html, rows): the review of a copy of the real run, in which one photo has a long name and
    one row has no detail box (as in a run made before boxes). The job found its bursts itself: each
    sharp photo with its blurred copy (the sharp one best, though its URI sorts after), and the awkward
    files that are one picture in many formats (17 frames: more than the page shows of a burst)."""
    work = tmp_path_factory.mktemp("review-bursts")
    root = work / "photos"
    shutil.copytree(photo_folder.root, root)
    rows = [
        dict(row, uri=row["uri"].replace(str(photo_folder.root), str(root)))
        for row in photo_folder_run.table.to_pylist()
    ]
    long_source = next(r for r in rows if r["uri"].endswith("sharp/coffee.jpg"))
    renamed = str(Path(long_source["uri"]).with_name(LONG_NAME))
    Path(long_source["uri"]).rename(renamed)
    long_source["uri"] = renamed
    ok = [r for r in rows if r["status"] == "ok"]
    boxless = next(r for r in ok if r["uri"].endswith("blurred/coffee blurred.jpg"))
    boxless.update(detail_x=None, detail_y=None, detail_size=None)
    table = pa.Table.from_pylist(rows, schema=photo_folder_run.table.schema)
    pq.write_table(table, work / "scores-00000-of-00001.parquet")
    settings = {"blur_threshold": BLUR, "laplacian_threshold": 100.0}
    manifest = {"run_id": "t", "shards": ["scores-00000-of-00001.parquet"], "settings": settings}
    (work / "scores-manifest.json").write_text(json.dumps(manifest))
    index = review.review(str(work / "scores"), work / "site")
    return index, read_results(str(work / "scores")).to_pylist()


def _dom(index: Path):
    return browser.parse(browser.dump_dom(index.as_uri()))


def _uris(node) -> list[str]:
    return [tile.attrs["data-uri"] for tile in node.find_all("figure", class_="tile")]


def test_the_bursts_section_shows_each_burst_best_first(site) -> None:
    index, rows = site
    dom = _dom(index)
    bursts = {}
    for row in rows:
        if row["burst_id"] is not None:
            bursts.setdefault(row["burst_id"], []).append(row)
    assert len(bursts) >= 4 and max(len(frames) for frames in bursts.values()) > FRAMES_SHOWN
    shown = dom.by_id("bursts").find_all("div", class_="burst")
    order = sorted(bursts, key=lambda b: (-len(bursts[b]), b))  # most frames first
    assert [b.attrs["data-burst"] for b in shown] == order
    for node in shown:
        frames = sorted(bursts[node.attrs["data-burst"]], key=lambda r: r["burst_rank"])
        assert [r["burst_rank"] for r in frames] == list(range(1, len(frames) + 1))
        assert int(node.attrs["data-size"]) == len(frames) == frames[0]["burst_size"]
        frames = frames[:FRAMES_SHOWN]
        assert _uris(node) == [r["uri"] for r in frames]
        tiles = node.find_all("figure", class_="tile")
        ranks = [tile.find_all("span", class_="rank")[0].all_text() for tile in tiles]
        assert ranks == ["#1 best", *(f"#{k}" for k in range(2, len(frames) + 1))]
        for tile, frame in zip(tiles, frames, strict=True):
            assert tile.find_all("span", class_="p")[0].all_text() == f"{frame['blur_probability']:.3f}"
        if any("blurred" in r["uri"] for r in frames):  # the sharp original is the best frame
            assert "blurred" not in Path(frames[0]["uri"]).name
            assert frames[0]["uri"] > frames[1]["uri"]  # so an order by URI would show it last
    assert int(dom.by_id("bursts").attrs["data-total"]) == len(bursts)


def test_the_kept_section_lists_kept_photos_nearest_the_threshold_first(site) -> None:
    index, rows = site
    kept = [r for r in rows if r["status"] == "ok" and r["blurry"] is False]
    expected = [r["uri"] for r in sorted(kept, key=lambda r: (-r["blur_probability"], r["uri"]))]
    assert len(expected) > 3
    shown = _uris(_dom(index).by_id("kept"))
    assert shown == expected
    probabilities = [next(r for r in kept if r["uri"] == u)["blur_probability"] for u in shown]
    assert probabilities == sorted(probabilities, reverse=True) and max(probabilities) < BLUR


def test_tiles_carry_full_names_wrapped_not_cut(site) -> None:
    index, _ = site
    dom = _dom(index)
    for tile in dom.find_all("figure", class_="tile"):
        (name,) = tile.find_all("a", class_="name")
        assert name.all_text() == Path(tile.attrs["data-uri"]).name
        assert name.attrs["title"] == tile.attrs["data-uri"]
    with devtools.open_page(index.as_uri()) as page:
        # The long name is laid out whole: on several lines, nothing hidden past the tile's edge.
        measured = page.evaluate(
            "Array.from(document.querySelectorAll('figure.tile')).filter(function (f) {"
            f"  return f.getAttribute('data-uri').endsWith({json.dumps(LONG_NAME)}); }})"
            ".map(function (f) { var n = f.querySelector('a.name'); return [n.textContent, n.scrollWidth,"
            " n.clientWidth, n.getClientRects().length, n.getBoundingClientRect().height,"
            " f.getBoundingClientRect().right - n.getBoundingClientRect().right]; })"
        )
    assert measured
    for text, scroll_width, client_width, _, height, right_margin in measured:
        assert text == LONG_NAME
        assert scroll_width <= client_width and right_margin >= 0
        assert height > 40  # wrapped over three lines or more


def test_each_tile_with_a_box_has_its_one_to_one_crop(site) -> None:
    index, rows = site
    by_uri = {r["uri"]: r for r in rows}
    dom = _dom(index)
    tiles = dom.find_all("figure", class_="tile")
    checked = 0
    for tile in tiles:
        row = by_uri[tile.attrs["data-uri"]]
        crops = tile.find_all("a", class_="crop")
        if row["detail_size"] is None or not Path(row["uri"]).exists():
            assert crops == [], row["uri"]  # no box (or no photo): no crop
            continue
        (crop,) = crops
        (image,) = crop.find_all("img")
        box = (row["detail_x"], row["detail_y"], row["detail_size"])
        assert image.attrs["data-box"] == ",".join(map(str, box))
        with Image.open(index.parent / image.attrs["src"]) as made:
            assert made.size == (box[2], box[2])
            pixels = np.asarray(made.convert("RGB"), dtype=np.int16)
        full = decode_reduced(Path(row["uri"]).read_bytes(), preview_long_side=1 << 40).rgb
        assert full.shape[:2] == (row["height"], row["width"])  # full size, after orientation
        x, y, side = box
        region = full[y : y + side, x : x + side].astype(np.int16)
        error = np.abs(pixels - region).mean()
        assert error < 8.0, row["uri"]  # the box's own pixels, JPEG-encoded twice (the photo, the crop)
        if side >= 32 and side + 4 <= row["width"]:  # and not those of a neighbouring square
            dx = 4 if x + side + 4 <= row["width"] else -4
            shifted = full[y : y + side, x + dx : x + dx + side].astype(np.int16)
            assert np.abs(pixels - shifted).mean() > error + 2, row["uri"]
        checked += 1
    assert checked >= 8
    assert any(by_uri[t.attrs["data-uri"]]["detail_size"] is None for t in tiles)  # the boxless row shown
    # And in the browser: each crop image as loaded is the box's size in pixels, drawn unscaled.
    with devtools.open_page(index.as_uri()) as page:
        # Lazy images off screen never load in a headless window: ask for them all now.
        page.evaluate(
            "Promise.allSettled(Array.from(document.querySelectorAll('a.crop img')).map(function (i) {"
            " i.loading = 'eager'; return i.decode(); }))"
        )
        loaded = page.evaluate(
            "Array.from(document.querySelectorAll('a.crop img')).map(function (i) {"
            " return [i.getAttribute('data-box'), i.naturalWidth, i.naturalHeight,"
            " getComputedStyle(i).objectFit]; })"
        )
    assert len(loaded) >= checked
    for box, width, height, fit in loaded:
        side = int(box.split(",")[2])
        assert (width, height, fit) == (side, side, "none")


def test_marking_tiles_downloads_overrides_that_the_format_module_reads(site, tmp_path) -> None:
    index, rows = site
    by_uri = {r["uri"]: r for r in rows}
    kept_rows = [r for r in rows if r["status"] == "ok" and r["blurry"] is False]
    kept = [r["uri"] for r in sorted(kept_rows, key=lambda r: -r["blur_probability"])]
    flagged = [u for u, r in by_uri.items() if r["status"] == "ok" and r["blurry"]]
    wrong_keep, wrong_reject, undone = kept[0], sorted(flagged)[0], kept[1]

    def button(uri: str, mark: str, section: str) -> str:
        return (
            f"Array.from(document.querySelectorAll('#{section} figure.tile')).filter(function (f) {{"
            f" return f.getAttribute('data-uri') === {json.dumps(uri)}; }})[0]"
            f".querySelector('button[data-mark={mark}]')"
        )

    with devtools.open_page(index.as_uri(), downloads=tmp_path) as page:
        page.click(button(wrong_keep, "reject", "kept"))
        page.click(button(wrong_reject, "keep", "flagged"))
        page.click(button(undone, "reject", "kept"))
        page.click(button(undone, "reject", "kept"))  # a second click takes the mark back
        assert page.evaluate("document.getElementById('o-count').getAttribute('data-marked')") == "2"
        # The same photo's tile in another section shows the mark too.
        decisions = page.evaluate(
            "Array.from(document.querySelectorAll('figure.tile')).filter(function (f) {"
            f" return f.getAttribute('data-uri') === {json.dumps(wrong_reject)}; }})"
            ".map(function (f) { return f.getAttribute('data-decision'); })"
        )
        assert decisions and set(decisions) == {"keep"}
        page.click("document.getElementById('o-download')")
        target = tmp_path / FILE_NAME
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # The marks outlive a reload; a later review in which one photo was replaced drops its mark.
        page.evaluate("window.beforeReload = true")
        page.call("Page.reload")
        page.wait_for("!window.beforeReload && document.readyState === 'complete'")
        assert page.evaluate("document.getElementById('o-count').getAttribute('data-marked')") == "2"
        later = tmp_path / "later"
        shutil.copytree(index.parent, later)
        data = json.loads((later / "data.js").read_text().removeprefix("window.REVIEW = ").rstrip()[:-1])
        for tile in data["tiles"]:
            if tile["u"] == wrong_keep:
                tile["fs"] += 1
        (later / "data.js").write_text(review.data_script(data))
        page.call("Page.navigate", url=(later / "index.html").as_uri())
        page.wait_for("location.href.indexOf('/later/') >= 0 && document.readyState === 'complete'")
        assert page.evaluate("document.getElementById('o-count').getAttribute('data-marked')") == "1"
    overrides = read_overrides(target)
    assert {uri: o.decision for uri, o in overrides.items()} == {wrong_keep: "reject", wrong_reject: "keep"}
    for uri, override in overrides.items():
        row = by_uri[uri]
        assert (override.file_size, override.modified_at, override.crc32c) == (
            row["file_size"],
            row["modified_at"],
            row["crc32c"],
        )
        assert override.file_size is not None and override.modified_at is not None
        assert stale_reason(override, row) is None
        assert stale_reason(override, dict(row, file_size=row["file_size"] + 1)) is not None


def test_the_page_stays_offline_and_bounded(site) -> None:
    index, _ = site
    for name in ("index.html", "review.js", "review.css"):
        text = (index.parent / name).read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    data = (index.parent / "data.js").read_text()
    assert '"burst_cap":100' in data and '"cap":500' in data
    sizes = [Image.open(io.BytesIO(p.read_bytes())).size for p in (index.parent / "thumbs").glob("*-1x.jpg")]
    assert sizes and all(w == h for w, h in sizes)
