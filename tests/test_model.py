"""model.py: CycleGAN.translate and .cycle at full resolution, whatever image is given."""


import numpy as np
import pytest
from PIL import Image

from cyclegan_core import ImageError, convert_official, load_image
from cyclegan_core.engine.images import image_to_tensor, pad_to_multiple, tensor_to_image


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


@pytest.mark.slow
def test_bf16_stays_within_40_db_of_fp32_on_a_trained_generator(trained_generator_path, tmp_path, psnr_fn):
    from skimage import data
    model = convert_official(trained_generator_path, None, tmp_path / "vintage")
    photo = Image.fromarray(data.coffee()).resize((300, 200))
    fp32 = model.translate(photo, "AtoB", precision="fp32")
    bf16 = model.translate(photo, "AtoB", precision="bf16")
    assert psnr_fn(fp32, bf16) >= 40
    assert psnr_fn(fp32, photo) < 30  # a trained generator really changes the photo
