"""Beyond the streaming budget: overlapping tiles with a thumbnail's InstanceNorm statistics.

`streaming.py` translates exactly up to `translation.stream_pixels()`; its
buffers grow with the image. Larger images (up to the pixel cap) are cut into tiles whose memory
is bounded by the tile: every InstanceNorm layer normalises every tile with the statistics of a
copy of the whole image downscaled to the streaming budget, streamed exactly (thumbnail instance
normalisation, Chen et al., URST, AAAI 2022). Tiles carry a margin of real context, overlap their
neighbours, and overlaps are blended with linear ramps. The closer the thumbnail to full size,
the closer the result to a whole-image pass; there is no seam, since every tile shares the same
statistics (tests/test_tiling.py measures both).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan_core.engine.images import pad_to_multiple
from cyclegan_core.engine.runtime import autocast, finish_queued_work
from cyclegan_core.engine.streaming import Runner, eager_runner, translate_streamed


@contextlib.contextmanager
def fixed_norm_statistics(generator: nn.Module, stats: list):
    """While active, InstanceNorm layers normalise with the given statistics instead of their input's."""
    norms = [m for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]
    if len(norms) != len(stats):
        raise ValueError(f"{len(stats)} statistics for {len(norms)} InstanceNorm layers")

    def make_hook(mean, var):
        def hook(module, inputs, output):
            x = inputs[0].float()
            y = (x - mean.to(x.device)) * torch.rsqrt(var.to(x.device) + module.eps)  # where the activation is
            if module.affine:
                y = y * module.weight.float().view(1, -1, 1, 1) + module.bias.float().view(1, -1, 1, 1)
            return y.to(output.dtype)
        return hook

    handles = [m.register_forward_hook(make_hook(mean, var)) for m, (mean, var) in zip(norms, stats)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def thumbnail_statistics(generator: nn.Module, x: torch.Tensor, max_pixels: int, precision: str,
                         storage: str | None = None, runner: Runner = eager_runner,
                         progress: Callable[[float], None] | None = None) -> list:
    """Every norm's whole-image statistics, from a copy downscaled to at most `max_pixels`, streamed."""
    height, width = x.shape[-2:]
    scale = min(1.0, math.sqrt(max_pixels / (height * width)))
    if scale < 1.0:
        size = (max(8, round(height * scale)), max(8, round(width * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    _, statistics = translate_streamed(generator, x, precision, storage, runner, return_statistics=True,
                                       progress=progress)
    return statistics


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def _ramp(length: int, fade_start: int, fade_end: int) -> torch.Tensor:
    """1 inside, rising linearly over `fade_start` pixels at the start and falling over `fade_end` at the end."""
    weights = torch.ones(length)
    if fade_start:
        weights[:fade_start] = torch.arange(1, fade_start + 1) / (fade_start + 1)
    if fade_end:
        weights[length - fade_end:] = torch.arange(fade_end, 0, -1) / (fade_end + 1)
    return weights


@torch.inference_mode()
def translate_tiled(generator: nn.Module, x: torch.Tensor, precision: str, tile: int = 512, overlap: int = 64,
                    context: int = 32, stats_pixels: int | None = None, storage: str | None = None,
                    runner: Runner = eager_runner, progress: Callable[[float], None] | None = None,
                    statistics: list | None = None) -> torch.Tensor:
    """1×3×H×W in [-1, 1] → same size, in tiles of `tile`² blended over `overlap` pixels, each tile
    run with `context` extra pixels on every side, InstanceNorm statistics from a thumbnail of at
    most `stats_pixels` pixels (default, or when the image is no larger: the whole image, and then
    tiling is exact up to float rounding), streamed with `storage` (see `translate_streamed`).
    Tiles, overlap and context are kept multiples of 4. `progress(fraction)` is reported through
    the thumbnail's streamed pass and after every tile (weighted by pixels); it may raise to stop.
    The tiles run on the generator's device; they are blended into a result on `x`'s device (a
    huge image's output stays in host memory when `x` is there). `statistics`, where given, are
    every norm's (mean, var) to use instead of the thumbnail's (a video shot's: `shots.py`)."""
    tile, overlap, context = (max(8, v - v % 4) if v else 0 for v in (tile, overlap, context))
    overlap = min(overlap, tile // 2)
    device, home = next(generator.parameters()).device, x.device
    x = x.to(device)
    height, width = x.shape[-2:]
    thumbnail = min(stats_pixels or height * width, height * width)
    share = 0.0 if statistics is not None else thumbnail / (thumbnail + height * width)  # the thumbnail's part
    stats = statistics if statistics is not None else thumbnail_statistics(
        generator, x, thumbnail, precision, storage, runner,
        None if progress is None else lambda done: progress(share * done))
    rows, cols = _starts(height, tile, tile - overlap), _starts(width, tile, tile - overlap)
    tiles_done, tiles = 0, len(rows) * len(cols)
    out = torch.zeros(1, 3, height, width, device=home)
    total = torch.zeros(1, 1, height, width, device=home)
    with fixed_norm_statistics(generator, stats):
        for i, top in enumerate(rows):
            for j, left in enumerate(cols):
                bottom, right = min(top + tile, height), min(left + tile, width)
                # Context, aligned to 4 so the strided convolutions see the same grid as the whole image.
                y0, x0 = max(0, top - context) // 4 * 4, max(0, left - context) // 4 * 4
                y1, x1 = min(height, bottom + context), min(width, right + context)
                padded, _ = pad_to_multiple(x[..., y0:y1, x0:x1])
                with autocast(precision, device):
                    y = generator(padded)
                piece = y[..., top - y0:bottom - y0, left - x0:right - x0].float().to(home)
                # Fade only towards neighbouring tiles; image borders keep full weight.
                weight = (_ramp(bottom - top, overlap if i > 0 else 0, overlap if i < len(rows) - 1 else 0)
                          .view(-1, 1)
                          * _ramp(right - left, overlap if j > 0 else 0, overlap if j < len(cols) - 1 else 0)
                          .view(1, -1)).to(home)
                out[..., top:bottom, left:right] += piece * weight
                total[..., top:bottom, left:right] += weight
                tiles_done += 1
                if progress is not None:
                    finish_queued_work(device)  # the tile done, not queued (a Cancel stops here)
                    progress(share + (1 - share) * tiles_done / tiles)
    return out / total
