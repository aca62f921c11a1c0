"""Turning whatever the user gives us into an upright 8-bit RGB image, or a clear error.

EXIF orientation is applied (phones store photos sideways), transparency is composited on
white, and grayscale, palette, CMYK and 16-bit images become plain RGB.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
DEFAULT_MAX_PIXELS = 8192 * 8192  # 67 MP (large images are tiled); per call or CYCLEGAN_MAX_PIXELS

ImageInput = Union[Image.Image, np.ndarray, str, os.PathLike, bytes]


def default_max_pixels() -> int:
    value = os.environ.get("CYCLEGAN_MAX_PIXELS")
    return int(value) if value else DEFAULT_MAX_PIXELS


def load_image(source: ImageInput, max_pixels: int | None = None, reduce_to: int | None = None) -> Image.Image:
    """Open `source` (a path, encoded bytes, a PIL image or an H×W×C uint8 array) as upright RGB.

    `reduce_to`: the caller needs only this many pixels on the shorter side, so JPEGs may be
    decoded at a reduced scale (much faster; never below `reduce_to`).
    """
    max_pixels = default_max_pixels() if max_pixels is None else max_pixels
    name = _describe(source)
    if isinstance(source, np.ndarray):
        image = _from_array(source, name)
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source, name)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}×{height} is {width * height / 1e6:.1f} MP, above the limit of "
                         f"{max_pixels / 1e6:.1f} MP for one image; downscale it first "
                         f"(or raise the limit with CYCLEGAN_MAX_PIXELS if you have the memory)")
    if width < 1 or height < 1:
        raise ImageError(f"{name}: the image is empty ({width}×{height})")
    try:
        if reduce_to and image.format == "JPEG":
            image.draft("RGB", (reduce_to, reduce_to))
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{name}: the image data is truncated or corrupt ({e})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB. 16-bit values are scaled (not clipped); alpha goes over white."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0  # 0…65535 → 0…255
        elif image.mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0
        image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _open(source, name: str) -> Image.Image:
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise ImageError(f"{name}: no such file")
    try:
        with warnings.catch_warnings():
            # Pillow warns well below its hard limit; our own pixel cap is the check that matters.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source))
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (the format is unknown or the file is damaged)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: the image is far too large to open safely ({e})") from None
    except OSError as e:
        raise ImageError(f"{name}: the image file is truncated or corrupt ({e})") from None


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)):
        if array.dtype != np.uint8:
            raise ImageError(f"{name}: expected a uint8 array, got {array.dtype}")
        return Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[2] == 1 else array)
    raise ImageError(f"{name}: expected an H×W, H×W×3 or H×W×4 array, got shape {array.shape}")


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, bytes):
        return "the uploaded image"
    return "the image"

