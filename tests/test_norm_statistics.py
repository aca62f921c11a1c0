"""InstanceNorm statistics merged with Chan's pairwise update: a channel whose mean is large against
its spread keeps its variance (E[x²] − E[x]² in fp32 sums loses it), in the channels-last kernel
and in the streamed path's whole-image moments, whatever the layout."""

import torch

from cyclegan_core.engine.kernels.instance_norm import channel_moments, merge_moments
from cyclegan_core.engine.streaming import Moments


def offset_activation(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 4, 70, 90, generator=g)
    x[:, 0] = 1000 + 0.01 * x[:, 0]  # mean 1000, std 0.01: var 1e-4
    x[:, 1] *= 3
    return x


def reference(x):
    var, mean = torch.var_mean(x.double(), dim=(0, 2, 3), correction=0)
    return mean, var


def test_merge_moments_is_exact():
    values = torch.randn(1000, 3, dtype=torch.float64) + 50
    a, b = values[:300], values[300:]
    count, mean, m2 = merge_moments(300, a.mean(0), ((a - a.mean(0)) ** 2).sum(0),
                                    700, b.mean(0), ((b - b.mean(0)) ** 2).sum(0))
    assert count == 1000
    torch.testing.assert_close(mean, values.mean(0))
    torch.testing.assert_close(m2 / count, values.var(0, correction=0))


def test_channel_moments_keep_a_small_spread_around_a_large_mean():
    x = offset_activation()
    pixels = x[0].permute(1, 2, 0).reshape(-1, 4).contiguous()
    mean, var = channel_moments(pixels)
    ref_mean, ref_var = reference(x)
    torch.testing.assert_close(mean, ref_mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(var, ref_var, rtol=1e-3, atol=1e-9)


def test_streamed_moments_merge_windows_exactly_in_either_layout():
    x = offset_activation(1)
    ref_mean, ref_var = reference(x)
    for layout in (torch.contiguous_format, torch.channels_last):
        moments = Moments(4)
        for rows in x.split(16, dim=2):  # windows of rows, as streaming adds them
            for window in rows.split(32, dim=3):
                moments.add(window.contiguous(memory_format=layout))
        mean, var = moments.statistics()
        torch.testing.assert_close(mean.flatten().double(), ref_mean, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(var.flatten().double(), ref_var, rtol=1e-3, atol=1e-9)
