"""InstanceNorm of a channels-last fp32 activation, in place (the paper's Sec. 4, Ulyanov et al.).

The Winograd path (`winograd.py`) keeps the residual stream channels-last, where PyTorch's own
InstanceNorm is much slower than in NCHW and `var_mean` over the pixels slower still. Here each
channel's mean and sum of squared deviations come from small matrix products (ones · pixels) over
chunks of pixels, merged in float64 with Chan's pairwise update (`channel_moments`,
`merge_moments`; the streamed path merges its windows the same way); then the norm (with its affine
part, if any) and an optional ReLU are applied in place as one per-channel multiply-add. Same result
as `nn.InstanceNorm2d` up to float rounding, and several times faster (benchmarks/README.md).
"""

from __future__ import annotations

import torch
from torch import nn

BAND = 4096  # pixels squared at a time (the squares stay in cache)
CHUNK = 256  # pixels per partial sum: one small product each, so no product is split between threads


def merge_moments(count: int, mean: torch.Tensor, m2: torch.Tensor, n: int, part_mean: torch.Tensor,
                  part_m2: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Chan et al.'s pairwise update: the (count, mean, M2) of two parts together, M2 being each
    channel's sum of squared deviations from its mean. Exact in float64 and free of the cancellation
    of E[x²] − E[x]² when a channel's mean is large against its spread."""
    total = count + n
    delta = part_mean - mean
    return total, mean + delta * (n / total), m2 + part_m2 + delta.square() * (count * n / total)


def centred_m2(sums: torch.Tensor, centred_squares: torch.Tensor, centre: torch.Tensor,
               n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, M2) of n values from their sums and their squares' sums about `centre` (float64):
    Σ(x − c)² − n(mean − c)², which is M2 whatever c is, and well conditioned when c ≈ mean."""
    mean = sums / n
    return mean, (centred_squares - n * (mean - centre).square()).clamp_min(0)


def _column_sums(x: torch.Tensor, ones: torch.Tensor) -> torch.Tensor:
    """Each column's sum of an n×C fp32 matrix, float64: batched products (ones · chunk) of `CHUNK`
    rows each, merged in float64 in a fixed order, so the same whatever the number of threads (a
    single matrix–vector product is split differently by 1 and 2 threads)."""
    whole = x.shape[0] - x.shape[0] % CHUNK
    total = x[whole:].double().sum(dim=0)
    if whole:
        chunks = x[:whole].view(-1, CHUNK, x.shape[1])
        total += torch.bmm(ones[:chunks.shape[0]], chunks)[:, 0].double().sum(dim=0)
    return total


def channel_moments(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, biased variance) of each column of an N×C fp32 matrix (pixels × channels), float64.

    Per band of `BAND` pixels: the mean, then the squares of the deviations from it (a copy of the
    band, in cache); bands merged with Chan's update (`merge_moments`)."""
    ones = pixels.new_ones(BAND // CHUNK, 1, CHUNK)
    count = 0
    mean = torch.zeros(pixels.shape[1], dtype=torch.float64, device=pixels.device)
    m2 = torch.zeros_like(mean)
    for band in pixels.split(BAND):
        n = band.shape[0]
        sums = _column_sums(band, ones)
        centre = (sums / n).float()
        squares = _column_sums((band - centre).square_(), ones)
        band_mean, band_m2 = centred_m2(sums, squares, centre.double(), n)
        count, mean, m2 = merge_moments(count, mean, m2, n, band_mean, band_m2)
    return mean, m2 / count


def instance_norm_(x: torch.Tensor, norm: nn.InstanceNorm2d, relu: bool = False) -> torch.Tensor:
    """x ← norm(x) (then ReLU if `relu`), in place, for a 1×C×H×W channels-last fp32 `x`; returns x."""
    if x.shape[0] != 1 or not x.is_contiguous(memory_format=torch.channels_last) or x.dtype != torch.float32:
        raise ValueError("instance_norm_ takes one channels-last fp32 image (1×C×H×W)")
    pixels = x[0].permute(1, 2, 0).reshape(-1, x.shape[1])  # a view: H·W × C
    mean, var = channel_moments(pixels)
    scale = torch.rsqrt(var + norm.eps)
    shift = -mean * scale
    scale, shift = scale.float(), shift.float()
    if norm.affine:
        weight, bias = norm.weight.detach().float(), norm.bias.detach().float()
        scale, shift = scale * weight, shift * weight + bias
    torch.addcmul(shift, pixels, scale, out=pixels)
    if relu:
        pixels.relu_()
    return x
