"""InstanceNorm of a channels-last fp32 activation, in place (the paper's Sec. 4, Ulyanov et al.).

The Winograd path (`winograd.py`) keeps the residual stream channels-last, where PyTorch's own
InstanceNorm is 3–4× slower than in NCHW and `var_mean` over the pixels slower still. Here each
channel's sum and sum of squares come from matrix–vector products (ones · pixels) over bands of
pixels, merged in float64; then the norm (with its affine part, if any) and an optional ReLU are
applied in place as one per-channel multiply-add. Same result as `nn.InstanceNorm2d` up to float
rounding: ≈10× faster than it on a channels-last 256-channel map (2 cores).
"""

from __future__ import annotations

import torch
from torch import nn

BAND = 4096  # pixels per partial sum: fp32 sums of a band, merged in float64


def channel_moments(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, biased variance) of each column of an N×C fp32 matrix (pixels × channels), float64."""
    ones = pixels.new_ones(1, min(BAND, pixels.shape[0]))
    total = torch.zeros(pixels.shape[1], dtype=torch.float64, device=pixels.device)
    squares = torch.zeros_like(total)
    for band in pixels.split(BAND):
        weights = ones[:, :band.shape[0]]
        total += (weights @ band)[0]
        squares += (weights @ band.square())[0]
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
