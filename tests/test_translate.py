import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core import ImageError, convert_official, load_image
from cyclegan_core.inference import image_to_tensor, pad_to_multiple, resolve_precision, tensor_to_image


def translate(model, image):
    return np.asarray(model.translate(image, "AtoB", precision="fp32"))


def test_odd_size_keeps_size_and_mode(tiny_model, photo):
    out = tiny_model.translate(photo, "AtoB")
    assert (out.size, out.mode) == ((301, 157), "RGB")
    # The padded border does not leak: the result is the crop of translating a padded copy.
    x = image_to_tensor(photo)
    padded, _ = pad_to_multiple(x)
    full = np.asarray(tensor_to_image(tiny_model.G_AB(padded)[..., :157, :301])).astype(int)
    ours = translate(tiny_model, photo).astype(int)
    # Equal up to float rounding (streamed window by window): at most one level, very rarely.
    assert np.abs(ours - full).max() <= 1 and np.mean(ours != full) < 1e-3


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (2, 3), (5, 9), (9, 5), (300, 156)])
def test_tiny_and_thin_images(tiny_model, size):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    assert tiny_model.translate(image, "BtoA").size == size


def test_pad_to_multiple():
    x = torch.arange(2 * 3, dtype=torch.float32).reshape(1, 1, 2, 3)
    padded, (h, w) = pad_to_multiple(x)
    assert (h, w) == (2, 3) and padded.shape[-2:] == (8, 8)
    assert torch.equal(padded[..., :2, :3], x)
    y = torch.rand(1, 3, 157, 301)
    padded, _ = pad_to_multiple(y)
    assert padded.shape[-2:] == (160, 304)
    assert torch.equal(padded[..., 157, :301], y[..., 155, :])  # reflection, not zeros


def test_exif_orientation_is_applied(tiny_model, photo, tmp_path):
    stored = photo.crop((0, 0, 60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif.tobytes(), quality=95)
    upright = load_image(path)
    assert upright.size == (40, 60)
    out = tiny_model.translate(path, "AtoB", precision="fp32")
    assert out.size == (40, 60)
    stored_pixels = np.asarray(Image.open(path).convert("RGB"))  # as decoded, before orientation
    expected = np.rot90(stored_pixels, k=-1)  # 90° clockwise
    assert np.array_equal(np.asarray(out), translate(tiny_model, np.ascontiguousarray(expected)))


def test_transparent_pixels_are_composited_on_white(tiny_model):
    rgba = np.random.default_rng(1).integers(0, 256, (20, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    out = tiny_model.translate(Image.fromarray(rgba, "RGBA"), "AtoB", precision="fp32")
    assert out.mode == "RGB" and out.size == (24, 20)
    assert np.array_equal(np.asarray(out), translate(tiny_model, Image.new("RGB", (24, 20), "white")))
    half = rgba.copy()
    half[..., 3] = 255
    assert np.array_equal(np.asarray(load_image(Image.fromarray(half, "RGBA"))), half[..., :3])


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "1"])
def test_colour_modes_become_rgb(tiny_model, photo, mode):
    image = photo.convert(mode)
    out = tiny_model.translate(image, "AtoB", precision="fp32")
    assert (out.mode, out.size) == ("RGB", photo.size)
    if mode == "L":
        assert np.array_equal(np.asarray(out), translate(tiny_model, image.convert("RGB")))


def test_16_bit_grayscale_png_is_scaled_not_clipped(tiny_model, photo, tmp_path):
    gray8 = np.asarray(photo.convert("L"))
    path = tmp_path / "gray16.png"
    Image.fromarray(gray8.astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode.startswith("I")
    loaded = load_image(path)
    assert np.array_equal(np.asarray(loaded)[..., 0], gray8)
    assert np.array_equal(translate(tiny_model, path), translate(tiny_model, photo.convert("L").convert("RGB")))


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


def test_array_bytes_and_path_inputs_agree(tiny_model, photo, tmp_path):
    path = tmp_path / "p.png"
    photo.save(path)
    expected = translate(tiny_model, photo)
    assert np.array_equal(translate(tiny_model, np.asarray(photo)), expected)
    assert np.array_equal(translate(tiny_model, path.read_bytes()), expected)
    assert np.array_equal(translate(tiny_model, str(path)), expected)


def test_pixel_cap(tiny_model, monkeypatch):
    big = Image.new("RGB", (200, 100))
    with pytest.raises(ImageError, match=r"200×100 is 0\.0 MP, above the limit of 0\.0 MP"):
        tiny_model.translate(big, "AtoB", max_pixels=19_999)
    assert tiny_model.translate(big, "AtoB", max_pixels=20_000).size == (200, 100)
    monkeypatch.setenv("CYCLEGAN_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="CYCLEGAN_MAX_PIXELS"):
        tiny_model.translate(big, "AtoB")


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


def test_cycle_returns_translation_and_reconstruction(tiny_model, photo):
    result = tiny_model.cycle(photo, "AtoB", precision="fp32")
    assert result.translated.size == result.reconstructed.size == photo.size
    x = image_to_tensor(photo)
    fake = tiny_model.translate_tensor(x, "AtoB", "fp32")
    rec = tiny_model.translate_tensor(fake, "BtoA", "fp32")
    assert np.array_equal(np.asarray(result.translated), np.asarray(tensor_to_image(fake)))
    assert np.array_equal(np.asarray(result.reconstructed), np.asarray(tensor_to_image(rec)))
    back = tiny_model.cycle(photo, "BtoA", precision="fp32")  # F then G
    assert not np.array_equal(np.asarray(back.translated), np.asarray(result.translated))


def test_bad_direction_and_precision(tiny_model, photo):
    with pytest.raises(ValueError, match="unknown direction"):
        tiny_model.translate(photo, "sideways")
    with pytest.raises(ValueError, match="unknown precision"):
        tiny_model.translate(photo, "AtoB", precision="int4")


def test_describe(tiny_model):
    assert tiny_model.describe("AtoB") == "apple → orange" and tiny_model.describe("BtoA") == "orange → apple"


def test_auto_precision_is_fp32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": False})
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"


def test_bf16_stays_within_40_db_of_fp32_on_a_trained_generator(trained_generator_path, tmp_path, psnr_fn):
    from skimage import data
    model = convert_official(trained_generator_path, trained_generator_path, tmp_path / "vintage")
    photo = Image.fromarray(data.coffee()).resize((300, 200))
    fp32 = model.translate(photo, "AtoB", precision="fp32")
    bf16 = model.translate(photo, "AtoB", precision="bf16")
    assert psnr_fn(fp32, bf16) >= 40
    assert psnr_fn(fp32, photo) < 30  # a trained generator really changes the photo


def test_usable_cpus_respects_a_cgroup_quota(tmp_path):
    from cyclegan_core.inference import usable_cpus
    affinity = usable_cpus(tmp_path / "missing")  # no cgroup file: the affinity mask
    assert affinity >= 1
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")  # one CPU's worth of time
    assert usable_cpus(quota) == 1
    quota.write_text("max 100000\n")
    assert usable_cpus(quota) == affinity
    quota.write_text("50000 100000\n")  # half a CPU still gets one thread
    assert usable_cpus(quota) == 1
