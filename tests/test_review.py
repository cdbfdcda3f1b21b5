"""The review gallery of a real run, opened from disk in headless Chromium: what the browser shows must
match the Parquet, and a filter in the page's address must change what is shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from support import browser

from pipeline.results.reader import read_results
from pipeline.results.review import review

BLUR, LAPLACIAN, BAND = 0.5, 100.0, 0.1
HOSTILE_NAME = "<img id=injected src=x onerror=\"document.title='pwned'\"> & <u>.jpg"


@pytest.fixture(scope="module")
def site(photo_folder, photo_folder_run, tmp_path_factory):
    """(index.html, rows, deleted uri): the review of a copy of the run whose photos were copied too,
    one flagged original deleted before the review (its tile must be a placeholder)."""
    work = tmp_path_factory.mktemp("review")
    root = work / "photos"
    shutil.copytree(photo_folder.root, root)
    table = photo_folder_run.table
    uris = pc.replace_substring(table.column("uri"), str(photo_folder.root), str(root)).to_pylist()
    # A flagged photo whose name is markup: the page must show it as text, never build elements of it.
    ranked = sorted(
        (r for r in table.to_pylist() if r["status"] == "ok" and r["blurry"]),
        key=lambda r: -r["blur_probability"],
    )
    renamed = uris[table.column("uri").to_pylist().index(ranked[1]["uri"])]
    hostile = str(Path(renamed).with_name(HOSTILE_NAME))
    Path(renamed).rename(hostile)
    uris = [hostile if uri == renamed else uri for uri in uris]
    table = table.set_column(0, "uri", pa.array(uris, pa.string()))
    pq.write_table(table, work / "scores-00000-of-00001.parquet")
    settings = {"blur_threshold": BLUR, "laplacian_threshold": LAPLACIAN}
    manifest = {"run_id": "t", "shards": ["scores-00000-of-00001.parquet"], "settings": settings}
    (work / "scores-manifest.json").write_text(json.dumps(manifest))
    rows = read_results(str(work / "scores")).to_pylist()
    flagged = sorted(
        (r for r in rows if r["status"] == "ok" and r["blurry"]), key=lambda r: -r["blur_probability"]
    )
    deleted = flagged[2]["uri"]
    Path(deleted).unlink()
    index = review.review(str(work / "scores"), work / "site")
    return index, rows, deleted


def _dom(index: Path, fragment: str = ""):
    return browser.parse(browser.dump_dom(index.as_uri() + fragment))


def _expected_sections(rows: list[dict]) -> dict[str, list[str]]:
    ok = [r for r in rows if r["status"] == "ok"]

    def by(rows_, key):
        return [r["uri"] for r in sorted(rows_, key=lambda r: (key(r), r["uri"]))]

    distance = lambda r: abs(r["blur_probability"] - BLUR)  # noqa: E731
    return {
        "flagged": by([r for r in ok if r["blurry"]], lambda r: -r["blur_probability"]),
        "borderline": by([r for r in ok if distance(r) <= BAND], distance),
        "bokeh": by(
            [r for r in ok if not r["blurry"] and r["blur_type"] == "bokeh"], lambda r: -r["blur_probability"]
        ),
        "disagree": by(
            [r for r in ok if r["blurry"] is not None and (r["laplacian_var"] < LAPLACIAN) != r["blurry"]],
            lambda r: -distance(r),
        ),
    }


def _shown(dom, section: str) -> list[str]:
    return [tile.attrs["data-uri"] for tile in dom.by_id(section).find_all("figure", class_="tile")]


def test_counts_match_the_parquet(site) -> None:
    index, rows, _ = site
    dom = _dom(index)
    counts = {
        dd.attrs["data-count"]: int(dd.all_text().replace(",", ""))
        for dd in dom.by_id("counts").find_all("dd")
    }
    ok = [r for r in rows if r["status"] == "ok"]
    blurry = sum(bool(r["blurry"]) for r in ok)  # null on a low-information frame: not blurry
    assert counts == {
        "files": len(rows),
        "ok": len(ok),
        "errors": sum(r["status"] == "error" for r in rows),
        "skipped": 0,
        "blurry": blurry,
        "kept": len(ok) - blurry,
    }
    assert blurry > 0 and counts["errors"] > 0
    for blur_type in ("gaussian", "motion", "minfilter", "defocus", "bokeh", "none"):
        (cell,) = dom.by_id("types").find_all("td", data_count=blur_type)
        assert int(cell.all_text()) == sum(r["blur_type"] == blur_type for r in ok), blur_type
    errors = dom.by_id("errors").find_all("tr", class_="error-kind")
    assert sum(int(row.find_all("td", class_="n")[0].all_text()) for row in errors) == counts["errors"]
    bars = dom.by_id("hist-probability").find_all("rect", class_="blurry")
    assert sum(int(bar.attrs["data-count"]) for bar in bars) == blurry
    kept_bars = dom.by_id("hist-laplacian").find_all("rect", class_="kept")
    assert sum(int(bar.attrs["data-count"]) for bar in kept_bars) == len(ok) - blurry


def test_sections_hold_the_right_photos_in_order(site) -> None:
    index, rows, _ = site
    dom = _dom(index)
    expected = _expected_sections(rows)
    assert all(expected[name] for name in ("flagged", "bokeh", "disagree"))  # the run exercises them
    for name, uris in expected.items():
        assert _shown(dom, name) == uris, name
        assert int(dom.by_id(name).attrs["data-total"]) == len(uris)


def test_tiles_show_thumbnails_facts_and_links_and_a_placeholder(site) -> None:
    index, rows, deleted = site
    dom = _dom(index)
    by_uri = {r["uri"]: r for r in rows}
    tiles = dom.by_id("flagged").find_all("figure", class_="tile")
    for tile in tiles:
        uri = tile.attrs["data-uri"]
        (link,) = tile.find_all("a", class_="frame")
        assert link.attrs["href"] == Path(uri).as_uri()
        text = tile.all_text()
        assert f"{by_uri[uri]['blur_probability']:.3f}" in text and by_uri[uri]["blur_type"] in text
        assert f"{by_uri[uri]['width']}\u00d7{by_uri[uri]['height']}" in text
        if uri == deleted:
            assert not tile.find_all("img") and tile.find_all("span", class_="placeholder")
        else:
            (image,) = link.find_all("img")
            assert (index.parent / image.attrs["src"]).stat().st_size > 0


def test_a_photo_name_that_is_markup_is_shown_as_text(site) -> None:
    index, rows, _ = site
    dom = _dom(index)
    assert dom.find_all(id="injected") == [] and dom.find_all("u") == []
    ((title,),) = [head.find_all("title") for head in dom.find_all("head")]
    assert title.all_text() == "Blur review"  # no script of the name ran
    (tile,) = [
        t
        for t in dom.by_id("flagged").find_all("figure", class_="tile")
        if t.attrs["data-uri"].endswith(HOSTILE_NAME)
    ]
    (name,) = tile.find_all("a", class_="name")
    assert name.all_text() == HOSTILE_NAME
    # Its thumbnail and its 1:1 crop, nothing else.
    assert [image.attrs["src"].startswith("thumbs/") for image in tile.find_all("img")] == [True, True]


def test_a_filter_in_the_address_changes_what_is_shown(site) -> None:
    index, rows, _ = site
    expected = _expected_sections(rows)
    by_uri = {r["uri"]: r for r in rows}
    dom = _dom(index, "#type=minfilter&min=0.85")
    wanted = [
        uri
        for uri in expected["flagged"]
        if by_uri[uri]["blur_type"] == "minfilter" and round(by_uri[uri]["blur_probability"], 4) >= 0.85
    ]
    assert 0 < len(wanted) < len(expected["flagged"])
    assert _shown(dom, "flagged") == wanted
    assert _shown(dom, "bokeh") == []  # no bokeh photo is of type minfilter
    # A path filter, from the query string form of the address too.
    name = Path(expected["flagged"][0]).name
    assert _shown(_dom(index, f"?q={name}"), "flagged") == [u for u in expected["flagged"] if name in u]


def test_the_page_is_small_and_self_contained(site) -> None:
    index, _, _ = site
    html = index.read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: it opens offline
    assert (index.parent / "data.js").read_text().startswith("window.REVIEW = ")


def test_a_run_in_a_bucket(photo_folder, photo_folder_run, emulator, tmp_path) -> None:
    """Rows and originals in Cloud Storage: thumbnails made from the objects, tiles linking to the
    Cloud Console, and a placeholder for an object that is gone."""
    from support import gcs_emulator

    bucket = gcs_emulator.client().create_bucket("review-under-test")
    table = photo_folder_run.table
    gs = pc.replace_substring(table.column("uri"), str(photo_folder.root), "gs://review-under-test/photos")
    table = table.set_column(0, "uri", gs)
    flagged = [r["uri"] for r in table.to_pylist() if r["status"] == "ok" and r["blurry"]]
    for uri in flagged[1:]:  # the first is gone since the run
        local = uri.replace("gs://review-under-test/photos", str(photo_folder.root))
        bucket.blob(uri.removeprefix("gs://review-under-test/")).upload_from_filename(local)
    pq.write_table(table, tmp_path / "shard.parquet")
    bucket.blob("runs/a/scores-00000-of-00001.parquet").upload_from_filename(str(tmp_path / "shard.parquet"))

    index = review.review("gs://review-under-test/runs/a/scores", tmp_path / "site")
    data = json.loads(
        (tmp_path / "site" / "data.js").read_text().removeprefix("window.REVIEW = ").rstrip()[:-1]
    )
    tiles = {tile["u"]: tile for tile in data["tiles"]}
    assert set(flagged) <= set(tiles)
    assert tiles[flagged[0]]["t"] is None
    for uri in flagged[1:]:
        assert (index.parent / tiles[uri]["t"]).stat().st_size > 0
        assert tiles[uri]["h"].startswith(
            "https://console.cloud.google.com/storage/browser/_details/review-under-test/photos/"
        )
    assert data["counts"]["files"] == table.num_rows
