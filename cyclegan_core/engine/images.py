"""Images in and out: whatever the user gives us → an upright 8-bit RGB image (or a clear error),
and RGB images ↔ the generators' 1×3×H×W tensors in [-1, 1].

EXIF orientation is applied (phones store photos sideways), transparency is composited on
white, and grayscale, palette, CMYK and 16-bit images become plain RGB. The tensor conversion is
the reference implementation's test-mode preprocessing (ToTensor + Normalize(0.5, 0.5)), at the
image's own resolution: the reference squashes every photo to 256², we pad instead.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from cyclegan_core.errors import ImageError

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


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → 1×3×H×W float tensor in [-1, 1] (x / 127.5 − 1, as Normalize(0.5, 0.5))."""
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return array.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1.0)


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """1×3×H×W tensor in [-1, 1] → RGB PIL image, rounding (y + 1) / 2 · 255 to the nearest level."""
    array = tensor.detach().float().squeeze(0).add(1.0).mul(127.5).round().clamp(0, 255)
    return Image.fromarray(array.to(torch.uint8).permute(1, 2, 0).cpu().numpy(), "RGB")


def pad_to_multiple(x: torch.Tensor, multiple: int = 4, minimum: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad H and W (bottom/right) up to a multiple of `multiple` and at least `minimum`.

    The generator's two stride-2 convolutions return exactly the input size only for multiples
    of 4. Reflection padding keeps the border's texture and statistics; where a side is too thin
    to reflect (1–2 px strips) the edge is replicated instead. Returns the padded tensor and (H, W).
    """
    height, width = x.shape[-2:]
    pad_h = max(-(-height // multiple) * multiple, minimum) - height
    pad_w = max(-(-width // multiple) * multiple, minimum) - width
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (height, width)
