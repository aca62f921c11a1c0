"""Streamed translation: window by window, yet equal to the whole-image pass (InstanceNorm with the
whole image's statistics), in fp32 exactly and in bf16 within 40 dB, at every shape."""

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core import CycleGAN, ModelConfig
from cyclegan_core.engine.images import image_to_tensor, pad_to_multiple, tensor_to_image
from cyclegan_core.engine.streaming import spans, storage_for, translate_streamed
from cyclegan_core.engine.translation import translate_whole


@pytest.mark.parametrize("length, core, halo", [(1, 64, 1), (5, 2, 1), (64, 64, 2), (65, 64, 2), (100, 64, 1),
                                                (157, 7, 2), (3, 1, 1), (300, 16, 2)])
def test_spans_partition_the_axis_with_equal_windows(length, core, halo):
    result = spans(length, core, halo)
    owned = [i for _, _, a, b in result for i in range(a, b)]
    assert owned == list(range(length))  # a partition, in order
    assert len({end - start for start, end, _, _ in result}) == 1  # one window size: one compiled shape
    for start, end, own_start, own_end in result:
        assert 0 <= start <= own_start < own_end <= end <= length
        assert own_end - own_start <= core
        # Context on every inner side (image borders need none: the network pads there itself).
        assert own_start - start >= halo or start == 0
        assert end - own_end >= halo or end == length


@pytest.mark.parametrize("size", [(64, 48), (1, 300), (300, 1), (157, 301), (9, 9), (2, 3)])
@pytest.mark.parametrize("core", [64, 3, 7])
def test_fp32_equals_the_whole_image_pass(tiny_model, size, core):
    """Small cores force many windows per pass, so every border, halo and the in-place second conv
    are exercised; the result is the whole-image pass up to float rounding."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, *size) * 2 - 1
    whole = translate_whole(tiny_model.G_AB, x, "fp32")
    streamed = translate_streamed(tiny_model.G_AB, x, "fp32", core=core)
    assert streamed.shape == x.shape and streamed.dtype == torch.float32
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)


def test_affine_norm_variant_and_odd_block_count():
    torch.manual_seed(1)
    model = CycleGAN(ModelConfig(ngf=8, n_blocks=3, norm="instance_affine"))
    for norm in (m for m in model.G_AB.modules() if isinstance(m, torch.nn.InstanceNorm2d)):
        torch.nn.init.normal_(norm.weight, 1.0, 0.3)
        torch.nn.init.normal_(norm.bias, 0.0, 0.3)
    x = torch.rand(1, 3, 45, 70) * 2 - 1
    whole = translate_whole(model.G_AB, x, "fp32")
    streamed = translate_streamed(model.G_AB, x, "fp32", core=5)
    torch.testing.assert_close(streamed, whole, atol=2e-5, rtol=0)


def test_statistics_are_the_whole_images(tiny_model):
    """Every norm's (mean, var) equal those InstanceNorm computes on the whole image."""
    x, _ = pad_to_multiple(torch.rand(1, 3, 50, 38) * 2 - 1)
    seen = []
    norms = [m for m in tiny_model.G_AB.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    hooks = [n.register_forward_hook(lambda m, inputs, out: seen.append(
        (inputs[0].mean(dim=(2, 3), keepdim=True), inputs[0].var(dim=(2, 3), keepdim=True, unbiased=False))))
        for n in norms]
    with torch.no_grad():
        tiny_model.G_AB(x)
    for h in hooks:
        h.remove()
    _, statistics = translate_streamed(tiny_model.G_AB, x, "fp32", core=4, return_statistics=True)
    assert len(statistics) == len(seen) == len(norms)
    for (mean, var), (true_mean, true_var) in zip(statistics, seen):
        torch.testing.assert_close(mean, true_mean, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(var, true_var, atol=1e-5, rtol=1e-4)


def test_fp16_storage_falls_back_to_fp32_when_values_overflow():
    """Raw conv outputs of 1e6 do not fit in fp16; the translation is redone with fp32 storage
    instead of returning inf or NaN (InstanceNorm makes the output independent of that scale)."""
    torch.manual_seed(2)
    model = CycleGAN(ModelConfig(ngf=8, n_blocks=1))
    g = model.G_AB
    with torch.no_grad():
        g.model[7].weight.mul_(1e6)  # d256: the residual stream's input, before its norm
        g.model[7].bias.mul_(1e6)
    x = torch.rand(1, 3, 40, 40) * 2 - 1
    whole = translate_whole(g, x, "fp32")
    streamed = translate_streamed(g, x, "fp32", storage="fp16", core=4)
    assert torch.isfinite(streamed).all()
    torch.testing.assert_close(streamed, whole, atol=1e-3, rtol=0)


def test_bad_precision_and_storage(tiny_model):
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown precision"):
        translate_streamed(tiny_model.G_AB, x, "fp8")
    with pytest.raises(ValueError, match="unknown storage"):
        translate_streamed(tiny_model.G_AB, x, "fp32", storage="int8")


def test_storage_choice():
    assert storage_for("bf16", "bf16") == "bf16" and storage_for("auto", "bf16") == "bf16"
    assert storage_for("fp32", "fp32") == "fp32"  # reference parity: fp32 end to end
    assert storage_for("auto", "fp32") == "fp16"  # no native bf16: half the memory, ≈85 dB


@pytest.mark.slow
def test_real_generator_real_photo_many_windows(trained_model, psnr_fn):
    """A trained 9-block generator on a real photo in 3×2 windows: fp32 is the whole pass; bf16
    (what `auto` picks on CPUs with AMX / AVX512-BF16) and fp16 storage stay far above 40 dB."""
    from skimage import data
    x = image_to_tensor(Image.fromarray(data.coffee()).resize((300, 200)))
    whole = np.asarray(tensor_to_image(translate_whole(trained_model.G_AB, x, "fp32")))
    assert psnr_fn(whole, np.asarray(tensor_to_image(x))) < 30  # it really changes the photo

    def streamed(precision, storage=None):
        y = translate_streamed(trained_model.G_AB, x, precision, storage, core=24)
        return np.asarray(tensor_to_image(y))

    fp32 = streamed("fp32")
    assert np.abs(fp32.astype(int) - whole).max() <= 1
    assert psnr_fn(streamed("fp32", "fp16"), whole) >= 60
    assert psnr_fn(streamed("bf16"), whole) >= 45  # ≈55–60 dB measured
