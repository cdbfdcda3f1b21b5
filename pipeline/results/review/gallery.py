"""What the review page shows, computed from a run's rows. Pure: Arrow and NumPy, no files, no HTML.

Whole-run figures (counts, histograms, error reasons) come from every row. The galleries hold at most
`cap` photos each, chosen worst first, so a run of a million rows still makes a page that loads at once:

- flagged: photos judged blurry, most probably blurry first (plus the most probable of each blur type,
  so filtering the page by a type shows photos even when another type fills the first places);
- borderline: blur_probability within `band` of the threshold, the closest to it first;
- kept: every photo the model keeps, the closest to being flagged first (where its misses are);
- bokeh: photos kept as bokeh, the closest to being flagged first (do the portraits survive?);
- disagree: the Laplacian rule and the model disagree, the model's surest first.

The verdict is the job's rule (pipeline.verdict): blurry = blur_probability >= threshold, and the blur
type the most probable one consistent with that verdict. Rows already agree with it at the run's own
threshold; a review at another threshold re-decides only the rows it changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from model.labels import BLUR_TYPES, BLURRY_TYPES
from pipeline.schema import PROBABILITY_COLUMNS, STATUS_ERROR, STATUS_OK
from pipeline.verdict import blur_type_for_verdict, is_blurry, is_laplacian_blurry

DEFAULT_CAP = 500
PER_TYPE_CAP = 100
DEFAULT_BAND = 0.1
PROBABILITY_BINS = 20
LAPLACIAN_LOG_RANGE = (-1.0, 5.0)  # log10 of laplacian_var: 0.1 to 100,000
LAPLACIAN_BINS = 30
ERROR_KINDS_SHOWN = 50


@dataclass(frozen=True)
class Thresholds:
    blur: float
    laplacian: float
    band: float = DEFAULT_BAND


def apply_verdict(table: pa.Table, thresholds: Thresholds) -> pa.Table:
    """`blurry`, `blur_type` and `laplacian_blurry` as the job's rule (pipeline.verdict) gives them at
    `thresholds`. The blur type is redone only for rows whose verdict changes (a review at another
    threshold than the run's); error rows and low-information frames keep nulls."""
    ok = pc.equal(table.column("status"), STATUS_OK).to_numpy(zero_copy_only=False)
    if "low_information" in table.column_names:  # a blank frame gets no verdict (pipeline.verdict)
        ok = ok & ~pc.fill_null(table.column("low_information"), False).to_numpy(zero_copy_only=False)
    probabilities = table.column("blur_probability").to_pylist()
    laplacians = table.column("laplacian_var").to_pylist()
    stored = table.column("blurry").to_pylist()
    blurry = [
        is_blurry(p, thresholds.blur) if good else None for p, good in zip(probabilities, ok, strict=True)
    ]
    laplacian_blurry = [
        is_laplacian_blurry(v, thresholds.laplacian) if good else None
        for v, good in zip(laplacians, ok, strict=True)
    ]
    changed = [
        i for i, (now, before) in enumerate(zip(blurry, stored, strict=True)) if ok[i] and now != before
    ]
    if changed:
        types = table.column("blur_type").to_pylist()
        type_probabilities = np.column_stack(
            [table.column(name).to_numpy(zero_copy_only=False) for name in PROBABILITY_COLUMNS]
        )
        for index in changed:
            types[index] = blur_type_for_verdict(type_probabilities[index], blurry[index])
        table = _replace(table, "blur_type", pa.array(types, pa.string()))
    table = _replace(table, "blurry", pa.array(blurry, pa.bool_()))
    return _replace(table, "laplacian_blurry", pa.array(laplacian_blurry, pa.bool_()))


def _replace(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), table.schema.field(name), column)


def counts(table: pa.Table) -> dict:
    """Files, ok, errors, skipped, blurry, kept, and blurry/kept photos by blur type."""
    status = table.column("status")
    ok = pc.equal(status, STATUS_OK)
    blurry = pc.and_(ok, pc.fill_null(table.column("blurry"), False))
    types = pc.value_counts(table.column("blur_type").filter(ok)).to_pylist()
    by_type = {name: 0 for name in BLUR_TYPES}
    by_type.update({entry["values"]: entry["counts"] for entry in types if entry["values"] is not None})
    n_ok, n_blurry = pc.sum(ok).as_py() or 0, pc.sum(blurry).as_py() or 0
    n_errors = pc.sum(pc.equal(status, STATUS_ERROR)).as_py() or 0
    return {
        "files": table.num_rows,
        "ok": n_ok,
        "errors": n_errors,
        "skipped": table.num_rows - n_ok - n_errors,
        "blurry": n_blurry,
        "kept": n_ok - n_blurry,
        "by_type": by_type,
    }


