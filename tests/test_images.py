"""images.py: any input → upright 8-bit RGB or a clear error; image ↔ tensor; padding."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core import ImageError, load_image
from cyclegan_core.engine.images import image_to_tensor, pad_to_multiple, tensor_to_image, to_rgb


def test_pad_to_multiple():
    x = torch.arange(2 * 3, dtype=torch.float32).reshape(1, 1, 2, 3)
    padded, (h, w) = pad_to_multiple(x)
    assert (h, w) == (2, 3) and padded.shape[-2:] == (8, 8)
    assert torch.equal(padded[..., :2, :3], x)
    y = torch.rand(1, 3, 157, 301)
    padded, _ = pad_to_multiple(y)
    assert padded.shape[-2:] == (160, 304)
    assert torch.equal(padded[..., 157, :301], y[..., 155, :])  # reflection, not zeros


def test_cap_is_checked_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (6000, 5000)).save(path)  # 30 MP, tiny on disk
    with pytest.raises(ImageError, match="6000×5000 is 30.0 MP, above the limit of 20.0 MP"):
        load_image(path, max_pixels=20_000_000)


def test_truncated_jpeg(photo, tmp_path):
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: the image data is truncated or corrupt"):
        load_image(path)


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(ImageError, match=r"notes\.png: not an image file"):
        load_image(path)


def test_missing_file_and_bad_arrays(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nothing.png")
    with pytest.raises(ImageError, match="expected a uint8 array"):
        load_image(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((4, 4, 5), dtype=np.uint8))


def write_png16_rgb(path, rgb16: np.ndarray):
    """A 16-bit-per-channel RGB PNG (Pillow cannot write these), encoded by hand."""
    height, width, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_rgb_png(tiny_model, photo, tmp_path):
    rgb8 = np.asarray(photo)
    path = tmp_path / "rgb16.png"
    write_png16_rgb(path, rgb8.astype(np.uint16) * 257)
    assert np.array_equal(np.asarray(load_image(path)), rgb8)
    assert tiny_model.translate(path, "AtoB").size == photo.size


def test_tensor_round_trip_is_exact_and_in_range(photo):
    x = image_to_tensor(photo)
    assert x.shape == (1, 3, 157, 301) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert float(image_to_tensor(Image.new("RGB", (1, 1), (0, 255, 128)))[0, 1, 0, 0]) == 1.0
    assert np.array_equal(np.asarray(tensor_to_image(x)), np.asarray(photo))
    assert np.asarray(tensor_to_image(torch.full((1, 3, 2, 2), 5.0))).max() == 255  # clamped, not wrapped


def test_transparency_goes_over_white_and_opaque_pixels_stay():
    rgba = np.random.default_rng(1).integers(0, 256, (20, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    assert np.all(np.asarray(load_image(Image.fromarray(rgba, "RGBA"))) == 255)
    rgba[..., 3] = 255
    assert np.array_equal(np.asarray(load_image(Image.fromarray(rgba, "RGBA"))), rgba[..., :3])


def test_16_bit_grayscale_is_scaled_not_clipped(photo, tmp_path):
    gray8 = np.asarray(photo.convert("L"))
    path = tmp_path / "gray16.png"
    Image.fromarray(gray8.astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode.startswith("I")
    assert np.array_equal(np.asarray(load_image(path))[..., 0], gray8)
    floats = Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32), "F")
    assert np.asarray(to_rgb(floats)).max() == 128  # 0…1 floats scale to 0…255
