"""Fuzz: a few hundred damaged copies of real JPEG, PNG and HEIC photos through the real job (DirectRunner).

Random bit flips, truncations and insertions, fixed seed. The job must finish with one row per file,
and a variant whose pixels visibly changed (mean absolute difference over 2 grey levels against the
intact file's decode, both decoded by Pillow alone, which checks nothing) must not come back as a plain
`ok` photo in at least 95% of cases. The counts are printed (pytest -s) for the README.
About 75 s on an idle 2-core machine, 4.5 minutes while a model trains.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.photos import encode, sharp_rgb

SEED = 20261130
VARIANTS_PER_FILE = 100
VISIBLE_MAD = 2.0


def _bases() -> dict[str, bytes]:
    """Real photos (scikit-image's), as the formats phones and cameras write. The HEIC as a phone writes
    one: HEVC in a grid of 512x512 tiles, with a 320 px thumbnail (an iPhone's is 320x240); and the same
    without a thumbnail (some phones' and editors' HEICs have none), which leaves one check fewer."""
    import cv2

    astronaut = cv2.resize(sharp_rgb("astronaut"), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    coffee = cv2.resize(sharp_rgb("coffee"), (1200, 800), interpolation=cv2.INTER_CUBIC)
    return {
        "jpeg": encode(astronaut, "JPEG", quality=90),
        "png": encode(sharp_rgb("chelsea"), "PNG"),
        "heic": encode(coffee, "HEIF", quality=85, thumbnails=[320], tile_size=512),
        "heic-without-thumbnail": encode(coffee, "HEIF", quality=85, tile_size=512),
    }


SUFFIXES = {"jpeg": "jpg", "png": "png", "heic": "heic", "heic-without-thumbnail": "heic"}


def damage(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One random damage: flipped bits (1-100), a truncation, or inserted random bytes (1-64)."""
    kind = ("flip", "truncate", "insert")[int(rng.integers(0, 3))]
    damaged = bytearray(data)
    if kind == "flip":
        count = int(rng.choice([1, 2, 5, 10, 30, 100]))
        for position in rng.integers(0, len(data), count):
            damaged[position] ^= 1 << int(rng.integers(0, 8))
        return f"flip{count}", bytes(damaged)
    if kind == "truncate":
        return "truncate", bytes(damaged[: int(rng.integers(1, len(data)))])
    position = int(rng.integers(0, len(data)))
    inserted = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
    return "insert", bytes(damaged[:position] + inserted + damaged[position:])


def pillow_pixels(data: bytes) -> np.ndarray | None:
    """What Pillow alone decodes (full size, RGB), or None when it refuses."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.int16)
    except Exception:
        return None


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, bool]]]:
    """The variants on disk, and {path: (damage kind, visibly changed)}."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    folder = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(SEED)
    truth: dict[str, tuple[str, bool]] = {}
    for name, data in _bases().items():
        intact = pillow_pixels(data)
        assert intact is not None
        for index in range(VARIANTS_PER_FILE):
            kind, variant = damage(data, rng)
            path = folder / f"{name}_{index:03d}_{kind}.{SUFFIXES[name]}"
            path.write_bytes(variant)
            pixels = pillow_pixels(variant)
            if pixels is None:
                visible = None  # Pillow refuses it: nothing to compare, the job must say error too
            else:
                visible = bool(pixels.shape != intact.shape or np.abs(pixels - intact).mean() > VISIBLE_MAD)
            truth[str(path)] = (kind, visible)
    return folder, truth


def test_fuzzed_files_get_one_row_each_and_damage_is_not_called_a_photo(fuzz_folder, run_job) -> None:
    folder, truth = fuzz_folder
    output = run_job("--input", f"{folder}/*")
    by_uri = {row["uri"]: row for row in output.rows}
    assert len(output.rows) == len(by_uri) == len(truth) == len(SUFFIXES) * VARIANTS_PER_FILE
    assert set(by_uri) == set(truth)

    refused = [uri for uri, (_, visible) in truth.items() if visible is None]
    visible = [uri for uri, (_, seen) in truth.items() if seen]
    unchanged = [uri for uri, (_, seen) in truth.items() if seen is False]
    missed = [uri for uri in visible if by_uri[uri]["status"] == "ok"]
    print(
        f"\nfuzz: {len(truth)} variants; Pillow refuses {len(refused)} (job: "
        f"{sum(by_uri[u]['status'] != 'ok' for u in refused)} not ok); visibly changed {len(visible)} "
        f"(job: {len(visible) - len(missed)} not ok, {len(missed)} ok); unchanged or invisible "
        f"{len(unchanged)} (job: {sum(by_uri[u]['status'] == 'ok' for u in unchanged)} ok)"
    )

    def caught(kind: str) -> tuple[int, int]:
        """(not called ok, visibly changed) among one base file's variants."""
        seen = [uri for uri in visible if Path(uri).name.startswith(f"{kind}_")]
        return len(seen) - sum(uri in missed for uri in seen), len(seen)

    counts = {kind: caught(kind) for kind in SUFFIXES}
    for kind, (found, seen) in counts.items():
        print(f"  {kind}: visibly changed {seen}, called ok {seen - found}")
    for uri in missed:
        print("  missed:", Path(uri).name, f"(Pillow: {truth[uri][0]})")
    # Whatever Pillow refuses, the job refuses too.
    assert all(by_uri[uri]["status"] == "error" for uri in refused)

    # The issue's target, on its three files (a JPEG, a PNG, a HEIC as phones write it): at least 95% of
    # the visibly changed variants are not called ok photos, overall and for the HEIC (measured: 129 of
    # 133; HEIC 86 of 86: the box structure, never-decoded green blocks and the thumbnail comparison,
    # pipeline/photo/damage.py); and over all four files (measured: 209 of 218). JPEG and PNG: libjpeg-turbo's
    # warnings, the DC drift score, zlib and Pillow's checks catch at least 90% (measured: 43 of 47; the 4
    # missed are small DC steps, 2.9-4.5 levels, under the drift limit). A HEIC without a thumbnail has no
    # picture to compare with: at least 90% (measured: 80 of 85; the 5 missed are tiles garbled by
    # flipped bits, with no never-decoded block).
    jpeg, png, heic, bare = counts.values()
    issue_caught, issue_visible = jpeg[0] + png[0] + heic[0], jpeg[1] + png[1] + heic[1]
    assert issue_visible >= 100 and issue_caught >= 0.95 * issue_visible, (issue_caught, issue_visible)
    assert len(visible) - len(missed) >= 0.95 * len(visible), missed
    assert heic[1] >= 50 and heic[0] >= 0.95 * heic[1], heic
    assert jpeg[1] + png[1] >= 30 and jpeg[0] + png[0] >= 0.90 * (jpeg[1] + png[1]), (jpeg, png)
    assert bare[1] >= 50 and bare[0] >= 0.90 * bare[1], bare
    for row in output.rows:
        assert row["status"] in ("ok", "error", "skipped")
        if row["status"] != "ok":
            assert row["error"] and "Traceback" not in row["error"]
