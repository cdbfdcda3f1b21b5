"""Where training and evaluation photos come from, and which of them are held out.

The split is by scene, fixed by a hash of the file's scene name, so the sharp and blurred shots of one
phone scene always land on the same side; the hard low-detail photos (fog, sky, dusk) and the real
bokeh photos are always held out, because they are what the evaluation must check.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

HELD_OUT_PERCENT = 20
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""../shared/data from the project root (the same relative path on a developer's machine and in CI)."""
ALWAYS_HELD_OUT_LOW_DETAIL = ("plasma_ColdRipple", "plasma_DarkestHour", "plasma_Kite", "plasma_summer_1am")
"""Sharp photos of fog, plain sky and a dusk gradient: the classic false alarms of sharpness scores."""
LOW_DETAIL_SHARP = ALWAYS_HELD_OUT_LOW_DETAIL + (
    "mdx_kodak-pixpro-fz201",
    "mdx_canon-powershot-g11",
    "mdx_canon-powershot-a80",
    "mdx_fujifilm-finepixs5500",
    "mdx_nikon-d3100",
    "mdx_leica-t-typ-701",
    "mdx_kodak-easyshare-m5370",
    "budgie_extreme-desert-hike",
    "budgie_piazza-gae-aulenti",
    "unsplash_jeremy-bishop-2e3hgvdncpm",
    "unsplash_kyaw-tun-k6bhlfw-jug",
    "unsplash_marian-kroell-qelmhweppok",
    "unsplash_mike-yukhtenko-a2kd4b0kk4s",
    "popos_jared-evans-119758",
    "popos_samuel-zeller-337041",
    "popos_sebastien-gabriel-232361",
)
"""In focus but with little texture (the shared data README's list for photos/camera/); only the four
plasma ones are always held out, the others follow the hash split like any scene."""
NIGHT_SHARP = (
    "mdx_nexus-4",
    "mdx_samsung-sm-g935l-galaxy-s7-edge",
    "mdx_canon-powershot-sd100",
    "mdx_panasonic-lz2",
)
"""Sharp real night shots in photos/camera/ (two hand-held, two with flash): always held out, so the
evaluation's 'sharp night scenes kept' has real photos; training makes its night scenes synthetically."""

SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "retina",
)

REAL_LABELS = {"sharp": "none", "camera": "none", "blurry": "blurry", "partial": "bokeh", "bokeh": "bokeh"}
"""Sub-folder of a real labelled photo folder -> label: a blur type, or `blurry` when only that is known."""

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic"}


@dataclass(frozen=True)
class Photo:
    name: str  # scene name: file stem, shared by shots of one scene
    path: str  # file path, or "skimage:NAME"
    label: str  # "none", "blurry", "bokeh" (real labels) for real photos; "none" for synthesis sources

    @property
    def held_out(self) -> bool:
        return is_held_out(self.name)


def is_held_out(scene: str) -> bool:
    """True for the scenes kept for evaluation only."""
    if (
        scene in ALWAYS_HELD_OUT_LOW_DETAIL
        or scene in NIGHT_SHARP
        or scene.startswith(("plasma_BytheWater", "plasma_FallenLeaf", "lomiri_"))
    ):
        return True
    return zlib.crc32(scene.encode()) % 100 < HELD_OUT_PERCENT


def list_photos(folder: Path, label: str = "none") -> list[Photo]:
    return [
        Photo(name=path.stem, path=str(path), label=label)
        for path in sorted(Path(folder).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]


def list_real_photos(folder: Path) -> list[Photo]:
    """Real labelled photos: `folder/sharp`, `folder/blurry`, `folder/partial` or `folder/bokeh`."""
    photos: list[Photo] = []
    for sub, label in REAL_LABELS.items():
        if (Path(folder) / sub).is_dir():
            photos += list_photos(Path(folder) / sub, label)
    return photos


def skimage_photos() -> list[Photo]:
    return [Photo(name=f"skimage_{name}", path=f"skimage:{name}", label="none") for name in SKIMAGE_PHOTOS]


def load_rgb(photo: Photo, max_long_side: int | None = None) -> np.ndarray:
    """Full-resolution RGB of a photo (EXIF orientation applied), optionally shrunk to max_long_side."""
    if photo.path.startswith("skimage:"):
        import skimage.data
        import skimage.io

        name = photo.path.split(":", 1)[1]
        if hasattr(skimage.data, name):
            rgb = getattr(skimage.data, name)()
        else:
            data_dir = Path(skimage.data.__file__).parent
            rgb = skimage.io.imread(next(data_dir.glob(name + ".*")))
    else:
        with Image.open(photo.path) as image:
            from PIL import ImageOps

            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    rgb = np.ascontiguousarray(rgb[:, :, :3]).astype(np.uint8)
    if max_long_side and max(rgb.shape[:2]) > max_long_side:
        import cv2

        scale = max_long_side / max(rgb.shape[:2])
        size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb


BOKEH_BLURRED_FRACTION = (0.3, 0.85)
"""A mask makes a believable keeper only if it leaves a real sharp subject and blurs a real background."""


def list_masks(folder: Path) -> list[Path]:
    """Blur masks (white = blurred) whose blurred share is within BOKEH_BLURRED_FRACTION."""
    low, high = BOKEH_BLURRED_FRACTION
    masks = []
    for path in sorted(Path(folder).glob("*.png")):
        with Image.open(path) as mask:
            blurred = float(np.mean(np.asarray(mask.convert("L")) > 127))
        if low <= blurred <= high:
            masks.append(path)
    return masks


def split_side(
    photo_folders: Sequence[str],
    real_folders: Sequence[str],
    masks_folder: str,
    *,
    held_out: bool,
    use_skimage: bool = True,
) -> tuple[list[Photo], list[Photo], list[str]]:
    """One side of the split, the same way for training (held_out=False) and evaluation (True): the
    sharp photos to degrade (with scikit-image's), the real labelled photos, and the blur mask paths."""
    sharp = [p for folder in photo_folders for p in list_photos(Path(folder)) if p.held_out == held_out]
    if use_skimage:
        sharp += [p for p in skimage_photos() if p.held_out == held_out]
    real = [p for folder in real_folders for p in list_real_photos(Path(folder)) if p.held_out == held_out]
    masks = [str(p) for p in list_masks(Path(masks_folder)) if is_held_out(p.stem) == held_out]
    return sharp, real, masks
