"""The shared preprocessing (model/inputs.py): working scale, sharpness score, the model's views.

Real photos come from scikit-image's bundled set (offline); flat and textured images are made here.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image
from support.awkward_files import encode, photo_mosaic

from model.inputs import (
    DETAIL_CROPS,
    VIEW_SIZE,
    VIEWS_PER_PHOTO,
    WORKING_LONG_SIDE,
    crop_origins,
    laplacian_var,
    model_views,
    to_working_scale,
    working_size,
)
from pipeline.photo.decode import decode_photo


def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def textured_patch_photo(top: int, left: int, shape: tuple[int, int] = (750, 1000)) -> np.ndarray:
    """Flat mid-grey except one VIEW_SIZE x VIEW_SIZE patch of random texture at (top, left)."""
    rgb = np.full((*shape, 3), 128, np.uint8)
    texture = np.random.default_rng(3).integers(0, 256, (VIEW_SIZE, VIEW_SIZE, 3), dtype=np.uint8)
    rgb[top : top + VIEW_SIZE, left : left + VIEW_SIZE] = texture
    return rgb


# --- working_size / to_working_scale -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4032, 3024), (1000, 750)),
        ((3024, 4032), (750, 1000)),
        ((4000, 3), (1000, 1)),  # never below one pixel
        ((3, 4000), (1, 1000)),
        ((1000, 750), (1000, 750)),
        ((1001, 10), (1000, 10)),
        ((999, 999), (999, 999)),  # smaller photos keep their size: never enlarged
        ((200, 100), (200, 100)),
        ((1, 1), (1, 1)),
        ((60000, 40000), (1000, 667)),
    ],
)
def test_working_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert working_size(*size) == expected


@pytest.mark.parametrize("size", [(5, 7), (640, 480), (1234, 987), (5000, 17), (17, 5000), (4032, 3024)])
def test_working_size_never_enlarges_and_caps_the_long_side(size: tuple[int, int]) -> None:
    width, height = working_size(*size)
    assert width <= size[0] and height <= size[1]
    assert max(width, height) == min(max(size), WORKING_LONG_SIDE)
    assert abs(width / height - size[0] / size[1]) <= max(1 / height, size[0] / size[1] / height) + 1e-9


def test_to_working_scale_shrinks_large_and_keeps_small() -> None:
    small = astronaut()
    assert to_working_scale(small) is small
    large = photo_mosaic(2400, 1800)
    shrunk = to_working_scale(large)
    assert shrunk.shape == (750, 1000, 3) and shrunk.dtype == np.uint8
    gray = to_working_scale(cv2.cvtColor(large, cv2.COLOR_RGB2GRAY))
    assert gray.shape == (750, 1000)


def test_to_working_scale_averages_areas_rather_than_sampling() -> None:
    # A one-pixel checkerboard shrunk 3x: an area kernel averages each 3x3 block (4 or 5 white pixels
    # of 9: 113 or 142); nearest, linear, cubic and Lanczos all land on single pixels (0 or 255).
    checker = ((np.indices((3000, 3000)).sum(axis=0) % 2) * 255).astype(np.uint8)
    shrunk = to_working_scale(np.repeat(checker[:, :, None], 3, axis=2))
    assert shrunk.shape == (1000, 1000, 3)
    assert np.abs(shrunk.astype(float) - 127.5).max() < 16


def test_to_working_scale_of_a_thin_strip() -> None:
    strip = np.random.default_rng(0).integers(0, 256, (3, 4000, 3), dtype=np.uint8)
    assert to_working_scale(strip).shape == (1, 1000, 3)


# --- laplacian_var -------------------------------------------------------------------------------------


def test_laplacian_var_of_a_flat_image_is_zero() -> None:
    assert laplacian_var(np.full((100, 80, 3), 77, np.uint8)) == 0.0


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
def test_sharp_photo_scores_higher_than_its_blurred_copy(name: str) -> None:
    sharp = getattr(skimage.data, name)()
    soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    assert laplacian_var(sharp) > 5 * laplacian_var(soft)
    assert laplacian_var(soft) > 0


def test_laplacian_var_accepts_gray_and_rgb_alike() -> None:
    rgb = astronaut()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert laplacian_var(rgb) == pytest.approx(laplacian_var(gray))


@pytest.mark.parametrize("size", [(512, 512), (1600, 1200), (4032, 3024)])
def test_same_photo_as_png_and_as_jpeg_scores_within_15_percent(size: tuple[int, int]) -> None:
    # Through the job's decoder: the JPEG takes the reduced DCT route, the PNG the box route.
    rgb = astronaut() if size == (512, 512) else photo_mosaic(*size)
    png_score = laplacian_var(decode_photo(encode(Image.fromarray(rgb), "PNG", compress_level=1)).rgb)
    jpeg_score = laplacian_var(decode_photo(encode(Image.fromarray(rgb), "JPEG", quality=95)).rgb)
    assert abs(jpeg_score / png_score - 1) < 0.15, (png_score, jpeg_score)


# --- model_views ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        (1, 1),
        (2, 3),
        (5, 7),
        (1, 1000),
        (1000, 1),
        (3, 1000),
        (150, 150),
        (199, 201),
        (200, 200),
        (750, 1000),
    ],
)
def test_model_views_shape_and_dtype(shape: tuple[int, int]) -> None:
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    views = model_views(rgb)
    assert views.shape == (VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3)
    assert views.dtype == np.uint8 and views.flags.c_contiguous


def test_model_views_of_decoded_tiny_thin_and_normal_photos() -> None:
    for width, height in [(1, 1), (4000, 3), (3, 4000), (640, 480), (4032, 3024)]:
        rgb = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
        photo = decode_photo(encode(Image.fromarray(rgb), "PNG", compress_level=1))
        views = model_views(photo.rgb)
        assert views.shape == (VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3) and views.dtype == np.uint8


def test_model_views_of_a_one_pixel_photo_are_that_colour() -> None:
    views = model_views(np.array([[[10, 20, 30]]], np.uint8))
    assert (views == (10, 20, 30)).all()


def test_model_views_are_the_whole_frame_then_crops_at_working_scale() -> None:
    rgb = photo_mosaic(1000, 750)
    views = model_views(rgb)
    whole = cv2.resize(rgb, (VIEW_SIZE, VIEW_SIZE), interpolation=cv2.INTER_AREA)
    assert np.array_equal(views[0], whole)
    for view, (y, x) in zip(views[1:], crop_origins(rgb), strict=True):
        assert np.array_equal(view, rgb[y : y + VIEW_SIZE, x : x + VIEW_SIZE])


# --- crop_origins --------------------------------------------------------------------------------------


def test_first_crop_covers_the_only_detailed_patch() -> None:
    origins = crop_origins(textured_patch_photo(350, 600))
    assert len(origins) == DETAIL_CROPS + 1
    assert origins[0] == (350, 600)


def test_first_crop_covers_most_of_an_unaligned_patch() -> None:
    top, left = 333, 617  # not on the 50-pixel search grid
    y, x = crop_origins(textured_patch_photo(top, left))[0]
    overlap = max(0, VIEW_SIZE - abs(y - top)) * max(0, VIEW_SIZE - abs(x - left))
    assert overlap >= 0.75 * VIEW_SIZE * VIEW_SIZE


def test_detail_crops_overlap_by_at_most_half_and_the_last_is_the_background() -> None:
    rgb = textured_patch_photo(350, 600)
    origins = crop_origins(rgb)
    detail, median = origins[:DETAIL_CROPS], origins[DETAIL_CROPS]
    for i, (y1, x1) in enumerate(detail):
        for y2, x2 in detail[i + 1 :]:
            assert abs(y1 - y2) >= VIEW_SIZE // 2 or abs(x1 - x2) >= VIEW_SIZE // 2
    y, x = median
    assert laplacian_var(rgb[y : y + VIEW_SIZE, x : x + VIEW_SIZE]) == 0.0  # flat grey, away from the patch


@pytest.mark.parametrize("shape", [(750, 1000), (1000, 750), (200, 1000), (200, 200)])
def test_crop_origins_stay_inside_the_image(shape: tuple[int, int]) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    for y, x in crop_origins(rgb):
        assert 0 <= y <= shape[0] - VIEW_SIZE and 0 <= x <= shape[1] - VIEW_SIZE
