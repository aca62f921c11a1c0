"""Tiled translation: equals the whole-image pass when the statistics are the whole image's, stays
close with thumbnail statistics, and handles every shape."""

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core.engine.images import image_to_tensor, tensor_to_image
from cyclegan_core.engine.translation import translate_whole
from cyclegan_core.engine.tiling import translate_tiled


def as_image(t):
    return np.asarray(tensor_to_image(t))


@pytest.mark.parametrize("size", [(64, 48), (1, 300), (300, 1), (157, 301), (9, 9)])
def test_shapes_and_single_tile_equals_whole_pass(tiny_model, size):
    torch.manual_seed(0)
    x = torch.rand(1, 3, *size) * 2 - 1
    whole = translate_whole(tiny_model.G_AB, x, "fp32")
    tiled = translate_tiled(tiny_model.G_AB, x, "fp32", tile=512)
    assert tiled.shape == x.shape
    torch.testing.assert_close(tiled, whole, atol=1e-4, rtol=0)


@pytest.mark.parametrize("tile, overlap, context", [(64, 16, 16), (32, 8, 16), (100, 30, 12)])
def test_many_tiles_with_whole_image_statistics_match_the_whole_pass(tiny_model, photo, psnr_fn, tile, overlap,
                                                                     context):
    x = image_to_tensor(photo)  # 301×157: odd sizes, partial tiles at the borders
    whole = as_image(translate_whole(tiny_model.G_AB, x, "fp32"))
    tiled = as_image(translate_tiled(tiny_model.G_AB, x, "fp32", tile=tile, overlap=overlap, context=context))
    assert tiled.shape == whole.shape
    assert psnr_fn(tiled, whole) >= 38


def test_real_generator_real_photo_no_seams(trained_model, psnr_fn):
    """A trained generator on a real photo, 3×2 tiles: indistinguishable from the whole-image pass."""
    from skimage import data
    x = image_to_tensor(Image.fromarray(data.coffee()).resize((300, 200)))
    whole = as_image(translate_whole(trained_model.G_AB, x, "fp32"))
    tiled = as_image(translate_tiled(trained_model.G_AB, x, "fp32", tile=128, overlap=32, context=32))
    assert psnr_fn(tiled, whole) >= 38
    # No seam: the error along the tile boundaries is no larger than elsewhere.
    error = np.abs(tiled.astype(float) - whole.astype(float)).mean(axis=2)
    boundary_cols = error[:, 90:100].mean()  # tiles start at 0, 96, 172: blending around x≈96–128
    assert boundary_cols <= 2 * error.mean() + 0.5


def test_real_generator_with_half_resolution_thumbnail_statistics(trained_model, psnr_fn):
    """Images larger than the statistics budget use a thumbnail's statistics: close, not exact."""
    from skimage import data
    x = image_to_tensor(Image.fromarray(data.coffee()).resize((300, 200)))
    whole = as_image(translate_whole(trained_model.G_AB, x, "fp32"))
    tiled = as_image(translate_tiled(trained_model.G_AB, x, "fp32", tile=128, stats_pixels=150 * 100))
    assert 30 <= psnr_fn(tiled, whole) < 60  # 31.4 dB measured: thumbnail at half the side


def test_translate_switches_to_tiles_above_the_streaming_budget(tiny_model, photo, monkeypatch, psnr_fn):
    monkeypatch.setenv("CYCLEGAN_WHOLE_PASS_MB", "0")  # fp32 on a CPU: streamed, never one whole pass
    whole = np.asarray(tiny_model.translate(photo, "AtoB", precision="fp32"))
    monkeypatch.setenv("CYCLEGAN_STREAM_PIXELS", "20000")
    tiled = np.asarray(tiny_model.translate(photo, "AtoB", precision="fp32"))
    assert tiled.shape == whole.shape and psnr_fn(tiled, whole) >= 30
    assert not np.array_equal(tiled, whole)  # it really took the tiled path


def test_tiles_use_statistics_and_weights_on_the_generators_device():
    """The thumbnail's statistics are applied to the tiles' activations where they are: on a GPU, not
    summed on the CPU and subtracted from GPU tensors (the `meta` device stands in for a GPU: nothing
    on it can be copied to the CPU). The result is on the input's device."""
    from cyclegan_core import CycleGAN, ModelConfig

    generator = CycleGAN(ModelConfig(ngf=8, n_blocks=1, norm="instance_affine")).G_AB.to("meta")
    x = torch.empty(1, 3, 70, 90, device="meta")
    out = translate_tiled(generator, x, "fp32", tile=32, overlap=8, context=8, stats_pixels=40 * 50, storage="fp32")
    assert out.device.type == "meta" and out.shape == x.shape
