"""kernels.py: the fp32 stride-1 convolution kernel is NNPACK's Winograd or oneDNN, chosen by measuring."""

import pytest
import torch
import torch.nn.functional as F

from cyclegan_core import kernels

NNPACK = kernels.nnpack_available()


@pytest.mark.skipif(not NNPACK, reason="NNPACK needs an x86 CPU with AVX2")
@pytest.mark.parametrize("size", [3, 7])
def test_winograd_conv_equals_the_direct_one(size):
    torch.manual_seed(0)
    x, w, b = torch.randn(1, 16, 20, 24), torch.randn(8, 16, size, size) * 0.1, torch.randn(8)
    torch.testing.assert_close(kernels.winograd_conv2d(x, w, b), F.conv2d(x, w, b), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(kernels.winograd_conv2d(x, w, None), F.conv2d(x, w), atol=1e-4, rtol=1e-4)
    channels_last = x.contiguous(memory_format=torch.channels_last)  # NNPACK reads NCHW: converted
    torch.testing.assert_close(kernels.conv2d(channels_last, w, b, "nnpack"), F.conv2d(x, w, b), atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not NNPACK, reason="NNPACK needs an x86 CPU with AVX2")
def test_large_inputs_go_in_bands_of_rows_with_the_same_result(monkeypatch):
    """NNPACK keeps its largest workspace for good: a large input is convolved in bands of rows."""
    torch.manual_seed(1)
    x, w, b = torch.randn(1, 8, 37, 20), torch.randn(4, 8, 3, 3) * 0.1, torch.randn(4)
    whole = kernels.winograd_conv2d(x, w, b)
    calls = []
    monkeypatch.setattr(kernels, "BAND_PIXELS", 5 * 18)  # 5 output rows of 18 pixels per band
    real = torch._nnpack_spatial_convolution
    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", lambda *a: calls.append(a[0].shape) or real(*a))
    banded = kernels.winograd_conv2d(x, w, b)
    assert len(calls) == 7 and calls[0][-2] == 5 + 2 and calls[-1][-2] == 35 - 30 + 2
    torch.testing.assert_close(banded, whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(banded, F.conv2d(x, w, b), atol=1e-4, rtol=1e-4)


def test_the_kernel_setting(monkeypatch):
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "onednn")
    assert kernels.conv_kernel() == "onednn"
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "nnpack")
    assert kernels.conv_kernel() == ("nnpack" if NNPACK else "onednn")
    assert kernels.conv_kernel(torch.device("cuda")) == "onednn"  # GPUs: the framework's own kernels
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "winograd")
    with pytest.raises(ValueError, match="CYCLEGAN_CONV_KERNEL='winograd'; expected one of auto, nnpack, onednn"):
        kernels.conv_kernel()


def test_auto_takes_nnpack_from_the_size_measured_to_pay_here(monkeypatch):
    """NNPACK transforms the weights at every call: small images stay with oneDNN."""
    monkeypatch.setenv("CYCLEGAN_CONV_KERNEL", "auto")
    kernels.calibrated_threshold.cache_clear()
    measured = kernels.calibrate(rounds=1)
    assert measured["onednn"] > 0 and measured["threshold"] >= 0
    assert (measured["nnpack"] is None) == (not NNPACK)
    if not NNPACK:
        assert measured["threshold"] == float("inf")
    monkeypatch.setattr(kernels, "calibrate", lambda: {"threshold": 150 * 150})
    kernels.calibrated_threshold.cache_clear()
    assert kernels.conv_kernel(pixels=128 * 128) == "onednn"
    assert kernels.conv_kernel(pixels=256 * 256) == "nnpack"
    monkeypatch.setattr(kernels, "calibrate", lambda: {"threshold": float("inf")})  # never faster here
    kernels.calibrated_threshold.cache_clear()
    assert kernels.conv_kernel(pixels=4096 * 4096) == "onednn"
    kernels.calibrated_threshold.cache_clear()