def histograms(table: pa.Table, thresholds: Thresholds) -> dict:
    """Counts of blur_probability (0-1) and of log10(laplacian_var), each for blurry and kept photos."""
    ok = pc.equal(table.column("status"), STATUS_OK)
    rows = table.filter(ok)
    blurry = pc.fill_null(rows.column("blurry"), False).to_numpy(zero_copy_only=False)
    probability = np.nan_to_num(rows.column("blur_probability").to_numpy(zero_copy_only=False), nan=0.0)
    laplacian = np.nan_to_num(rows.column("laplacian_var").to_numpy(zero_copy_only=False), nan=0.0)
    low, high = LAPLACIAN_LOG_RANGE
    log_laplacian = np.clip(np.log10(np.maximum(laplacian, 10.0**low)), low, high)
    p_edges = np.linspace(0.0, 1.0, PROBABILITY_BINS + 1)
    l_edges = np.linspace(low, high, LAPLACIAN_BINS + 1)

    def split(values: np.ndarray, edges: np.ndarray) -> dict:
        return {
            "edges": [round(float(e), 4) for e in edges],
            "blurry": np.histogram(values[blurry], edges)[0].tolist(),
            "kept": np.histogram(values[~blurry], edges)[0].tolist(),
        }

    return {
        "probability": {**split(probability, p_edges), "threshold": thresholds.blur},
        "laplacian_log10": {
            **split(log_laplacian, l_edges),
            "threshold": math.log10(max(thresholds.laplacian, 1e-9)),
        },
    }


def error_reasons(table: pa.Table, shown: int = ERROR_KINDS_SHOWN) -> list[dict]:
    """Error rows grouped by kind of reason (the words before any parenthesised detail), most common
    first, each with one full reason and one file as an example."""
    errors = table.filter(pc.equal(table.column("status"), STATUS_ERROR)).select(["uri", "error"])
    if errors.num_rows == 0:
        return []
    reasons = pc.fill_null(errors.column("error"), "(no reason given)")
    kinds = pc.utf8_trim_whitespace(pc.replace_substring_regex(reasons, r"\s*\(.*$", ""))
    errors = errors.append_column("kind", kinds).append_column("reason", reasons)
    grouped = errors.group_by("kind").aggregate([("uri", "count"), ("uri", "min"), ("reason", "min")])
    grouped = grouped.sort_by([("uri_count", "descending"), ("kind", "ascending")])
    return [
        {"kind": row["kind"], "count": row["uri_count"], "example": row["reason_min"], "uri": row["uri_min"]}
        for row in grouped.slice(0, shown).to_pylist()
    ]


def _in_order(table: pa.Table, indexes: np.ndarray, key: np.ndarray) -> np.ndarray:
    """`indexes` sorted by `key` ascending, then by URI (so the page is the same on every run)."""
    uris = table.column("uri").take(pa.array(indexes, pa.int64())).to_pylist()
    order = sorted(range(len(indexes)), key=lambda i: (key[indexes[i]], uris[i]))
    return np.asarray(indexes, dtype=np.int64)[order]


def _ordered(table: pa.Table, mask: pa.Array, key: np.ndarray, cap: int) -> tuple[np.ndarray, int]:
    """Row indexes where `mask` holds, by `key` ascending then URI, at most `cap`; and how many matched."""
    indexes = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
    if len(indexes) > cap:  # keep the best `cap` and every row tied with the last of them
        boundary = np.partition(key[indexes], cap - 1)[cap - 1]
        candidates = indexes[key[indexes] <= boundary]
    else:
        candidates = indexes
    return _in_order(table, candidates, key)[:cap], len(indexes)


