"""Decoding of every format and mode the job meets, EXIF rotations, reduced JPEG decoding, and each
kind of broken file. Real encoders (Pillow, pillow-heif) make every file; nothing is mocked."""

from __future__ import annotations

import io
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps
from support.awkward_files import (
    ASYMMETRIC_MARKER,
    ASYMMETRIC_SIZE,
    OK,
    PHONE_SIZE,
    asymmetric_rgb,
    awkward_file_bytes,
    encode,
    gray16_ramp,
    jpeg_with_orientation,
    photo_mosaic,
    textured_rgb,
    write_awkward_files,
)

from model.inputs import CROP_SLACK, WORKING_LONG_SIDE, laplacian_var, working_size
from pipeline.photo.decode import (
    DecodedPhoto,
    DecodeError,
    decode_photo,
    decode_reduced,
    reduction_factor,
)

# Pillow warns about files between 1x and 2x its pixel limit and about broken EXIF blocks; both are
# expected here, and what the tests check is the decoder's answer.
quiet_pillow = pytest.mark.filterwarnings(
    "ignore::PIL.Image.DecompressionBombWarning", "ignore:Corrupt EXIF data:UserWarning"
)

AWKWARD = awkward_file_bytes()
ISSUE_KINDS = (
    *("empty", "truncated", "random", "notes.png", "png named.jpg", "gif named.jpg", "cmyk", "gray16"),
    *("palette with alpha", "gray with alpha", "animated.gif", "exif rotated 6", "one pixel", "4000x3"),
    *(".webp", ".tif", ".bmp", ".heic", "bomb.png", " ", "é", "写"),
)
"""Pieces of file names covering each kind of file issue 2 lists (spaces and non-ASCII letters last)."""
REASON_PREFIXES = (
    "empty file",
    "not an image",
    "truncated ",
    "corrupt ",
    "cannot decode ",
    "over the pixel limit",
)


def decode_outcome(data: bytes) -> str:
    try:
        decode_photo(data)
    except DecodeError as error:
        return str(error)
    return OK


def awkward(name: str) -> bytes:
    return AWKWARD[name][0]


# --- The awkward folder: one outcome per file -------------------------------------------------------


def test_awkward_folder_has_every_kind_the_issue_lists(tmp_path: Path) -> None:
    expected = write_awkward_files(tmp_path)
    assert len(expected) >= 20
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    for needed in ISSUE_KINDS:
        assert any(needed in name for name in expected), needed
    assert set(expected.values()) - {OK}, "some files must be expected to fail"


def test_awkward_files_are_deterministic(tmp_path: Path) -> None:
    first = write_awkward_files(tmp_path / "a")
    second = write_awkward_files(tmp_path / "b")
    assert first == second
    for name in first:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@quiet_pillow
@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_awkward_file_gives_its_expected_outcome(name: str) -> None:
    data, expected = AWKWARD[name]
    outcome = decode_outcome(data)
    if expected == OK:
        assert outcome == OK, f"{name}: {outcome}"
        photo = decode_photo(data)
        assert photo.rgb.dtype == np.uint8 and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
        assert photo.rgb.flags.c_contiguous
        assert max(photo.rgb.shape[:2]) <= WORKING_LONG_SIDE
        target_width, target_height = working_size(photo.width, photo.height)
        assert abs(photo.rgb.shape[1] - target_width) <= 1 and abs(photo.rgb.shape[0] - target_height) <= 1
    else:
        assert expected in outcome, f"{name}: {outcome!r} lacks {expected!r}"


@quiet_pillow
@pytest.mark.parametrize("name", sorted(n for n, (_, e) in AWKWARD.items() if e != OK))
def test_error_reasons_read_well(name: str) -> None:
    reason = decode_outcome(awkward(name))
    assert reason.startswith(REASON_PREFIXES), reason
    assert "\n" not in reason and len(reason) < 160, reason
    # No Python internals in a reason a person reads.
    assert not re.search(r"0x[0-9a-f]{6,}|BytesIO|Traceback|Error:", reason), reason


