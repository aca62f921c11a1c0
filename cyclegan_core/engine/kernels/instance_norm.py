"""InstanceNorm of a channels-last fp32 activation, in place (the paper's Sec. 4, Ulyanov et al.).

The Winograd path (`winograd.py`) keeps the residual stream channels-last, where PyTorch's own
InstanceNorm is 3–4× slower than in NCHW and `var_mean` over the pixels slower still. Here each
channel's sum and sum of squares come from small matrix products (ones · pixels) over chunks of
pixels, merged in float64 (`channel_moments`); then the norm (with its affine part, if any) and an
optional ReLU are applied in place as one per-channel multiply-add. Same result as
`nn.InstanceNorm2d` up to float rounding: 0.7 ms against torch's 4.2 ms on a channels-last
256-channel 64² map (AMX Xeon held to AVX-512 without bf16, 2 cores).
"""

from __future__ import annotations

import torch
from torch import nn

BAND = 4096  # pixels squared at a time (the squares stay in cache)
CHUNK = 256  # pixels per partial sum: one small product each, so no product is split between threads


def channel_moments(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, biased variance) of each column of an N×C fp32 matrix (pixels × channels), float64.

    Partial sums of `CHUNK` pixels come from batched products (ones · chunk) and are merged in
    float64 in a fixed order, so the result is the same whatever the number of threads (a single
    matrix–vector product over a whole band is split differently by 1 and 2 threads, which changed
    a few output pixels by one level)."""
    channels = pixels.shape[1]
    ones = pixels.new_ones(BAND // CHUNK, 1, CHUNK)
    total = torch.zeros(channels, dtype=torch.float64, device=pixels.device)
    squares = torch.zeros_like(total)
    for band in pixels.split(BAND):
        whole = band.shape[0] - band.shape[0] % CHUNK
        if whole:
            chunks = band[:whole].view(-1, CHUNK, channels)
            weights = ones[:chunks.shape[0]]
            total += torch.bmm(weights, chunks)[:, 0].double().sum(dim=0)
            squares += torch.bmm(weights, chunks.square())[:, 0].double().sum(dim=0)
        rest = band[whole:].double()
        total += rest.sum(dim=0)
        squares += rest.square().sum(dim=0)
    mean = total / pixels.shape[0]
    return mean, (squares / pixels.shape[0] - mean * mean).clamp_min(0)


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