def sections(table: pa.Table, thresholds: Thresholds, cap: int = DEFAULT_CAP) -> list[dict]:
    """The five galleries: id, title, how many photos of the run belong there, and the row indexes
    shown (at most `cap`, plus up to PER_TYPE_CAP of each blur type in "flagged"), in order."""
    ok = pc.equal(table.column("status"), STATUS_OK)
    probability = np.nan_to_num(table.column("blur_probability").to_numpy(zero_copy_only=False), nan=0.0)
    blurry = pc.and_(ok, pc.fill_null(table.column("blurry"), False))
    kept = pc.and_(ok, pc.invert(pc.fill_null(table.column("blurry"), True)))
    distance = np.abs(probability - thresholds.blur)

    top, n_flagged = _ordered(table, blurry, -probability, cap)
    chosen = set(top.tolist())
    for blur_type in BLURRY_TYPES:
        of_type = pc.and_(blurry, pc.equal(table.column("blur_type"), blur_type))
        chosen.update(_ordered(table, of_type, -probability, PER_TYPE_CAP)[0].tolist())
    flagged = _in_order(table, np.array(sorted(chosen), dtype=np.int64), -probability)

    with np.errstate(invalid="ignore"):
        near = pa.array(distance <= thresholds.band + 1e-12)
    borderline, n_borderline = _ordered(table, pc.and_(ok, near), distance, cap)
    kept_rows, n_kept = _ordered(table, kept, -probability, cap)
    bokeh, n_bokeh = _ordered(
        table, pc.and_(kept, pc.equal(table.column("blur_type"), "bokeh")), -probability, cap
    )
    disagree_mask = pc.and_(ok, pc.not_equal(table.column("laplacian_blurry"), table.column("blurry")))
    disagree, n_disagree = _ordered(table, disagree_mask, -distance, cap)
    low, high = thresholds.blur - thresholds.band, thresholds.blur + thresholds.band
    notes = {
        "flagged": "most probably blurry first",
        "borderline": f"blur_probability {low:.2f}-{high:.2f}, around the threshold {thresholds.blur:g}; "
        "closest first",
        "kept": f"blur_probability below {thresholds.blur:g}: kept; closest to being flagged first, so a "
        "blurry photo the model missed is near the top",
        "bokeh": "sharp subject, soft background: kept; closest to being flagged first",
        "disagree": f"laplacian_var < {thresholds.laplacian:g} says blurry where the model keeps, or the "
        "other way round; the model's surest first",
    }
    titles = {
        "flagged": "Flagged as blurry",
        "borderline": "Borderline",
        "kept": "Kept",
        "bokeh": "Kept as bokeh",
        "disagree": "Laplacian rule and model disagree",
    }
    found = {
        "flagged": (flagged, n_flagged),
        "borderline": (borderline, n_borderline),
        "kept": (kept_rows, n_kept),
        "bokeh": (bokeh, n_bokeh),
        "disagree": (disagree, n_disagree),
    }
    return [
        {"id": key, "title": titles[key], "note": notes[key], "total": total, "rows": rows}
        for key, (rows, total) in found.items()
    ]


def original_link(uri: str) -> str:
    """Where a tile links: the file itself (file:// URL) or the object's page in the Cloud Console."""
    if uri.startswith("gs://"):
        bucket, _, name = uri[len("gs://") :].partition("/")
        return f"https://console.cloud.google.com/storage/browser/_details/{quote(bucket)}/{quote(name)}"
    if "://" in uri:
        return uri
    return "file://" + quote(uri if uri.startswith("/") else "/" + uri)


TILE_COLUMNS = (
    "uri",
    "blur_probability",
    "blur_type",
    "width",
    "height",
    "laplacian_var",
    "blurry",
    "laplacian_blurry",
    "detail_x",
    "detail_y",
    "detail_size",
    "burst_rank",
    "burst_size",
    "file_size",
    "modified_at",
    "crc32c",
)


def _identity(row: dict) -> dict:
    """The photo as it was scored, carried into the overrides file (pipeline.results.overrides)."""
    modified = row.get("modified_at")
    return {
        "fs": row.get("file_size"),
        "fm": None if modified is None else modified.isoformat(),
        "fc": row.get("crc32c"),
    }


def detail_box(row: dict) -> tuple[int, int, int] | None:
    """The row's detail box (x, y, side), or None (an old run, an error row)."""
    x, y, side = row.get("detail_x"), row.get("detail_y"), row.get("detail_size")
    if x is None or y is None or side is None or side < 1:
        return None
    return x, y, side


def tiles(table: pa.Table, rows: Sequence[int], thumbs: dict[str, str | None]) -> list[dict]:
    """The shown photos' facts for the page, short keys to keep it small: u uri, h link, t thumbnail
    (None: placeholder), c 1:1 crop (filled in with the thumbnails), d its box [x, y, side] (None: no
    box), p probability, y type, w x h size, l laplacian_var, b blurry, lb Laplacian's, r rank in its
    burst and n frames in it, fs fm fc the file's size, modification time and CRC32C."""
    present = [c for c in TILE_COLUMNS if c in table.column_names]
    picked = table.select(present).take(pa.array(rows, pa.int64()))
    result = []
    for row in picked.to_pylist():
        box = detail_box(row)
        result.append(
            {
                "u": row["uri"],
                "h": original_link(row["uri"]),
                "t": thumbs.get(row["uri"]),
                # Not rounded here: the page shows 3 digits, and rounding twice (here, then on the page)
                # showed 0.930 for a stored 0.93050003.
                "p": row["blur_probability"],
                "y": row["blur_type"],
                "w": row["width"],
                "hh": row["height"],
                "l": None if row["laplacian_var"] is None else round(row["laplacian_var"], 1),
                "b": row["blurry"],
                "lb": row["laplacian_blurry"],
                "d": None if box is None else list(box),
                "c": None,
                "r": row.get("burst_rank"),
                "n": row.get("burst_size"),
                **_identity(row),
            }
        )
    return result