def test_reasons_name_the_format_judged_by_content() -> None:
    assert decode_outcome(b"") == "empty file"
    assert decode_outcome(awkward("truncated.jpg")).startswith("truncated JPEG file")
    assert decode_outcome(awkward("truncated.png")).startswith("truncated PNG file")
    assert decode_outcome(awkward("notes.png")).startswith("not an image")
    assert decode_outcome(awkward("random bytes.jpg")).startswith("not an image")
    # A PNG cut inside its header is named as a broken PNG, not "not an image".
    assert decode_outcome(awkward("png named.jpg")[:40]).startswith("corrupt PNG file")
    assert decode_outcome(awkward("photo.heic")[:300]).startswith(
        ("corrupt HEIF file", "truncated HEIF file")
    )


# --- Formats, judged by content ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "image_format"),
    [
        ("png named.jpg", "PNG"),
        ("gif named.jpg", "GIF"),
        ("webp named.png", "WEBP"),
        ("photo.webp", "WEBP"),
        ("photo.tiff", "TIFF"),
        ("photo.bmp", "BMP"),
        ("photo.heic", "HEIF"),
        ("photo.avif", "AVIF"),
        ("multi picture.mpo", "JPEG"),  # a multi-picture JPEG is a JPEG to the person reading the row
        ("cmyk.jpg", "JPEG"),
    ],
)
def test_format_is_judged_by_content_not_name(name: str, image_format: str) -> None:
    assert decode_photo(awkward(name)).format == image_format


@pytest.mark.parametrize(
    "name", ["photo.webp", "photo.tiff", "photo.bmp", "photo.heic", "photo.avif", "cmyk.jpg"]
)
def test_each_format_decodes_to_the_same_picture(name: str) -> None:
    reference = textured_rgb(320, 240).astype(np.int16)
    decoded = decode_photo(awkward(name)).rgb.astype(np.int16)
    assert decoded.shape == reference.shape
    # Lossy codecs and the naive CMYK round trip move pixels a little, never the picture.
    assert np.abs(decoded - reference).mean() < 12, name


def test_heic_is_written_and_read_offline() -> None:
    import pillow_heif

    assert pillow_heif.libheif_info()["HEIF"], "pillow-heif has no HEVC encoder"
    photo = decode_photo(awkward("photo.heic"))
    assert (photo.width, photo.height, photo.format) == (320, 240, "HEIF")


def test_only_photo_formats_are_tried() -> None:
    # Pillow can open EPS (it would run Ghostscript) and other non-photo formats; the job must not.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    assert decode_outcome(eps).startswith("not an image")


# --- Modes to RGB --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gray16.png", "gray16.tif"])
def test_16_bit_gray_is_scaled_not_clipped(name: str) -> None:
    assert Image.open(io.BytesIO(awkward(name))).mode.startswith("I;16")
    rgb = decode_photo(awkward(name)).rgb
    expected = np.round(gray16_ramp()[0] / 257).astype(np.uint8)  # 0 .. 255 over the 16-bit range
    assert np.array_equal(rgb[0, :, 0], expected)
    assert rgb[0, 128, 0] == 128  # clipping to 8 bits would give 255 here
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_16_bit_pgm_opening_as_mode_i_is_scaled_by_its_bit_depth() -> None:
    pgm = b"P5\n4 2\n65535\n" + np.array([0, 257, 32896, 65535] * 2, ">u2").tobytes()
    assert Image.open(io.BytesIO(pgm)).mode == "I"
    assert decode_photo(pgm).rgb[0, :, 0].tolist() == [0, 1, 128, 255]


def test_transparent_pixels_are_laid_on_white() -> None:
    rgba = decode_photo(awkward("rgba.png")).rgb
    assert (rgba[:, :30] == (255, 0, 0)).all() and (rgba[:, 30:] == 255).all()
    palette = decode_photo(awkward("palette with alpha.png")).rgb
    assert (palette[:, :20] == 255).all() and (palette[:, 20:] == (255, 128, 0)).all()
    gray_alpha = decode_photo(awkward("gray with alpha.png")).rgb
    assert (gray_alpha[:, :20] == 50).all() and (gray_alpha[:, 20:] == 255).all()


def test_half_transparent_black_becomes_mid_gray() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 128
    rgb = decode_photo(encode(Image.fromarray(rgba, "RGBA"), "PNG")).rgb
    assert np.all(np.abs(rgb.astype(int) - 127) <= 1)


