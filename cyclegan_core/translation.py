"""Translating a whole image tensor with one generator: which path runs it.

- `translate_whole`: the reference way, the whole image in one pass (memory grows with the image).
- Up to `stream_pixels()`: streamed window by window with exact whole-image InstanceNorm
  statistics (`streaming.py`), the same result in bounded memory.
- Above: overlapping tiles normalised with a streamed thumbnail's statistics (`tiling.py`).

`translate_tensor` picks the path and the precision; `CycleGAN.translate_tensor` calls it.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .images import pad_to_multiple
from .runtime import autocast, resolve_precision
from .streaming import Runner, eager_runner, storage_for, translate_streamed
from .tiling import translate_tiled

DEFAULT_STREAM_PIXELS = 4096 * 4096  # exact streamed translation up to here (16.8 MP)


def stream_pixels() -> int:
    """Largest image translated exactly (streamed); larger ones are tiled with statistics from a
    copy downscaled to this size. `CYCLEGAN_STREAM_PIXELS` overrides."""
    value = os.environ.get("CYCLEGAN_STREAM_PIXELS")
    return int(value) if value else DEFAULT_STREAM_PIXELS


def translate_tensor(generator: nn.Module, x: torch.Tensor, precision: str = "auto",
                     runner: Runner = eager_runner) -> torch.Tensor:
    """1×3×H×W in [-1, 1] → same shape, any H and W, equal to the whole-image pass.

    Streamed up to `stream_pixels()` (half that with fp32 storage), seam-free tiles above.
    `precision="fp32"` is fp32 end to end (reference parity); `auto` is bf16 where the hardware has
    it, else fp32 compute with fp16 storage between passes (`streaming.storage_for`). `runner`
    evaluates the window functions (compiled ones from `compiled.py`, or eager).
    """
    device = next(generator.parameters()).device
    resolved = resolve_precision(precision, device)
    if device.type == "cuda" and whole_pass_fits(x.shape[-2] * x.shape[-1], generator_width(generator), resolved,
                                                 torch.cuda.mem_get_info(device)[0]):
        return translate_whole(generator, x, resolved).to(x.device)  # a GPU: one pass, no streaming overhead
    resolved = "fp32" if resolved == "fp16" else resolved  # streamed: fp32 compute, fp16 storage
    storage = storage_for(precision, resolved)
    budget = stream_pixels() // (2 if storage == "fp32" else 1)
    if x.shape[-2] * x.shape[-1] > budget:
        return translate_tiled(generator, x, resolved, stats_pixels=budget, storage=storage, runner=runner)
    return translate_streamed(generator, x, resolved, storage=storage, runner=runner)


WHOLE_PASS_BYTES = {"fp32": 1100, "bf16": 600, "fp16": 600}  # peak per input pixel at ngf 64, inference mode


def generator_width(generator: nn.Module) -> int:
    """ngf: the channels of the generator's first convolution."""
    return next(m for m in generator.modules() if isinstance(m, nn.Conv2d)).out_channels


def whole_pass_fits(pixels: int, ngf: int, precision: str, free_bytes: int) -> bool:
    """Whether a whole-image pass of `pixels` fits in `free_bytes` of device memory with a margin
    (the activations at full resolution dominate: ngf channels, a few of them alive at once)."""
    return pixels * WHOLE_PASS_BYTES[precision] * ngf / 64 <= 0.8 * free_bytes


def translate_whole(generator: nn.Module, x: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """The reference way: `generator` applied to the whole padded 1×3×H×W tensor in one pass; same
    size out, float32. `precision` is a resolved one ("fp32", "bf16" or "fp16")."""
    device = next(generator.parameters()).device
    padded, (height, width) = pad_to_multiple(x.to(device))
    with torch.inference_mode(), autocast(precision, device):
        y = generator(padded)
    return y[..., :height, :width].float()
