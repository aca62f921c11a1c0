"""engine/kernels: the fp32 3×3 convolution kernel is Winograd
F(4×4, 3×3) or oneDNN, chosen by the CPU's capabilities; channels-last InstanceNorm in place."""

import gc

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.engine.kernels import choice as kernels

from cyclegan_core.engine.kernels import winograd
from cyclegan_core.engine.kernels.instance_norm import channel_moments, instance_norm_


@pytest.mark.parametrize("shape", [(1, 16, 20, 24), (1, 5, 3, 3), (1, 8, 23, 9), (1, 12, 7, 30)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_winograd_conv_equals_the_direct_one(shape, channels_last):
    """Any size (whole 4×4 blocks or not), either layout in; channels-last out."""
    torch.manual_seed(0)
    x, w, b = torch.randn(shape), torch.randn(7, shape[1], 3, 3) * 0.1, torch.randn(7)
    inp = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    u = winograd.transform_weight(w)
    assert u.shape == (36, shape[1], 7) and u.dtype is torch.float32
    out = winograd.conv3x3(inp, u, b)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, F.conv2d(x, w, b), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(winograd.conv3x3(inp, u), F.conv2d(x, w), atol=1e-5, rtol=1e-4)


def test_a_residual_conv_is_as_accurate_as_the_paper_promises():
    """256 channels at the scale of trained weights: relative error ≈3e-6 (fp32 rounding)."""
    torch.manual_seed(2)
    x, w = torch.randn(1, 256, 34, 34), torch.randn(256, 256, 3, 3) * 0.02
    reference = F.conv2d(x.double(), w.double()).float()
    out = winograd.conv3x3(x, winograd.transform_weight(w))
    assert float((out - reference).norm() / reference.norm()) < 2e-5


def test_bands_of_tiles_give_the_same_result(monkeypatch):
    """Tiles go through in bands of rows (cache-sized); a band count that does not divide the rows
    and one-tile bands change nothing."""
    torch.manual_seed(1)
    x, w, b = torch.randn(1, 8, 38, 21), torch.randn(4, 8, 3, 3) * 0.1, torch.randn(4)
    u = winograd.transform_weight(w)
    whole = winograd.conv3x3(x, u, b)
    calls = []
    real = torch.bmm
    monkeypatch.setattr(torch, "bmm", lambda a, c: calls.append(a.shape[1]) or real(a, c))
    for tiles in (15, 1):  # 5 tiles across: 3 tile rows per band, then one tile per band... of one row
        monkeypatch.setattr(winograd, "BAND_TILES", tiles)
        calls.clear()
        torch.testing.assert_close(winograd.conv3x3(x, u, b), whole, atol=1e-5, rtol=1e-4)
        assert sum(calls) == 9 * 5 and len(calls) == (3 if tiles == 15 else 9)  # 9 tile rows of 5


def test_winograd_refuses_what_it_cannot_compute():
    u = winograd.transform_weight(torch.randn(4, 8, 3, 3))
    with pytest.raises(ValueError, match="3×3 kernels, not \\(5, 5\\)"):
        winograd.transform_weight(torch.randn(4, 8, 5, 5))
    with pytest.raises(ValueError, match="input has 6 channels; the weights expect 8"):
        winograd.conv3x3(torch.randn(1, 6, 10, 10), u)
    with pytest.raises(ValueError, match="smaller than the 3×3 kernel"):
        winograd.conv3x3(torch.randn(1, 8, 2, 9), u)
    with pytest.raises(ValueError, match="1×C×H×W"):
        winograd.conv3x3(torch.randn(2, 8, 10, 10), u)


def test_transformed_weights_are_kept_per_module_and_redone_when_the_weight_changes():
    cache = winograd.TransformedWeights(capacity_bytes=1 << 30)
    conv = nn.Conv2d(8, 4, 3)
    first = cache.get(conv)
    assert cache.get(conv) is first  # kept
    torch.testing.assert_close(first, winograd.transform_weight(conv.weight))
    with torch.no_grad():
        conv.weight.mul_(2)  # an optimizer step changes weights in place
    second = cache.get(conv)
    assert second is not first
    torch.testing.assert_close(second, 2 * first)
    conv.load_state_dict({"weight": torch.zeros(4, 8, 3, 3), "bias": torch.zeros(4)})
    assert float(cache.get(conv).abs().sum()) == 0
    other = nn.Conv2d(8, 4, 3)  # another module: its own entry
    assert not torch.equal(cache.get(other), cache.get(conv))
    assert len(cache) == 2


def test_transformed_weights_stay_within_their_memory_and_die_with_their_module():
    one = 36 * 8 * 4 * 4  # bytes of one 8→4 conv's transform
    cache = winograd.TransformedWeights(capacity_bytes=2 * one)
    convs = [nn.Conv2d(8, 4, 3) for _ in range(3)]
    [cache.get(conv) for conv in convs]  # (a comprehension: no loop variable keeps the last alive)
    assert len(cache) == 2 and cache.bytes() == 2 * one  # the least recently used went
    kept = cache.get(convs[2])
    assert cache.get(convs[2]) is kept
    del convs[2], kept  # the module goes (e.g. its model left the app's cache): so does its transform
    gc.collect()
    assert len(cache) == 1 and cache.bytes() == one


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_channels_last_instance_norm_equals_torchs(affine, relu, monkeypatch):
    torch.manual_seed(3)
    monkeypatch.setattr("cyclegan_core.engine.kernels.instance_norm.BAND", 50)  # several partial sums, a short last one
    norm = nn.InstanceNorm2d(6, affine=affine)
    if affine:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 2)
            norm.bias.uniform_(-1, 1)
    x = torch.randn(1, 6, 13, 17) * 3 + 5  # an offset mean: the variance must not cancel badly
    expected = norm(x)
    expected = torch.relu(expected) if relu else expected
    y = x.contiguous(memory_format=torch.channels_last)
    out = instance_norm_(y, norm, relu=relu)
    assert out is y  # in place
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_channel_moments_do_not_depend_on_the_number_of_threads():
    torch.manual_seed(5)
    pixels = torch.randn(70_000, 64) * 3 + 1  # several bands, chunks and a remainder
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = channel_moments(pixels)
        torch.set_num_threads(1)
        one = channel_moments(pixels)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(two[0], one[0]) and torch.equal(two[1], one[1])
    torch.testing.assert_close(two[0], pixels.double().mean(dim=0))
    torch.testing.assert_close(two[1], pixels.double().var(dim=0, unbiased=False))


def test_channel_moments_and_what_instance_norm_refuses():
    pixels = torch.tensor([[1.0, 10.0], [3.0, 10.0], [5.0, 13.0]])
    mean, var = channel_moments(pixels)
    torch.testing.assert_close(mean, torch.tensor([3.0, 11.0], dtype=torch.float64))
    torch.testing.assert_close(var, torch.tensor([8 / 3, 2.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="channels-last fp32"):
        instance_norm_(torch.randn(1, 4, 5, 5), nn.InstanceNorm2d(4))  # NCHW


def test_the_kernel_setting(monkeypatch):
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "onednn")
    assert kernels.conv_kernel() == "onednn"
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "winograd")
    assert kernels.conv_kernel() == "winograd"
    assert kernels.conv_kernel(torch.device("cuda")) == "onednn"  # GPUs: the framework's own kernels
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "nnpack")
    with pytest.raises(ValueError, match="CYCLEGAN_CONV_KERNEL='nnpack'; expected one of auto, winograd, onednn"):
        kernels.conv_kernel()


def test_kernels_conv2d_sends_only_fp32_3x3_convs_to_winograd():
    torch.manual_seed(4)
    three, seven = nn.Conv2d(8, 4, 3), nn.Conv2d(8, 4, 7)
    x = torch.randn(1, 8, 16, 16)
    with torch.inference_mode():
        out = kernels.conv2d(x, three, "winograd")
        assert out.is_contiguous(memory_format=torch.channels_last)  # Winograd's layout
        torch.testing.assert_close(out, three(x), atol=1e-5, rtol=1e-4)
        assert kernels.conv2d(x, seven, "winograd").is_contiguous()  # 7×7: the framework's, NCHW kept
        torch.testing.assert_close(kernels.conv2d(x, seven, "winograd"), seven(x))
        assert kernels.conv2d(x, three, "onednn").is_contiguous()