@pytest.mark.parametrize(
    ("name", "first_frame"), [("animated.gif", (255, 0, 0)), ("animated.png", (0, 128, 0))]
)
def test_animation_gives_its_first_frame(name: str, first_frame: tuple[int, int, int]) -> None:
    assert getattr(Image.open(io.BytesIO(awkward(name))), "n_frames", 1) > 1
    rgb = decode_photo(awkward(name)).rgb
    assert (np.abs(rgb.astype(int) - first_frame) <= 2).all()


@pytest.mark.parametrize("name", ["bilevel.png", "bilevel fax.tif"])
def test_one_bit_images_become_black_and_white(name: str) -> None:
    assert Image.open(io.BytesIO(awkward(name))).mode == "1"
    rgb = decode_photo(awkward(name)).rgb
    assert set(np.unique(rgb).tolist()) == {0, 255}


def test_tiny_and_thin_photos() -> None:
    one = decode_photo(awkward("one pixel.png"))
    assert (one.width, one.height) == (1, 1) and one.rgb.tolist() == [[[200, 100, 50]]]
    thin = decode_photo(awkward("thin 4000x3.png"))
    assert (thin.width, thin.height, thin.rgb.shape) == (4000, 3, (1, 1000, 3))
    tall = decode_photo(awkward("thin 3x4000.jpg"))
    assert (tall.width, tall.height, tall.rgb.shape) == (3, 4000, (1000, 1, 3))


# --- EXIF orientation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    data = jpeg_with_orientation(asymmetric_rgb(), orientation)
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    photo = decode_photo(data)
    assert np.array_equal(photo.rgb, reference)
    assert (photo.width, photo.height) == (reference.shape[1], reference.shape[0])


@pytest.mark.parametrize(
    ("orientation", "turns_clockwise", "marker_corner"),
    [(1, 0, "top left"), (6, 1, "top right"), (3, 2, "bottom right"), (8, 3, "bottom left")],
)
def test_exif_rotation_turns_the_pixels(orientation: int, turns_clockwise: int, marker_corner: str) -> None:
    stored = decode_photo(jpeg_with_orientation(asymmetric_rgb(), 1)).rgb
    photo = decode_photo(jpeg_with_orientation(asymmetric_rgb(), orientation))
    width, height = ASYMMETRIC_SIZE
    assert (photo.width, photo.height) == ((height, width) if turns_clockwise % 2 else (width, height))
    assert np.array_equal(photo.rgb, np.rot90(stored, -turns_clockwise))
    # The red block stored in the top-left corner is where a viewer shows it.
    rows = slice(0, 20) if marker_corner.startswith("top") else slice(-20, None)
    cols = slice(0, 20) if marker_corner.endswith("left") else slice(-20, None)
    assert np.abs(photo.rgb[rows, cols].astype(int) - ASYMMETRIC_MARKER).max() < 40


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "AVIF", "HEIF"])
def test_exif_orientation_in_every_format_is_applied_once(image_format: str) -> None:
    # pillow-heif turns HEIF pixels itself and reports orientation 1; the others leave it to us.
    exif = Image.Exif()
    exif[0x0112] = 6
    options = {"lossless": True} if image_format == "WEBP" else {"quality": 95}
    photo = decode_photo(
        encode(Image.fromarray(asymmetric_rgb()), image_format, exif=exif.tobytes(), **options)
    )
    width, height = ASYMMETRIC_SIZE
    assert (photo.width, photo.height, photo.rgb.shape[:2]) == (height, width, (width, height))
    assert np.abs(photo.rgb[:20, -20:].astype(int) - ASYMMETRIC_MARKER).max() < 40  # top right


def test_exif_rotation_of_a_reduced_jpeg() -> None:
    # Orientation and DCT reduction together: a 12 MP portrait stored sideways.
    rgb = textured_rgb(*PHONE_SIZE, seed=3)
    rgb[:400, :400] = ASYMMETRIC_MARKER
    photo = decode_photo(jpeg_with_orientation(rgb, 6, quality=80))
    assert (photo.width, photo.height) == (3024, 4032)
    assert photo.rgb.shape == (1000, 750, 3)
    assert np.abs(photo.rgb[5:90, -90:-5].astype(int) - ASYMMETRIC_MARKER).max() < 40  # top right


@quiet_pillow
@pytest.mark.parametrize("name", ["corrupt exif.jpg", "exif orientation 9 invalid.jpg"])
def test_broken_exif_does_not_lose_the_photo(name: str) -> None:
    photo = decode_photo(awkward(name))
    assert photo.format == "JPEG" and photo.rgb.size > 0


@quiet_pillow
def test_exif_blocks_of_many_broken_shapes() -> None:
    rng = np.random.default_rng(11)
    rgb = asymmetric_rgb()
    for block in [
        b"Exif\x00\x00" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes(),
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff",  # 65535 entries announced, none present
        # one entry: Orientation stored as the ASCII text "abc"
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x02\x00\x04\x00\x00\x00abc\x00",
        b"Exif\x00\x00",
    ]:
        photo = decode_photo(encode(Image.fromarray(rgb), "JPEG", exif=block))
        assert (photo.width, photo.height) == ASYMMETRIC_SIZE


# --- Reduced (DCT-domain) decoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "factor"),
    [
        ((4032, 3024), 4),  # 12 MP phone: 1008x756, then an 8-pixel crop
        ((3024, 4032), 4),
        ((4000, 3000), 4),  # lands exactly on 1000x750
        ((8064, 6048), 8),  # 48 MP phone
        ((4608, 3456), 2),  # 1/4 would leave a 1.15x resize, which blurs: 1/2 then 2.3x
        ((6000, 4000), 2),
        ((2016, 1512), 2),
        ((2560, 1600), 1),
        ((1000, 750), 1),
        ((640, 480), 1),
        ((4000, 3), 1),
        ((1, 1), 1),
    ],
)
def test_reduction_factor(size: tuple[int, int], factor: int) -> None:
    assert reduction_factor(*size) == factor
    reduced_long_side = -(-max(size) // factor)
    target_long_side = max(working_size(*size))
    assert reduced_long_side >= target_long_side  # never reduced below the working size
    if factor > 1:  # and what is left is either a tiny crop or a shrink by 2x or more
        assert reduced_long_side <= CROP_SLACK * target_long_side or reduced_long_side >= 2 * target_long_side


def test_12mp_jpeg_is_decoded_in_the_dct_domain_at_quarter_scale() -> None:
    data = awkward("phone 12mp.jpg")
    reduced = decode_reduced(data)
    assert reduced.factor == 4
    assert reduced.decoded_size == (1008, 756)  # what libjpeg produced: a quarter of 4032x3024
    assert reduced.rgb.shape == (756, 1008, 3)
    photo = decode_photo(data)
    assert (photo.width, photo.height, photo.rgb.shape) == (4032, 3024, (750, 1000, 3))
    # Only a centre crop separates the two: the last step did not resample.
    assert np.array_equal(photo.rgb, reduced.rgb[3:753, 4:1004])


def test_multi_picture_jpeg_is_reduced_in_the_dct_domain_too() -> None:
    photo = Image.fromarray(textured_rgb(2000, 1500))
    reduced = decode_reduced(encode(photo, "MPO", save_all=True, append_images=[photo], quality=85))
    assert (reduced.factor, reduced.decoded_size) == (2, (1000, 750))


def test_other_formats_are_reduced_by_the_same_factor_with_a_box_average() -> None:
    rgb = textured_rgb(2016, 1512)
    reduced = decode_reduced(encode(Image.fromarray(rgb), "PNG", compress_level=1))
    assert reduced.factor == 2 and reduced.decoded_size == (2016, 1512)  # a PNG has no reduced decoding
    block_means = rgb.reshape(756, 2, 1008, 2, 3).mean(axis=(1, 3))
    assert np.abs(reduced.rgb.astype(float) - block_means).max() <= 0.5 + 1e-9


@pytest.mark.parametrize("size", [(4032, 3024), (4608, 3456), (2016, 1512), (2560, 1600)])
def test_same_photo_scores_alike_as_jpeg_and_as_png(size: tuple[int, int]) -> None:
    rgb = photo_mosaic(*size)
    as_jpeg = decode_photo(encode(Image.fromarray(rgb), "JPEG", quality=95))
    as_png = decode_photo(encode(Image.fromarray(rgb), "PNG", compress_level=1))
    assert as_jpeg.rgb.shape == as_png.rgb.shape
    jpeg_score, png_score = laplacian_var(as_jpeg.rgb), laplacian_var(as_png.rgb)
    assert abs(jpeg_score / png_score - 1) < 0.05, (jpeg_score, png_score)


def test_a_12mp_photo_scores_like_its_4000x3000_crop() -> None:
    # 4032 wide decodes to 1008 at 1/4; resampling that to 1000 blurred away 40-47% of the Laplacian
    # variance on real photos, while 4000 wide lands on 1000 exactly. The crop keeps them alike.
    rgb = photo_mosaic(*PHONE_SIZE)
    cropped = np.ascontiguousarray(rgb[12:3012, 16:4016])
    full_score = laplacian_var(decode_photo(encode(Image.fromarray(rgb), "JPEG", quality=95)).rgb)
    crop_score = laplacian_var(decode_photo(encode(Image.fromarray(cropped), "JPEG", quality=95)).rgb)
    assert abs(full_score / crop_score - 1) < 0.05, (full_score, crop_score)


# --- Broken files --------------------------------------------------------------------------------------


@quiet_pillow
def test_decompression_bombs_are_refused_before_decoding() -> None:
    assert "over the pixel limit (60000x60000 = 3,600,000,000 pixels" in decode_outcome(awkward("bomb.png"))
    with pytest.warns(Image.DecompressionBombWarning):  # Pillow only warns between 1x and 2x its limit
        reason = decode_outcome(awkward("bomb just over the limit.png"))
    assert reason.startswith("over the pixel limit (10000x10000")
    assert decode_outcome(awkward("bomb.gif")).startswith("over the pixel limit")


def test_truncated_jpeg_is_an_error_not_a_grey_picture() -> None:
    # Pillow fills truncated JPEGs with grey when ImageFile.LOAD_TRUNCATED_IMAGES is set; the
    # decoder relies on the default.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    for cut in (0.25, 0.5, 0.9, 0.99):
        data = awkward("photo with spaces.jpg")
        assert decode_outcome(data[: int(len(data) * cut)]).startswith("truncated JPEG file"), cut


def test_jpeg_damaged_mid_stream() -> None:
    # Noise holding 0xFF bytes breaks the stream and is reported...
    assert decode_outcome(awkward("noise mid-stream.jpg")).startswith("corrupt JPEG file")
    # ...and so are flipped bits that keep the markers intact, which Pillow decodes silently to
    # garbled pixels: libjpeg's warning (extraneous bytes left over) is an error in strict mode.
    clean = np.asarray(Image.open(io.BytesIO(awkward("photo with spaces.jpg"))).convert("RGB"), dtype=int)
    damaged_bytes = awkward("bit flips mid-stream.jpg")
    silently = np.asarray(Image.open(io.BytesIO(damaged_bytes)).convert("RGB"), dtype=int)
    assert np.abs(clean - silently).mean() > 5  # Pillow alone: a visibly wrecked picture, no error
    assert decode_outcome(damaged_bytes).startswith("corrupt JPEG file (damaged image data")


@quiet_pillow
def test_no_input_escapes_as_anything_but_decode_error() -> None:
    rng = np.random.default_rng(5)
    valid = [data for data, expected in AWKWARD.values() if expected == OK and len(data) < 300_000]
    for data in valid:
        variants = [data[:cut] for cut in sorted(set(rng.integers(1, len(data), 6).tolist()))]
        for _ in range(4):
            damaged = bytearray(data)
            spots = rng.integers(0, len(data), 1 + len(data) // 500)
            damaged_values = rng.integers(0, 256, len(spots), dtype=np.uint8)
            for spot, value in zip(spots, damaged_values, strict=True):
                damaged[spot] = value
            variants.append(bytes(damaged))
        for variant in variants:
            try:
                photo = decode_photo(variant)
            except DecodeError as error:
                assert str(error).startswith(REASON_PREFIXES), str(error)
            else:
                assert isinstance(photo, DecodedPhoto) and photo.rgb.dtype == np.uint8


# --- Safe to share between threads ---------------------------------------------------------------------


@quiet_pillow
def test_concurrent_decoding_changes_no_global_state() -> None:
    filters_before = list(warnings.filters)
    names = ["bomb just over the limit.png", "rgba.png", "truncated.jpg", "exif rotated 6.jpg", "photo.heic"]
    expected = {name: decode_outcome(awkward(name)) for name in names}
    mismatches: list[str] = []

    def work(offset: int) -> None:
        for step in range(20):
            name = names[(offset + step) % len(names)]
            if decode_outcome(awkward(name)) != expected[name]:
                mismatches.append(name)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not mismatches
    assert expected["bomb just over the limit.png"].startswith("over the pixel limit")
    assert list(warnings.filters) == filters_before
